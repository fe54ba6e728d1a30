"""Applying desired objects to a cluster, one request per changed object, as ``kubectl apply`` does.

A write that loses a race (HTTP 409: the object changed between our read and our patch) is recomputed from
a fresh read, a few times, before it is reported. Independent objects are applied concurrently (bounded).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from ..cluster.base import Cluster, Propagation
from ..engine import fieldsets
from ..engine.crds import kinds_defined_by
from ..engine.normalize import same_stored
from ..engine.objectplan import Bookkeeping, plan_object
from ..engine.order import rank
from ..engine.serverside import ANNOTATIONS_LIMIT, METHOD_ANNOTATION, annotations_size, as_patch
from ..errors import (ClusterError, ConflictingWriteError, ConnectionFailedError, FieldConflictError, ForbiddenError,
                      GitapplyError, InvalidObjectError, NotLeadingError)
from ..merge import merge_patches
from ..model import Action, Change, Failure, FailureKind, ObjectKey, PatchType, Plan, ServerSide

CONFLICT_RETRIES = 5
# Requests in flight for the dry-runs and the writes. On 2 cores shared with a local API server, 500 new
# objects applied in 2.8-3.0 s with 8 and 2.4-2.7 s with 16; 32 gained nothing more. The transport keeps as many
# connections (cluster/kube.py pool_size).
WRITE_CONCURRENCY = 16


def write(cluster: Cluster, change: Change, *, dry_run: bool = False) -> dict[str, Any] | None:
    """Make one planned change; returns the live object the server answers with (None when pruned)."""
    if change.patch_type is PatchType.APPLY and change.action in (Action.CREATE, Action.PATCH):
        return apply_server_side(cluster, change, dry_run=dry_run)
    if change.action is Action.CREATE:
        assert change.body is not None
        return cluster.create(change.body, dry_run=dry_run)
    if change.action is Action.PATCH:
        assert change.body is not None and change.patch_type is not None
        return cluster.patch(change.key, change.body, change.patch_type, dry_run=dry_run)
    if change.action is Action.PRUNE:
        cluster.delete(change.key, dry_run=dry_run)
        return None
    if change.action is Action.REPLACE:
        assert change.body is not None
        if dry_run:
            return change.body
        cluster.delete(change.key, propagation=Propagation.FOREGROUND)
        _wait_gone(cluster, change.key)
        return cluster.apply(change.body, force=True) if change.patch_type is PatchType.APPLY else \
            cluster.create(change.body)
    return change.predicted


def apply_server_side(cluster: Cluster, change: Change, *, dry_run: bool = False,
                      force: bool = True) -> dict[str, Any]:
    """One server-side apply: first the ownership it takes over (``managedFields`` rewritten, under the
    resourceVersion read, so a concurrent write makes it a conflict and the change is planned again), then
    the configuration, forcing conflicts: git wins, and the plan names what it took (``confirmed``)."""
    assert change.body is not None
    ssa = change.server_side
    if ssa is not None and ssa.clears is not None and dry_run:
        # the dry-run cannot chain two writes: the two as one patch show what the server would store
        node = cluster.patch_node(change.key.api_version, change.key.kind)
        patch = merge_patches(as_patch(change.body), ssa.clears, node) if node is not None else ssa.clears
        return cluster.patch(change.key, patch, PatchType.STRATEGIC, dry_run=True)
    if ssa is not None and ssa.ownership is not None and not dry_run:
        cluster.patch(change.key, {"metadata": {"managedFields": list(ssa.ownership),
                                                "resourceVersion": ssa.resource_version}}, PatchType.MERGE)
    if ssa is not None and ssa.clears is not None:
        cluster.patch(change.key, ssa.clears, PatchType.STRATEGIC)
    return cluster.apply(change.body, force=force, dry_run=dry_run)



def as_replacement(change: Change, marks: Bookkeeping) -> Change:
    """The change as delete-and-recreate, for a change the server refuses as a patch (an immutable field)."""
    assert change.desired is not None
    if change.patch_type is PatchType.APPLY:
        return dataclasses.replace(change, action=Action.REPLACE)
    created = plan_object(change.desired, None, None, bookkeeping=marks, origin=change.origin)
    return dataclasses.replace(change, action=Action.REPLACE, body=created.body, patch_type=None,
                               predicted=created.body)


def _wait_gone(cluster: Cluster, key: ObjectKey, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while cluster.get(key) is not None:
        if time.monotonic() > deadline:
            raise ClusterError(str(key), f"still being deleted after {timeout:.0f} s; check its finalizers")
        time.sleep(0.25)


def oversized(plan: Plan) -> list[Failure]:
    """Objects whose annotations exceed the API's 256 KiB limit: refused before anything is written. An object
    is applied server-side when only its last-applied record would not fit, so this is one that asks for
    client-side apply, or whose own annotations are too large."""
    problems = []
    for change in plan.changes:
        source = change.body if change.action is Action.CREATE else change.predicted
        if change.action not in (Action.CREATE, Action.PATCH) or not source:
            continue
        size = annotations_size(source)
        if size <= ANNOTATIONS_LIMIT:
            continue
        if change.server_side is None:
            advice = (f"the last-applied record holds the whole object, and its annotation {METHOD_ANNOTATION} asks "
                      "for client-side apply: remove that annotation, and it is applied server-side")
        else:
            advice = "move large data out of its annotations"
        where = f"{change.origin}: " if change.origin else ""
        problems.append(Failure(change.key, change.action, f"{where}{change.key}: its annotations would be {size} "
                                f"bytes, over the API's limit of {ANNOTATIONS_LIMIT}; {advice}", FailureKind.OVERSIZED))
    return problems


def checkable(plan: Plan) -> list[Change]:
    """The creates and patches the server can dry-run now: not those in namespaces or of kinds this plan
    creates (they are checked when written)."""
    created_namespaces = {c.key.name for c in plan.changes if c.key.kind == "Namespace" and c.action is Action.CREATE}
    new_kinds = kinds_defined_by(change.desired for change in plan.changes)
    return [c for c in plan.changes if c.action in (Action.CREATE, Action.PATCH)
            and c.key.namespace not in created_namespaces and (c.key.api_version, c.key.kind) not in new_kinds]


@dataclass(frozen=True, slots=True)
class Answer:
    """The server's dry-run of one write: the object it would store and, for a server-side apply, the fields
    it would take from other managers (``(manager, field)``)."""

    stored: dict[str, Any] | None
    forced: tuple[tuple[str, str], ...] = ()


def preflight(cluster: Cluster, plan: Plan, *, workers: int = WRITE_CONCURRENCY,
              only: Callable[[Change], bool] = lambda change: True) -> tuple[list[Failure], dict[ObjectKey, Answer]]:
    """Ask the server to dry-run every create and patch (``only`` some of them), so that a refusal (an
    immutable field, a failed validation) is known before anything is written; returns the refusals and
    the server's answers."""
    def check(change: Change) -> tuple[Change, Failure | None, Answer | None]:
        try:
            return change, None, _dry_run(cluster, change)
        except GitapplyError as err:
            return change, _failure(change, err), None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(check, [c for c in checkable(plan) if only(c)]))
    return ([failure for _, failure, _ in outcomes if failure is not None],
            {change.key: answer for change, _, answer in outcomes if answer is not None})


