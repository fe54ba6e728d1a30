"""Field ownership: who set each field of a live object, read from its ``metadata.managedFields``.

The API server records, for every write, the manager that made it (``fieldManager``, or the client's
User-Agent), the operation (``Update`` for a PATCH or PUT, ``Apply`` for server-side apply), the subresource
and the time, with the set of fields that manager now owns (``fieldsV1``). That set is a tree:

- ``f:<name>`` — a field of a struct or a key of a map;
- ``k:<json>`` — the item of a keyed list whose key fields have these values (``{"name":"web"}``, or
  ``{"containerPort":80,"protocol":"TCP"}`` where the server keys a list by two fields);
- ``v:<json>`` — an item of a set-like list, by value; ``i:<n>`` — by index;
- ``.`` — the item itself (its presence), beside its fields; ``{}`` — a leaf, or an atomic value (a list or
  map replaced whole) owned as one.

On an Update, the fields that changed move to the writer and leave every other manager; fields the server
defaulted in that write belong to the writer too; fields the server sets on its own (a Job's pod-template
labels) belong to nobody. ``owners`` answers "who set this field"; ``record_update`` keeps the record the
way the server does, for the embedded local cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from ..merge import FieldMeta, Node
from . import fieldsets
from .fieldtypes import KEY_DEFAULTS

Segment = str | tuple[str, Any]
"""A map key, or ``(merge key, value)``: the item of the list named by the segment before it."""
FieldPath = tuple[Segment, ...]
FieldSet = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Author:
    """Who made a write, how and when (``time`` as the server wrote it, RFC 3339, or empty)."""

    manager: str
    operation: str = "Update"
    subresource: str = ""
    time: str = ""

    def as_json(self) -> dict[str, str]:
        found = {"manager": self.manager, "operation": self.operation, "time": self.time}
        if self.subresource:
            found["subresource"] = self.subresource
        return found


@dataclass(frozen=True, slots=True)
class Ownership:
    """The managed-fields record of one live object."""

    entries: tuple[tuple[Author, FieldSet], ...]


def ownership(live: dict[str, Any] | None) -> Ownership | None:
    """The record on ``live``; None when the server keeps none (servers before 1.18, or it was stripped)."""
    managed = ((live or {}).get("metadata") or {}).get("managedFields")
    if not isinstance(managed, list):
        return None
    entries = []
    for entry in managed:
        if not isinstance(entry, dict) or not isinstance(entry.get("fieldsV1"), dict):
            continue
        author = Author(str(entry.get("manager", "")), str(entry.get("operation", "")),
                        str(entry.get("subresource", "") or ""), str(entry.get("time", "") or ""))
        entries.append((author, entry["fieldsV1"]))
    return Ownership(tuple(entries))


def owners(record: Ownership, path: FieldPath, live: dict[str, Any]) -> tuple[Author, ...]:
    """The managers that set the field at ``path`` of ``live``: those whose set reaches deepest along it
    (the field itself, its subtree, or an atomic value holding it); empty when nobody did."""
    best, found = 0, []
    for author, fields in record.entries:
        depth = _reach(fields, path, live)
        if depth > best:
            best, found = depth, [author]
        elif depth == best and depth:
            found.append(author)
    return tuple(found)


def _reach(fields: FieldSet, path: FieldPath, live: Any) -> int:
    """How far along ``path`` a field set reaches: ``len(path) + 1`` for the field itself, ``n`` for an
    atomic value at depth ``n``, 0 when it does not touch the path."""
    node: Any = fields
    obj = live
    for depth, segment in enumerate(path):
        if not node and depth:
            return depth  # a leaf above the path: an atomic list or map owned as one
        if isinstance(segment, str):
            node = node.get("f:" + segment)
            obj = obj.get(segment) if isinstance(obj, dict) else None
        else:
            item = _item(obj, segment)
            node = _item_fields(node, item) if item is not None else None
            obj = item
        if node is None:
            return 0
    return len(path) + 1


def _item(items: Any, selector: tuple[str, Any]) -> dict[str, Any] | None:
    key, value = selector
    if not isinstance(items, list):
        return None
    return next((i for i in items if isinstance(i, dict) and i.get(key) == value), None)


def _item_fields(node: dict[str, Any], item: dict[str, Any]) -> Any:
    for name, child in node.items():
        if name.startswith("k:"):
            try:
                keys = json.loads(name[2:])
            except ValueError:
                continue
            if isinstance(keys, dict) and all(item.get(k, KEY_DEFAULTS.get(k)) == v for k, v in keys.items()):
                return child
    return None


# -- keeping the record, as the server does on an Update (for the embedded cluster) --------------------------

def fields_of(obj: Any, node: Node | None) -> FieldSet:
    """The field set of a whole object: every leaf, keyed items by their merge key, other lists atomic."""
    found: FieldSet = {}
    if not isinstance(obj, dict):
        return found
    for key, value in obj.items():
        meta = node.field(key) if node is not None else None
        if isinstance(value, dict) and value:
            found["f:" + key] = fields_of(value, meta.node if meta is not None else None)
        elif isinstance(value, list) and meta is not None and meta.merge_key and value and \
                all(isinstance(item, dict) and meta.merge_key in item for item in value):
            found["f:" + key] = {_item_name(meta, item): {".": {}, **fields_of(item, meta.node)}
                                 for item in value}
        else:
            found["f:" + key] = {}
    return found


def _item_name(meta: FieldMeta, item: dict[str, Any]) -> str:
    """The item's name as the server writes it: by every key field of the list (``x-kubernetes-list-map-keys``,
    which may name more fields than the merge key: ports by port and protocol), defaulted where the server
    defaults one, sorted."""
    keys = meta.list_keys if meta.list_type == "map" and meta.list_keys else (meta.merge_key,)
    named = {key: item.get(key, KEY_DEFAULTS.get(key)) for key in sorted(keys)}
    return "k:" + json.dumps(named, separators=(",", ":"))


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any], node: Node | None) -> FieldSet:
    """The fields of ``after`` that ``before`` lacks or holds with another value."""
    if before is None:
        return fields_of(after, node)
    return _changed(before, after, fields_of(after, node))


def _changed(before: Any, after: Any, fields: FieldSet) -> FieldSet:
    found: FieldSet = {}
    for name, child in fields.items():
        if name == ".":
            if before is None:
                found["."] = {}
            continue
        if name.startswith("f:"):
            key = name[2:]
            old = before.get(key) if isinstance(before, dict) else None
            new = after.get(key) if isinstance(after, dict) else None
        else:
            keys = json.loads(name[2:])
            old = _item(before, next(iter(keys.items()))) if before is not None else None
            new = _item(after, next(iter(keys.items())))
        if not child:
            if old != new or type(old) is not type(new):
                found[name] = {}
            continue
        inner = _changed(old, new, child)
        if inner:
            found[name] = inner
    return found


def _intersect(fields: FieldSet, present: FieldSet) -> FieldSet:
    result: FieldSet = {}
    for name, child in fields.items():
        if name not in present:
            continue
        result[name] = _intersect(child, present[name]) if child and present[name] else child
    return result


def record_update(managed: Sequence[dict[str, Any]] | None, before: dict[str, Any] | None,
                  after: dict[str, Any], node: Node | None, author: Author) -> list[dict[str, Any]]:
    """The ``managedFields`` after ``author`` wrote ``after`` over ``before``: the changed fields move to
    the author, fields gone from the object leave their owners, empty entries are dropped."""
    changed = changed_fields(before, after, node)
    present = fields_of(after, node)
    entries: list[dict[str, Any]] = []
    mine: FieldSet = {}
    for entry in managed or ():
        fields = _intersect(fieldsets.minus(entry.get("fieldsV1") or {}, changed), present)
        if (entry.get("manager"), entry.get("operation")) == (author.manager, author.operation):
            mine = fields
            continue
        if fields:
            entries.append({**entry, "fieldsV1": fields})
    mine = fieldsets.union(mine, _intersect(changed, present))
    if mine:
        entries.append({"manager": author.manager, "operation": author.operation, "apiVersion":
                        after.get("apiVersion", ""), "time": author.time, "fieldsType": "FieldsV1",
                        "fieldsV1": mine})
    return entries

