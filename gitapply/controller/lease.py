"""Leader election on a ``coordination.k8s.io/v1`` Lease, as decisions: given what the Lease says, when this
replica first saw that version of it, and the time now, should it acquire, renew or follow?

The rules (the same as client-go's leader election, written afresh):

- No Lease yet, or one whose holder is empty (released on shutdown): **acquire** it.
- A Lease this replica holds: **renew** it (write a new ``renewTime``).
- Another holder's Lease: **follow** until that exact version (its ``resourceVersion``) has gone unchanged
  for ``leaseDurationSeconds`` *as measured on this replica's clock*, from the moment it first saw it; then
  **acquire**. Clocks of different machines never meet: ``renewTime`` is written for humans, never compared.
- Every write carries the ``resourceVersion`` read, so of two replicas acquiring at once the server accepts
  one and refuses the other (409).
- A leader may write to the cluster only while ``now < last successful renewal + renew deadline``; the renew
  deadline is shorter than the lease, so a leader that cannot renew stops writing before any follower may
  take over (the difference is the safety margin for a write in flight).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

LEASE_API_VERSION = "coordination.k8s.io/v1"


class Decision(StrEnum):
    ACQUIRE = "acquire"
    RENEW = "renew"
    FOLLOW = "follow"


@dataclass(frozen=True, slots=True)
class Timing:
    """Lease duration, renew deadline and retry period in seconds (client-go's defaults: 15, 10, 2)."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def problems(self) -> list[str]:
        """What is wrong with these durations; empty when they are safe to use."""
        found = []
        if not 0 < self.retry_period < self.renew_deadline:
            found.append(f"--retry-period ({self.retry_period:g} s) must be above 0 and below --renew-deadline "
                         f"({self.renew_deadline:g} s), so that a leader tries to renew before its deadline")
        if not self.renew_deadline < self.lease_duration:
            found.append(f"--renew-deadline ({self.renew_deadline:g} s) must be below --lease-duration "
                         f"({self.lease_duration:g} s): a leader must stop writing before its lease can expire")
        return found


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The parts of a Lease the election reads."""

    holder: str
    duration: float
    transitions: int
    acquire_time: str
    resource_version: str

    @classmethod
    def of(cls, lease: dict[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(str(spec.get("holderIdentity") or ""), float(spec.get("leaseDurationSeconds") or 0),
                   int(spec.get("leaseTransitions") or 0), str(spec.get("acquireTime") or ""),
                   str((lease.get("metadata") or {}).get("resourceVersion") or ""))


@dataclass(frozen=True, slots=True)
class Observed:
    """A version of the Lease and when (this replica's monotonic clock) it was first seen; None: no Lease."""

    record: LeaseRecord | None
    since: float


def observe(previous: Observed | None, record: LeaseRecord | None, now: float) -> Observed:
    """The observation after reading ``record`` at ``now``: the clock restarts only when the Lease changed."""
    if previous is not None and previous.record is not None and record is not None \
            and previous.record.resource_version == record.resource_version:
        return previous
    return Observed(record, now)


def decide(observed: Observed, *, identity: str, now: float) -> Decision:
    """Acquire, renew or follow (rules in the module docstring)."""
    record = observed.record
    if record is None or not record.holder:
        return Decision.ACQUIRE
    if record.holder == identity:
        return Decision.RENEW
    if now >= observed.since + record.duration:
        return Decision.ACQUIRE
    return Decision.FOLLOW


def may_write(renewed_at: float | None, now: float, timing: Timing) -> bool:
    """Whether a leader whose last successful renewal began at ``renewed_at`` may still write at ``now``."""
    return renewed_at is not None and now < renewed_at + timing.renew_deadline


def micro_time(when: datetime) -> str:
    """A Lease's MicroTime: RFC 3339 with microseconds, in UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_spec(record: LeaseRecord | None, *, identity: str, timing: Timing, when: datetime) -> dict[str, Any]:
    """The spec to write for acquiring or renewing: a change of holder counts a transition."""
    renewing = record is not None and record.holder == identity
    transitions = (record.transitions if record is not None else 0) + (0 if renewing or record is None else 1)
    stamp = micro_time(when)
    return {"holderIdentity": identity, "leaseDurationSeconds": max(1, round(timing.lease_duration)),
            "acquireTime": record.acquire_time if renewing and record is not None and record.acquire_time
            else stamp, "renewTime": stamp, "leaseTransitions": transitions}


def released_spec(record: LeaseRecord, *, when: datetime) -> dict[str, Any]:
    """The spec that gives the Lease up: no holder, and a one-second duration for any client that waits
    for expiry rather than reading an empty holder as free."""
    stamp = micro_time(when)
    return {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": stamp, "renewTime": stamp,
            "leaseTransitions": record.transitions}


_INVALID = re.compile(r"[^a-z0-9.-]+")


def lease_name(app: str) -> str:
    """``gitapply-<app>`` as a valid object name (lower case, ``[a-z0-9.-]``, at most 63 characters); a name
    that had to be changed gets a short hash of the app's, so that two apps never share a Lease."""
    cleaned = _INVALID.sub("-", app.lower()).strip("-.") or "app"
    name = f"gitapply-{cleaned}"
    if cleaned != app or len(name) > 63:
        digest = hashlib.sha256(app.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-.')}-{digest}"
    return name


def lease_object(name: str, namespace: str, spec: dict[str, Any], resource_version: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace,
                                "labels": {"app.kubernetes.io/managed-by": "gitapply"}}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {"apiVersion": LEASE_API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}