def _dry_run(cluster: Cluster, change: Change) -> Answer:
    """A server-side apply is asked without force first: a conflict names the fields another manager holds
    (what the real write will take over), and the forced dry-run then gives the object."""
    if change.patch_type is not PatchType.APPLY or change.live is None:
        return Answer(write(cluster, change, dry_run=True))
    try:
        return Answer(apply_server_side(cluster, change, dry_run=True, force=False))
    except FieldConflictError as conflict:
        return Answer(apply_server_side(cluster, change, dry_run=True), conflict.conflicts)


def confirmed(plan: Plan, answers: dict[ObjectKey, Answer], nodes: Callable[[str, str], Any]) -> Plan:
    """The plan with each patch the server's dry-run shows to store nothing new made unchanged, and the
    other patches predicting what the server answered. The local prediction follows the merge and the
    known normalisations; the server also defaults, canonicalises and drops what its types omit, so its
    answer, not the prediction, decides whether a patch changes anything."""
    changes = []
    for change in plan.changes:
        answer, live = answers.get(change.key), change.live
        if change.action is not Action.PATCH or answer is None or answer.stored is None or live is None:
            changes.append(change)
            continue
        ssa = change.server_side
        if ssa is not None:
            change = dataclasses.replace(change, server_side=with_forced(ssa, answer.forced))
            if ssa.ownership is not None:  # the dry-run cannot see the ownership taken over first, nor so
                # what the apply after it removes: the server's answer less what was applied and git dropped
                changes.append(dataclasses.replace(change, predicted=fieldsets.without(answer.stored, ssa.removes)))
                continue
        if same_stored(answer.stored, live, nodes(change.key.api_version, change.key.kind)):
            changes.append(dataclasses.replace(change, action=Action.UNCHANGED, predicted=live,
                                               body={} if ssa is None else change.body))
        else:
            changes.append(dataclasses.replace(change, predicted=answer.stored))
    return dataclasses.replace(plan, changes=tuple(changes))


