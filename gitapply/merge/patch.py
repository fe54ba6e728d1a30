"""The merge engine's public functions: create a patch (two-way, three-way) and apply one.

Each takes the schema node of the object's kind: with a node, strategic merge patch (built-in kinds); with
``None``, JSON merge patch (custom resources and other kinds without patch metadata), as kubectl does.
"""

from __future__ import annotations

from typing import Any

from . import jsonmerge
from .apply import merge_map
from .conflicts import conflicting_paths
from .errors import ConflictError
from .schema import Node
from .strategic import IGNORE_CHANGES, IGNORE_DELETIONS, SET_ORDER, diff_maps

JSONObject = dict[str, Any]


def three_way_patch(
    original: JSONObject | None,
    modified: JSONObject,
    current: JSONObject | None,
    node: Node | None,
    *,
    overwrite: bool = True,
) -> JSONObject:
    """The patch ``kubectl apply`` sends: changes from ``current`` to ``modified``, deletions from ``original``.

    ``original`` is the last-applied configuration (None or {} when there is none), ``modified`` the new
    configuration, ``current`` the live object. With ``overwrite=False``, raise ``ConflictError`` when the
    live object changed a field since ``original`` that the patch changes too.
    """
    original = original or {}
    current = current or {}
    if node is None:
        return jsonmerge.three_way_merge_patch(original, modified, current, overwrite=overwrite)
    delta = diff_maps(current, modified, node, SET_ORDER | IGNORE_DELETIONS)
    deletions = diff_maps(original, modified, node, SET_ORDER | IGNORE_CHANGES)
    patch = merge_map(deletions, delta, node, server=False)
    if not overwrite:
        changed = diff_maps(original, current, node, 0)
        clashes = conflicting_paths(patch, changed, node)
        if clashes:
            raise ConflictError(clashes)
    return patch


def two_way_patch(original: JSONObject | None, modified: JSONObject, node: Node | None) -> JSONObject:
    """The patch that turns ``original`` into ``modified`` (deleting what ``modified`` lacks)."""
    original = original or {}
    if node is None:
        return jsonmerge.two_way_merge_patch(original, modified)
    return diff_maps(original, modified, node, SET_ORDER)


def merge_patches(first: JSONObject, second: JSONObject, node: Node) -> JSONObject:
    """One strategic merge patch doing what ``first`` and ``second`` do, as kubectl joins a three-way patch's
    deletions with its changes: nulls and directives are kept, and where both set a field ``second`` wins."""
    return merge_map(first, second, node, server=False)


def apply_patch(current: JSONObject | None, patch: JSONObject, node: Node | None) -> JSONObject:
    """The object the API server would store after applying ``patch`` to ``current``."""
    if node is None:
        result = jsonmerge.apply_merge_patch(current or {}, patch)
        return result if isinstance(result, dict) else {}
    return merge_map(current or {}, patch, node, server=True)
