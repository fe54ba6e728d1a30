"""Server-side apply for one object, decided without I/O: what to send, whether it changes anything, and the
``managedFields`` to install first.

The record of what was applied is the last-applied annotation where there is one (client-side apply), and
otherwise the fields of the apply lineage's ``Apply`` entries in ``managedFields`` (``applied_record``). Rules:

- **Which method.** The annotation ``gitapply.io/apply-method`` in git (``server-side`` or ``client-side``) wins;
  else the app's method; and an object whose last-applied record would not fit the API's 256 KiB annotation
  limit goes server-side whatever the app's method (it could not be applied otherwise).
- **What is sent** (``applied_configuration``): git's object without the fields a rule leaves alone (ignore
  rules, the HPA's ``replicas``), with gitapply's label, and its commit annotation only when the object
  changes (an unchanged object keeps the commit it last changed in). Never ``managedFields``, ``status``,
  ``resourceVersion`` or ``creationTimestamp``. Known quirks of the v1.20 server are normalised away
  (``with_protocol_defaults``).
- **Taking over** (``ownership``): before the first server-side apply of an object that client-side apply
  wrote, the lineage's ``Update`` entries that own the last-applied annotation are merged into gitapply's
  ``Apply`` entry (client-go's csaupgrade rules: same apiVersion only); so are the ``Apply`` entries of the
  appliers adopted (``kubectl``, and ``--adopt-managers``). The apply that follows then removes what git
  dropped, the last-applied annotation included. Fields that a rule now leaves alone, or that git dropped
  and a keep rule keeps (``spec.replicas``), leave gitapply's entry: owned by nobody, the server keeps them,
  where applying without them would delete them.
- **No-op, locally.** Nothing is sent when every field sent already has its value in the live object and
  gitapply's entry owns nothing that is not sent (nothing to remove) and there is nothing to take over.
  Otherwise the server's dry-run decides (``ops.apply``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

from ..merge import Node
from ..model import Action, ApplyMethod, Change, ObjectKey, Origin, PatchType, ServerSide
from . import fieldsets
from .fieldsets import FieldSet
from .lastapplied import LAST_APPLIED, last_applied
from .normalize import SERVER_OWNED_METADATA, by_type, defaulted, is_zero, normalised
from .objectplan import Bookkeeping, predicted_after, with_bookkeeping
from .ownership import fields_of
from .rules import has_pointer, without_pointer

METHOD_ANNOTATION = "gitapply.io/apply-method"
APPLIED_ANNOTATION = "gitapply.io/applied"
ANNOTATIONS_LIMIT = 262_144
TOO_LARGE = "too large for client-side apply"
CLIENT_SIDE_APPLIERS = frozenset({"gitapply", "kubectl-client-side-apply", "kubectl", "before-first-apply"})
"""Managers whose ``Update`` entries are client-side apply's when they own the last-applied annotation."""
SERVER_SIDE_APPLIERS = frozenset({"kubectl"})
"""Server-side appliers adopted by default: ``kubectl apply --server-side``."""
_RECORD_FIELD: FieldSet = {"f:metadata": {"f:annotations": {f"f:{LAST_APPLIED}": {}}}}


def method_of(desired: dict[str, Any], app_method: ApplyMethod) -> tuple[ApplyMethod, str]:
    """The method for one object and, when it is not the app's, why."""
    asked = ((desired.get("metadata") or {}).get("annotations") or {}).get(METHOD_ANNOTATION)
    if asked in (ApplyMethod.SERVER_SIDE, ApplyMethod.CLIENT_SIDE) and asked != app_method:
        return ApplyMethod(asked), f"{METHOD_ANNOTATION}: {asked}"
    return app_method, ""


def method_pinned(desired: dict[str, Any]) -> bool:
    """Whether git names the object's method itself: then it is never switched to server-side for its size."""
    return METHOD_ANNOTATION in (((desired.get("metadata") or {}).get("annotations")) or {})


