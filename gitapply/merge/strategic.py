"""Creating strategic merge patches: two-way (original → modified) and three-way (kubectl apply).

The rules of one diff, ``diff_maps(original, modified)``, as Kubernetes' apimachinery states them:

- a key in ``modified`` and not in ``original`` is added whole; a key whose value changed type is replaced;
- maps are diffed key by key, unless the field's strategy is ``replace`` (then sent whole);
- lists with strategy ``merge`` are diffed item by item: lists of maps by their merge key (a changed item
  carries its merge key, a removed item becomes ``{key: value, $patch: delete}``), lists of scalars as sets
  (removed scalars go to the parallel list ``$deleteFromPrimitiveList/<field>``); a changed or reordered
  list gets ``$setElementOrder/<field>`` with the order of ``modified``;
- every other list is replaced whole when it differs;
- a key in ``original`` and not in ``modified`` becomes ``null`` (delete);
- in a struct whose strategy is ``retainKeys`` the patch lists, in ``$retainKeys``, every key of
  ``modified``, so that the server clears the others (e.g. ``rollingUpdate`` when ``type: Recreate``).

Options switch halves off: ``ignore_deletions`` keeps only additions and changes, ``ignore_changes`` keeps
only deletions. The three-way patch of ``kubectl apply`` is the additions and changes from *current* to
*modified* merged into the deletions from *original* to *modified*; so fields that only the server or a
controller set (defaults, status) are never deleted, and a field removed from git is.

Inputs are never mutated. Patches share unchanged subtrees with ``modified``: treat them as immutable.
"""

from __future__ import annotations

from typing import Any

from .directives import (
    DELETE,
    DELETE_PRIMITIVE_PREFIX,
    PATCH,
    REPLACE,
    RETAIN_KEYS,
    SET_ORDER_PREFIX,
    element_kind,
    go_str,
    item_label,
    sort_scalars,
)
from .errors import BadPatchError, MergeError, MissingMergeKeyError
from .schema import NO_META, Node

# Option bits for diff_maps; plain ints keep the hot path cheap.
SET_ORDER = 1
IGNORE_CHANGES = 2
IGNORE_DELETIONS = 4
RETAIN = 8


def diff_maps(original: dict, modified: dict, node: Node | None, options: int) -> dict:
    """The strategic merge patch that turns ``original`` into ``modified``, within ``options``."""
    patch: dict[str, Any] = {}
    changes = not options & IGNORE_CHANGES
    retained: list[str] | None = [] if options & RETAIN else None
    child_options = options & ~RETAIN
    for key, new in modified.items():
        if retained is not None and new is not None:
            retained.append(key)
        if key not in original:
            if changes:
                patch[key] = new
            continue
        old = original[key]
        if key == PATCH:
            if new != old:
                patch[PATCH] = new
            continue
        kind = type(new)
        if type(old) is not kind:
            if changes:
                patch[key] = new
        elif kind is dict:
            if old is not new:
                try:
                    _diff_map_field(key, old, new, node, child_options, patch)
                except MergeError as err:
                    raise err.at(key) from None
        elif kind is list:
            if old is not new:
                try:
                    _diff_list_field(key, old, new, node, child_options, patch)
                except MergeError as err:
                    raise err.at(key) from None
        elif changes and old != new:
            patch[key] = new
    if not options & IGNORE_DELETIONS:
        for key in original:
            if key not in modified:
                patch[key] = None
    if retained and (patch or _has_extra_key(original, modified)):
        patch[RETAIN_KEYS] = sort_scalars(retained)
    return patch


def _has_extra_key(original: dict, modified: dict) -> bool:
    return any(value is not None and key not in modified for key, value in original.items())


def _diff_map_field(key: str, old: dict, new: dict, node: Node | None, options: int, patch: dict) -> None:
    meta = node.field(key) if node is not None else NO_META
    if meta.strategy == REPLACE:
        if not options & IGNORE_CHANGES:
            patch[key] = new
        return
    if meta.retain_keys:
        options |= RETAIN
    sub = diff_maps(old, new, meta.node, options)
    if sub:
        patch[key] = sub


