"""Patch metadata: which lists merge by which key, which structs retain keys, which fields are replaced whole.

The metadata comes from OpenAPI v2 definitions: ``x-kubernetes-patch-strategy`` (``merge``, ``replace``,
``retainKeys`` or ``merge,retainKeys``) and ``x-kubernetes-patch-merge-key`` on a property, ``$ref`` between
definitions, ``items`` for lists and ``additionalProperties`` for maps. Two sources share one reader:

- a server's ``/openapi/v2`` document (``definitions``, refs ``#/definitions/<name>``), via ``Schema.from_openapi``;
- JSON Schema definitions (``$defs``, refs ``#/$defs/<name>``), such as those bundled in ``kubernetes-validate``
  (read by ``gitapply.bundled``), via ``Schema.from_defs``.

Both arrive parsed: this module reads no files.

Nodes are resolved lazily and cached, so a lookup in the merge hot path is one dict access.
A field that the schema does not know has no metadata: maps merge key by key and lists are replaced whole,
which is also what the server does for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

_STRATEGIES = {"", "merge", "replace"}


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """Patch metadata of one field: its strategy, whether it retains keys, its merge key, its value's node.

    For a list, ``node`` describes the list's items; for a map or struct, the value itself. Server-side apply
    reads three more: ``list_type`` (``x-kubernetes-list-type``: ``atomic``, ``set``, ``map`` or unset),
    ``list_keys`` (``x-kubernetes-list-map-keys``), ``map_type`` (``x-kubernetes-map-type`` of the field, else
    of its type: ``atomic`` or ``granular``) and ``open`` (``x-kubernetes-preserve-unknown-fields``).
    """

    strategy: str = ""
    retain_keys: bool = False
    merge_key: str = ""
    node: "Node | None" = None
    list_type: str = ""
    list_keys: tuple[str, ...] = ()
    map_type: str = ""
    open: bool = False


NO_META = FieldMeta()


def parse_strategy(text: str) -> tuple[str, bool]:
    """Split ``x-kubernetes-patch-strategy`` into (strategy, retain_keys), as apimachinery does."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    retain = "retainKeys" in parts
    others = [part for part in parts if part != "retainKeys"]
    if len(parts) > 2 or len(others) > 1 or (others and others[0] not in _STRATEGIES):
        raise ValueError(f"unexpected patch strategy {text!r}")
    return (others[0] if others else ""), retain


class Node:
    """The patch metadata of one object type (a struct with properties, or a map with one value type)."""

    __slots__ = ("_schema", "_raw", "_fields", "name")

    def __init__(self, schema: "Schema", raw: Mapping[str, Any], name: str = "") -> None:
        self._schema = schema
        self._raw = raw
        self._fields: dict[str, FieldMeta] = {}
        self.name = name

    def __repr__(self) -> str:
        return f"Node({self.name or '<inline>'})"

    @property
    def is_map(self) -> bool:
        """A map with one value type (``additionalProperties``), not a struct with named properties."""
        return not self._raw.get("properties") and isinstance(self._raw.get("additionalProperties"), Mapping)

    @property
    def map_type(self) -> str:
        """``x-kubernetes-map-type`` of this type (``atomic``: replaced and owned whole), or ""."""
        return str(self._raw.get("x-kubernetes-map-type", ""))

    @property
    def open(self) -> bool:
        """Whether this type keeps fields it does not describe (``x-kubernetes-preserve-unknown-fields``)."""
        return self._raw.get("x-kubernetes-preserve-unknown-fields") is True

    def field(self, key: str) -> FieldMeta:
        """The metadata of field ``key``; ``NO_META`` for a field the schema does not describe."""
        meta = self._fields.get(key)
        if meta is None:
            meta = self._fields[key] = self._resolve_field(key)
        return meta

    def _resolve_field(self, key: str) -> FieldMeta:
        properties = self._raw.get("properties")
        prop = properties.get(key) if properties else None
        if prop is None:
            additional = self._raw.get("additionalProperties")
            if not isinstance(additional, Mapping):
                return NO_META
            prop = additional
        strategy, retain = parse_strategy(prop.get("x-kubernetes-patch-strategy", ""))
        merge_key = prop.get("x-kubernetes-patch-merge-key", "")
        value = self._schema.deref(prop)
        if _is_array(value):
            items = value.get("items")
            node = self._schema.node_of(items) if isinstance(items, Mapping) else None
        else:
            node = self._schema.node_of(prop)  # by $ref when there is one, so named definitions are shared
        return FieldMeta(strategy, retain, merge_key, node, str(value.get("x-kubernetes-list-type", "")),
                         tuple(value.get("x-kubernetes-list-map-keys") or ()),
                         str(prop.get("x-kubernetes-map-type") or value.get("x-kubernetes-map-type") or ""),
                         value.get("x-kubernetes-preserve-unknown-fields") is True)