def method_problem(desired: dict[str, Any]) -> str | None:
    """What is wrong with an object's method annotation, if anything (checked with the other input)."""
    asked = ((desired.get("metadata") or {}).get("annotations") or {}).get(METHOD_ANNOTATION)
    if asked is None or asked in (ApplyMethod.SERVER_SIDE, ApplyMethod.CLIENT_SIDE):
        return None
    return f"annotation {METHOD_ANNOTATION} must be server-side or client-side, not {asked!r}"


def annotations_size(obj: dict[str, Any] | None) -> int:
    """Bytes of an object's annotations as the API counts them against its 256 KiB limit."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    return sum(len(name.encode()) + len(str(value).encode()) for name, value in annotations.items())


def with_protocol_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """Ports with ``protocol: TCP`` where git leaves it out, in Services, containers and NetworkPolicies.

    The server keys these lists by port and protocol, and the v1.20 server's apply refuses an item without
    its protocol ("associative list with keys has an element that omits key field"), where a client-side
    apply lets defaulting fill it in (measured with kubectl 1.32 ``apply --server-side``, shared/FACTS.md); TCP
    is that default, so the stored object is the same."""
    def ports(items: Any) -> Any:
        if not isinstance(items, list):
            return items
        return [{**item, "protocol": "TCP"} if isinstance(item, dict) and "protocol" not in item else item
                for item in items]

    def walk(value: Any, parent: str) -> Any:
        if isinstance(value, list):
            return [walk(item, parent) for item in value]
        if not isinstance(value, dict):
            return value
        result = {}
        for name, item in value.items():
            if name == "ports" and parent in ("containers", "initContainers", "ephemeralContainers",
                                              "ingress", "egress"):
                result[name] = ports(item)
            else:
                result[name] = walk(item, name)
        return result

    if obj.get("kind") == "Service":
        spec = obj.get("spec") or {}
        return {**obj, "spec": {**spec, "ports": ports(spec["ports"])}} if "ports" in spec else obj
    return {**obj, "spec": walk(obj["spec"], "")} if isinstance(obj.get("spec"), dict) else obj


_POD_SPEC = {"Pod": ("spec",), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
_VOLUME_SOURCES = frozenset({
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral"})


def defaults_in_the_way(body: dict[str, Any], live: dict[str, Any]) -> dict[str, Any] | None:
    """A strategic merge patch, sent before the apply, removing what the server defaulted or kept that owns no
    manager and that validation refuses beside what git now sets; None when there is none.

    An apply removes only fields its manager owned, and the v1.20 server records no owner for a defaulted
    ``rollingUpdate`` or for an empty ``emptyDir: {}``: so switching a Deployment to ``strategy: Recreate``
    ("may not be specified when strategy type is 'Recreate'") or a volume to another source ("may not specify
    more than 1 volume type") fails under ``kubectl apply --server-side`` where client-side apply, which
    computes the deletion itself, succeeds (measured, shared/FACTS.md). The patch sets git's value beside the
    deletion, so the object it leaves is valid on its own."""
    patch: dict[str, Any] = {}
    strategy = (body.get("spec") or {}).get("strategy") or {}
    if body.get("kind") == "Deployment" and strategy.get("type") == "Recreate" and \
            "rollingUpdate" in ((live.get("spec") or {}).get("strategy") or {}):
        patch["spec"] = {"strategy": {"type": "Recreate", "rollingUpdate": None}}
    path = _POD_SPEC.get(str(body.get("kind")), ("spec", "template", "spec"))
    volumes = _switched_volumes(_at(body, path).get("volumes"), _at(live, path).get("volumes"))
    if volumes:
        nested: dict[str, Any] = {"volumes": volumes}
        for name in reversed(path):
            nested = {name: nested}
        patch = {**patch, "spec": {**patch.get("spec", {}), **nested["spec"]}}
    return patch or None


def _at(obj: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for name in path:
        value = obj.get(name)
        obj = value if isinstance(value, dict) else {}
    return obj


def _switched_volumes(wanted: Any, have: Any) -> list[dict[str, Any]]:
    """Each volume git sets whose live form holds another source: that source deleted, git's set."""
    if not isinstance(wanted, list) or not isinstance(have, list):
        return []
    live = {v.get("name"): v for v in have if isinstance(v, dict)}
    found = []
    for volume in wanted:
        if not isinstance(volume, dict) or volume.get("name") not in live:
            continue
        stale = (live[volume["name"]].keys() & _VOLUME_SOURCES) - volume.keys()
        if stale:
            sources = {k: v for k, v in volume.items() if k in _VOLUME_SOURCES}
            found.append({"name": volume["name"], **{k: None for k in sorted(stale)}, **sources})
    return found


def entries(live: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``managedFields`` entries of ``live`` that carry a field set."""
    return _with_fields(((live or {}).get("metadata") or {}).get("managedFields") or ())


def _with_fields(managed: Iterable[Any]) -> list[dict[str, Any]]:
    return [entry for entry in managed if isinstance(entry, dict) and isinstance(entry.get("fieldsV1"), dict)]


def applied_fields(live: dict[str, Any] | None, appliers: Iterable[str]) -> FieldSet | None:
    """The fields the ``Apply`` entries of ``appliers`` own; None when none of them applied the object."""
    names = set(appliers)
    found = [entry["fieldsV1"] for entry in entries(live) if entry.get("operation") == "Apply"
             and entry.get("manager") in names and not entry.get("subresource")]
    if not found:
        return None
    fields: FieldSet = {}
    for each in found:
        fields = fieldsets.union(fields, each)
    return fields


def applied_record(live: dict[str, Any] | None, appliers: Iterable[str]) -> dict[str, Any] | None:
    """What was last applied to ``live``, for a three-way patch or the drift check: its last-applied
    annotation, else the part of it the appliers' ``Apply`` entries own; None when neither exists."""
    annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    if LAST_APPLIED in annotations:
        return None  # the annotation is the record; its reader parses it
    fields = applied_fields(live, appliers)
    if fields is None or live is None:
        return None
    record = fieldsets.project(live, fields)
    metadata = {k: v for k, v in (record.get("metadata") or {}).items() if k not in SERVER_OWNED_METADATA}
    identity = {k: v for k, v in (live.get("metadata") or {}).items() if k in ("name", "namespace")}
    return {**record, "apiVersion": live.get("apiVersion"), "kind": live.get("kind"),
            "metadata": {**metadata, **identity}}


def ownership(live: dict[str, Any], desired: dict[str, Any], manager: str, *, adopt: Iterable[str] = (),
              release: Iterable[str] = ()) -> tuple[dict[str, Any], ...] | None:
    """The ``managedFields`` to install before applying ``desired`` as ``manager``: client-side apply's entries
    and the adopted appliers' merged into ``manager``'s ``Apply`` entry, and the ``release`` pointers out of it;
    None when there is nothing to change."""
    api_version = desired.get("apiVersion")
    adopted = set(adopt) | SERVER_SIDE_APPLIERS
    current = entries(live)
    mine = next((e for e in current if (e.get("manager"), e.get("operation")) == (manager, "Apply")
                 and not e.get("subresource")), None)
    taken = [e for e in current if e is not mine and not e.get("subresource") and e.get("apiVersion") == api_version
             and ((e.get("operation") == "Update" and e.get("manager") in CLIENT_SIDE_APPLIERS | {manager}
                   and _owns_record(e["fieldsV1"]))
                  or (e.get("operation") == "Apply" and e.get("manager") in adopted))]
    before: FieldSet = mine["fieldsV1"] if mine is not None else {}
    fields = before
    for entry in taken:
        fields = fieldsets.union(fields, entry["fieldsV1"])
    for pointer in release:
        fields = fieldsets.minus(fields, fieldsets.pointer_fields(pointer))
    if not taken and fields == before:
        return None
    kept = [e for e in current if e is not mine and not any(e is t for t in taken)]
    if fields:
        time = (mine or {}).get("time") or max((str(e.get("time") or "") for e in taken), default="")
        kept.append({"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": time,
                     "fieldsType": "FieldsV1", "fieldsV1": fields})
    return tuple(kept)


def _owns_record(fields: FieldSet) -> bool:
    """Whether a field set holds the last-applied annotation (so its entry is client-side apply's)."""
    return f"f:{LAST_APPLIED}" in ((fields.get("f:metadata") or {}).get("f:annotations") or {})


def plan_server_side(desired: dict[str, Any], live: dict[str, Any] | None, node: Node | None, *, manager: str,
                     bookkeeping: Bookkeeping, origin: Origin | None = None, reason: str = "",
                     left_alone: tuple[str, ...] = (), keep_when_removed: tuple[str, ...] = (),
                     adopt: Iterable[str] = ()) -> Change:
    """Create, apply or leave unchanged one object by server-side apply (rules in the module docstring)."""
    key = ObjectKey.of(desired)
    sent = sent_configuration(desired, left_alone)
    if live is None:
        body = _labelled(sent, bookkeeping, {**bookkeeping.annotations,
                                             APPLIED_ANNOTATION: applied_digest(sent, bookkeeping)})
        return Change(key, Action.CREATE, desired, None, body, PatchType.APPLY, normalised(body), origin,
                      ServerSide(reason))
    release = [*left_alone, *(p for p in keep_when_removed if not has_pointer(desired, p))]
    rewrite = ownership(live, desired, manager, adopt=adopt, release=release)
    kept_commit = {k: v for k, v in _annotations(live).items() if k in bookkeeping.annotations}
    digest = {APPLIED_ANNOTATION: applied_digest(sent, bookkeeping)}
    body = _labelled(sent, bookkeeping, {**kept_commit, **digest})
    dropped = fieldsets.minus(fieldsets.missing(_applied_intent(live, node, manager, adopt, release), body),
                              _others_fields(rewrite, live, manager))
    clears = defaults_in_the_way(body, live)
    ssa = ServerSide(reason, rewrite, str((live.get("metadata") or {}).get("resourceVersion") or ""), (),
                     dropped, clears)
    unchanged_in_git = _annotations(live).get(APPLIED_ANNOTATION) == digest[APPLIED_ANNOTATION]
    if rewrite is None and not dropped and clears is None and \
            holds(by_type(normalised(body), node), live, node, atomic_defaults=unchanged_in_git):
        return Change(key, Action.UNCHANGED, desired, live, body, PatchType.APPLY, live, origin, ssa)
    body = _labelled(sent, bookkeeping, {**(bookkeeping.annotations or kept_commit), **digest})
    predicted = fieldsets.without(predicted_after(live, as_patch(body), node, body), dropped)
    return Change(key, Action.PATCH, desired, live, body, PatchType.APPLY, predicted, origin, ssa)


def sent_configuration(desired: dict[str, Any], left_alone: Iterable[str] = ()) -> dict[str, Any]:
    """What server-side apply sends of git's object, before gitapply's own label and annotations."""
    sent = desired
    for pointer in left_alone:
        sent = without_pointer(sent, pointer)
    return with_protocol_defaults(sent)


def applied_as(live: dict[str, Any], sent: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether ``live`` was last applied server-side with exactly ``sent`` (its digest says so): then ``sent``
    is the record of what was applied, values included."""
    return _annotations(live).get(APPLIED_ANNOTATION) == applied_digest(sent, Bookkeeping(labels))


def applied_digest(sent: dict[str, Any], bookkeeping: Bookkeeping) -> str:
    """A short digest of what is applied (git's object as sent, with gitapply's label), kept on the object in
    ``gitapply.io/applied``: the one piece of client-side apply's record server-side apply needs, to tell that
    git has not changed since the last apply. An atomic list the server fills with defaults (a LimitRange's
    ``defaultRequest``) then holds when git's items are what it holds less those defaults."""
    text = json.dumps({"sent": sent, "labels": bookkeeping.labels}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def holds(sent: Any, live: Any, node: Node | None, *, atomic_defaults: bool = False) -> bool:
    """Whether ``live`` already holds every field of ``sent`` with its value, so that applying it changes
    nothing. An item of a keyed list is looked up by its key wherever it is: the server's merge keeps the live
    order, where a strategic merge's prediction orders by git and would call a reordered list a change. Items
    only live has are someone else's (what gitapply applied and dropped is checked apart). A zero value live
    lacks is one the server omits (``minReadySeconds: 0``). Other lists are atomic, compared whole, or, with
    ``atomic_defaults`` (git unchanged since it was applied), as what live holds less server defaults."""
    if isinstance(sent, list) and atomic_defaults:
        return defaulted(sent, live, None)
    if not isinstance(sent, dict):
        return bool(sent == live)
    if not isinstance(live, dict):
        return False
    for key, value in sent.items():
        if key not in live:
            if is_zero(value):
                continue
            return False
        meta = node.field(key) if node is not None else None
        have = live[key]
        if meta is not None and meta.merge_key and isinstance(value, list) and isinstance(have, list) and all(
                isinstance(item, dict) and meta.merge_key in item for item in value):
            found = {item.get(meta.merge_key): item for item in have if isinstance(item, dict)}
            if not all(item[meta.merge_key] in found and holds(item, found[item[meta.merge_key]], meta.node,
                                                              atomic_defaults=atomic_defaults) for item in value):
                return False
        elif not holds(value, have, meta.node if meta is not None else None, atomic_defaults=atomic_defaults):
            return False
    return True


def _labelled(obj: dict[str, Any], bookkeeping: Bookkeeping, annotations: dict[str, str]) -> dict[str, Any]:
    """``obj`` with gitapply's label and the given annotations (the commit one only when the object changes)."""
    return with_bookkeeping(obj, Bookkeeping(bookkeeping.labels, annotations))


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def as_patch(body: dict[str, Any]) -> dict[str, Any]:
    """The applied configuration as a patch of the live object (identity fields off): for the local prediction,
    and for the dry-run that stands for a patch sent before the apply."""
    return {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}


def _applied_intent(live: dict[str, Any], node: Node | None, manager: str, adopt: Iterable[str],
                    release: Iterable[str]) -> FieldSet:
    """What was applied to ``live``, as fields: gitapply's and the adopted appliers' ``Apply`` entries and the
    last-applied record (not client-side apply's ``Update`` entries: they also hold what the server defaulted,
    which an apply removes and the server defaults again), less the fields handed over."""
    fields = applied_fields(live, {manager, *adopt, *SERVER_SIDE_APPLIERS}) or {}
    recorded = last_applied(live)
    if recorded is not None:
        fields = fieldsets.union(fields, fieldsets.union(fields_of(recorded, node), _RECORD_FIELD))
    for pointer in release:
        fields = fieldsets.minus(fields, fieldsets.pointer_fields(pointer))
    return fields


def _others_fields(rewrite: tuple[dict[str, Any], ...] | None, live: dict[str, Any], manager: str) -> FieldSet:
    """What every manager but ``manager``'s ``Apply`` entry owns, after the ownership ``rewrite`` (if any)."""
    found = _with_fields(rewrite) if rewrite is not None else entries(live)
    fields: FieldSet = {}
    for entry in found:
        if (entry.get("manager"), entry.get("operation")) != (manager, "Apply"):
            fields = fieldsets.union(fields, entry["fieldsV1"])
    return fields

