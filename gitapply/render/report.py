"""Summaries, per-object lines and the machine-readable report of a plan or an apply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..model import Action, Change, Failure, FailureKind, ObjectKey, Plan
from . import secrets
from .diff import changed_paths, masked, shown

_PAST = {Action.CREATE: "created", Action.PATCH: "configured", Action.UNCHANGED: "unchanged",
         Action.PRUNE: "pruned", Action.REPLACE: "replaced"}


def resource_name(key: ObjectKey) -> str:
    """kubectl's way of naming an object in its output: ``deployment.apps/web``."""
    kind = key.kind.lower()
    return f"{kind}.{key.group}/{key.name}" if key.group else f"{kind}/{key.name}"


def outcome_line(change: Change, *, dry_run: bool = False) -> str:
    """``deployment.apps/web configured``, as kubectl prints it; an object applied server-side where the app
    applies client-side says why, and a field taken from another manager says whose it was."""
    notes = []
    ssa = change.server_side
    if ssa is not None and ssa.reason:
        notes.append(f"server-side: {ssa.reason}")
    if ssa is not None and change.action is not Action.UNCHANGED:
        notes += [f"forced {field} from {manager}" for manager, field in ssa.forced]
    if dry_run:
        notes.append("dry run")
    namespace = f" -n {change.key.namespace}" if change.key.namespace else ""
    suffix = f" ({'; '.join(notes)})" if notes else ""
    return f"{resource_name(change.key)}{namespace} {_PAST[change.action]}{suffix}"


def summary(plan: Plan) -> str:
    """``2 to create, 1 to change, 0 to prune, 5 unchanged``; objects git dropped that the plan, made without
    prune, leaves in place are counted too (``; 1 to prune with --prune``): never invisible."""
    line = (f"{plan.count(Action.CREATE)} to create, {plan.count(Action.PATCH)} to change, "
            f"{plan.count(Action.PRUNE)} to prune, {plan.count(Action.UNCHANGED)} unchanged")
    return line + (f"; {len(plan.unpruned)} to prune with --prune" if plan.unpruned else "")


def json_report(plan: Plan) -> dict[str, Any]:
    """Per object: action, changed field paths, the patch (Secret values masked)."""
    objects = []
    for change in plan.changes:
        before, after = masked(shown(change.live), shown(None if change.action is Action.PRUNE else change.predicted))
        entry: dict[str, Any] = {"object": str(change.key), "action": str(change.action),
                                 "changedPaths": [] if change.action is Action.UNCHANGED
                                 else changed_paths(before or {}, after or {})}
        if change.origin is not None:
            entry["source"] = str(change.origin)
        if change.action is Action.PATCH:
            entry["patchType"] = str(change.patch_type)
            entry["patch"] = secrets.masked(change.key.kind, change.body)
        if change.server_side is not None:
            entry["method"] = "server-side"
            if change.server_side.reason:
                entry["methodReason"] = change.server_side.reason
            if change.server_side.forced and change.action is not Action.UNCHANGED:
                entry["forced"] = [{"field": field, "manager": manager}
                                   for manager, field in change.server_side.forced]
        objects.append(entry)
    counts = {str(action): plan.count(action) for action in (Action.CREATE, Action.PATCH, Action.PRUNE,
                                                            Action.UNCHANGED)}
    return {"summary": counts, "objects": objects, "prunableWithPrune": [str(key) for key in plan.unpruned]}


def failure_lines(failures: Sequence[Failure]) -> list[str]:
    """One line per refused write, but a single line for the writes the server was not there to answer: when it
    goes away mid-apply, a line per remaining object would bury the one thing to know. An inventory that
    could not be recorded comes last."""
    lines = [failure.message for failure in failures
             if failure.kind not in (FailureKind.UNREACHABLE, FailureKind.INVENTORY)]
    lost = [failure for failure in failures if failure.kind is FailureKind.UNREACHABLE]
    if lost:
        objects = "1 object was" if len(lost) == 1 else f"{len(lost)} objects were"
        lines.append(f"the cluster stopped accepting writes: {objects} not written (first: {lost[0].message}); "
                     "run apply again when the server is back")
    return lines + [failure.message for failure in failures if failure.kind is FailureKind.INVENTORY]  # what the above leaves behind