def with_forced(ssa: ServerSide, conflicts: tuple[tuple[str, str], ...]) -> ServerSide:
    """``ssa`` naming the fields its apply takes from other managers; those taken over with the ownership
    rewrite (client-side apply's entries, adopted appliers) are gitapply's already, not taken from anyone."""
    if ssa.ownership is None:
        return dataclasses.replace(ssa, forced=conflicts)
    staying = {entry.get("manager") for entry in ssa.ownership}
    return dataclasses.replace(ssa, forced=tuple(c for c in conflicts if c[0] in staying))


def confirm_patches(cluster: Cluster, plan: Plan, nodes: Callable[[str, str], Any]) -> Plan:
    """``confirmed`` by a dry-run of each patch (creates are not asked: they always change something);
    a patch the server refuses stays as predicted, for apply to report."""
    _, answers = preflight(cluster, plan, only=lambda change: change.action is Action.PATCH)
    return confirmed(plan, answers, nodes)


Replan = Callable[[Change, dict[str, Any] | None], Change]
"""A change planned again from its object read afresh (after a 409), by the rules that planned it."""


def execute(cluster: Cluster, plan: Plan, *, replan: Replan, workers: int = WRITE_CONCURRENCY,
            dry_run: bool = False, on_done: Callable[[Change, Failure | None], None] = lambda change, failure: None,
            written: set[ObjectKey] | None = None) -> list[Failure]:
    """Make the plan's changes stage by stage (creates and patches in dependency order, then prunes);
    writes within a stage run concurrently. Returns the failures; after a refusal later stages still run, as
    kubectl does, but once the server is unreachable (its retries spent) no further write is sent: each would
    wait out the same retries, and a server gone mid-apply of 500 objects would hold the apply for minutes.

    ``written`` receives the key of each change the server accepted, as it is accepted (by the worker, so that
    it is complete even when Ctrl-C stops the apply before ``on_done`` has seen every result).

    ``replan``: how a change whose write met a 409 is planned again from the fresh object (by the rules that
    planned it: ``sync.replanner``)."""
    failures: list[Failure] = []
    pool = ThreadPoolExecutor(max_workers=workers)
    accepted = written if written is not None else set()
    gone = threading.Event()
    try:
        for stage in _stages(plan):
            for change, failure in pool.map(lambda c: _attempt(cluster, c, dry_run, replan, accepted, gone), stage):
                on_done(change, failure)
                if failure is not None:
                    failures.append(failure)
            crds = [c for c in stage if c.key.kind == "CustomResourceDefinition" and c.key not in failed(failures)]
            if not dry_run and crds:
                failures += _wait_established(cluster, crds)
    except BaseException:
        # Ctrl-C: let the writes in flight finish (a request cut in half helps nobody), start no more
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return failures


def _stages(plan: Plan) -> list[list[Change]]:
    stages: dict[tuple[bool, int], list[Change]] = {}
    for change in plan.changes:
        if change.action is Action.UNCHANGED:
            continue
        pruning = change.action is Action.PRUNE
        stages.setdefault((pruning, -rank(change.key) if pruning else rank(change.key)), []).append(change)
    return [stages[stage] for stage in sorted(stages)]


def _attempt(cluster: Cluster, change: Change, dry_run: bool, replan: Replan, accepted: set[ObjectKey],
             gone: threading.Event) -> tuple[Change, Failure | None]:
    if gone.is_set():
        return change, Failure(change.key, change.action, f"{change.key}: not sent, the cluster had stopped "
                               "accepting writes", FailureKind.UNREACHABLE)
    try:
        change, _ = _write_retrying(cluster, change, dry_run=dry_run, replan=replan)
    except GitapplyError as err:
        failure = _failure(change, err)
        if failure.kind is FailureKind.UNREACHABLE:
            gone.set()
        return change, failure
    accepted.add(change.key)  # one set.add: atomic under the GIL
    return change, None


