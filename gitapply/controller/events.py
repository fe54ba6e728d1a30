"""Kubernetes Events for what the loop does to an object, and the rate limit that keeps a flapping object
from flooding the server.

Reasons form a closed set: ``Applied`` (created, patched or replaced), ``Pruned`` (deleted because git no
longer has it), ``Drifted`` (changed in the cluster: the message names each field and, where the server
recorded it, the manager that changed it); and, on the app's inventory ConfigMap, ``Held`` (the loop found the
app held: who, why, since when) and ``Released`` (the hold ended: git moved past it, or it was released). The
limit, per object: a token bucket (``burst`` events at once, then one per ``refill`` seconds), and the same
reason and message again is sent at most once per ``repeat`` seconds — a detect-only loop that finds the same
drift on every pass says so once, not every minute.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Iterable

from ..engine.drift import FieldDrift, FieldState, ObjectDrift, ObjectState
from ..model import Action, ObjectKey

COMPONENT = "gitapply"
_MESSAGE_LIMIT = 1024  # the API accepts more; kubectl describe shows a line


class Reason(StrEnum):
    APPLIED = "Applied"
    PRUNED = "Pruned"
    DRIFTED = "Drifted"
    HELD = "Held"
    RELEASED = "Released"


@dataclass(frozen=True, slots=True)
class Limits:
    burst: int = 4
    refill: float = 60.0
    repeat: float = 600.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    last: dict[tuple[Reason, str], float] = field(default_factory=dict)


class EventLimiter:
    """Whether an Event about an object may be sent at ``now`` (seconds, any monotonic clock)."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._buckets: dict[ObjectKey, _Bucket] = {}

    def allow(self, key: ObjectKey, reason: Reason, message: str, now: float) -> bool:
        limits = self.limits
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limits.burst), now)
        bucket.tokens = min(float(limits.burst), bucket.tokens + (now - bucket.at) / limits.refill)
        bucket.at = now
        sent = bucket.last.get((reason, message))
        if sent is not None and now - sent < limits.repeat:
            return False
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        bucket.last[(reason, message)] = now
        return True


def drift_message(drift: ObjectDrift) -> str:
    """``changed in the cluster: spec.replicas (by kubectl-scale), …``; the manager is "unknown" when the
    server recorded none (a change through the scale subresource)."""
    fields = [item for item in drift.fields if item.state in (FieldState.DRIFT, FieldState.UNMANAGED)]
    parts = [_field_text(item) for item in fields]
    if not parts:
        return "deleted in the cluster" if drift.state is ObjectState.DELETED else "changed in the cluster"
    return _clip("changed in the cluster: " + ", ".join(parts))


def _field_text(item: FieldDrift) -> str:
    who = item.changed_by.manager if item.changed_by is not None else "unknown"
    added = " added" if item.state is FieldState.UNMANAGED else ""
    return f"{item.path}{added} (by {who})"


def change_message(action: Action, revision: str | None, drifted: ObjectDrift | None = None) -> str:
    """What the loop did, at which commit, and the drifted fields it reverted."""
    verb = {Action.CREATE: "created", Action.PATCH: "patched", Action.REPLACE: "replaced (deleted and created)",
            Action.PRUNE: "pruned: no longer in git"}.get(action, str(action))
    text = f"{verb} by gitapply" + (f" at {revision[:12]}" if revision else "")
    if drifted is not None and action is not Action.PRUNE:
        fields = [item for item in drifted.fields if item.state in (FieldState.DRIFT, FieldState.UNMANAGED)]
        if fields:
            text += "; reverted " + ", ".join(_field_text(item) for item in fields)
    return _clip(text)


def reason_for(action: Action) -> Reason | None:
    if action in (Action.CREATE, Action.PATCH, Action.REPLACE):
        return Reason.APPLIED
    if action is Action.PRUNE:
        return Reason.PRUNED
    return None


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT - 1] + "…"


def event_object(key: ObjectKey, live: dict[str, Any] | None, reason: Reason, message: str, *, instance: str,
                 when: datetime, default_namespace: str = "default") -> dict[str, Any]:
    """A ``core/v1`` Event about the object ``key`` (``live`` gives its uid): in the object's namespace, or
    ``default_namespace`` for a cluster-scoped object, as kubectl describe looks for it."""
    namespace = key.namespace or default_namespace
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = (live or {}).get("metadata") or {}
    involved = {"apiVersion": key.api_version, "kind": key.kind, "name": key.name}
    if key.namespace:
        involved["namespace"] = key.namespace
    if metadata.get("uid"):
        involved["uid"] = metadata["uid"]
    if metadata.get("resourceVersion"):
        involved["resourceVersion"] = metadata["resourceVersion"]
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{key.name[:200]}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": involved, "reason": str(reason), "message": message,
            "type": "Warning" if reason is Reason.DRIFTED else "Normal",
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT, "reportingInstance": instance[:128],
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1}


def drifted_objects(objects: Iterable[ObjectDrift]) -> list[ObjectDrift]:
    """The objects a Drifted event is about: changed or deleted in the cluster."""
    return [item for item in objects if item.state in (ObjectState.DRIFTED, ObjectState.DELETED)]
