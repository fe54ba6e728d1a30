"""Two electors on one embedded local cluster (one SQLite file, as two processes would share it): one leads,
the other takes over after the lease expires on its own clock, or at once after a release; the Lease is
written with optimistic concurrency."""

from __future__ import annotations

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.controller.elector import LeaderElector
from gitapply.controller.lease import Decision, Timing, lease_object
from gitapply.controller.metrics import Metrics
from gitapply.engine.drift import DriftReport, FieldDrift, FieldState, ObjectDrift, ObjectState
from gitapply.engine.ownership import Author
from gitapply.errors import ConflictingWriteError
from gitapply.model import ObjectKey

TIMING = Timing(lease_duration=3, renew_deadline=2, retry_period=0.5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def electors(tmp_path, clock):
    return [LeaderElector(LocalCluster(tmp_path / "cluster.db"), name="gitapply-shop", namespace="default",
                          identity=identity, timing=TIMING, clock=clock) for identity in ("a", "b")]


def test_one_leads_and_the_other_takes_over_only_after_the_lease_expires(tmp_path):
    clock = Clock()
    a, b = electors(tmp_path, clock)
    assert a.try_once() is Decision.ACQUIRE and a.can_write()
    assert b.try_once() is Decision.FOLLOW and not b.can_write()
    clock.now += 2.0  # a does not renew: past its renew deadline it stops writing, b still waits
    assert not a.can_write()
    assert b.try_once() is Decision.FOLLOW
    clock.now += 1.0
    assert b.try_once() is Decision.ACQUIRE and b.can_write()
    assert a.try_once() is Decision.FOLLOW and not a.can_write()


def test_a_released_lease_is_taken_over_at_once(tmp_path):
    clock = Clock()
    a, b = electors(tmp_path, clock)
    a.try_once()
    b.try_once()
    a.release()
    assert b.try_once() is Decision.ACQUIRE and b.can_write()


def test_a_stopping_leader_writes_no_more(tmp_path):
    a, _ = electors(tmp_path, Clock())
    a.try_once()
    a.stop_writing()
    assert not a.can_write()


def test_the_lease_is_replaced_only_at_the_version_read(tmp_path):
    cluster = LocalCluster(tmp_path / "cluster.db")
    created = cluster.create(lease_object("l", "default", {"holderIdentity": "a"}))
    version = created["metadata"]["resourceVersion"]
    cluster.replace(lease_object("l", "default", {"holderIdentity": "b"}, version))
    with pytest.raises(ConflictingWriteError):
        cluster.replace(lease_object("l", "default", {"holderIdentity": "c"}, version))
    assert cluster.get(ObjectKey("coordination.k8s.io", "v1", "Lease", "default", "l"))["spec"] == {
        "holderIdentity": "b"}


def test_metrics_count_states_and_drifted_fields_by_manager():
    metrics = Metrics()
    metrics.app_started("shop")
    key = ObjectKey("apps", "v1", "Deployment", "shop", "web")
    drifted = ObjectDrift(key, ObjectState.DRIFTED, (FieldDrift("spec.x", FieldState.DRIFT,
                                                                changed_by=Author("kubectl-set")),))
    metrics.observe("shop", DriftReport("shop", None, 0, (drifted,)))
    text = metrics.text().decode()
    assert 'gitapply_objects{app="shop",state="drifted"} 1.0' in text
    assert 'gitapply_drifted_fields{app="shop",manager="kubectl-set"} 1.0' in text
    assert 'gitapply_writes_total{action="patch",app="shop"} 0.0' in text
    metrics.observe("shop", DriftReport("shop", None, 0, (ObjectDrift(key, ObjectState.IN_SYNC),)))
    text = metrics.text().decode()
    assert 'gitapply_objects{app="shop",state="drifted"} 0.0' in text
    assert "kubectl-set" not in text