def _failure(change: Change, err: GitapplyError) -> Failure:
    """The failure an error of one write (or its dry-run) stands for."""
    if isinstance(err, NotLeadingError):
        kind = FailureKind.NOT_LEADING
    elif isinstance(err, ConnectionFailedError) and not isinstance(err, ForbiddenError):
        # unreachable, or the credentials refused (expired mid-apply): the same for every write after this one;
        # a 403 is RBAC refusing this one kind, and the other writes go on
        kind = FailureKind.UNREACHABLE
    elif isinstance(err, InvalidObjectError) and err.immutable:
        kind = FailureKind.IMMUTABLE
    else:
        kind = FailureKind.REFUSED
    return Failure(change.key, change.action, str(err), kind)


def _write_retrying(cluster: Cluster, change: Change, *, dry_run: bool,
                    replan: Replan) -> tuple[Change, dict[str, Any] | None]:
    """Write one change; when the object moved under us (HTTP 409), plan it again from a fresh read and try
    again, a few times. Returns the change finally written and the server's answer."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            return change, write(cluster, change, dry_run=dry_run)
        except ConflictingWriteError:
            if attempt == CONFLICT_RETRIES or change.desired is None:
                raise
            change = replan(change, cluster.get(change.key))
    raise AssertionError("unreachable")


def failed(failures: list[Failure]) -> set[ObjectKey]:
    return {failure.key for failure in failures}


def _wait_established(cluster: Cluster, crds: list[Change], timeout: float = 60.0) -> list[Failure]:
    """Wait until each CRD is served, so its custom resources in later stages are not refused as unknown; a
    CRD the server has not established in ``timeout`` is a failure (its resources are still sent: each is
    then refused or accepted on its own)."""
    deadline = time.monotonic() + timeout
    late = []
    for change in crds:
        while not _established(cluster.get(change.key)):
            if time.monotonic() > deadline:
                late.append(Failure(change.key, change.action, f"{change.key}: created, but the server had not "
                                    f"established it after {timeout:.0f} s; see its status.conditions "
                                    f"(kubectl get crd {change.key.name} -o yaml)"))
                break
            time.sleep(0.25)
    return late


def _established(live: dict[str, Any] | None) -> bool:
    conditions = ((live or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def server_predictions(cluster: Cluster, plan: Plan, *, workers: int = WRITE_CONCURRENCY) -> Plan:
    """The plan with each create's and patch's ``predicted`` object taken from a server-side dry-run,
    so that admission webhooks and the server's defaulting show in a diff."""
    def predict(change: Change) -> Change:
        if change.action not in (Action.CREATE, Action.PATCH):
            return change
        return dataclasses.replace(change, predicted=write(cluster, change, dry_run=True))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dataclasses.replace(plan, changes=tuple(pool.map(predict, plan.changes)))


def checked(cluster: Cluster, plan: Plan, *, marks: Bookkeeping, nodes: Callable[[str, str], Any],
            force_replace: bool = False, server_checks: bool = True) -> tuple[Plan, list[Failure]]:
    """The plan after the checks that come before any write, and the refusals (empty: safe to write).

    Oversized annotations are refused outright; then the server dry-runs every write (unless
    ``server_checks`` is off: half the requests, but a refusal then stops the apply part-way, as with
    kubectl). A patch the dry-run shows to change nothing is not sent (``confirmed``). A refused immutable field becomes a delete-and-recreate with ``force_replace``, and otherwise a
    refusal saying so."""
    refusals = oversized(plan)
    if refusals or not server_checks:
        return plan, refusals
    failures, answers = preflight(cluster, plan)
    plan = confirmed(plan, answers, nodes)
    immutable = {failure.key for failure in failures if failure.kind is FailureKind.IMMUTABLE}
    replace = immutable if force_replace else set()
    plan = dataclasses.replace(plan, changes=tuple(as_replacement(c, marks) if c.key in replace else c
                                                   for c in plan.changes))
    hint = "; re-run with --force-replace to delete and recreate it"
    return plan, [dataclasses.replace(f, message=f.message + hint) if f.key in immutable else f
                  for f in failures if f.key not in replace]