def _is_array(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


class Schema:
    """Patch metadata for every definition of one OpenAPI document."""

    def __init__(self, definitions: Mapping[str, Any], ref_prefix: str) -> None:
        self._definitions = definitions
        self._ref_prefix = ref_prefix
        self._nodes: dict[str, Node] = {}
        self._kinds: dict[tuple[str, str], str] | None = None

    @classmethod
    def from_openapi(cls, doc: Mapping[str, Any]) -> "Schema":
        """From an OpenAPI v2 document (a server's ``/openapi/v2``): its ``definitions``."""
        if "definitions" not in doc:
            raise ValueError("not an OpenAPI v2 document: it has no 'definitions'")
        return cls(doc["definitions"], "#/definitions/")

    @classmethod
    def from_defs(cls, definitions: Mapping[str, Any]) -> "Schema":
        """From JSON Schema ``$defs`` (kubernetes-validate's bundle): definitions by name, refs ``#/$defs/``."""
        return cls(definitions, "#/$defs/")

    def definition(self, name: str) -> Node | None:
        """The node of a named definition (``io.k8s.api.apps.v1.Deployment``), None if there is none."""
        node = self._nodes.get(name)
        if node is None:
            raw = self._definitions.get(name)
            if raw is None:
                return None
            node = self._nodes[name] = Node(self, raw, name)
        return node

    def for_kind(self, api_version: str, kind: str) -> Node | None:
        """The node of the definition tagged with this group/version/kind; None for an unknown kind."""
        if self._kinds is None:
            self._kinds = self._index_kinds()
        name = self._kinds.get((api_version, kind))
        return self.definition(name) if name else None

    def _index_kinds(self) -> dict[tuple[str, str], str]:
        index: dict[tuple[str, str], str] = {}
        for name, raw in self._definitions.items():
            for gvk in raw.get("x-kubernetes-group-version-kind", ()):
                group, version = gvk.get("group", ""), gvk.get("version", "")
                api_version = f"{group}/{version}" if group else version
                index.setdefault((api_version, gvk.get("kind", "")), name)
        return index

    def deref(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow ``$ref`` (also a lone ``allOf: [{$ref}]``) to the referenced definition."""
        for _ in range(32):
            ref = schema.get("$ref")
            if ref is None:
                all_of = schema.get("allOf")
                if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
                    ref = all_of[0]["$ref"]
            if ref is None:
                return schema
            target = self._definitions.get(ref.removeprefix(self._ref_prefix))
            if target is None:
                return {}
            schema = target
        raise ValueError(f"$ref cycle at {schema.get('$ref')}")

    def node_of(self, schema: Mapping[str, Any]) -> Node | None:
        """The node for a property's schema, shared for named definitions; None for scalars."""
        ref = schema.get("$ref")
        if ref is None:
            all_of = schema.get("allOf")
            if isinstance(all_of, list) and len(all_of) == 1:
                ref = all_of[0].get("$ref")
        if ref is not None:
            name = ref.removeprefix(self._ref_prefix)
            for _ in range(32):  # an alias definition that is itself a $ref: share the final one
                target = self._definitions.get(name) or {}
                if "$ref" not in target:
                    break
                name = target["$ref"].removeprefix(self._ref_prefix)
            return self.definition(name)
        if "properties" in schema or isinstance(schema.get("additionalProperties"), Mapping):
            return Node(self, schema)
        return None
