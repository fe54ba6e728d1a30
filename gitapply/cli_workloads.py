"""The commands about workloads and holds: ``history``, ``rollback`` (which holds the workload's app), ``hold``
and ``release``. Registered on ``cli.app`` when ``gitapply.cli`` is imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Optional

from .cli import (ROLLOUT_FAILED, Context, HoldReason, InventoryNamespace, Kubeconfig, Namespace, Output,
                  UntilRelease, _cluster, _fail, _release, _who, app, console, errors)
from .cliargs import Exit, argument, option
from .errors import GitapplyError

if TYPE_CHECKING:
    from .cluster.base import Cluster
    from .model import ObjectKey
    from .session.holds import AppHolds


_WORKLOAD_KINDS = {"deployment": "Deployment", "deploy": "Deployment", "deployments": "Deployment",
                   "daemonset": "DaemonSet", "ds": "DaemonSet", "daemonsets": "DaemonSet",
                   "statefulset": "StatefulSet", "sts": "StatefulSet", "statefulsets": "StatefulSet"}


def _workload(ref: str, namespace: str, cluster: Cluster) -> ObjectKey:
    """``deployment/web`` → its ObjectKey (apps/v1), in ``namespace`` or the context's."""
    from .model import ObjectKey

    kind, _, name = ref.partition("/")
    if kind.lower() not in _WORKLOAD_KINDS or not name:
        _fail(ValueError(f"{ref!r}: expected deployment/NAME, daemonset/NAME or statefulset/NAME"), 2)
    return ObjectKey("apps", "v1", _WORKLOAD_KINDS[kind.lower()], namespace or cluster.default_namespace(), name)


@app.command()
def history(workload: str = argument(..., help="deployment/NAME, daemonset/NAME or statefulset/NAME."),
            kubeconfig: Optional[str] = Kubeconfig, context: Optional[str] = Context, namespace: str = Namespace,
            output: str = Output) -> None:
    """List a workload's revisions (ReplicaSets or ControllerRevisions), oldest first."""
    from .ops.history import revisions

    try:
        cluster = _cluster(kubeconfig, context)
        found = revisions(cluster, _workload(workload, namespace, cluster))
    except GitapplyError as err:
        _fail(err, err.exit_code)
    if output == "json":
        console.json([{"revision": r.number, "holder": r.holder, "images": r.images, "created": r.created,
                       "current": r.current} for r in found])
        raise Exit(0)
    for revision in found:
        marker = " (current)" if revision.current else ""
        console.line(f"{revision.number:>4}  {revision.created:20}  {', '.join(revision.images)}"
                     f"  {revision.holder}{marker}")


@app.command()
def rollback(workload: str = argument(..., help="deployment/NAME, daemonset/NAME or statefulset/NAME."),
             to_revision: Optional[int] = option(None, "--to-revision",
                                                 help="The revision to go back to (default: the previous)."),
             kubeconfig: Optional[str] = Kubeconfig, context: Optional[str] = Context, namespace: str = Namespace,
             wait: bool = option(False, "--wait", help="Wait for the rollback to roll out."),
             timeout: float = option(300.0, "--timeout", help="Seconds --wait waits."),
             dry_run: bool = option(False, "--dry-run", help="Ask the server; change nothing."),
             no_hold: bool = option(False, "--no-hold", help="Do not hold the workload's app (a reconcile loop "
                                                             "then undoes the rollback at its next pass)."),
             reason: str = HoldReason, until_release: bool = UntilRelease,
             inventory_namespace: str = option("default", "--inventory-namespace",
                                               help="Where the app's inventory is kept (when not there, the "
                                                    "one namespace holding it is found by its label).")) -> None:
    """Roll a workload back to one of its earlier revisions, as `kubectl rollout undo` does, and hold the app
    that applied it (its gitapply.io/app label), so that a reconcile loop leaves the rollback in place until git
    moves or `gitapply release APP`.

    To go back to an earlier git commit instead, apply it: `gitapply apply REPO --rev COMMIT --hold`."""
    from .engine.health import Health
    from .ops.history import rollback as roll_back
    from .ops.rollout import wait as wait_for
    from .render.report import resource_name

    try:
        cluster = _cluster(kubeconfig, context)
        key = _workload(workload, namespace, cluster)
        holds = None if no_hold or dry_run else _app_of_workload(cluster, key, inventory_namespace)
        undo = None if holds is None else _hold_app(holds, _who(kubeconfig, context), until_release=until_release,
                                                     reason=reason or f"rollback of {resource_name(key)}")
        try:
            target = roll_back(cluster, key, to_revision, dry_run=dry_run)
        except GitapplyError:
            if undo is not None:
                undo()
            raise
        suffix = " (dry run)" if dry_run else ""
        console.line(f"{resource_name(key)} -n {key.namespace} rolled back to revision {target.number} "
                     f"({', '.join(target.images)}){suffix}")
        if holds is not None:
            _held_note(holds, console.line)
        if wait and not dry_run:
            (outcome,) = wait_for(cluster, [key], timeout=timeout)
            if outcome.health is not Health.READY:
                _fail(ValueError(f"{key}: rollout {outcome.health}: {outcome.reason}"), ROLLOUT_FAILED)
    except GitapplyError as err:
        _fail(err, err.exit_code)


