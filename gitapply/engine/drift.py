"""Drift detection: for every object, which differences are pending in git and which were made in the cluster.

Three configurations are compared, field by field (leaves; lists merged by key are compared item by item):

- **git** — the desired object at the revision checked;
- **last applied** — what the last apply recorded on the live object (its last-applied annotation);
- **live** — the object in the cluster.

A differing field is:

- **pending** when git differs from the last applied configuration (someone changed git and has not
  applied it);
- **drift** when the live value differs from the last applied one for a field gitapply manages (it is in the
  last applied configuration): ``kubectl edit``, ``kubectl scale``, a replaced image;
- **unmanaged** when it is in neither git nor the last applied configuration but was added in a place
  users own (``resources``, ``env``, ``command``…, see ``USER_OWNED``) and is not a server default;
- **ignored** when a rule says so (status, server-managed metadata, fields owned by an HPA, ``.gitapply.yaml``
  ignore rules).

Objects are ``in-sync``, ``pending``, ``drifted`` (drift or unmanaged fields, possibly also pending),
``missing`` (in git, not in the cluster) or ``deleted`` (applied by gitapply, then deleted out of band).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..model import ObjectKey, Origin


class FieldState(StrEnum):
    PENDING = "pending"
    DRIFT = "drift"
    UNMANAGED = "unmanaged"
    IGNORED = "ignored"


class ObjectState(StrEnum):
    IN_SYNC = "in-sync"
    PENDING = "pending"
    DRIFTED = "drifted"
    MISSING = "missing"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class FieldDrift:
    """One differing field: its dotted path, its state, the three values (``None`` when absent), and for an
    ignored field the rule or owner that explains it."""

    path: str
    state: FieldState
    git: Any = None
    last_applied: Any = None
    live: Any = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ObjectDrift:
    """The drift of one object."""

    key: ObjectKey
    state: ObjectState
    fields: tuple[FieldDrift, ...] = ()
    origin: Origin | None = None

    def fields_in(self, state: FieldState) -> tuple[FieldDrift, ...]:
        return tuple(item for item in self.fields if item.state is state)


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Every object checked for one app at one revision, and when."""

    app: str
    revision: str | None
    checked_at: float
    objects: tuple[ObjectDrift, ...] = field(default_factory=tuple)

    def count(self, state: ObjectState) -> int:
        return sum(1 for item in self.objects if item.state is state)

    @property
    def has_drift(self) -> bool:
        return any(item.state in (ObjectState.DRIFTED, ObjectState.DELETED) for item in self.objects)

    @property
    def has_pending(self) -> bool:
        return any(item.state in (ObjectState.PENDING, ObjectState.MISSING) or item.fields_in(FieldState.PENDING)
                   for item in self.objects)

