"""How server-side apply sees a value, and the field paths it names values by.

The API server's structured merge (structured-merge-diff) gives every value one of four shapes, read from the
schema's ``x-kubernetes-*`` extensions (``merge.FieldMeta``):

- **atomic**: a scalar; a list with ``x-kubernetes-list-type: atomic`` or with no list type and no merge
  strategy; a map or struct with ``x-kubernetes-map-type: atomic`` (a ``LabelSelector``); a field the schema
  does not describe, also under ``x-kubernetes-preserve-unknown-fields``. Replaced and owned whole.
- **struct** (or granular map): merged and owned key by key.
- **keyed list** (``x-kubernetes-list-type: map`` with ``x-kubernetes-list-map-keys``, or else a ``merge``
  patch strategy with a merge key): items merged and owned by their key fields, ``k:{"name":"web"}``. An item
  without a key field takes the field's default, where the server has one (``protocol: TCP``); else the
  server refuses it.
- **set** (``x-kubernetes-list-type: set``, or a ``merge`` strategy without a merge key): scalar items owned by
  value, ``v:"example.com/finalizer"``.

Without any schema (``node`` None) the shapes are deduced as the server deduces them: maps granular, lists
atomic.

A path is a tuple of ``managedFields`` segments (``f:spec``, ``k:{...}``, ``v:...``); ``path_text`` writes one
as the server writes it in a conflict (``.spec.template.spec.containers[name="web"].image``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..merge import FieldMeta, Node

Path = tuple[str, ...]
KEY_DEFAULTS = {"protocol": "TCP"}
"""Key fields the server defaults when an item leaves them out (ports are keyed by port and protocol)."""


class Kind(StrEnum):
    ATOMIC = "atomic"
    STRUCT = "struct"
    KEYED = "keyed"
    SET = "set"


@dataclass(frozen=True, slots=True)
class Shape:
    """How one value merges: its kind; a struct's node (None: deduced, or every key atomic when ``closed``),
    a keyed list's key fields and its items' node."""

    kind: Kind
    node: Node | None = None
    keys: tuple[str, ...] = ()
    closed: bool = False


ATOMIC = Shape(Kind.ATOMIC)
DEDUCED = Shape(Kind.STRUCT)


class ShapeError(ValueError):
    """A value the structured merge cannot place (a keyed item without its key, a duplicate key)."""


def root_shape(node: Node | None) -> Shape:
    """The shape of a whole object of the kind ``node`` describes (None: no schema, deduced)."""
    return Shape(Kind.STRUCT, node) if node is not None else DEDUCED


def child_shape(parent: Shape, key: str, value: Any) -> Shape:
    """The shape of ``value``, the field ``key`` of a struct or map of shape ``parent``."""
    if parent.node is None:
        if parent.closed or not isinstance(value, dict):
            return ATOMIC
        return DEDUCED
    meta = parent.node.field(key)
    if isinstance(value, list):
        return _list_shape(meta)
    if isinstance(value, dict):
        return _map_shape(meta.node, meta.map_type, meta.open)
    return ATOMIC


def item_shape(parent: Shape, item: Any) -> Shape:
    """The shape of one item of a keyed list or a set."""
    if parent.kind is Kind.KEYED and isinstance(item, dict):
        return _map_shape(parent.node, "", False)
    return ATOMIC


def _list_shape(meta: FieldMeta) -> Shape:
    if meta.list_type == "map" and meta.list_keys:
        return Shape(Kind.KEYED, meta.node, meta.list_keys)
    if meta.list_type == "set":
        return Shape(Kind.SET)
    if not meta.list_type and meta.strategy == "merge":
        return Shape(Kind.KEYED, meta.node, (meta.merge_key,)) if meta.merge_key else Shape(Kind.SET)
    return ATOMIC


def _map_shape(node: Node | None, map_type: str, open_: bool) -> Shape:
    if (map_type or (node.map_type if node is not None else "")) == "atomic":
        return ATOMIC
    if node is None:
        return Shape(Kind.STRUCT, None, closed=True) if open_ else ATOMIC
    return Shape(Kind.STRUCT, node)


def item_segment(parent: Shape, item: Any) -> str:
    """The segment naming ``item`` in its list: ``k:`` with its key fields (sorted, as the server writes
    them), or ``v:`` with its value."""
    if parent.kind is Kind.SET:
        return "v:" + _json(item)
    if not isinstance(item, dict):
        raise ShapeError("associative list with keys has an element that is not a map")
    keys = {}
    for name in parent.keys:
        if name in item:
            keys[name] = item[name]
        elif name in KEY_DEFAULTS:
            keys[name] = KEY_DEFAULTS[name]
        else:
            raise ShapeError(f'associative list with keys has an element that omits key field "{name}"')
    return "k:" + _json(dict(sorted(keys.items())))


def keyed_items(parent: Shape, items: list[Any], *, where: str) -> dict[str, Any]:
    """The items of a keyed list or set by their segments; a key given twice is refused, as the server does."""
    found: dict[str, Any] = {}
    for item in items:
        segment = item_segment(parent, item)
        if segment in found:
            raise ShapeError(f"{where}: duplicate entries for key {segment_text(segment)}")
        found[segment] = item
    return found


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def segment_text(segment: str) -> str:
    """One segment as the server writes it in a path: ``.name``, ``[name="web"]``, ``[="value"]``."""
    kind, _, text = segment.partition(":")
    if kind == "f":
        return "." + text
    if kind == "k":
        keys = json.loads(text)
        return "[" + ",".join(f"{name}={_json(value)}" for name, value in keys.items()) + "]"
    if kind == "v":
        return "[=" + text + "]"
    return "[" + text + "]"


def path_text(path: Path) -> str:
    """A path as the server writes it: ``.spec.template.spec.containers[name="web"].image``."""
    return "".join(segment_text(segment) for segment in path)


def paths_of(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """The members of a ``fieldsV1`` tree: each leaf, and each node marked ``.`` (an item's own presence)."""
    found: set[Path] = set()
    for name, child in fields.items():
        if name == ".":
            found.add(prefix)
        elif isinstance(child, dict) and child:
            found |= paths_of(child, prefix + (name,))
        else:
            found.add(prefix + (name,))
    return found


def fields_v1(paths: set[Path]) -> dict[str, Any]:
    """The ``fieldsV1`` tree of a set of members (the inverse of ``paths_of``)."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for segment in path:
            node = node.setdefault(segment, {})
        node["."] = {}
    return _unmark(tree)


def _unmark(tree: dict[str, Any]) -> dict[str, Any]:
    """A member with no members below it is a leaf, ``{}``; one with members below keeps its ``.``."""
    result: dict[str, Any] = {}
    for name, child in tree.items():
        if name == ".":
            continue
        inner = _unmark(child)
        result[name] = {".": {}, **inner} if inner and "." in child else inner
    return result
