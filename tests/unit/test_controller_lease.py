"""Leader election's decisions: acquire a free or expired Lease, renew one's own, follow a live one, and a
leader stops writing at its renew deadline, before its lease can expire."""

from __future__ import annotations

from datetime import UTC, datetime

from gitapply.controller.lease import (Decision, LeaseRecord, Observed, Timing, decide, lease_name, lease_spec,
                                       may_write, observe, released_spec)

TIMING = Timing(lease_duration=15, renew_deadline=10, retry_period=2)


def record(holder: str, rv: str = "1", duration: float = 15, transitions: int = 0) -> LeaseRecord:
    return LeaseRecord(holder, duration, transitions, "2026-01-01T00:00:00.000000Z", rv)


def test_no_lease_or_a_released_one_is_acquired():
    assert decide(Observed(None, 0), identity="a", now=0) is Decision.ACQUIRE
    assert decide(Observed(record(""), 100), identity="a", now=100) is Decision.ACQUIRE


def test_a_leader_renews_its_own_lease():
    assert decide(Observed(record("a"), 0), identity="a", now=1) is Decision.RENEW


def test_another_holders_lease_is_followed_until_unchanged_for_its_duration_on_our_clock():
    seen = observe(None, record("b", rv="7"), now=100)
    assert decide(seen, identity="a", now=114.9) is Decision.FOLLOW
    assert decide(seen, identity="a", now=115) is Decision.ACQUIRE


def test_a_renewal_restarts_the_followers_clock():
    seen = observe(None, record("b", rv="7"), now=100)
    assert observe(seen, record("b", rv="7"), now=110) is seen
    renewed = observe(seen, record("b", rv="8"), now=110)
    assert renewed.since == 110
    assert decide(renewed, identity="a", now=120) is Decision.FOLLOW


def test_a_leader_may_write_only_before_its_renew_deadline():
    assert may_write(100, 109.9, TIMING)
    assert not may_write(100, 110, TIMING)
    assert not may_write(None, 0, TIMING)
    assert TIMING.renew_deadline < TIMING.lease_duration


def test_unsafe_durations_are_refused():
    assert Timing(15, 10, 2).problems() == []
    assert Timing(10, 10, 2).problems()
    assert Timing(15, 10, 10).problems()


def test_taking_over_counts_a_transition_and_renewing_keeps_the_acquire_time():
    when = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    taken = lease_spec(record("b", transitions=2), identity="a", timing=TIMING, when=when)
    assert taken["holderIdentity"] == "a" and taken["leaseTransitions"] == 3
    assert taken["acquireTime"] == taken["renewTime"] == "2026-01-01T00:00:05.000000Z"
    renewed = lease_spec(record("a", transitions=3), identity="a", timing=TIMING, when=when)
    assert renewed["leaseTransitions"] == 3 and renewed["acquireTime"] == "2026-01-01T00:00:00.000000Z"
    assert renewed["leaseDurationSeconds"] == 15


def test_release_empties_the_holder_for_an_immediate_take_over():
    spec = released_spec(record("a", transitions=3), when=datetime(2026, 1, 1, tzinfo=UTC))
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1 and spec["leaseTransitions"] == 3


def test_lease_names_are_valid_and_distinct_per_app():
    assert lease_name("shop") == "gitapply-shop"
    assert lease_name("Shop_1") != lease_name("shop-1")
    assert all(len(lease_name(app)) <= 63 for app in ("x" * 63, "A_b"))
