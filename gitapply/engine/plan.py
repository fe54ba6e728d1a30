"""Planning a whole apply: pair desired objects with live ones, decide each, pick what to prune, order it all.

Rules:
- desired and live are paired by ``ObjectKey``; each pair is decided by ``plan_object`` (kubectl's apply);
- an object is pruned only when gitapply applied it under the same app — it is in the app's inventory and
  still carries the app label — and git no longer has it; ownership is never guessed from kinds;
- creates and patches run in dependency order (``engine.order``), prunes after them in reverse order;
- the prune guard: pruning more than half of the app's objects, or all of them, needs ``force_prune``,
  because an empty or wrong checkout must not wipe an application.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence

from ..errors import PruneGuardError, RecordError
from ..merge import Node
from ..model import Action, ApplyMethod, Change, Failure, Manifest, ObjectKey, Plan
from .objectplan import Bookkeeping, plan_object
from .serverside import (ANNOTATIONS_LIMIT, SERVER_SIDE_APPLIERS, TOO_LARGE, annotations_size, applied_record,
                         method_of, method_pinned, plan_server_side)
from .order import apply_order, delete_order
from .rules import FieldRules

APP_LABEL = "gitapply.io/app"
COMMIT_ANNOTATION = "gitapply.io/commit"

NodeLookup = Callable[[str, str], Node | None]


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """How to plan: the app that owns the objects, the commit they come from, prune and its guard, the apply
    method, the field manager gitapply writes as and the server-side appliers it takes objects over from."""

    app: str
    commit: str | None = None
    prune: bool = False
    force_prune: bool = False
    overwrite: bool = True
    method: ApplyMethod = ApplyMethod.CLIENT_SIDE
    manager: str = "gitapply"
    adopt: tuple[str, ...] = ()


def bookkeeping(options: PlanOptions) -> Bookkeeping:
    """The label and annotation gitapply sets on every object it applies."""
    annotations = {COMMIT_ANNOTATION: options.commit} if options.commit else {}
    return Bookkeeping(labels={APP_LABEL: options.app}, annotations=annotations)


def make_plan(
    desired: Sequence[Manifest],
    live: Mapping[ObjectKey, dict[str, Any]],
    nodes: NodeLookup,
    options: PlanOptions,
    *,
    inventory: Iterable[ObjectKey] = (),
    rules: FieldRules = FieldRules(),
    in_git: Collection[ObjectKey] | None = None,
    prunable: Callable[[dict[str, Any]], bool] = lambda obj: True,
) -> Plan:
    """The ordered changes that bring ``live`` to ``desired``; ``live`` holds what the cluster has of
    the desired keys and of the inventory. ``rules`` say which fields are left alone.

    ``in_git`` is every key git has (default: the desired ones) and ``prunable`` limits pruning to some live
    objects: with a label selector, only part of git is planned, and nothing outside it may be pruned."""
    marks = bookkeeping(options)
    changes, refused = [], []
    for manifest in desired:
        try:
            changes.append(_plan_one(manifest, live.get(manifest.key),
                                     nodes(manifest.key.api_version, manifest.key.kind), options, marks, rules))
        except RecordError as err:  # one object's broken record: said, and the others still planned
            refused.append(Failure(manifest.key, Action.PATCH, str(err)))
    changes.sort(key=lambda change: apply_order(change.key))
    inventory = tuple(inventory)
    wanted = set(in_git) if in_git is not None else {manifest.key for manifest in desired}
    doomed = sorted((key for key in prune_set(wanted, live, inventory, options.app) if prunable(live[key])),
                    key=delete_order)
    if not options.prune:
        return Plan(tuple(changes), unpruned=tuple(doomed), refused=tuple(refused))
    _check_guard(len(doomed), _owned_count(live, inventory, options.app), options)
    return Plan(tuple(changes) + tuple(Change(key, Action.PRUNE, None, live[key]) for key in doomed),
                refused=tuple(refused))


def _plan_one(manifest: Manifest, live: dict[str, Any] | None, node: Node | None, options: PlanOptions,
              marks: Bookkeeping, rules: FieldRules) -> Change:
    """One object, by the method it is applied with (``serverside.method_of``); client-side first, and
    server-side instead when its last-applied record would not fit the annotation limit."""
    left_alone = tuple(owned.pointer for owned in rules.left_alone(manifest.key))
    kept = rules.kept_when_removed(manifest.key)
    method, reason = method_of(manifest.obj, options.method)
    appliers = {options.manager, *options.adopt, *SERVER_SIDE_APPLIERS}
    if method is ApplyMethod.CLIENT_SIDE:
        change = plan_object(manifest.obj, live, node, overwrite=options.overwrite, bookkeeping=marks,
                             origin=manifest.origin, left_alone=left_alone, keep_when_removed=kept,
                             record=applied_record(live, appliers))
        written = change.body if change.action is Action.CREATE else change.predicted
        if method_pinned(manifest.obj) or change.action is Action.UNCHANGED or \
                annotations_size(written) <= ANNOTATIONS_LIMIT:
            return change
        reason = TOO_LARGE
    return plan_server_side(manifest.obj, live, node, manager=options.manager, bookkeeping=marks,
                            origin=manifest.origin, reason=reason, left_alone=left_alone, keep_when_removed=kept,
                            adopt=options.adopt)


def replan(change: Change, live: dict[str, Any] | None, node: Node | None, options: PlanOptions,
           marks: Bookkeeping, rules: FieldRules) -> Change:
    """A planned change made again from a fresh read of its object (its write was refused with 409: the object
    moved under us), by the plan's own rules: its apply method, the HPA hand-offs, the ignore rules. Planning it
    again any other way would write what the plan did not mean (client-side over a server-side migration,
    replicas an HPA owns)."""
    assert change.desired is not None and change.origin is not None
    return _plan_one(Manifest(change.desired, change.origin), live, node, options, marks, rules)


def owned_by(obj: dict[str, Any] | None, app: str) -> bool:
    """Whether a live object carries the app's label."""
    if not obj:
        return False
    return ((obj.get("metadata") or {}).get("labels") or {}).get(APP_LABEL) == app


def prune_set(wanted: set[ObjectKey], live: Mapping[ObjectKey, dict[str, Any]], inventory: Iterable[ObjectKey],
              app: str) -> set[ObjectKey]:
    """Inventory entries git no longer has that still exist and still belong to the app."""
    return {key for key in inventory if key not in wanted and owned_by(live.get(key), app)}


def _owned_count(live: Mapping[ObjectKey, dict[str, Any]], inventory: Iterable[ObjectKey], app: str) -> int:
    return sum(1 for key in set(inventory) if owned_by(live.get(key), app))


def _check_guard(doomed: int, owned: int, options: PlanOptions) -> None:
    if options.force_prune or doomed == 0:
        return
    if doomed == owned or doomed * 2 > owned:
        raise PruneGuardError(
            f"app {options.app}", f"pruning would delete {doomed} of its {owned} objects; that is more than half "
            "(is the path or revision right?). Re-run with --force-prune if this is intended"
        )
