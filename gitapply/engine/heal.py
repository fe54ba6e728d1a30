"""Healing unmanaged additions: the patch that removes fields someone added out of band.

``kubectl apply`` can never remove a field that is in neither the configuration nor the last-applied record
(a ``resources.limits`` added by ``kubectl edit``): it does not know the field is foreign. Drift detection
does (``engine.drift``, state ``unmanaged``), and ``apply --heal-unmanaged`` sends this patch with the
apply's own: a ``null`` for each added field, or ``$patch: delete`` for a whole added item of a list merged
by key (an env var). Only fields drift attributes to another manager are healed (``engine.drift``), never
server defaults or controller fields. An object applied server-side gets the deletions as a patch sent before
its apply (``ServerSide.clears``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

from ..merge import Node, apply_patch, merge_patches
from ..model import Action, PatchType, Plan
from .drift import DriftReport, FieldDrift, FieldState
from .lastapplied import last_applied
from .ownership import FieldPath

def heal_patch(fields: Iterable[FieldDrift], live: dict[str, Any], known: Iterable[dict[str, Any] | None],
               node: Node | None) -> dict[str, Any]:
    """A strategic merge patch removing every unmanaged field; ``known`` are git and the last-applied
    configuration (an item of a merge list they do not have is deleted whole)."""
    if node is None:
        return {}
    patch: dict[str, Any] = {}
    sources = [obj for obj in known if obj]
    for item in fields:
        if item.state is FieldState.UNMANAGED and item.at:
            _remove(patch, item.at, live, sources)
    return patch


def _remove(patch: dict[str, Any], path: FieldPath, live: Any, known: list[Any]) -> None:
    head, rest = path[0], path[1:]
    assert isinstance(head, str)
    if rest and isinstance(rest[0], tuple):
        _remove_item(patch, head, rest[0], rest[1:], live, known)
        return
    if not rest or all(not isinstance(obj, dict) or head not in obj for obj in known):
        patch[head] = None  # the whole subtree is foreign: remove it at its root
        return
    child = patch.setdefault(head, {})
    if isinstance(child, dict):
        _remove(child, rest, _get(live, head), [_get(obj, head) for obj in known])


def _remove_item(patch: dict[str, Any], field: str, selector: tuple[str, Any], rest: FieldPath, live: Any,
                 known: list[Any]) -> None:
    """Inside the item of list ``field`` that ``selector`` picks: delete it whole when git and the record
    do not have it, else remove ``rest`` inside it."""
    key, value = selector
    live_item = _find(_get(live, field), key, value)
    if live_item is None:
        return
    items = patch.setdefault(field, [])
    known_items = [_find(_get(obj, field), key, value) for obj in known]
    if all(found is None for found in known_items):
        doomed = {key: value, "$patch": "delete"}
        if doomed not in items:
            items.append(doomed)
        return
    found = next((i for i in items if i.get(key) == value and "$patch" not in i), None)
    entry: dict[str, Any] = found if found is not None else {key: value}
    if found is None:
        items.append(entry)
    if rest:
        _remove(entry, rest, live_item, [i for i in known_items if i is not None])


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _find(items: Any, key: str, value: Any) -> dict[str, Any] | None:
    if not isinstance(items, list):
        return None
    return next((i for i in items if isinstance(i, dict) and key in i and i[key] == value), None)


def with_healing(plan: Plan, report: DriftReport, nodes: Callable[[str, str], Node | None]) -> Plan:
    """The plan with each object's unmanaged additions removed by its patch (unchanged objects become
    patched ones)."""
    drifts = {item.key: item for item in report.objects}
    changes = []
    for change in plan.changes:
        found = drifts.get(change.key)
        unmanaged = found.fields_in(FieldState.UNMANAGED) if found else ()
        node = nodes(change.key.api_version, change.key.kind)
        healable = change.action in (Action.PATCH, Action.UNCHANGED)
        if not unmanaged or not healable or node is None or change.live is None or change.desired is None:
            changes.append(change)
            continue
        healing = heal_patch(unmanaged, change.live, [change.desired, last_applied(change.live)], node)
        ssa = change.server_side
        if ssa is not None:
            # server-side: the deletions go first, as a patch of their own (deleting owns nothing), and the
            # apply stays an apply, so that gitapply keeps owning only what git sets
            clears = merge_patches(ssa.clears, healing, node) if ssa.clears else healing
            predicted = apply_patch(change.predicted or change.live, healing, node)
            changes.append(dataclasses.replace(change, action=Action.PATCH, predicted=predicted,
                                               server_side=dataclasses.replace(ssa, clears=clears)))
            continue
        patch = merge_patches(change.body or {}, healing, node)
        predicted = apply_patch(change.live, patch, node)
        changes.append(dataclasses.replace(change, action=Action.PATCH, body=patch, predicted=predicted,
                                           patch_type=PatchType.STRATEGIC))
    return dataclasses.replace(plan, changes=tuple(changes))
