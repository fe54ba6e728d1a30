"""Shard membership (``controller.members``) on one embedded local cluster shared by several replicas, each with
a clock of its own (different offsets: no two machines' clocks are ever compared), rounds called by hand.

After every round the harness checks the two invariants: no app is writable by two replicas, and the member
Leases are at most the replicas still running plus one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.controller.lease import LEASE_API_VERSION, LeaseRecord, Timing, released_spec
from gitapply.controller.members import ShardMembership
from gitapply.controller.shard import MEMBER_SELECTOR, assignment, member_lease, member_lease_name
from gitapply.errors import ClusterError
from gitapply.model import ObjectKey

TIMING = Timing(lease_duration=15, renew_deadline=10, retry_period=2)
APPS = [f"app-{i:02}" for i in range(30)]
OFFSETS = {"a": 0.0, "b": 1000.0, "c": -500.0, "d": 77.0}


class FlakyCluster(LocalCluster):
    """The local cluster, whose LISTs fail while ``failing`` is set."""

    failing = False
    calls: list[str]

    def list(self, api_version: str, kind: str, *, namespace: str = "", label_selector: str = "") -> Any:
        self.calls.append("list")
        if self.failing:
            raise ClusterError(f"{api_version}/{kind}", "connection refused")
        return super().list(api_version, kind, namespace=namespace, label_selector=label_selector)

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        self.calls.append("create")
        return super().create(obj, dry_run=dry_run)

    def replace(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        self.calls.append("replace")
        return super().replace(obj, dry_run=dry_run)


class Replicas:
    """Replicas sharing one cluster file; ``now`` is the world's time, each replica's clock an offset of it."""

    def __init__(self, tmp_path, apps: list[str] = APPS) -> None:
        self.path = tmp_path / "cluster.db"
        self.admin = LocalCluster(self.path)
        self.apps = apps
        self.now = 0.0
        self.replicas: dict[str, ShardMembership] = {}
        self.clusters: dict[str, FlakyCluster] = {}
        self.changes: dict[str, list[frozenset[str]]] = {}
        self.gone: set[str] = set()

    def __getitem__(self, identity: str) -> ShardMembership:
        return self.replicas[identity]

    def join(self, *identities: str) -> None:
        for identity in identities:
            cluster = self.clusters[identity] = FlakyCluster(self.path)
            cluster.calls = []
            self.changes[identity] = []
            self.replicas[identity] = ShardMembership(
                cluster, namespace="default", identity=identity, timing=TIMING, apps=self.apps,
                on_change=self.changes[identity].append, clock=self.clock(OFFSETS[identity]))

    def clock(self, offset: float) -> Callable[[], float]:
        return lambda: self.now + offset

    def at(self, when: float, *identities: str) -> None:
        """Set the time to ``when`` and run a round of each named replica (all running ones when none)."""
        self.now = when
        for identity in identities or [i for i in self.replicas if i not in self.gone]:
            self.replicas[identity].try_once()
        self.check()

    def every_retry(self, start: float, stop: float, *identities: str) -> None:
        when = start
        while when <= stop:
            self.at(when, *identities)
            when += TIMING.retry_period

    def writers(self, app: str) -> list[str]:
        return [identity for identity, replica in self.replicas.items() if replica.may_write(app)]

    def leases(self) -> list[dict[str, Any]]:
        return self.admin.list(LEASE_API_VERSION, "Lease", namespace="default", label_selector=MEMBER_SELECTOR)

    def check(self) -> None:
        doubled = {app: self.writers(app) for app in self.apps if len(self.writers(app)) > 1}
        assert not doubled, f"two writers at {self.now}: {doubled}"
        assert len(self.leases()) <= len(set(self.replicas) - self.gone) + 1

    def owned(self, identity: str, members: str) -> list[str]:
        """The apps ``identity`` owns when the members are ``members``."""
        return [app for app, owner in assignment(self.apps, members).items() if owner == identity]


@pytest.fixture
def replicas(tmp_path) -> Replicas:
    return Replicas(tmp_path)


def settled(replicas: Replicas, *identities: str) -> Replicas:
    """Replicas joined at 0 and run every retry period up to 12 s (settled from 10 s)."""
    replicas.join(*identities)
    replicas.every_retry(0, 12)
    return replicas


def lease_key(identity: str) -> ObjectKey:
    return ObjectKey("coordination.k8s.io", "v1", "Lease", "default", member_lease_name(identity))


def test_once_settled_each_app_is_writable_by_exactly_one_replica(replicas):
    replicas.join("a", "b", "c")
    replicas.every_retry(0, 8)
    assert all(replicas.writers(app) == [] for app in APPS)  # joined at 0: nobody is settled yet
    replicas.every_retry(10, 12)
    assert all(len(replicas.writers(app)) == 1 for app in APPS)
    assert replicas["a"].members() == ("a", "b", "c")
    for identity in "abc":
        assert replicas[identity].writable() == frozenset(replicas.owned(identity, "abc"))
        assert replicas.changes[identity] == [frozenset(replicas.owned(identity, "abc"))]  # reported once settled


def test_a_newcomer_writes_nothing_for_the_renew_deadline_and_the_others_stop_writing_its_apps_on_seeing_it(
        replicas):
    settled(replicas, "a", "b", "c")
    replicas.join("d")
    replicas.at(13, "d")
    mine = replicas.owned("d", "abcd")
    assert mine and all(replicas["d"].assigned(app) and not replicas["d"].may_write(app) for app in mine)
    replicas.at(14, "a", "b", "c")
    assert all(replicas.writers(app) == [] for app in mine)
    assert all(len(replicas.writers(app)) == 1 for app in APPS if app not in mine)
    replicas.every_retry(15, 21, "d")
    replicas.every_retry(16, 22, "a", "b", "c")
    replicas.now = 22.9
    assert replicas["d"].writable() == frozenset()
    replicas.at(23, "d")
    assert replicas["d"].writable() == frozenset(mine)
    assert all(len(replicas.writers(app)) == 1 for app in APPS)


def test_a_replica_that_stops_renewing_stops_writing_at_its_deadline_and_its_apps_move_after_the_lease_duration(
        replicas):
    settled(replicas, "a", "b", "c")
    replicas.at(12, "c", "a", "b")  # c's last renewal, seen by a and b at 12 on their own clocks
    replicas.gone.add("c")
    theirs = replicas.owned("c", "abc")
    replicas.every_retry(14, 20)
    replicas.now = 21.9
    assert replicas["c"].writable() == frozenset(theirs)
    replicas.now = 22
    assert replicas["c"].writable() == frozenset()
    replicas.every_retry(22, 26)
    replicas.at(26.9)
    assert all(replicas.writers(app) == [] for app in theirs)  # unchanged for 14.9 s: not yet
    replicas.at(27)
    assert all(len(replicas.writers(app)) == 1 for app in APPS)
    assert replicas["a"].members() == ("a", "b")


def test_a_released_lease_is_taken_over_at_the_others_next_round(replicas):
    settled(replicas, "a", "b", "c")
    replicas["c"].release()
    replicas.gone.add("c")
    assert replicas["c"].writable() == frozenset() and replicas.changes["c"][-1] == frozenset()
    assert replicas.admin.get(lease_key("c"))["spec"]["holderIdentity"] == ""
    replicas.at(13, "a", "b")
    assert all(len(replicas.writers(app)) == 1 for app in APPS)


def test_dead_leases_are_deleted_after_twice_the_lease_duration(replicas):
    settled(replicas, "a", "b", "c")
    replicas.at(12, "c", "a", "b")
    replicas.gone.add("c")
    replicas.every_retry(14, 56)  # c's Lease expired at 27 on a's and b's clocks
    assert replicas.admin.get(lease_key("c")) is not None
    replicas.at(57)
    assert replicas.admin.get(lease_key("c")) is None
    assert len(replicas.leases()) == 2
    replicas.at(59)
    assert all(len(replicas.writers(app)) == 1 for app in APPS)


def test_a_released_lease_is_collected_too(replicas):
    settled(replicas, "a", "b", "c")
    replicas["c"].release()
    replicas.gone.add("c")
    replicas.every_retry(13, 41)
    assert replicas.admin.get(lease_key("c")) is not None
    replicas.at(43)  # released at 13 (as first listed): 13 + 2 × 15
    assert replicas.admin.get(lease_key("c")) is None


def test_failing_lists_let_the_guard_lapse_and_the_replica_rejoins_after(replicas, caplog):
    settled(replicas, "a")
    replicas.clusters["a"].failing = True
    with caplog.at_level(logging.WARNING, logger="gitapply.controller"):
        replicas.every_retry(14, 20)
    assert f"default/{member_lease_name('a')}: cannot list the member Leases" in caplog.text
    replicas.now = 21.9
    assert replicas["a"].writable() == frozenset(APPS)
    replicas.at(22)
    assert replicas["a"].writable() == frozenset() and replicas.changes["a"][-1] == frozenset()
    replicas.clusters["a"].failing = False
    replicas.every_retry(24, 32)
    assert replicas["a"].writable() == frozenset()  # a lapse means rejoining: settled again 10 s later
    replicas.at(34)
    assert replicas["a"].writable() == frozenset(APPS)


def test_time_alone_reports_a_change_of_the_writable_apps(replicas):
    replicas.join("a")
    replicas.every_retry(0, 8)
    assert replicas.changes["a"] == []
    replicas.at(10)
    assert replicas.changes["a"] == [frozenset(APPS)]


def test_each_round_makes_one_lease_write_and_one_list_however_many_apps(tmp_path):
    replicas = Replicas(tmp_path, apps=[f"app-{i}" for i in range(1000)])
    replicas.join("a", "b")
    replicas.every_retry(0, 12)
    for identity in "ab":
        assert replicas.clusters[identity].calls == ["create", "list"] + ["replace", "list"] * 6


def test_a_live_member_whose_lease_vanishes_keeps_its_apps_for_the_renew_deadline(replicas):
    settled(replicas, "a", "b")
    replicas.admin.delete(lease_key("b"))  # by hand, or by a collector working from an old LIST
    replicas.gone.add("b")
    theirs = replicas.owned("b", "ab")
    replicas.at(14, "a")  # first LIST without b's Lease
    replicas.every_retry(16, 22, "a")
    assert all(replicas.writers(app) == [] for app in theirs)
    replicas.at(24, "a")
    assert replicas["a"].writable() == frozenset(APPS) and replicas["a"].members() == ("a",)


def test_a_replica_whose_lease_was_deleted_creates_it_again_and_settles_again(replicas, caplog):
    settled(replicas, "a", "b")
    replicas.admin.delete(lease_key("b"))
    theirs = replicas.owned("b", "ab")
    with caplog.at_level(logging.WARNING, logger="gitapply.controller"):
        replicas.at(14, "b", "a")
    assert f"default/{member_lease_name('b')}: the Lease is gone" in caplog.text
    replicas.every_retry(16, 24, "b", "a")
    assert all(replicas.writers(app) == [] for app in theirs)  # b re-created its Lease at 16
    replicas.at(26, "b", "a")
    assert all(replicas.writers(app) == ["b"] for app in theirs)


def test_a_replica_whose_lease_was_taken_stops_writing_and_rejoins(replicas, caplog):
    settled(replicas, "a", "b")
    record = LeaseRecord.of(replicas.admin.get(lease_key("b")))
    replicas.admin.replace(member_lease(lease_key("b").name, "default", released_spec(record, when=datetime.now(UTC)),
                                        record.resource_version))
    with caplog.at_level(logging.WARNING, logger="gitapply.controller"):
        replicas.at(13, "b", "a")
    assert "released or taken over by someone else" in caplog.text
    assert replicas["b"].writable() == frozenset() and replicas["a"].writable() == frozenset(APPS)
    replicas.every_retry(15, 23, "b", "a")
    assert replicas["b"].writable() == frozenset()
    replicas.at(25, "b", "a")
    assert replicas["b"].writable() == frozenset(replicas.owned("b", "ab"))


def test_a_process_restarted_with_the_same_identity_renews_its_old_lease_and_settles_again(replicas, caplog):
    settled(replicas, "a")
    replicas["a"].release()
    replicas.join("a")
    with caplog.at_level(logging.WARNING, logger="gitapply.controller"):
        replicas.every_retry(14, 16)  # the create is refused (it exists); the next round renews what was listed
    assert "taken over" not in caplog.text
    assert replicas.admin.get(lease_key("a"))["spec"]["holderIdentity"] == "a"
    replicas.every_retry(18, 24)
    assert replicas["a"].writable() == frozenset()
    replicas.at(26)
    assert replicas["a"].writable() == frozenset(APPS)


def test_a_stopping_replica_writes_no_more(replicas):
    settled(replicas, "a")
    replicas["a"].stop_writing()
    assert not replicas["a"].may_write(APPS[0]) and replicas["a"].writable() == frozenset()
    assert replicas["a"].assigned(APPS[0])


def test_membership_changes_and_the_apps_written_are_logged(replicas, caplog):
    with caplog.at_level(logging.INFO, logger="gitapply.controller"):
        settled(replicas, "a", "b", "c")
        replicas["c"].release()
        replicas.at(13, "a")
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("members: a, b, c (joined: b, c)") for m in messages)
    assert any(m.startswith("members: a, b (left: c)") for m in messages)
    assert f"a now writes {len(replicas.owned('a', 'abc'))} of 30 apps" in messages
    assert f"a now writes {len(replicas.owned('a', 'ab'))} of 30 apps" in messages


def test_a_round_never_raises_when_the_cluster_fails(replicas):
    replicas.join("a")
    replicas.clusters["a"].failing = True
    replicas.at(0)
    assert replicas["a"].members() == () and not replicas["a"].assigned(APPS[0])
