"""Applying a strategic merge patch, as the API server does, and merging two patches, as kubectl does.

``merge_map(original, patch, node, server=True)`` is the server's semantics:

- ``$patch: replace`` in a map replaces the map by the rest of the patch; ``$patch: delete`` empties it;
  ``$patch: merge`` is refused, as the server refuses it;
- ``$retainKeys`` first clears every key of the original not listed (and every key of the patch must be listed);
- ``$setElementOrder/<list>`` merges that list and then orders it: items named in the order list in that
  order, items only the server has kept at their relative place;
- a ``null`` deletes the key; a key absent from the original takes the patch value (directives removed);
  a value of another type replaces the original; maps merge recursively unless the field's strategy is
  ``replace``;
- lists with strategy ``merge``: items of a list of maps are matched by merge key and merged, new ones
  appended, ``{key: v, $patch: delete}`` removes them, ``{$patch: replace}`` makes the patch the whole list;
  lists of scalars are united, and ``$deleteFromPrimitiveList/<list>`` removes scalars; other lists are
  replaced whole.

With ``server=False`` the same walk merges two patches (the deletions of a three-way patch with its additions
and changes): nulls and parallel lists are kept as they are, and directives must agree.

Only the paths a patch touches are copied; everything else is shared with ``original`` and ``patch``.
"""

from __future__ import annotations

from typing import Any

from .directives import (
    DELETE,
    DELETE_PRIMITIVE_PREFIX,
    MERGE,
    PATCH,
    REPLACE,
    RETAIN_KEYS,
    SET_ORDER_PREFIX,
    element_kind,
    item_label,
)
from .errors import BadPatchError, MergeError, MissingMergeKeyError
from .schema import NO_META, FieldMeta, Node


_MISSING = object()


def merge_map(original: dict | None, patch: dict, node: Node | None, server: bool) -> dict:
    """``original`` with ``patch`` merged in; neither is mutated."""
    if PATCH in patch:
        return _map_directive(patch, node, server)
    result = dict(original) if original else {}
    pending = patch
    if RETAIN_KEYS in patch:
        pending = _retain_keys(result, patch, server)
    if any(key.startswith(SET_ORDER_PREFIX) for key in pending):
        pending = _merge_ordered_lists(result, pending, node, server)
    for key, value in pending.items():
        try:
            _merge_key(result, key, value, node, server)
        except MergeError as err:
            raise err.at(key.removeprefix(DELETE_PRIMITIVE_PREFIX)) from None
    return result


def _map_directive(patch: dict, node: Node | None, server: bool) -> dict:
    directive = patch[PATCH]
    if directive == REPLACE:
        rest = {key: value for key, value in patch.items() if key != PATCH}
        return merge_map({}, rest, node, server) if server else rest
    if directive == DELETE:
        return {}
    if directive == MERGE:
        raise BadPatchError("'$patch: merge' is not supported on a map (the API server refuses it too)")
    raise BadPatchError(f"unknown patch directive '$patch: {directive}' (expected replace or delete)")


def _retain_keys(result: dict, patch: dict, server: bool) -> dict:
    """Apply ``$retainKeys`` to ``result``; return the patch without it."""
    retained = patch[RETAIN_KEYS]
    pending = {key: value for key, value in patch.items() if key != RETAIN_KEYS}
    if not server:
        if RETAIN_KEYS in result and result[RETAIN_KEYS] != retained:
            raise BadPatchError(f"the two patches disagree on $retainKeys: {result[RETAIN_KEYS]} and {retained}")
        result[RETAIN_KEYS] = retained
        return pending
    if not isinstance(retained, list):
        raise BadPatchError(f"$retainKeys must be a list of field names, not {retained!r}")
    keep = set(retained)
    for key, value in pending.items():
        if value is None or key.startswith((DELETE_PRIMITIVE_PREFIX, SET_ORDER_PREFIX)):
            continue
        if key not in keep:
            raise BadPatchError(f"field {key!r} is in the patch but not in its $retainKeys list {retained}")
    for key in [key for key in result if key not in keep]:
        del result[key]
    return pending


def _merge_key(result: dict, key: str, value: Any, node: Node | None, server: bool) -> None:
    delete_list = False
    if key.startswith(DELETE_PRIMITIVE_PREFIX):
        if not server:
            result[key] = value
            return
        key = key[len(DELETE_PRIMITIVE_PREFIX) :]
        delete_list = True
    if value is None:
        result.pop(key, None)
        if server:
            return
    old = result.get(key, _MISSING)
    kind = type(value)
    if old is _MISSING or type(old) is not kind:
        if delete_list:
            return
        if server and kind is dict and value.get(PATCH) == DELETE:
            result.pop(key, None)  # deleting what is not there leaves nothing, not an empty map
        else:
            result[key] = _new_value(value, _meta(node, key), server)
    elif kind is dict:
        meta = _meta(node, key)
        if meta.strategy == REPLACE:
            result[key] = _new_value(value, meta, server)
        else:
            result[key] = merge_map(old, value, meta.node, server)
    elif kind is list:
        meta = _meta(node, key)
        # A deletion list deletes whatever the field's strategy (xref: kubernetes/kubernetes#110472).
        if meta.strategy == MERGE or delete_list:
            result[key] = merge_list(old, value, meta, server, delete_list=delete_list)
        else:
            result[key] = _new_value(value, meta, server)
    else:
        result[key] = value


