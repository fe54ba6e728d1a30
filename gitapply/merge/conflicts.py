"""Conflicts between a patch and the changes the live object saw (kubectl's ``MergingMapsHaveConflicts``).

Two patches conflict where both touch the same key with different values: maps are compared key by key,
merge lists item by item by merge key, lists of scalars with strategy ``merge`` never conflict, other lists
conflict unless equal (scalars as sets). A directive on one side only (``$patch: delete`` against edits of
the same map) is a conflict too. Unlike apimachinery, which stops at the first, this returns every
conflicting path, so that the error can name them all.
"""

from __future__ import annotations

from typing import Any

from .directives import PATCH, REPLACE, RETAIN_KEYS, go_str, item_label
from .schema import NO_META, Node


def conflicting_paths(left: Any, right: Any, node: Node | None, *, strategy: str = "", merge_key: str = "",
                      path: str = "") -> list[str]:
    """Paths where ``left`` and ``right`` (two strategic merge patches) change a field differently."""
    if type(left) is dict:
        if type(right) is not dict:
            return [path or "<root>"]
        if (PATCH in left or PATCH in right) and left.get(PATCH) != right.get(PATCH):
            return [path or "<root>"]
        if strategy == REPLACE:
            return []
        found: list[str] = []
        for key, value in left.items():
            if key in (PATCH, RETAIN_KEYS) or key not in right:
                continue
            meta = node.field(key) if node is not None else NO_META
            found += conflicting_paths(value, right[key], meta.node, strategy=meta.strategy,
                                       merge_key=meta.merge_key, path=f"{path}.{key}" if path else key)
        return found
    if type(left) is list:
        if type(right) is not list:
            return [path]
        return _list_conflicts(left, right, node, strategy, merge_key, path)
    if type(left) is not type(right) or left != right:
        return [path]
    return []


def _list_conflicts(left: list, right: list, node: Node | None, strategy: str, merge_key: str,
                    path: str) -> list[str]:
    maps = any(type(item) is dict for item in left + right)
    if strategy == "merge":
        if not maps:
            return []
        by_key = {go_str(item.get(merge_key)): item for item in right}
        found: list[str] = []
        for item in left:
            other = by_key.get(go_str(item.get(merge_key)))
            if other is not None:
                found += conflicting_paths(item, other, node, path=path + item_label(item, merge_key))
        return found
    if len(left) != len(right):
        return [path]
    if not maps:
        left, right = sorted(set(left), key=go_str), sorted(set(right), key=go_str)
        if len(left) != len(right):
            return [path]
    found = []
    for index, (one, other) in enumerate(zip(left, right)):
        found += conflicting_paths(one, other, node, path=f"{path}[{index}]")
    return found
