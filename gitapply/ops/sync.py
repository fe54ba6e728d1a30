"""One apply, as a function: plan (with the checks before any write), then write and record the inventory.

``gitapply apply`` runs it once; ``gitapply reconcile`` runs it in a loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..cluster.base import Cluster
from ..engine.heal import with_healing
from ..engine.objectplan import Bookkeeping
from ..engine.plan import APP_LABEL, bookkeeping, owned_by, replan
from ..errors import GitapplyError, NotLeadingError
from ..model import Action, Change, Failure, FailureKind, ObjectKey, Plan
from .apply import Replan, checked, execute
from .drift import classify_prepared
from .inventory import inventory_key, next_inventory, write_inventory
from .prepare import Prepared, Request, prepare


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How to apply: heal unmanaged fields, replace on immutable changes, check with the server first."""

    heal_unmanaged: bool = False
    force_replace: bool = False
    server_checks: bool = True
    take_over: bool = False
    """Write objects another app's label claims (``--adopt``); without it they stop the apply before any write."""


@dataclass(frozen=True, slots=True)
class Planned:
    """A plan ready to write, what it was made from, and the refusals (empty: safe to write)."""

    prepared: Prepared
    plan: Plan
    marks: Bookkeeping
    refusals: list[Failure]


def plan_sync(cluster: Cluster, request: Request, options: SyncOptions = SyncOptions()) -> Planned:
    """Read, validate, plan and check; nothing is written."""
    return plan_prepared(cluster, prepare(cluster, request), options)


def plan_prepared(cluster: Cluster, prepared: Prepared, options: SyncOptions = SyncOptions()) -> Planned:
    """``plan_sync`` from what ``prepare`` already read (the controller reads once, for drift and the plan)."""
    marks = bookkeeping(prepared.options)
    plan = prepared.plan
    if options.heal_unmanaged:
        plan = with_healing(plan, classify_prepared(prepared, cluster.field_manager), prepared.nodes)
    claimed = [] if options.take_over else claimed_elsewhere(plan, prepared.app)
    plan, refusals = checked(cluster, plan, marks=marks, nodes=prepared.nodes, force_replace=options.force_replace,
                             server_checks=options.server_checks)
    return Planned(prepared, plan, marks, list(plan.refused) + claimed + refusals)


def claimed_elsewhere(plan: Plan, app: str) -> list[Failure]:
    """A refusal for each object the plan would write that another gitapply app's label claims: an app takes
    over another's objects only when asked (``--adopt``), never because a path was written another way."""
    refusals = []
    for change in plan.changes:
        other = (((change.live or {}).get("metadata") or {}).get("labels") or {}).get(APP_LABEL)
        if change.action is not Action.UNCHANGED and other and other != app:
            refusals.append(Failure(change.key, change.action, f"{change.key}: belongs to app {other} (its "
                                    f"{APP_LABEL} label), not to {app}; apply as --app {other}, or pass --adopt "
                                    f"to move it to {app}"))
    return refusals


def write_sync(cluster: Cluster, planned: Planned, *, dry_run: bool = False,
               on_done: Callable[[Change, Failure | None], None] = lambda change, failure: None) -> list[Failure]:
    """Make the planned changes, then record what the app owns — also when some writes were refused, or
    Ctrl-C stopped the apply part-way: an object written but not recorded could never be pruned.

    An inventory that cannot be recorded (the server went away mid-apply) is one more failure, saying what
    it means, beside the writes' own; under Ctrl-C it is raised in place of the interrupt."""
    prepared, plan = planned.prepared, planned.plan
    inventory_namespace = prepared.request.inventory_namespace
    written: set[ObjectKey] = set()

    def record() -> None:
        write_inventory(cluster, prepared.app, inventory_namespace, owned_after(prepared, plan, written))

    try:
        failures = execute(cluster, plan, replan=replanner(planned), dry_run=dry_run, on_done=on_done,
                           written=written)
    except BaseException:
        if not dry_run and written:
            record()
        raise
    if not dry_run and (written or not failures):
        try:
            record()
        except GitapplyError as err:
            failures.append(_unrecorded(inventory_key(prepared.app, inventory_namespace), err, len(written)))
    return failures


def _unrecorded(key: ObjectKey, err: GitapplyError, written: int) -> Failure:
    objects = "the object" if written == 1 else f"the {written} objects"
    return Failure(key, Action.PATCH, f"the inventory {key.namespace}/{key.name} was not recorded ({err}): until an "
                   f"apply of this same commit records it, prune does not know of {objects} this apply wrote",
                   FailureKind.NOT_LEADING if isinstance(err, NotLeadingError) else FailureKind.INVENTORY)


def owned_after(prepared: Prepared, plan: Plan, written: set[ObjectKey]) -> set[ObjectKey]:
    """What the app owns once the writes in ``written`` were accepted (all of the plan's, or some): objects
    already in sync and those written, earlier entries that still exist as the app's, less what was pruned."""
    still_owned = [key for key, obj in prepared.live.items() if owned_by(obj, prepared.app)]
    in_place = {c.key for c in plan.changes if c.action is Action.UNCHANGED or c.key in written}
    applied = [m.key for m in prepared.manifests if m.key in in_place]
    pruned = [c.key for c in plan.changes if c.action is Action.PRUNE and c.key in written]
    return next_inventory(applied, prepared.inventory, still_owned, pruned)


def replanner(planned: Planned) -> Replan:
    """How a change of ``planned`` whose write met a 409 is planned again from the fresh object: by the plan's
    own options and rules."""
    prepared = planned.prepared

    def again(change: Change, live: dict[str, Any] | None) -> Change:
        node = prepared.nodes(change.key.api_version, change.key.kind)
        return replan(change, live, node, prepared.options, planned.marks, prepared.rules)
    return again