def _meta(node: Node | None, key: str) -> FieldMeta:
    return node.field(key) if node is not None else NO_META


def _new_value(value: Any, meta: FieldMeta, server: bool) -> Any:
    """A patch value taken where the original has nothing to merge with.

    The server stores what the typed object keeps: no nulls, no directives. Merging into an empty value gives
    exactly that and honours any directive inside (an item marked for deletion is not added).
    """
    if not server:
        return value
    if type(value) is dict:
        return merge_map({}, value, meta.node, server)
    if type(value) is list:
        if meta.strategy == MERGE:
            return merge_list([], value, meta, server, delete_list=False)
        return [_strip(item) for item in value if not (type(item) is dict and PATCH in item)]
    return value


def _strip(value: Any) -> Any:
    """A value without nulls and directives, for lists replaced whole (no metadata below them)."""
    if type(value) is dict:
        return merge_map({}, value, None, True)
    if type(value) is list:
        return [_strip(item) for item in value if not (type(item) is dict and PATCH in item)]
    return value


def merge_list(original: list, patch: list, meta: FieldMeta, server: bool, *, delete_list: bool) -> list:
    """Merge a patch list into a list with strategy ``merge``, then restore the order rules."""
    if not original and not patch:
        return original
    try:
        kind = element_kind(original, patch)
    except TypeError as err:
        raise BadPatchError(str(err)) from None
    merge_key = meta.merge_key
    if kind is not dict:
        if server and delete_list:
            doomed = set(patch)
            return [value for value in original if value not in doomed]
        merged = _unique(original + patch)
        return _restore_order(merged, patch, original, "")
    if not merge_key:
        raise BadPatchError("cannot merge a list of maps without a merge key")
    original, patch = _special_items(original, patch, merge_key)
    merged = list(original)
    positions: dict[Any, int] = {}
    for position, item in enumerate(merged):
        if merge_key in item:
            positions.setdefault(item[merge_key], position)
    for item in patch:
        if merge_key not in item:
            raise MissingMergeKeyError(f"patch list item has no merge key {merge_key!r}: {item!r}")
        value = item[merge_key]
        found = positions.get(value)
        try:
            if found is None:
                positions[value] = len(merged)
                merged.append(merge_map({}, item, meta.node, server) if server else item)
            else:
                merged[found] = merge_map(merged[found], item, meta.node, server)
        except MergeError as err:
            raise err.at(item_label(item, merge_key)) from None
    return _restore_order(merged, patch, original, merge_key)


def _unique(values: list) -> list:
    seen = set()
    unique = []
    for value in values:
        if value not in seen:
            seen.add(value)
            unique.append(value)
    return unique


def _special_items(original: list, patch: list, merge_key: str) -> tuple[list, list]:
    """Apply ``$patch: delete`` items to the original; ``$patch: replace`` makes the patch the whole list."""
    plain = []
    replace = False
    for item in patch:
        if PATCH not in item:
            plain.append(item)
            continue
        directive = item[PATCH]
        if directive == DELETE:
            if merge_key not in item:
                raise MissingMergeKeyError(f"'$patch: delete' item has no merge key {merge_key!r}: {item!r}")
            doomed = item[merge_key]
            original = [old for old in original if old.get(merge_key) != doomed]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise BadPatchError("'$patch: merge' in a list is not supported (the API server refuses it too)")
        else:
            raise BadPatchError(f"unknown patch directive '$patch: {directive}' in a list item")
    if replace:
        return plain, []
    return original, plain


def _restore_order(merged: list, patch: list, original: list, merge_key: str) -> list:
    """Patch items in patch order, server-only items in their live order, interleaved as the server does."""
    in_patch = _positions(patch, merge_key)
    patch_items: list[Any] = []
    server_only: list[Any] = []
    for item in merged:
        (patch_items if _identity(item, merge_key) in in_patch else server_only).append(item)
    return _interleave(patch_items, server_only, patch, original, merge_key)


def _identity(item: Any, merge_key: str) -> Any:
    if merge_key:
        if merge_key not in item:
            raise MissingMergeKeyError(f"list item has no merge key {merge_key!r}: {item!r}")
        return item[merge_key]
    return item


def _positions(items: list, merge_key: str) -> dict[Any, int]:
    positions: dict[Any, int] = {}
    for position, item in enumerate(items):
        if merge_key:
            if type(item) is not dict or merge_key not in item:
                continue
            positions.setdefault(item[merge_key], position)
        else:
            positions.setdefault(item, position)
    return positions


