"""The sharding decisions (``controller.shard``), pure: rendezvous assignment, the member Lease, liveness judged
per LIST on this replica's clock, vanishing members, garbage, and the write guard's standing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gitapply.controller.lease import Timing
from gitapply.controller.shard import (LOST, MEMBER_LABEL, MEMBER_SELECTOR, MemberState, Standing, assignment,
                                       counted, garbage, member_lease, member_lease_name, next_view, owner)
from tests.unit.layers import check
from tests.unit.test_layering import PACKAGE, RULES

TIMING = Timing(lease_duration=15, renew_deadline=10, retry_period=2)
APPS = [f"app-{i}" for i in range(1000)]


def lease(name: str, holder: str, version: str, duration: int = 15) -> dict:
    return member_lease(name, "default", {"holderIdentity": holder, "leaseDurationSeconds": duration}, version)


# -- rendezvous -------------------------------------------------------------------------------------------------

def test_the_owner_is_deterministic_and_independent_of_the_members_order():
    assert owner("shop", ["a", "b", "c"]) == owner("shop", ["c", "a", "b"]) == owner("shop", ("b", "c", "a"))
    assert owner("shop", []) is None
    assert assignment(APPS, []) == {}
    assert assignment(["shop"], ["a", "b"]) == {"shop": owner("shop", ["a", "b"])}


def test_a_thousand_apps_spread_over_three_members_within_25_to_42_percent_each():
    shares = list(assignment(APPS, ["replica-a", "replica-b", "replica-c"]).values())
    for member in ("replica-a", "replica-b", "replica-c"):
        assert 0.25 <= shares.count(member) / len(APPS) <= 0.42


def test_a_member_that_joins_takes_only_apps_it_now_owns_about_one_in_n():
    before = assignment(APPS, ["a", "b", "c"])
    after = assignment(APPS, ["a", "b", "c", "d"])
    moved = [app for app in APPS if before[app] != after[app]]
    assert all(after[app] == "d" for app in moved)
    assert 0.18 <= len(moved) / len(APPS) <= 0.32


def test_a_member_that_leaves_gives_up_only_its_own_apps():
    before = assignment(APPS, ["a", "b", "c", "d"])
    after = assignment(APPS, ["a", "b", "c"])
    assert [app for app in APPS if before[app] != after[app]] == [app for app in APPS if before[app] == "d"]


# -- the member Lease -------------------------------------------------------------------------------------------

def test_the_member_lease_is_named_by_a_hash_of_the_identity_and_labelled_for_one_list():
    name = member_lease_name("pod-7f9c/2024-01-01T00:00:00Z")
    assert name.startswith("gitapply-member-") and len(name) == len("gitapply-member-") + 10
    assert name == member_lease_name("pod-7f9c/2024-01-01T00:00:00Z") != member_lease_name("pod-7f9d")
    labels = lease(name, "a", "1")["metadata"]["labels"]
    assert labels == {MEMBER_LABEL: "true", "app.kubernetes.io/managed-by": "gitapply"}
    assert MEMBER_SELECTOR == f"{MEMBER_LABEL}=true,app.kubernetes.io/managed-by=gitapply"


# -- liveness ---------------------------------------------------------------------------------------------------

def test_a_version_expires_its_duration_after_a_list_first_returned_it_not_after_its_renew_time():
    view = next_view({}, [lease("m-a", "a", "1")], asked=100, answered=101, timing=TIMING)
    assert view["m-a"].state is MemberState.LIVE and view["m-a"].observed.since == 101
    view = next_view(view, [lease("m-a", "a", "1")], asked=115.9, answered=116, timing=TIMING)
    assert view["m-a"].state is MemberState.LIVE
    view = next_view(view, [lease("m-a", "a", "1")], asked=116, answered=117, timing=TIMING)
    assert view["m-a"].state is MemberState.EXPIRED and view["m-a"].dead_since == 116
    assert counted(view) == ()


def test_a_new_version_is_live_again_and_its_clock_restarts():
    view = next_view({}, [lease("m-a", "a", "1")], asked=100, answered=100, timing=TIMING)
    view = next_view(view, [lease("m-a", "a", "1")], asked=120, answered=120, timing=TIMING)
    assert view["m-a"].state is MemberState.EXPIRED
    view = next_view(view, [lease("m-a", "a", "2")], asked=121, answered=121, timing=TIMING)
    assert view["m-a"].state is MemberState.LIVE and view["m-a"].observed.since == 121


def test_a_released_lease_is_dead_at_once():
    view = next_view({}, [lease("m-a", "a", "1")], asked=100, answered=100, timing=TIMING)
    view = next_view(view, [lease("m-a", "", "2", duration=1)], asked=102, answered=102, timing=TIMING)
    assert view["m-a"].state is MemberState.RELEASED and view["m-a"].dead_since == 102
    assert view["m-a"].identity == "a" and counted(view) == ()


def test_a_live_member_that_vanishes_still_counts_for_the_renew_deadline_after_the_list_that_missed_it():
    view = next_view({}, [lease("m-a", "a", "1"), lease("m-b", "b", "1")], asked=100, answered=100, timing=TIMING)
    view = next_view(view, [lease("m-b", "b", "2")], asked=102, answered=103, timing=TIMING)
    assert view["m-a"].state is MemberState.VANISHING and counted(view) == ("a", "b")
    view = next_view(view, [lease("m-b", "b", "3")], asked=112.9, answered=113, timing=TIMING)
    assert counted(view) == ("a", "b")
    view = next_view(view, [lease("m-b", "b", "4")], asked=113, answered=113, timing=TIMING)
    assert "m-a" not in view and counted(view) == ("b",)


def test_a_dead_member_that_vanishes_is_gone_at_once():
    view = next_view({}, [lease("m-a", "", "1")], asked=100, answered=100, timing=TIMING)
    assert next_view(view, [], asked=102, answered=102, timing=TIMING) == {}


def test_dead_leases_are_garbage_after_twice_the_longer_lease_duration():
    view = next_view({}, [lease("m-a", "", "1", duration=1), lease("m-b", "b", "1"), lease("m-c", "c", "1")],
                     asked=100, answered=100, timing=TIMING)
    view = next_view(view, [lease("m-a", "", "1", duration=1), lease("m-b", "b", "1"), lease("m-c", "c", "2")],
                     asked=115, answered=115, timing=TIMING)
    assert view["m-b"].dead_since == 115  # expired: since 100 + 15
    assert garbage(view, asked=129.9, timing=TIMING) == ()
    assert [m.name for m in garbage(view, asked=130, timing=TIMING)] == ["m-a"]  # released at 100: 100 + 2 × 15
    assert [m.name for m in garbage(view, asked=145, timing=TIMING)] == ["m-a", "m-b"]


# -- the standing -----------------------------------------------------------------------------------------------

def test_a_replica_writes_only_once_settled_and_only_within_the_deadline_of_its_last_successful_round():
    standing = LOST.succeeded(started=100, written=100.5, created=True, now=101, timing=TIMING)
    assert standing == Standing(last_ok=100, joined=100.5)
    assert not standing.permitted(105, TIMING)  # not settled, and past the deadline when it would be
    standing = standing.succeeded(started=108, written=108.2, created=False, now=108.4, timing=TIMING)
    assert standing.joined == 100.5 and not standing.permitted(110.4, TIMING)
    assert standing.permitted(110.5, TIMING) and standing.permitted(117.9, TIMING)
    assert not standing.permitted(118, TIMING)


def test_a_round_completed_after_the_permission_lapsed_rejoins():
    standing = Standing(last_ok=100, joined=80)
    assert standing.succeeded(started=109, written=109.5, created=False, now=110, timing=TIMING) == \
        Standing(last_ok=109, joined=109.5)
    assert standing.succeeded(started=107, written=107.5, created=False, now=109.9, timing=TIMING) == \
        Standing(last_ok=107, joined=80)


def test_a_round_that_had_to_create_the_lease_rejoins():
    standing = Standing(last_ok=100, joined=80)
    assert standing.succeeded(started=102, written=102.5, created=True, now=103, timing=TIMING).joined == 102.5


@pytest.mark.parametrize("now", [99, 130])
def test_no_standing_permits_nothing(now):
    assert not LOST.permitted(now, TIMING)


def test_the_shard_decisions_are_pure():
    rules = dataclasses.replace(RULES, pure=("controller/shard.py",))
    found = [v for v in check(PACKAGE, rules) if v.module == "controller/shard.py"]
    assert Path(PACKAGE, "controller/shard.py").exists() and not found, found
