"""Server-side apply as the v1.20 API server does it (structured-merge-diff v4), for the embedded local cluster.

``apply(live, config, node, manager=..., force=..., now=...)`` answers what the server would store when
``manager`` applies ``config`` over ``live`` (None: the object does not exist yet), and the ``managedFields``
it would record. Fields are named by paths of ``managedFields`` segments; value shapes (atomic, struct, keyed
list, set) are ``engine.fieldtypes``'. The rules, each checked against the real server
(``tests/integration/test_local_ssa_parity.py``):

1. **Ownership.** The applier's ``Apply`` entry becomes exactly the field set of ``config``: its leaves, the
   atomic values whole, each keyed item by its key with ``.`` for the item itself; an empty map or list owns
   nothing (``emptyDir: {}``); the object's identity (``apiVersion``, ``kind``, ``metadata.name``…) is never
   owned. The manager's ``Update`` entry is another manager.
2. **Merge.** ``config`` is merged into ``live``: structs key by key, keyed lists and sets item by item keeping
   the live items in their live order and adding new ones after them in the config's order; atomic values
   and scalars are replaced. Reordering items in ``config`` changes nothing.
3. **Removal.** A field the applier applied last time and ``config`` lacks is removed, unless some manager
   (Apply or Update, the applier's new set included) owns it. Removing a keyed item takes all of it, also
   fields an updater set inside it. A map or list left empty by removals becomes null: omitted on a built-in
   kind (``typed``), kept as ``null`` on a custom resource (whose validation then refuses it, as the server's).
4. **Conflicts.** A field another manager owns whose value the apply changes (or adds) is a conflict:
   ``FieldConflictError`` naming each ``(manager, path)`` unless ``force``, which takes the field from them.
   The same value is no conflict: both keep it. Fields the apply removes leave every other owner.
5. **No-op.** ``changed`` is False when the object is unchanged; the applier's entry gets ``now`` as its time
   only when the object or its field set changed.
6. ``metadata.managedFields`` in ``config`` is refused (400), as the server refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..errors import FieldConflictError, InvalidObjectError
from ..merge import Node
from ..model import ObjectKey
from .fieldtypes import (Kind, Path, Shape, ShapeError, child_shape, fields_v1, item_segment, item_shape,
                         keyed_items, path_text, paths_of, root_shape)

APPLY = "Apply"
UNOWNED = frozenset({("f:apiVersion",), ("f:kind",), ("f:metadata",)} | {
    ("f:metadata", "f:" + name) for name in ("name", "namespace", "creationTimestamp", "selfLink", "uid",
                                             "clusterName", "generation", "managedFields", "resourceVersion")})
"""What no applier owns: the object's identity and the server's bookkeeping (the server strips them)."""


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(slots=True)
class Entry:
    """One ``managedFields`` entry: who, how, when, and the members of its field set."""

    manager: str
    operation: str
    api_version: str
    time: str
    paths: set[Path]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {**self.extra, "manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
                "time": self.time, "fieldsType": "FieldsV1", "fieldsV1": fields_v1(self.paths)}


@dataclass(frozen=True, slots=True)
class Applied:
    """What the server would store: ``obj`` (without ``managedFields``), its ``managed_fields``, and whether the
    object itself changed (False: a no-op for the object, though the record may still change)."""

    obj: dict[str, Any]
    managed_fields: list[dict[str, Any]]
    changed: bool


@dataclass(slots=True)
class Comparison:
    """How a write changes an object: members added, modified (leaves only) and removed."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    @property
    def same(self) -> bool:
        return not (self.added or self.modified or self.removed)


def apply(live: dict[str, Any] | None, config: dict[str, Any], node: Node | None, *, manager: str,
          force: bool = False, now: str = "", typed: bool = True) -> Applied:
    """``config`` applied over ``live`` by ``manager`` (see the module's rules); ``typed``: a built-in kind,
    whose emptied maps and lists are omitted rather than null. Raises ``FieldConflictError`` (unforced
    conflicts) and ``InvalidObjectError`` (managed fields in ``config``, an item without its key)."""
    subject = str(ObjectKey.of(config))
    if "managedFields" in (config.get("metadata") or {}):
        raise InvalidObjectError(subject, "bad request: metadata.managedFields must be nil")
    shape = root_shape(node)
    before = {**live, "metadata": _without_record(live)} if live is not None else {}
    entries = decode((live or {}).get("metadata", {}).get("managedFields"))
    try:
        mine = field_set(config, shape) - UNOWNED
        last = _take(entries, manager)
        result = prune(merged(before, config, shape), [e.paths for e in entries] + [mine], last, shape,
                       typed=typed)
        comparison = compare(before, result, shape)
    except ShapeError as err:
        raise InvalidObjectError(subject, f"bad request: {err}") from err
    entries = _settle(entries, comparison, force=force, subject=subject)
    previous = last.time if last is not None else ""
    time = now if not comparison.same or last is None or last.paths != mine else previous
    if mine:
        entries.append(Entry(manager, APPLY, str(config.get("apiVersion", "")), time, mine))
    return Applied(result if not comparison.same else before, encode(entries), not comparison.same)


