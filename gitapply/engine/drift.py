"""Drift detection: for every object, which differences are pending in git and which were made in the cluster.

Three configurations are compared, field by field (leaves; lists merged by key are compared item by item),
after normalisation by type (resource quantities in canonical form, ``engine.normalize``):

- **git** — the desired object at the revision checked;
- **last applied** — what the last apply recorded on the live object (its last-applied annotation);
- **live** — the object in the cluster, with its ``managedFields``: who set each field (``engine.ownership``).

A differing field is:

- **pending** when git differs from the last applied configuration (git changed and was not applied yet);
- **drift** when the live value differs from the last applied one for a field gitapply manages (it is in the
  last applied configuration), whoever changed it; ``changed_by`` names the manager that set the live value
  when that is not the apply lineage (a ``kubectl scale`` leaves no trace: then it is None, "unknown"). Also
  when git differs from a record that another manager rewrote (``kubectl edit`` updates the record with its
  change) and that manager set the live value;
- **unmanaged** when it is in neither git nor the record and another manager set it (``kubectl edit``,
  ``kubectl label``…), with ``changed_by``. Not reported: fields owned by the apply lineage (gitapply,
  ``kubectl apply``: the server defaulted them in that write), fields owned by no manager (set by the server
  itself), fields owned by a control-plane controller (``rules.FieldManagers``);
- **ignored** when a rule says so (status, server-managed metadata, fields owned by an HPA, ``.gitapply.yaml``
  ignore rules).

A zero value in the record that live lacks was omitted by the server, not removed (Go's ``omitempty``).
Where the live object carries no ``managedFields`` (servers before 1.18), fields added out of band are
reported only in the places users own (``USER_OWNED``), and the object says so (``provenance`` False).

Objects are ``in-sync``, ``pending``, ``drifted`` (drift or unmanaged fields, possibly also pending),
``missing`` (in git, not in the cluster) or ``deleted`` (applied by gitapply, then deleted out of band).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Callable, Collection, Iterable, Mapping

from ..merge import Node, go_str
from ..errors import RecordError
from ..model import Manifest, ObjectKey, Origin
from .lastapplied import LAST_APPLIED, last_applied
from .normalize import SYSTEM_WRITTEN_METADATA, by_type, defaulted, normalised
from .ownership import Author, FieldPath, Ownership, ownership, owners
from .rules import FieldManagers, FieldRules, Owned
from .plan import APP_LABEL
from .serverside import applied_as, applied_record, sent_configuration


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
    DROPPED = "dropped"
    """Applied by this app, gone from git, still in the cluster: pending (``apply --prune`` deletes it)."""


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
    changed_by: Author | None = None
    at: FieldPath = ()


@dataclass(frozen=True, slots=True)
class ObjectDrift:
    """The drift of one object; ``provenance`` is False when the server recorded no field ownership."""

    key: ObjectKey
    state: ObjectState
    fields: tuple[FieldDrift, ...] = ()
    origin: Origin | None = None
    provenance: bool = True

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
        return any(item.state in (ObjectState.PENDING, ObjectState.MISSING, ObjectState.DROPPED)
                   or item.fields_in(FieldState.PENDING) for item in self.objects)


# Places where a field added out of band is the user's business (and kubectl apply can never remove it):
# container settings, pod scheduling, labels and annotations, ConfigMap data. Server defaults live elsewhere
# (terminationMessagePath, dnsPolicy, clusterIP…) and are never reported.
USER_OWNED = (
    "metadata.labels",
    "metadata.annotations",
    "data",
    "stringData",
    "spec.template.metadata.labels",
    "spec.template.metadata.annotations",
    "spec.template.spec.nodeSelector",
    "spec.template.spec.tolerations",
    "spec.template.spec.affinity",
    "spec.template.spec.serviceAccountName",
    "spec.template.spec.volumes",
) + tuple(
    f"spec.template.spec.{containers}[].{field}"
    for containers in ("containers", "initContainers")
    for field in ("resources", "env", "envFrom", "command", "args", "volumeMounts", "securityContext", "image")
)

# Labels and annotations written by the system or by gitapply itself: never compared (nor is
# ``normalize.SYSTEM_WRITTEN_METADATA``).
_SYSTEM_PREFIXES = ("kubectl.kubernetes.io/", "deployment.kubernetes.io/", "gitapply.io/")

Leaves = dict[FieldPath, Any]


def comparable(obj: dict[str, Any] | None) -> dict[str, Any]:
    """An object without status and the metadata the system writes (ids, times, bookkeeping)."""
    if not obj:
        return {}
    result = {key: value for key, value in obj.items() if key != "status"}
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SYSTEM_WRITTEN_METADATA}
    for section in ("labels", "annotations"):
        if section in metadata:
            kept = {k: v for k, v in (metadata[section] or {}).items() if not k.startswith(_SYSTEM_PREFIXES)}
            if kept:
                metadata[section] = kept
            else:
                del metadata[section]
    result["metadata"] = metadata
    return result


def leaves(obj: Any, node: Node | None, path: FieldPath = ()) -> Leaves:
    """Every leaf of an object by path; items of lists merged by key are addressed by that key
    (``("containers", ("name", "web"), "image")``), with a leaf of their own for their presence; other
    lists are leaves as a whole."""
    found: Leaves = {}
    if type(obj) is dict:
        for key, value in obj.items():
            child = (*path, key)
            meta = node.field(key) if node is not None else None
            if type(value) is list and meta is not None and meta.strategy == "merge" and meta.merge_key \
                    and all(type(item) is dict and meta.merge_key in item for item in value):
                for item in value:
                    at = (*child, (meta.merge_key, item[meta.merge_key]))
                    found[at] = item[meta.merge_key]  # the item's presence; its key is in the path
                    inner = leaves(item, meta.node, at)
                    inner.pop((*at, meta.merge_key), None)
                    found.update(inner)
            elif type(value) is dict and value:
                found.update(leaves(value, meta.node if meta is not None else None, child))
            elif not (type(value) is dict and not value):
                found[child] = value
    return found


_PLAIN_KEY = re.compile(r"^[^.\[\]]+$")


def path_text(path: FieldPath) -> str:
    """``spec.template.spec.containers[name=web].image``; a key with dots in brackets
    (``metadata.labels[app.kubernetes.io/name]``)."""
    text = ""
    for segment in path:
        if isinstance(segment, tuple):
            text += f"[{segment[0]}={go_str(segment[1])}]"
        elif _PLAIN_KEY.match(segment):
            text += f".{segment}" if text else segment
        else:
            text += f"[{segment}]"
    return text


def _generic(path: str) -> str:
    """``spec.template.spec.containers[name=web].env`` → ``spec.template.spec.containers[].env``."""
    out, depth = [], 0
    for char in path:
        if char == "[":
            depth += 1
            out.append("[")
        elif char == "]":
            depth -= 1
            out.append("]")
        elif depth == 0:
            out.append(char)
    return "".join(out)


def user_owned(path: str) -> bool:
    generic = _generic(path)
    return any(generic == place or generic.startswith(place + ".") or generic.startswith(place + "[")
               for place in USER_OWNED)


def pointer_path(pointer: str) -> FieldPath:
    """A JSON pointer as a path prefix (``/spec/replicas`` → ``("spec", "replicas")``)."""
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:])


def _under(path: FieldPath, prefix: FieldPath) -> bool:
    return path[:len(prefix)] == prefix


def _equal(one: Any, other: Any) -> bool:
    return type(one) is type(other) and one == other


def _same(wanted: Any, have: Any) -> bool:
    """Live ``have`` matches recorded ``wanted``: equal, a list the server filled defaults into, or a zero
    value the server omitted."""
    if have is _ABSENT:
        return wanted is not None and not wanted and type(wanted) in (int, float, bool, str, dict, list)
    if type(wanted) is list and type(have) is list:
        return defaulted(wanted, have, None)
    return _equal(wanted, have)


_ABSENT = object()
_RECORD: FieldPath = ("metadata", "annotations", LAST_APPLIED)


def _prepared(obj: dict[str, Any] | None, node: Node | None) -> Leaves:
    return leaves(by_type(comparable(normalised(obj) if obj else obj), node), node)


def _author(record: Ownership, path: FieldPath, live: dict[str, Any], managers: FieldManagers) -> Author | None:
    """The latest manager outside the apply lineage that set the field; None: unknown (or the lineage)."""
    foreign = [a for a in owners(record, path, live) if a.manager not in managers.lineage]
    return max(foreign, key=lambda a: a.time) if foreign else None


def classify_fields(desired: dict[str, Any], live: dict[str, Any], node: Node | None,
                    left_alone: tuple[Owned, ...] = (),
                    managers: FieldManagers = FieldManagers(), app: str = "") -> tuple[FieldDrift, ...]:
    """Every differing field of one object that exists in git and in the cluster. A field can be both
    pending (git moved on) and drifted (the cluster moved away): both are reported."""
    record = ownership(live)
    applied = last_applied(live)
    server_side = applied is None and (applied := applied_record(live, managers.lineage)) is not None
    if server_side:  # what server-side apply sends: git, with the ports' protocol it fills in
        desired = sent_configuration(desired, tuple(owned.pointer for owned in left_alone))
        if applied_as(live, desired, {APP_LABEL: app}):  # git is what was applied: the record, values and all
            applied = desired
    git, was, now = _prepared(desired, node), _prepared(applied, node), _prepared(live, node)
    if server_side and record is not None and applied is not desired:
        was = _with_taken(was, git, record, live, managers)
    found: list[FieldDrift] = []
    rewritten = record is not None and _author(record, _RECORD, live, managers) is not None
    for path in git.keys() | was.keys():
        if not _equal(git.get(path, _ABSENT), was.get(path, _ABSENT)):
            # ``kubectl edit`` rewrites the last-applied record with its change: git then differs from the
            # record, but the cluster moved, not git
            author = _author(record, path, live, managers) if rewritten and record is not None else None
            state = FieldState.DRIFT if author is not None else FieldState.PENDING
            found.append(_field(path, state, git, was, now, author))
    for path, value in was.items():
        if not _same(value, now.get(path, _ABSENT)):
            author = _author(record, path, live, managers) if record is not None else None
            found.append(_field(path, FieldState.DRIFT, git, was, now, author))
    found += _added(git, was, now, live, record, managers)
    return _with_rules(found, left_alone)


def _with_taken(was: Leaves, git: Leaves, record: Ownership, live: dict[str, Any], managers: FieldManagers) -> Leaves:
    """The record of a server-side applied object, completed: a field git sets that another manager has taken
    since (``kubectl set image`` takes the image) left the applier's entry, and with it its value; it was
    applied as git has it, so the cluster moved it, not git."""
    taken = {path: value for path, value in git.items() if path not in was
             and _author(record, path, live, managers) is not None}
    return {**was, **taken} if taken else was


def _field(path: FieldPath, state: FieldState, git: Leaves, was: Leaves, now: Leaves,
           author: Author | None = None) -> FieldDrift:
    return FieldDrift(path_text(path), state, git.get(path), was.get(path), now.get(path), changed_by=author, at=path)


def _added(git: Leaves, was: Leaves, now: Leaves, live: dict[str, Any], record: Ownership | None,
           managers: FieldManagers) -> list[FieldDrift]:
    """Fields only live has that another manager set (an added list item is one addition, not one per
    field); without a record, those in user-owned places."""
    found: list[FieldDrift] = []
    added: FieldPath | None = None
    for text, path in sorted((path_text(path), path) for path in now if path not in git and path not in was):
        if added is not None and _under(path, added):
            continue
        if record is None:
            author = None
            if not user_owned(text):
                continue
        else:
            foreign = [a for a in owners(record, path, live) if a.manager not in managers.lineage
                       and a.manager not in managers.system]
            if not foreign:
                continue
            author = max(foreign, key=lambda a: a.time)
        found.append(FieldDrift(text, FieldState.UNMANAGED, None, None, now[path], changed_by=author, at=path))
        added = path
    return found


def _with_rules(found: list[FieldDrift], left_alone: tuple[Owned, ...]) -> tuple[FieldDrift, ...]:
    """Fields a rule leaves alone become ignored, with the rule's reason (once per path)."""
    result: list[FieldDrift] = []
    for item in sorted(found, key=lambda item: (item.path, item.state)):
        reason = next((owned.reason for owned in left_alone if _under(item.at, pointer_path(owned.pointer))), "")
        if reason:
            item = FieldDrift(item.path, FieldState.IGNORED, item.git, item.last_applied, item.live, reason,
                              item.changed_by, item.at)
            if result and result[-1].path == item.path and result[-1].state is FieldState.IGNORED:
                continue
        result.append(item)
    return tuple(result)