def _app_of_workload(cluster: Cluster, key: ObjectKey, inventory_namespace: str) -> AppHolds | None:
    """The hold of the app that applied the workload (its ``gitapply.io/app`` label); None (and a note) when
    gitapply did not apply it."""
    from .engine.plan import APP_LABEL
    from .session.holds import AppHolds

    live = cluster.get(key)
    app_name = ((live or {}).get("metadata", {}).get("labels") or {}).get(APP_LABEL)
    if live is None:
        return None  # the rollback says it is not found
    if not app_name:
        errors.line(f"{key}: not applied by gitapply (no {APP_LABEL} label): no app to hold")
        return None
    return AppHolds.of_workload_app(cluster, app_name, inventory_namespace)


def _hold_app(holds: AppHolds, by: str, *, reason: str, until_release: bool) -> Callable[[], None]:
    """Hold the app (before the write it protects); the function that puts back the hold it replaced."""
    from .session.holds import new_hold

    previous = holds.hold(new_hold(by, reason=reason, until_release=until_release))

    def undo() -> None:
        if previous is None:
            holds.release()
        else:
            holds.hold(previous)
    return undo


def _held_note(holds: AppHolds, note: Callable[[str], None]) -> None:
    from .render.holds import describe

    placed = holds.read()
    if placed is not None:
        note(f"{holds.app} is held {describe(placed)}; `gitapply release {holds.app}` ends the hold")


@app.command()
def hold(app: str = argument(..., help="The app's name (its objects' gitapply.io/app label)."),
         reason: str = HoldReason, until_release: bool = UntilRelease,
         inventory_namespace: str = InventoryNamespace, kubeconfig: Optional[str] = Kubeconfig,
         context: Optional[str] = Context) -> None:
    """Hold an app: the reconcile loop (and `gitapply apply`) write nothing for it until git moves past the
    commit the loop reads now, or, with --until-release, until `gitapply release APP`. Replaces any hold.

    Exit code: 0 held, 2 no such app (no inventory in --inventory-namespace), 3 the cluster failed."""
    from .render.holds import set_by
    from .session.holds import AppHolds, new_hold

    try:
        holds = AppHolds.named(_cluster(kubeconfig, context), app, inventory_namespace)
        previous = holds.hold(new_hold(_who(kubeconfig, context), reason=reason, until_release=until_release))
        if previous is not None:
            console.line(f"{app} was held {set_by(previous)}: that hold is replaced")
        _held_note(holds, console.line)
    except GitapplyError as err:
        _fail(err, err.exit_code)


@app.command()
def release(app: str = argument(..., help="The app's name (its objects' gitapply.io/app label)."),
            inventory_namespace: str = InventoryNamespace, kubeconfig: Optional[str] = Kubeconfig,
            context: Optional[str] = Context) -> None:
    """End an app's hold: the reconcile loop applies git again at its next pass.

    Exit code: 0 released (or it was not held), 2 bad input, 3 the cluster failed."""
    from .session.holds import AppHolds

    try:
        _release(AppHolds.named(_cluster(kubeconfig, context), app, inventory_namespace), console.line)
    except GitapplyError as err:
        _fail(err, err.exit_code)