def _diff_list_field(key: str, old: list, new: list, node: Node | None, options: int, patch: dict) -> None:
    meta = node.field(key) if node is not None else NO_META
    if meta.strategy != "merge":
        if not options & IGNORE_CHANGES and old != new:
            patch[key] = new
        return
    if meta.retain_keys:
        options |= RETAIN
    additions, deletions, order = diff_lists(old, new, meta.node, meta.merge_key, options)
    if additions:
        patch[key] = additions
    if deletions:
        patch[DELETE_PRIMITIVE_PREFIX + key] = deletions
    if order:
        patch[SET_ORDER_PREFIX + key] = order


def diff_lists(
    original: list, modified: list, node: Node | None, merge_key: str, options: int
) -> tuple[list | None, list | None, list | None]:
    """(patch list, parallel deletion list, $setElementOrder list) for a list merged by key or as a set."""
    if not original:
        if not modified or options & IGNORE_CHANGES:
            return None, None, None
        return modified, None, None
    try:
        kind = element_kind(original, modified)
    except TypeError as err:
        raise BadPatchError(str(err)) from None
    if kind is dict:
        return _diff_lists_of_maps(original, modified, node, merge_key, options)
    return _diff_lists_of_scalars(original, modified, options)


def _index_by_key(items: list, merge_key: str) -> dict[Any, dict]:
    index: dict[Any, dict] = {}
    for position, item in enumerate(items):
        if merge_key not in item:
            raise MissingMergeKeyError(f"list item has no merge key {merge_key!r}: {item!r}", (f"[{position}]",))
        index.setdefault(item[merge_key], item)
    return index


def _items_by_key(items: list, merge_key: str) -> dict[Any, list[dict]]:
    found: dict[Any, list[dict]] = {}
    for item in items:
        found.setdefault(item[merge_key], []).append(item)
    return found


def _diff_lists_of_maps(
    original: list, modified: list, node: Node | None, merge_key: str, options: int
) -> tuple[list | None, list | None, list | None]:
    if not merge_key:
        raise BadPatchError("a list of maps with strategy 'merge' needs a merge key")
    before = _index_by_key(original, merge_key)
    after = _index_by_key(modified, merge_key)
    duplicates = _items_by_key(original, merge_key) if len(before) < len(original) else {}
    seen: dict[Any, int] = {}
    changes = not options & IGNORE_CHANGES
    patch: list[Any] = []
    for new in modified:
        value = new[merge_key]
        old = before.get(value)
        if duplicates:
            # an item listed twice (an env var): apimachinery walks both lists sorted by key and pairs the
            # n-th item of a key in one with the n-th in the other
            position = seen[value] = seen.get(value, -1) + 1
            same_key = duplicates.get(value, [])
            old = same_key[position] if position < len(same_key) else None
        if old is None:
            if changes:
                patch.append(new)
        elif old is not new:
            try:
                sub = diff_maps(old, new, node, options)
            except MergeError as err:
                raise err.at(item_label(new, merge_key)) from None
            if sub:
                sub[merge_key] = value
                patch.append(sub)
    if not options & IGNORE_DELETIONS:
        removed = [value for value in before if value not in after]
        patch.extend({merge_key: value, PATCH: DELETE} for value in sorted(removed, key=go_str))
    order = None
    if options & SET_ORDER and (
        (changes and (patch or not _same_order(original, modified, merge_key)))
        or (not options & IGNORE_DELETIONS and patch)
    ):
        order = [{merge_key: item[merge_key]} for item in modified]
    return patch, None, order


def _same_order(original: list, modified: list, merge_key: str) -> bool:
    return len(original) == len(modified) and all(
        old[merge_key] == new[merge_key] for old, new in zip(original, modified)
    )


def _diff_lists_of_scalars(
    original: list, modified: list, options: int
) -> tuple[list | None, list | None, list | None]:
    before = {go_str(value) for value in original}
    after = {go_str(value) for value in modified}
    additions: list[Any] = []
    if not options & IGNORE_CHANGES:
        additions = [value for value in modified if go_str(value) not in before]
    deletions: list[Any] = []
    if not options & IGNORE_DELETIONS:
        seen: set[str] = set()
        for value in sort_scalars(original):
            text = go_str(value)
            if text not in after and text not in seen:
                seen.add(text)
                deletions.append(value)
    order = None
    if options & SET_ORDER and (
        (not options & IGNORE_DELETIONS and deletions) or (not options & IGNORE_CHANGES and original != modified)
    ):
        order = modified
    return additions, deletions, order
