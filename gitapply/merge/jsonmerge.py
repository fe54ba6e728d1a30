"""JSON merge patch (RFC 7386), two-way, three-way and apply, for kinds without patch metadata.

RFC 7386 knows only maps: a map merges key by key, ``null`` deletes a key, anything else (lists included)
replaces the value whole; Kubernetes' implementation (evanphx/json-patch) also drops the null map values of a
value it takes whole, so do we. The three-way patch follows kubectl for custom resources: additions and changes
from *current* to *modified*, deletions (the nulls) from *original* to *modified*; a key that is both
deleted and changed is a conflict. The patch may not change ``apiVersion``, ``kind`` or ``metadata.name``
(kubectl's preconditions): an object cannot be renamed or retyped by a patch.
"""

from __future__ import annotations

from typing import Any

from .errors import ConflictError, MergeError, PreconditionError


def create_merge_patch(original: dict, modified: dict) -> dict:
    """The RFC 7386 patch that turns ``original`` into ``modified``."""
    patch: dict[str, Any] = {}
    for key, new in modified.items():
        if key not in original:
            patch[key] = new
            continue
        old = original[key]
        if type(old) is dict and type(new) is dict:
            if old is not new:
                sub = create_merge_patch(old, new)
                if sub:
                    patch[key] = sub
        elif type(old) is not type(new) or old != new:
            patch[key] = new
    for key in original:
        if key not in modified:
            patch[key] = None
    return patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(target, patch) as Kubernetes runs it (evanphx/json-patch); neither input is mutated.

    Beyond the RFC, a value taken where the target has no map to merge it into loses its null map values, in
    maps inside lists too (``[{"a": null}, null]`` becomes ``[{}, null]``); a value replacing a map is taken as
    it is.
    """
    if type(patch) is not dict:
        return patch
    result = dict(target) if type(target) is dict else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
            continue
        old = result.get(key)
        if type(old) is not dict:
            result[key] = _prune_nulls(value)
        elif type(value) is dict:
            result[key] = apply_merge_patch(old, value)
        else:
            result[key] = value
    return result


def _prune_nulls(value: Any) -> Any:
    """evanphx/json-patch's ``pruneNulls``: drop null map values all the way down; null list items stay."""
    if type(value) is dict:
        return {key: _prune_nulls(item) for key, item in value.items() if item is not None}
    if type(value) is list:
        return [_prune_nulls(item) for item in value]
    return value


def _split_nulls(patch: dict, keep_nulls: bool) -> dict:
    """Only the deletions (``keep_nulls``) or only the additions and changes of a patch."""
    kept: dict[str, Any] = {}
    for key, value in patch.items():
        if value is None:
            if keep_nulls:
                kept[key] = None
        elif type(value) is dict:
            sub = _split_nulls(value, keep_nulls)
            if sub:
                kept[key] = sub
            elif not keep_nulls and not value:
                kept[key] = value
        elif not keep_nulls:
            kept[key] = value
    return kept


def conflicting_paths(left: Any, right: Any, path: str = "") -> list[str]:
    """Paths where two patches both set a key, to different values (maps compared key by key)."""
    if type(left) is dict and type(right) is dict:
        found = []
        for key, value in left.items():
            if key in right:
                found += conflicting_paths(value, right[key], f"{path}.{key}" if path else key)
        return found
    if type(left) is not type(right) or left != right:
        return [path or "<root>"]
    return []


def check_preconditions(patch: dict) -> None:
    """Refuse a patch that would change ``apiVersion``, ``kind`` or ``metadata.name``."""
    for key in ("apiVersion", "kind"):
        if key in patch:
            raise PreconditionError(f"the patch would change {key}; an object cannot change its {key}", (key,))
    metadata = patch.get("metadata")
    if type(metadata) is dict and "name" in metadata:
        raise PreconditionError(
            "the patch would rename the object; delete it and create the new one instead", ("metadata", "name")
        )


def three_way_merge_patch(original: dict, modified: dict, current: dict, *, overwrite: bool = True) -> dict:
    """kubectl's three-way JSON merge patch for objects without patch metadata."""
    additions = _split_nulls(create_merge_patch(current, modified), keep_nulls=False)
    deletions = _split_nulls(create_merge_patch(original, modified), keep_nulls=True)
    clashes = conflicting_paths(additions, deletions)
    if clashes:
        raise ConflictError(clashes)
    patch = apply_merge_patch(deletions, additions)  # kubectl merges the two patches as one applies a patch
    check_preconditions(patch)
    if not overwrite:
        changed = create_merge_patch(original, current)
        clashes = conflicting_paths(patch, changed)
        if clashes:
            raise ConflictError(clashes)
    return patch


def two_way_merge_patch(original: dict, modified: dict) -> dict:
    """The JSON merge patch from ``original`` to ``modified``, with the same preconditions."""
    patch = create_merge_patch(original, modified)
    check_preconditions(patch)
    return patch


__all__ = [
    "MergeError",
    "apply_merge_patch",
    "create_merge_patch",
    "three_way_merge_patch",
    "two_way_merge_patch",
]