def object_state(fields: tuple[FieldDrift, ...]) -> ObjectState:
    states = {item.state for item in fields}
    if states & {FieldState.DRIFT, FieldState.UNMANAGED}:
        return ObjectState.DRIFTED
    if FieldState.PENDING in states:
        return ObjectState.PENDING
    return ObjectState.IN_SYNC


def classify(
    desired: Iterable[Manifest],
    live: Mapping[ObjectKey, dict[str, Any]],
    nodes: Callable[[str, str], Node | None],
    rules: FieldRules,
    *,
    app: str,
    managers: FieldManagers = FieldManagers(),
    revision: str | None,
    inventory: Iterable[ObjectKey] = (),
    checked_at: float = 0.0,
    dropped: Iterable[ObjectKey] = (),
) -> DriftReport:
    """The drift report for one app: every desired object, plus what the inventory says was deleted, and the
    objects the app applied that git dropped and that are still live (``dropped``: the plan's prune set)."""
    recorded = set(inventory)
    objects = []
    for manifest in desired:
        key = manifest.key
        current = live.get(key)
        if current is None:
            state = ObjectState.DELETED if key in recorded else ObjectState.MISSING
            objects.append(ObjectDrift(key, state, (), manifest.origin))
            continue
        try:
            fields = classify_fields(manifest.obj, current, nodes(key.api_version, key.kind),
                                     rules.left_alone(key), managers, app)
        except RecordError as err:  # the record was edited out of band: drift of this object, the others checked
            fields = (FieldDrift(f"metadata.annotations[{LAST_APPLIED}]", FieldState.DRIFT, reason=err.message),)
        objects.append(ObjectDrift(key, object_state(fields), fields, manifest.origin,
                                   provenance=ownership(current) is not None))
    objects += [ObjectDrift(key, ObjectState.DROPPED) for key in dropped]
    return DriftReport(app, revision, checked_at, tuple(objects))


def confirmed(report: DriftReport, unchanged: Collection[ObjectKey]) -> DriftReport:
    """The report without the pending and drifted fields of objects an apply would leave as they are (the
    plan, confirmed by the server's dry-run where it predicted a change, says so): the local comparison
    follows the known normalisations, and the server's answer decides, as it does for ``diff``. A ``null``
    in git for a field the server never stores, or a zero value the server drops from the items of a list it
    replaces whole, is then no drift. Fields another manager added stay reported (``unmanaged``)."""
    objects = []
    for item in report.objects:
        if item.key in unchanged and item.state in (ObjectState.PENDING, ObjectState.DRIFTED):
            fields = tuple(f for f in item.fields if f.state not in (FieldState.PENDING, FieldState.DRIFT))
            item = dataclasses.replace(item, state=object_state(fields), fields=fields)
        objects.append(item)
    return dataclasses.replace(report, objects=tuple(objects))
