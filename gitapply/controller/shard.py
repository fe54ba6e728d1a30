"""Sharding apps over the controller's replicas, as decisions: which replica an app belongs to, which members are
live, when this replica may write, and which member Leases are garbage. Pure: no I/O, no threads, no clock of
its own (``members`` reads the clock and the Leases and passes them in).

**Assignment.** Rendezvous (highest-random-weight) hashing: an app belongs to the member with the highest
``sha256(f"{member}\\n{app}")``. Every replica with the same view of the members computes the same owner without
talking to the others; a member that joins takes only the apps it now wins (about 1/n of them), and a member
that leaves gives up only its own apps.

**Membership.** Each replica holds one Lease, ``member_lease_name(identity)``, labelled ``MEMBER_LABEL=true``
and ``app.kubernetes.io/managed-by=gitapply``, and renews it every retry period; each replica LISTs the member
Leases every round and keeps its view (``next_view``). Liveness is judged once per LIST and frozen until the
next one, on this replica's monotonic clock only (``renewTime`` is never compared across machines):

- a Lease whose ``holderIdentity`` is empty was **released**: dead at once;
- a Lease whose ``resourceVersion`` has gone unchanged for its ``leaseDurationSeconds``, from the moment a LIST
  first *returned* that version to the moment a later LIST was *sent*, has **expired**: dead. (Its holder's last
  renewal began before that version existed and its write permission ended ``renew_deadline`` later, sooner
  than the lease duration: a dead member is not writing.)
- a member that was live and whose Lease is missing from a LIST is **vanishing**: it still counts as a member,
  and keeps its apps, until a LIST sent ``renew_deadline`` after the one that found it missing. A Lease is
  deleted without a condition on its version (the ``Cluster`` protocol has none), so a garbage collector working
  from an old LIST may delete a Lease that was just renewed; that member's renewals then fail, and its
  permission has ended by then. (A replica shutting down therefore *releases* its Lease rather than deleting
  it, so that its apps move at the others' next round.)
- otherwise the member is **live**.

**The write guard** (``Standing.permitted``). This replica may write only while its last successful round
(renewal of its own Lease and LIST of the members) began less than ``renew_deadline`` ago, and once it is
**settled**: ``renew_deadline`` has passed since it (re)joined. It (re)joins at a successful round that created
its Lease, or that came after its permission had lapsed; the moment counted is when its Lease write returned
(from then on any LIST sees it). Why settled suffices: a replica that joins takes apps from live ones; each of
those either LISTs within ``renew_deadline`` after the newcomer's Lease exists, sees it and stops writing those
apps, or its own guard lapses. Apps that move because a member died are writable at once by a settled replica.

**Garbage.** A member Lease dead (released, or expired) for twice the lease duration (the longer of its own
and this replica's) is deleted by any settled member: identities are per process start, so killed pods would
otherwise leave their Leases forever.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from .lease import LeaseRecord, Observed, Timing, lease_object, observe

MEMBER_LABEL = "gitapply.io/shard-member"
MANAGED_BY = "app.kubernetes.io/managed-by"
MEMBER_SELECTOR = f"{MEMBER_LABEL}=true,{MANAGED_BY}=gitapply"
_MEMBER_PREFIX = "gitapply-member-"


# -- assignment -------------------------------------------------------------------------------------------------

def _weight(member: str, app: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{member}\n{app}".encode()).digest(), "big")


def owner(app: str, members: Iterable[str]) -> str | None:
    """The member ``app`` belongs to (the highest weight, the name breaking a tie so that the order of
    ``members`` never matters); None when there are no members."""
    return max(members, key=lambda member: (_weight(member, app), member), default=None)


def assignment(apps: Iterable[str], members: Iterable[str]) -> dict[str, str]:
    """Each app's owner among ``members``; empty when there are none."""
    present = tuple(dict.fromkeys(members))
    if not present:
        return {}
    return {app: owner(app, present) or "" for app in apps}


# -- the member Lease -------------------------------------------------------------------------------------------

def member_lease_name(identity: str) -> str:
    """The name of ``identity``'s membership Lease: a hash, since identities need not be valid object names."""
    return _MEMBER_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:10]


