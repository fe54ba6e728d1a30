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
from typing import Any, Callable, Iterable, Mapping

from ..merge import Node
from ..merge.directives import go_str
from ..model import Manifest, ObjectKey, Origin
from .lastapplied import last_applied
from .normalize import defaulted, normalised
from .rules import FieldRules, Owned


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

# Written by the system or by gitapply itself: never compared.
_SYSTEM_METADATA = {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                    "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers"}
_SYSTEM_PREFIXES = ("kubectl.kubernetes.io/", "deployment.kubernetes.io/", "gitapply.io/")

Leaves = dict[str, Any]


def comparable(obj: dict[str, Any] | None) -> dict[str, Any]:
    """An object without status and the metadata the system writes (ids, times, bookkeeping)."""
    if not obj:
        return {}
    result = {key: value for key, value in obj.items() if key != "status"}
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SYSTEM_METADATA}
    for section in ("labels", "annotations"):
        if section in metadata:
            kept = {k: v for k, v in (metadata[section] or {}).items() if not k.startswith(_SYSTEM_PREFIXES)}
            if kept:
                metadata[section] = kept
            else:
                del metadata[section]
    result["metadata"] = metadata
    return result


def leaves(obj: Any, node: Node | None, path: str = "") -> Leaves:
    """Every leaf of an object by dotted path; items of lists merged by key are addressed by that key
    (``containers[name=web].image``), with a leaf of their own for their presence; other lists are leaves
    as a whole."""
    found: Leaves = {}
    if type(obj) is dict:
        for key, value in obj.items():
            child = f"{path}.{key}" if path else key
            meta = node.field(key) if node is not None else None
            if type(value) is list and meta is not None and meta.strategy == "merge" and meta.merge_key \
                    and all(type(item) is dict and meta.merge_key in item for item in value):
                for item in value:
                    label = f"{child}[{meta.merge_key}={go_str(item[meta.merge_key])}]"
                    found[label] = item[meta.merge_key]  # the item's presence; its key is in the path
                    inner = leaves(item, meta.node, label)
                    inner.pop(f"{label}.{meta.merge_key}", None)
                    found.update(inner)
            elif type(value) is dict and value:
                found.update(leaves(value, meta.node if meta is not None else None, child))
            elif not (type(value) is dict and not value):
                found[child] = value
    return found


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


def pointer_path(pointer: str) -> str:
    """A JSON pointer as a dotted path prefix (``/spec/replicas`` → ``spec.replicas``)."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    return ".".join(tokens)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def _equal(one: Any, other: Any) -> bool:
    return type(one) is type(other) and one == other


def _same(wanted: Any, have: Any) -> bool:
    """Live ``have`` matches recorded ``wanted``: equal, or a list the server filled defaults into."""
    if type(wanted) is list and type(have) is list:
        return len(wanted) == len(have) and all(defaulted(w, h, None) for w, h in zip(wanted, have))
    return _equal(wanted, have)


_ABSENT = object()


def classify_fields(desired: dict[str, Any], live: dict[str, Any], node: Node | None,
                    left_alone: tuple[Owned, ...] = ()) -> tuple[FieldDrift, ...]:
    """Every differing field of one object that exists in git and in the cluster. A field can be both
    pending (git moved on) and drifted (the cluster moved away): both are reported."""
    recorded = last_applied(live)
    git, was, now = (leaves(comparable(normalised(obj) if obj else obj), node) for obj in (desired, recorded, live))
    found: list[FieldDrift] = []
    for path in git.keys() | was.keys():
        if not _equal(git.get(path, _ABSENT), was.get(path, _ABSENT)):
            found.append(FieldDrift(path, FieldState.PENDING, git.get(path), was.get(path), now.get(path)))
    for path, value in was.items():
        if not _same(value, now.get(path, _ABSENT)):
            found.append(FieldDrift(path, FieldState.DRIFT, git.get(path), value, now.get(path)))
    added = ""
    for path in sorted(now):
        if path not in git and path not in was and user_owned(path) and not (added and _under(path, added)):
            found.append(FieldDrift(path, FieldState.UNMANAGED, None, None, now[path]))
            added = path  # an added list item is one addition, not one per field
    result: list[FieldDrift] = []
    for item in sorted(found, key=lambda item: (item.path, item.state)):
        reason = next((owned.reason for owned in left_alone if _under(item.path, pointer_path(owned.pointer))), "")
        if reason:
            item = FieldDrift(item.path, FieldState.IGNORED, item.git, item.last_applied, item.live, reason)
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
    revision: str | None,
    inventory: Iterable[ObjectKey] = (),
    checked_at: float = 0.0,
) -> DriftReport:
    """The drift report for one app: every desired object, plus what the inventory says was deleted."""
    recorded = set(inventory)
    objects = []
    for manifest in desired:
        key = manifest.key
        current = live.get(key)
        if current is None:
            state = ObjectState.DELETED if key in recorded else ObjectState.MISSING
            objects.append(ObjectDrift(key, state, (), manifest.origin))
            continue
        fields = classify_fields(manifest.obj, current, nodes(key.api_version, key.kind), rules.left_alone(key))
        objects.append(ObjectDrift(key, object_state(fields), fields, manifest.origin))
    return DriftReport(app, revision, checked_at, tuple(objects))