def _interleave(patch_items: list, server_only: list, patch_order: list, server_order: list, merge_key: str) -> list:
    """apimachinery's normalizeElementOrder: sort each part by its own order, then merge by the live order."""
    patch_positions = _positions(patch_order, merge_key)
    server_positions = _positions(server_order, merge_key)
    patch_items = _sorted_by(patch_items, patch_positions, merge_key)
    server_only = _sorted_by(server_only, server_positions, merge_key)
    result = []
    left, right = 0, 0
    while left < len(server_only) and right < len(patch_items):
        server_position = server_positions.get(_identity(server_only[left], merge_key))
        patch_position = server_positions.get(_identity(patch_items[right], merge_key))
        if server_position is not None and patch_position is not None and server_position < patch_position:
            result.append(server_only[left])
            left += 1
        else:
            result.append(patch_items[right])
            right += 1
    result.extend(server_only[left:])
    result.extend(patch_items[right:])
    return result


def _sorted_by(items: list, positions: dict[Any, int], merge_key: str) -> list:
    kept = [item for item in items if not (merge_key and type(item) is dict and item.get(PATCH) == DELETE)]
    doomed = [item for item in items if merge_key and type(item) is dict and item.get(PATCH) == DELETE]
    end = len(positions)
    kept.sort(key=lambda item: positions.get(_identity(item, merge_key), end))
    return kept + doomed


def _merge_ordered_lists(result: dict, patch: dict, node: Node | None, server: bool) -> dict:
    """Handle every ``$setElementOrder/<list>`` with its list; return what is left of the patch."""
    pending = dict(patch)
    for order_key, order in patch.items():
        if not order_key.startswith(SET_ORDER_PREFIX):
            continue
        del pending[order_key]
        field = order_key[len(SET_ORDER_PREFIX) :]
        try:
            _merge_ordered_list(result, pending, order_key, field, order, node, server)
        except MergeError as err:
            raise err.at(field) from None
    return pending


def _merge_ordered_list(
    result: dict, pending: dict, order_key: str, field: str, order: Any, node: Node | None, server: bool
) -> None:
    if not isinstance(order, list):
        raise BadPatchError(f"{order_key} must be a list, not {order!r}")
    if not server:
        if order_key in result and result[order_key] != order:
            raise BadPatchError(f"the two patches disagree on {order_key}")
        result[order_key] = order
    meta = _meta(node, field)
    original = result.get(field)
    patch_list = pending.pop(field, None)
    if (field in result and not isinstance(original, list)) or (patch_list is not None
                                                                  and not isinstance(patch_list, list)):
        raise BadPatchError(f"{order_key} belongs to a field that is not a list")
    if patch_list is not None:
        _check_order(patch_list, order, meta.merge_key)
    live_order: list[Any] = original or []
    merged: list[Any]
    if original is not None and patch_list is not None:
        if meta.strategy == MERGE:
            merged = merge_list(original, patch_list, meta, server, delete_list=False)
            live_order = _live_order_after_merge(original, patch_list, meta.merge_key)
        else:
            merged = patch_list
    elif patch_list is not None:
        merged = _new_value(patch_list, meta, server)
    elif original is not None:
        merged = original
    else:
        return
    result[field] = _restore_order(merged, order, live_order, meta.merge_key)


def _live_order_after_merge(original: list, patch: list, merge_key: str) -> list:
    """The live list as apimachinery's final ordering of a ``$setElementOrder`` list sees it.

    apimachinery orders the merged list by the live list, but its merge deletes items from that very list in
    place and appends new items into the room the deletions freed (Go slices share their array). So the live
    order it consults is the live list compacted, its freed tail holding the first new items, or stale copies
    where fewer were added; new items found there sort after the live items before them.
    """
    if not merge_key or not any(type(item) is dict and item.get(PATCH) == DELETE for item in patch):
        return original
    room = list(original)
    length = len(room)
    for item in patch:
        if type(item) is dict and item.get(PATCH) == DELETE:
            while (index := _find(room, length, merge_key, item[merge_key])) is not None:
                room[index : length - 1] = room[index + 1 : length]
                length -= 1
    if any(type(item) is dict and item.get(PATCH) == REPLACE for item in patch):
        return room
    for item in patch:
        if length == len(room):
            break
        if PATCH not in item and _find(room, length, merge_key, item[merge_key]) is None:
            room[length] = item
            length += 1
    return room


def _find(items: list, length: int, merge_key: str, value: Any) -> int | None:
    for index in range(length):
        if type(items[index]) is dict and items[index].get(merge_key, _MISSING) == value:
            return index
    return None


def _check_order(patch_list: list, order: list, merge_key: str) -> None:
    """The items of the patch list must appear in the order list, in the same relative order."""
    index = 0
    for item in patch_list:
        if merge_key and type(item) is dict and PATCH in item:
            continue
        identity = item.get(merge_key) if merge_key and type(item) is dict else item
        while index < len(order):
            named = order[index].get(merge_key) if merge_key and type(order[index]) is dict else order[index]
            index += 1
            if named == identity:
                break
        else:
            raise BadPatchError(f"the order of the patch list does not match its $setElementOrder list: {order}")
