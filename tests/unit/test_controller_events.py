"""Events: what they say, and the per-object rate limit that keeps a flapping object from flooding."""

from __future__ import annotations

from datetime import UTC, datetime

from gitapply.controller.events import (EventLimiter, Limits, Reason, change_message, drift_message,
                                        event_object, reason_for)
from gitapply.engine.drift import FieldDrift, FieldState, ObjectDrift, ObjectState
from gitapply.engine.ownership import Author
from gitapply.model import Action, ObjectKey

WEB = ObjectKey("apps", "v1", "Deployment", "shop", "web")
DRIFTED = ObjectDrift(WEB, ObjectState.DRIFTED, (
    FieldDrift("spec.template.spec.containers[name=web].image", FieldState.DRIFT, changed_by=Author("kubectl-set")),
    FieldDrift("spec.replicas", FieldState.DRIFT),
    FieldDrift("metadata.labels.x", FieldState.IGNORED)))


def test_a_drift_message_names_each_field_and_who_changed_it():
    assert drift_message(DRIFTED) == ("changed in the cluster: spec.template.spec.containers[name=web].image "
                                      "(by kubectl-set), spec.replicas (by unknown)")


def test_a_change_message_says_what_was_reverted():
    text = change_message(Action.PATCH, "0123456789abcdef", DRIFTED)
    assert text.startswith("patched by gitapply at 0123456789ab; reverted ")
    assert "(by kubectl-set)" in text
    assert reason_for(Action.PATCH) is Reason.APPLIED and reason_for(Action.PRUNE) is Reason.PRUNED
    assert reason_for(Action.UNCHANGED) is None


def test_the_same_message_is_sent_once_per_repeat_window():
    limiter = EventLimiter(Limits(burst=4, refill=60, repeat=600))
    assert limiter.allow(WEB, Reason.DRIFTED, "m", 0)
    assert not limiter.allow(WEB, Reason.DRIFTED, "m", 10)
    assert limiter.allow(WEB, Reason.DRIFTED, "m", 601)


def test_a_flapping_object_gets_its_burst_then_one_event_per_refill():
    limiter = EventLimiter(Limits(burst=3, refill=60, repeat=0))
    sent = [limiter.allow(WEB, Reason.APPLIED, f"m{i}", i * 0.1) for i in range(10)]
    assert sent.count(True) == 3
    assert limiter.allow(WEB, Reason.APPLIED, "later", 61)
    assert not limiter.allow(WEB, Reason.APPLIED, "again", 62)
    assert limiter.allow(ObjectKey("", "v1", "Service", "shop", "web"), Reason.APPLIED, "m0", 0.5), "per object"


def test_an_event_is_about_the_object_in_its_namespace():
    live = {"metadata": {"uid": "u-1", "resourceVersion": "42"}}
    event = event_object(WEB, live, Reason.DRIFTED, "m", instance="pod-a", when=datetime(2026, 1, 1, tzinfo=UTC))
    assert event["metadata"]["namespace"] == "shop" and event["metadata"]["name"].startswith("web.")
    assert event["involvedObject"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                       "namespace": "shop", "uid": "u-1", "resourceVersion": "42"}
    assert event["reason"] == "Drifted" and event["type"] == "Warning"
    cluster_scoped = event_object(ObjectKey("", "v1", "Namespace", "", "shop"), None, Reason.APPLIED, "m",
                                  instance="a", when=datetime(2026, 1, 1, tzinfo=UTC))
    assert cluster_scoped["metadata"]["namespace"] == "default" and cluster_scoped["type"] == "Normal"