def _without_record(live: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (live.get("metadata") or {}).items() if k != "managedFields"}


def _take(entries: list[Entry], manager: str) -> Entry | None:
    """Remove and return the manager's ``Apply`` entry."""
    for index, entry in enumerate(entries):
        if (entry.manager, entry.operation) == (manager, APPLY):
            return entries.pop(index)
    return None


def decode(managed: Sequence[dict[str, Any]] | None) -> list[Entry]:
    """``metadata.managedFields`` as entries (entries that are not ``FieldsV1`` are dropped)."""
    entries = []
    for raw in managed or ():
        if not isinstance(raw, dict) or not isinstance(raw.get("fieldsV1"), dict):
            continue
        extra = {k: v for k, v in raw.items()
                 if k not in ("manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1")}
        entries.append(Entry(str(raw.get("manager", "")), str(raw.get("operation", "")),
                             str(raw.get("apiVersion", "")), str(raw.get("time", "") or ""),
                             paths_of(raw["fieldsV1"]), extra))
    return entries


def encode(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """Entries as ``metadata.managedFields``, in the server's order: operation, time, manager, apiVersion."""
    ordered = sorted(entries, key=lambda e: (e.operation, e.time, e.manager, e.api_version))
    return [entry.as_json() for entry in ordered if entry.paths]


def _settle(entries: list[Entry], comparison: Comparison, *, force: bool, subject: str) -> list[Entry]:
    """The other managers' entries after the write: conflicting fields refused or (forced) taken from them,
    removed fields gone from them, empty entries dropped."""
    changed = comparison.modified | comparison.added
    conflicts = [(entry, entry.paths & changed) for entry in entries]
    named = sorted((entry.manager, path_text(path)) for entry, paths in conflicts for path in paths)
    if named and not force:
        listed = "; ".join(f"{path} (held by {manager})" for manager, path in named)
        raise FieldConflictError(subject, f"fields owned by other managers: {listed}", tuple(named))
    kept = []
    for entry, taken in conflicts:
        entry.paths = entry.paths - taken - comparison.removed
        if entry.paths:
            kept.append(entry)
    return kept


# -- the structured merge's walks ----------------------------------------------------------------------------

def field_set(value: Any, shape: Shape, prefix: Path = ()) -> set[Path]:
    """The members a value sets: leaves and atomic values, each keyed item and its fields; an empty struct or
    list sets nothing."""
    found: set[Path] = set()
    if shape.kind is Kind.STRUCT and isinstance(value, dict):
        for key, child in value.items():
            found |= field_set(child, child_shape(shape, key, child), prefix + ("f:" + key,))
    elif shape.kind in (Kind.KEYED, Kind.SET) and isinstance(value, list):
        for segment, item in keyed_items(shape, value, where=path_text(prefix)).items():
            path = prefix + (segment,)
            found |= {path} | field_set(item, item_shape(shape, item), path)
    elif prefix:
        found.add(prefix)
    return found


def merged(live: Any, config: Any, shape: Shape) -> Any:
    """``config`` merged into ``live`` (rule 2). Shares unchanged parts of both: neither is modified."""
    if config is ABSENT:
        return live
    if live is ABSENT:
        return config
    if shape.kind is Kind.STRUCT and isinstance(live, dict) and isinstance(config, dict):
        result = dict(live)
        for key, value in config.items():
            result[key] = merged(live.get(key, ABSENT), value, child_shape(shape, key, value))
        return result
    if shape.kind in (Kind.KEYED, Kind.SET) and isinstance(live, list) and isinstance(config, list):
        return _merged_items(live, config, shape)
    return config


def _merged_items(live: list[Any], config: list[Any], shape: Shape) -> list[Any]:
    applied = keyed_items(shape, config, where="config")
    result, seen = [], set()
    for item in live:
        segment = item_segment(shape, item)
        if segment in applied and segment not in seen:
            item = merged(item, applied[segment], item_shape(shape, item))
        seen.add(segment)
        result.append(item)
    return result + [item for segment, item in applied.items() if segment not in seen]


def removed(value: Any, paths: set[Path], shape: Shape, *, typed: bool = True) -> Any:
    """``value`` without the members in ``paths`` (a member takes its whole subtree). A struct or list left
    empty becomes ABSENT when ``typed``, else None (null)."""
    prefixes = {path[:end] for path in paths for end in range(1, len(path))}
    return _removed(value, paths, prefixes, shape, (), typed)


def _removed(value: Any, paths: set[Path], prefixes: set[Path], shape: Shape, at: Path, typed: bool) -> Any:
    if shape.kind is Kind.STRUCT and isinstance(value, dict) and value:
        children = [(key, child, child_shape(shape, key, child), at + ("f:" + key,))
                    for key, child in value.items()]
    elif shape.kind in (Kind.KEYED, Kind.SET) and isinstance(value, list) and value:
        children = [(None, item, item_shape(shape, item), at + (item_segment(shape, item),)) for item in value]
    else:
        return value
    kept = []
    for key, child, inner, path in children:
        if path in paths:
            continue
        if path in prefixes:
            child = _removed(child, paths, prefixes, inner, path, typed)
            if child is ABSENT:
                continue
        kept.append((key, child))
    if not kept:
        return ABSENT if typed else None
    return dict(kept) if isinstance(value, dict) else [child for _, child in kept]


def prune(merged_obj: dict[str, Any], owned: list[set[Path]], last: Entry | None, shape: Shape, *,
          typed: bool = True) -> dict[str, Any]:
    """Rule 3: remove what the applier's ``last`` set had and nobody in ``owned`` (every entry, the applier's
    new set included) owns; an item removed takes its subtree. The server's three steps: remove the last set,
    add back what anyone owns, then remove only what the last set named."""
    if last is None or not last.paths:
        return merged_obj
    everyone = set().union(*owned)
    whole = field_set(merged_obj, shape)
    first = field_set(removed(merged_obj, last.paths, shape), shape)
    kept = field_set(removed(merged_obj, whole - (first | everyone), shape), shape)
    result = removed(merged_obj, (whole - kept) & last.paths, shape, typed=typed)
    return result if isinstance(result, dict) else {}


def compare(live: Any, new: Any, shape: Shape, at: Path = (), found: Comparison | None = None) -> Comparison:
    """Members ``new`` adds to ``live``, modifies (leaves) and removes, as the server's comparison walks them:
    a struct or list added or removed is named itself too."""
    found = found if found is not None else Comparison()
    if live is ABSENT and new is ABSENT:
        return found
    if _is_leaf(live, new, shape):
        if live is ABSENT:
            found.added.add(at)
        elif new is ABSENT:
            found.removed.add(at)
        elif not same(live, new):
            found.modified.add(at)
        return found
    for segment, old, value, inner in _pairs(live, new, shape):
        compare(old, value, inner, at + (segment,), found)
    if at and live is ABSENT:
        found.added.add(at)
    elif at and new is ABSENT:
        found.removed.add(at)
    return found


def _is_leaf(live: Any, new: Any, shape: Shape) -> bool:
    kind = list if shape.kind in (Kind.KEYED, Kind.SET) else dict if shape.kind is Kind.STRUCT else None
    if kind is None:
        return True
    sides = [side for side in (live, new) if side is not ABSENT and side is not None]
    return not all(isinstance(side, kind) for side in sides) or not any(sides)


def _pairs(live: Any, new: Any, shape: Shape) -> list[tuple[str, Any, Any, Shape]]:
    """The children of two containers of one shape, paired by segment: (segment, live's, new's, shape)."""
    if shape.kind is Kind.STRUCT:
        old: dict[str, Any] = live if isinstance(live, dict) else {}
        now: dict[str, Any] = new if isinstance(new, dict) else {}
        keys = list(old) + [key for key in now if key not in old]
        return [("f:" + key, old.get(key, ABSENT), now.get(key, ABSENT),
                 child_shape(shape, key, _container(now.get(key), old.get(key)))) for key in keys]
    before = {item_segment(shape, item): item for item in (live if isinstance(live, list) else [])}
    after = {item_segment(shape, item): item for item in (new if isinstance(new, list) else [])}
    segments = list(before) + [segment for segment in after if segment not in before]
    return [(segment, before.get(segment, ABSENT), after.get(segment, ABSENT),
             item_shape(shape, _container(after.get(segment), before.get(segment)))) for segment in segments]


def _container(one: Any, other: Any) -> Any:
    """The value that tells a child's shape: a map or list if either side is one."""
    return one if isinstance(one, (dict, list)) or not isinstance(other, (dict, list)) else other


def same(one: Any, other: Any) -> bool:
    """Equal as JSON values: ``True`` is not ``1``; ``1`` is ``1.0``."""
    if isinstance(one, bool) or isinstance(other, bool):
        return type(one) is type(other) and one == other
    if isinstance(one, dict) and isinstance(other, dict):
        return one.keys() == other.keys() and all(same(one[key], other[key]) for key in one)
    if isinstance(one, list) and isinstance(other, list):
        return len(one) == len(other) and all(same(a, b) for a, b in zip(one, other))
    if isinstance(one, (dict, list)) or isinstance(other, (dict, list)):
        return False
    return bool(one == other)
