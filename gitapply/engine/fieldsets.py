"""Field sets (``managedFields``' ``fieldsV1`` trees) read against objects: which of a set's fields an object
holds, the part of an object a set covers, and an object without some fields.

A set names a list item by its key fields (``k:{"containerPort":80,"protocol":"TCP"}``), by value (``v:``) or
by index (``i:``); the key the server uses may have more fields than gitapply's merge key, so items are matched
on every key field the set names. ``.`` marks an item's own presence; ``{}`` is a leaf (or an atomic value).
"""

from __future__ import annotations

import json
from typing import Any

FieldSet = dict[str, Any]
_ABSENT = object()


def child(obj: Any, name: str) -> Any:
    """The part of ``obj`` a set member names, or ``_ABSENT``."""
    kind, _, text = name.partition(":")
    if kind == "f":
        return obj.get(text, _ABSENT) if isinstance(obj, dict) else _ABSENT
    if not isinstance(obj, list):
        return _ABSENT
    try:
        wanted = json.loads(text)
    except ValueError:
        return _ABSENT
    if kind == "k" and isinstance(wanted, dict):
        return next((item for item in obj if isinstance(item, dict)
                     and all(item.get(field) == value for field, value in wanted.items())), _ABSENT)
    if kind == "v":
        return next((item for item in obj if item == wanted), _ABSENT)
    if kind == "i" and isinstance(wanted, int) and 0 <= wanted < len(obj):
        return obj[wanted]
    return _ABSENT


def missing(fields: FieldSet, obj: Any) -> FieldSet:
    """The fields of ``fields`` that ``obj`` does not hold (a missing item or map with all it had)."""
    found: FieldSet = {}
    for name, sub in fields.items():
        if name == ".":
            continue
        value = child(obj, name)
        if value is _ABSENT:
            found[name] = sub
        elif sub:
            inner = missing(sub, value)
            if inner:
                found[name] = inner
    return found


def project(obj: Any, fields: FieldSet) -> Any:
    """The part of ``obj`` that ``fields`` covers: a map keeps the named keys, a keyed list the named items
    (each with its key fields, so that it still names the item), a leaf is taken whole."""
    if isinstance(obj, dict):
        result: dict[str, Any] = {}
        for name, sub in fields.items():
            if not name.startswith("f:"):
                continue
            value = child(obj, name)
            if value is not _ABSENT:
                result[name[2:]] = project(value, sub) if sub else value
        return result
    if isinstance(obj, list):
        items = []
        for name, sub in fields.items():
            value = child(obj, name)
            if value is _ABSENT or name == ".":
                continue
            if name.startswith("k:") and isinstance(value, dict):
                keys = {field: value[field] for field in json.loads(name[2:])}
                items.append({**keys, **project(value, sub)} if sub else value)
            else:
                items.append(value)
        return items
    return obj


def without(obj: Any, fields: FieldSet) -> Any:
    """``obj`` without the fields of ``fields`` (a new value; ``obj`` is not changed); a map or list left empty
    by the removal goes too."""
    if isinstance(obj, dict):
        result = dict(obj)
        for name, sub in fields.items():
            key = name[2:]
            if not name.startswith("f:") or key not in result:
                continue
            if sub and sub != {".": {}}:
                result[key] = without(result[key], sub)
                if result[key] in ({}, []) and obj[key] not in ({}, []):  # emptied: the server drops it too
                    del result[key]
            else:
                del result[key]
        return result
    if isinstance(obj, list):
        drop = {id(child(obj, name)) for name, sub in fields.items() if not sub or "." in sub}
        inner = {id(child(obj, name)): sub for name, sub in fields.items() if sub and "." not in sub}
        return [without(item, inner[id(item)]) if id(item) in inner else item
                for item in obj if id(item) not in drop]
    return obj


def union(one: FieldSet, other: FieldSet) -> FieldSet:
    """Both sets; a leaf on one side and a subtree on the other is the leaf (it covers the subtree)."""
    result = dict(one)
    for name, sub in other.items():
        if name not in result:
            result[name] = sub
        elif result[name] and sub:
            result[name] = union(result[name], sub)
        else:
            result[name] = {}
    return result


def minus(fields: FieldSet, taken: FieldSet) -> FieldSet:
    """``fields`` without what ``taken`` holds (a leaf in ``taken`` takes the whole subtree). An item whose
    presence (``.``) is left keeps it: its owner still owns the item, whoever owns fields inside it."""
    result: FieldSet = {}
    for name, sub in fields.items():
        if name not in taken:
            result[name] = sub
        elif taken[name] and sub:
            rest = minus(sub, taken[name])
            if rest:
                result[name] = rest
    return result


def pointer_fields(pointer: str) -> FieldSet:
    """The field set naming one JSON pointer of maps (``/spec/replicas`` → ``{"f:spec": {"f:replicas": {}}}``)."""
    fields: FieldSet = {}
    for token in reversed([t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]):
        fields = {f"f:{token}": fields}
    return fields
