"""What ``kubectl apply`` would do to one object, decided without I/O.

- No live object: create it, carrying the last-applied annotation.
- A live object: the three-way patch between the configuration recorded on it (the last-applied annotation),
  the desired configuration (annotated with itself) and the live object; strategic merge patch for kinds with
  patch metadata, JSON merge patch otherwise.
- Unchanged when the patch is empty, or when applying it locally leaves the live object as it is (a field
  with strategy ``replace`` is always in kubectl's patch, though it changes nothing).

``predicted`` is the live object as the API server will store it (before its own defaulting), which is what
``diff`` shows and what ``--dry-run`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..merge import MergeError, Node, apply_patch, three_way_patch
from ..model import Action, ObjectKey, PatchType
from .lastapplied import annotated, last_applied


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    """The decision for one object: the action, the request body, and the predicted live object."""

    key: ObjectKey
    action: Action
    body: dict[str, Any]
    patch_type: PatchType | None
    predicted: dict[str, Any]


class PlanError(ValueError):
    """The three-way patch cannot be computed; the message names the object and the field."""


def plan_object(desired: dict[str, Any], live: dict[str, Any] | None, node: Node | None, *,
                overwrite: bool = True) -> ObjectPlan:
    """Decide create / patch / unchanged for one object, exactly as ``kubectl apply`` would."""
    key = ObjectKey.of(desired)
    modified = annotated(desired)
    if live is None:
        return ObjectPlan(key, Action.CREATE, modified, None, modified)
    try:
        original = last_applied(live)
        patch = three_way_patch(original, modified, live, node, overwrite=overwrite)
        predicted = apply_patch(live, patch, node) if patch else live
    except (MergeError, ValueError) as err:
        raise PlanError(f"{key}: {err}") from err
    patch_type = PatchType.STRATEGIC if node is not None else PatchType.MERGE
    if not patch or predicted == live:
        return ObjectPlan(key, Action.UNCHANGED, patch, patch_type, live)
    return ObjectPlan(key, Action.PATCH, patch, patch_type, predicted)