def member_lease(name: str, namespace: str, spec: dict[str, Any], resource_version: str = "") -> dict[str, Any]:
    """A member Lease with ``spec``, labelled so that the members are found by one LIST (``MEMBER_SELECTOR``)."""
    lease = lease_object(name, namespace, spec, resource_version)
    lease["metadata"]["labels"] = {**lease["metadata"]["labels"], MEMBER_LABEL: "true"}
    return lease


# -- the view of the members ------------------------------------------------------------------------------------

class MemberState(StrEnum):
    LIVE = "live"
    VANISHING = "vanishing"  # was live, Lease now missing: still counted for renew_deadline
    EXPIRED = "expired"
    RELEASED = "released"


COUNTED = frozenset({MemberState.LIVE, MemberState.VANISHING})


@dataclass(frozen=True, slots=True)
class Member:
    """One member Lease as this replica has seen it. ``observed.since`` is when a LIST first returned its current
    version; ``dead_since`` when it died (released or expired); ``missing_since`` when a LIST first lacked it."""

    name: str
    identity: str
    state: MemberState
    observed: Observed
    dead_since: float | None = None
    missing_since: float | None = None


View = Mapping[str, Member]
"""This replica's view of the members, by Lease name."""


def next_view(previous: View, leases: Iterable[dict[str, Any]], *, asked: float, answered: float,
              timing: Timing) -> dict[str, Member]:
    """The view after a LIST of the member Leases sent at ``asked`` and answered at ``answered`` (rules in the
    module docstring)."""
    view: dict[str, Member] = {}
    for lease in leases:
        name = str((lease.get("metadata") or {}).get("name") or "")
        if name:
            view[name] = _seen(previous.get(name), name, LeaseRecord.of(lease), asked=asked, answered=answered)
    for name, member in previous.items():
        if name not in view and member.state in COUNTED:
            missing_since = member.missing_since if member.missing_since is not None else answered
            if asked < missing_since + timing.renew_deadline:
                view[name] = replace(member, state=MemberState.VANISHING, missing_since=missing_since)
    return view


def _seen(previous: Member | None, name: str, record: LeaseRecord, *, asked: float, answered: float) -> Member:
    observed = observe(previous.observed if previous is not None else None, record, answered)
    identity = record.holder or (previous.identity if previous is not None else "")
    if not record.holder:
        return Member(name, identity, MemberState.RELEASED, observed, dead_since=observed.since)
    expires = observed.since + record.duration
    if asked >= expires:
        return Member(name, identity, MemberState.EXPIRED, observed, dead_since=expires)
    return Member(name, identity, MemberState.LIVE, observed)


def counted(view: View) -> tuple[str, ...]:
    """The identities apps are assigned over: live and vanishing members, sorted."""
    return tuple(sorted({m.identity for m in view.values() if m.state in COUNTED and m.identity}))


def garbage(view: View, *, asked: float, timing: Timing) -> tuple[Member, ...]:
    """Members whose Lease has been dead for twice the lease duration at a LIST sent at ``asked``."""
    found = []
    for member in view.values():
        record = member.observed.record
        if member.dead_since is None or record is None:
            continue
        if asked >= member.dead_since + 2 * max(record.duration, timing.lease_duration):
            found.append(member)
    return tuple(sorted(found, key=lambda m: m.name))


# -- the write guard --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Standing:
    """This replica's own standing: when its last successful round began, and when it last (re)joined."""

    last_ok: float | None = None
    joined: float | None = None

    def permitted(self, now: float, timing: Timing) -> bool:
        """Renewed and listed within the renew deadline, and settled (rules in the module docstring)."""
        return self.in_time(now, timing) and self.settled(now, timing)

    def in_time(self, now: float, timing: Timing) -> bool:
        return self.last_ok is not None and now < self.last_ok + timing.renew_deadline

    def settled(self, now: float, timing: Timing) -> bool:
        return self.joined is not None and now >= self.joined + timing.renew_deadline

    def succeeded(self, *, started: float, written: float, created: bool, now: float,
                  timing: Timing) -> Standing:
        """The standing after a successful round that began at ``started``, whose Lease write returned at
        ``written`` (``created``: the Lease did not exist), completed at ``now``. A round that completes after
        the permission lapsed, or that had to create the Lease, is a (re)join."""
        rejoins = created or self.joined is None or not self.in_time(now, timing)
        return Standing(last_ok=started, joined=written if rejoins else self.joined)


LOST = Standing()
"""The standing of a replica that has not joined, or whose Lease was taken from it."""
