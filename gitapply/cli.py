"""The ``gitapply`` command line: wiring, output, exit codes; the logic lives in ops/, engine/, render/.

Exit codes, for scripts:
- ``diff``: 0 no differences, 1 differences, 2 bad input or usage, 3 the cluster failed or refused;
- ``apply``: 0 applied (or nothing to do), 1 some objects were refused (the others were applied),
  2 bad input or usage, or the app is held (nothing written), 3 the cluster failed or refused before anything
  was written, or stopped answering part-way (what was written is said; an apply of the same commit finishes
  the job);
- ``hold``/``release``: 0 done, 2 bad input (no such app), 3 the cluster failed or refused.
"The cluster failed" includes not reaching it at all: a missing or malformed kubeconfig, an unknown context,
refused credentials (401/403), an unreachable server, a server certificate that does not verify.
Every command: 130 interrupted (Ctrl-C), 70 an unexpected failure — a bug, told in one line, its details in a
file under ``~/.cache/gitapply/crashes/``; never a Python traceback.

Start-up is part of the interface (``diff`` is run by hand many times a day): this module imports only
argparse (through ``cliargs``); every command imports what it needs when it runs. Output goes through
``terminal`` (plain lines, ANSI colour on a terminal); rich is loaded only to draw a drift table or a progress bar.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, Optional

from . import __version__
from .cliargs import CommandLine, Exit, argument, option
from .errors import GitapplyError
from .terminal import Terminal

if TYPE_CHECKING:
    from .cluster.base import Cluster
    from .model import Change, Failure, ObjectKey
    from .model import ApplyMethod
    from .engine.holds import HoldStatus
    from .ops.sync import Planned, SyncOptions
    from .session import AppSession, AppSpec, Rollouts
    from .session.holds import AppHolds

app = CommandLine("gitapply", "GitOps apply/diff engine for Kubernetes.", f"gitapply {__version__}")
console = Terminal("stdout")
errors = Terminal("stderr")


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on standard error while ``total`` steps run, when that is a terminal the steps would
    scroll past; yields the function that counts one step. rich is imported only then."""
    if not errors.is_terminal or total < console.height:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(console=errors.rich(), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda: progress.advance(task)


PathArg = argument(..., help="A manifest file, a directory, a Kustomize directory, a git repository (local "
                             "path or URL), or - to read a YAML stream from standard input (with --app).")
Rev = option(None, "--rev", help="Commit-ish to read from a git repository (default HEAD).")
Subdir = option(None, "--path", help="Subdirectory of the repository holding the manifests.")
Kubeconfig = option(None, "--kubeconfig", help="Path to the kubeconfig file.")
Context = option(None, "--context", help="The kubeconfig context to use.")
Namespace = option("", "-n", "--namespace", help="Namespace for objects that name none.")
Selector = option("", "-l", "--selector", help="Only objects with these labels (app=web,tier=frontend).")
AppName = option("", "--app", help="App name recorded on objects (default: the folder or repo name).")
Output = option("text", "-o", "--output", help="text or json.")
NoColor = option(False, "--no-color", help="Plain output, even on a terminal.")
Prune = option(False, "--prune", help="Delete objects this app applied earlier that git no longer has.")
InventoryNamespace = option("default", "--inventory-namespace", help="Where the app's inventory is kept.")
KustomizeCommand = option(None, "--kustomize-command", envvar="GITAPPLY_KUSTOMIZE_COMMAND",
                          help="Renders a Kustomize directory (given last); default: `kustomize build` if "
                               "on PATH, else `kubectl kustomize`.")
RemoteBases = option(False, "--allow-remote-bases", help="Let Kustomize fetch remote bases (URLs).")
ServerSideOption = option(False, "--server-side",
                          help="Apply server-side (the server keeps the record in managedFields) instead of "
                               "client-side (the last-applied annotation); .gitapply.yaml's applyMethod and an "
                               "object's gitapply.io/apply-method annotation also choose (docs/server-side.md).")
AdoptManagers = option("", "--adopt-managers", metavar="NAMES",
                       help="Also take over objects these server-side appliers applied (comma-separated, e.g. "
                            "kustomize-controller,helm); kubectl's always are.")
ForcePrune = option(False, "--force-prune", help="Allow pruning more than half of the app.")
ForceReplace = option(False, "--force-replace", help="Delete and recreate objects whose immutable fields changed.")
TakeOver = option(False, "--adopt", help="Take over objects another gitapply app applied (their gitapply.io/app "
                                         "label); without it, such an object stops the apply before any write.")
HoldReason = option("", "--reason", help="Why the app is held: recorded on the hold, shown to whoever meets it.")
UntilRelease = option(False, "--until-release", help="The hold lasts until released, even when git moves.")
MaxInput = option(None, "--max-input-size", metavar="MIB",
                  help="Largest manifest file read, in MiB; the whole source may hold 16 times that "
                       "(default 16 MiB per file, 256 MiB in all).")


@dataclass(slots=True)
class _ClusterChoice:
    """The global options that choose the cluster, set by ``_options`` before the command runs."""

    local: str | None = None
    field_manager: str | None = None


_CHOICE = _ClusterChoice()


@app.callback()
def _options(local: Optional[str] = option(None, "--local", envvar="GITAPPLY_LOCAL",
                                           help="Use the embedded local cluster kept in this file "
                                                "instead of a kubeconfig (demo, offline use)."),
             field_manager: Optional[str] = option(None, "--field-manager", envvar="GITAPPLY_FIELD_MANAGER",
                                                   help="The name gitapply's writes are recorded under in "
                                                        "managedFields (default: gitapply).")) -> None:
    """GitOps apply/diff engine for Kubernetes."""
    _CHOICE.local, _CHOICE.field_manager = local, field_manager


def _spec(path: str, *, rev: str | None, subdir: str | None, namespace: str, selector: str, app_name: str,
          inventory_namespace: str, kustomize_command: str | None, allow_remote_bases: bool,
          max_input_size: float | None, prune: bool = False, force_prune: bool = False,
          server_side: bool = False, method: ApplyMethod | None = None, adopt_managers: str = "",
          sync: SyncOptions | None = None) -> AppSpec:
    """The app the command line names; a bad value is a usage error (exit 2) before anything is read."""
    from .model import ApplyMethod
    from .ops.prepare import parse_selector
    from .session import AppSpec, Request, SyncOptions  # noqa: F811 - at run time, not only for typing
    from .source import InputLimits

    if max_input_size is not None and not max_input_size > 0:
        _fail(ValueError(f"--max-input-size must be a positive number of MiB, not {max_input_size:g}"), 2)
    limits = InputLimits.of_mib(max_input_size) if max_input_size else InputLimits()
    try:
        labels = parse_selector(selector) if selector else None
    except GitapplyError as err:
        _fail(err, err.exit_code)
    source = Request(path=path, rev=rev, subdir=subdir, namespace=namespace,
                     selector=labels, app=app_name, prune=prune,
                     force_prune=force_prune, inventory_namespace=inventory_namespace,
                     kustomize_command=kustomize_command, allow_remote_bases=allow_remote_bases,
                     input_limits=limits, method=ApplyMethod.SERVER_SIDE if server_side else method,
                     adopt_managers=tuple(name.strip() for name in adopt_managers.split(",") if name.strip()))
    return AppSpec(source, sync or SyncOptions())


def _cluster(kubeconfig: Optional[str], context: Optional[str]) -> Cluster:
    from .cluster.base import DEFAULT_FIELD_MANAGER

    field_manager = _CHOICE.field_manager or DEFAULT_FIELD_MANAGER
    if _CHOICE.local:
        if kubeconfig or context:
            _fail(ValueError("--local and --kubeconfig/--context name two clusters; give one"), 2)
        from .cluster.local import LocalCluster

        return LocalCluster(_CHOICE.local, field_manager=field_manager)
    from .cluster.kube import KubeCluster

    cluster = KubeCluster(kubeconfig=kubeconfig, context=context, field_manager=field_manager)
    if cluster.insecure:
        errors.line(f"warning: the API server's certificate is not verified (insecure-skip-tls-verify in the "
                    f"kubeconfig): {cluster.server}")
    return cluster


def _fail(err: Exception, code: int) -> NoReturn:
    errors.error(str(err))
    raise Exit(code)


@app.command()
def diff(path: str = PathArg, rev: Optional[str] = Rev, subdir: Optional[str] = Subdir,
         kubeconfig: Optional[str] = Kubeconfig, context: Optional[str] = Context, namespace: str = Namespace,
         selector: str = Selector, app_name: str = AppName, output: str = Output, no_color: bool = NoColor,
         prune: bool = Prune, force_prune: bool = ForcePrune, force_replace: bool = ForceReplace,
         adopt: bool = TakeOver, inventory_namespace: str = InventoryNamespace,
         server_dry_run: bool = option(False, "--server-dry-run",
                                       help="Ask the API server (dry-run) what each object would become."),
         kustomize_command: Optional[str] = KustomizeCommand, allow_remote_bases: bool = RemoteBases,
         max_input_size: Optional[float] = MaxInput,
         server_side: bool = ServerSideOption, adopt_managers: str = AdoptManagers) -> None:
    """Show what apply would change: the live objects against what they would become.

    What apply would refuse before writing, diff refuses the same way (exit 2)."""
    from .render.diff import unified
    from .render.report import json_report, summary
    from .session import SyncOptions

    spec = _spec(path, rev=rev, subdir=subdir, namespace=namespace, selector=selector, app_name=app_name,
                 inventory_namespace=inventory_namespace, kustomize_command=kustomize_command,
                 allow_remote_bases=allow_remote_bases, max_input_size=max_input_size, prune=prune,
                 force_prune=force_prune, server_side=server_side, adopt_managers=adopt_managers,
                 sync=SyncOptions(force_replace=force_replace, take_over=adopt))
    try:
        planned = _session(spec, kubeconfig, context).diff(server_dry_run=server_dry_run)
    except GitapplyError as err:
        _fail(err, err.exit_code)
    if planned.refusals:
        _refused(planned.refusals, "apply would write nothing")
    plan = planned.plan
    if output == "json":
        console.json(json_report(plan))
    else:
        out = console.plain() if no_color else console
        for change in plan.changes:
            _print_diff(out, unified(change))
        out.line(summary(plan))
    raise Exit(1 if plan.has_changes else 0)


def _session(spec: AppSpec, kubeconfig: Optional[str], context: Optional[str]) -> AppSession:
    from .session import AppSession

    return AppSession(_cluster(kubeconfig, context), spec)


def _print_diff(out: Terminal, text: str) -> None:
    for line in text.splitlines():
        out.line(line, "green" if line.startswith("+") else "red" if line.startswith("-")
                 else "cyan" if line.startswith("@") else "")


@app.command()
def apply(path: str = PathArg, rev: Optional[str] = Rev, subdir: Optional[str] = Subdir,
          kubeconfig: Optional[str] = Kubeconfig, context: Optional[str] = Context, namespace: str = Namespace,
          selector: str = Selector, app_name: str = AppName, output: str = Output, prune: bool = Prune,
          force_prune: bool = ForcePrune,
          dry_run: bool = option(False, "--dry-run", help="Print what would happen; write nothing."),
          force_replace: bool = ForceReplace, adopt: bool = TakeOver,
          heal_unmanaged: bool = option(False, "--heal-unmanaged",
                                        help="Also remove fields added out of band (see `gitapply drift`)."),
          no_preflight: bool = option(False, "--no-preflight",
                                      help="Skip the server dry-run of every write: faster, but a refused "
                                           "object then stops the apply part-way, as with kubectl."),
          wait: bool = option(False, "--wait", help="Wait for the workloads changed to roll out."),
          timeout: float = option(300.0, "--timeout", help="Seconds --wait waits before calling it failed."),
          rollback_on_failure: bool = option(False, "--rollback-on-failure",
                                             help="With --wait: restore the previous configuration of "
                                                  "workloads whose rollout failed."),
          inventory_namespace: str = InventoryNamespace, kustomize_command: Optional[str] = KustomizeCommand,
          allow_remote_bases: bool = RemoteBases, max_input_size: Optional[float] = MaxInput,
          server_side: bool = ServerSideOption, adopt_managers: str = AdoptManagers,
          hold: bool = option(False, "--hold", help="Then hold the app (replacing any hold): the reconcile loop "
                                                    "leaves it as applied until git moves or it is released."),
          release: bool = option(False, "--release", help="Apply a held app, then release it."),
          reason: str = HoldReason, until_release: bool = UntilRelease) -> None:
    """Create, patch (and with --prune, delete) objects so the cluster matches git.

    A held app (`gitapply hold`, `apply --hold`, `rollback`) is refused (exit 2, nothing written) unless
    --release or --hold, or git moved past the commit it was held at (the hold then ends)."""
    from .model import Action
    from .render.report import failure_lines, json_report, outcome_line, summary
    from .session import SyncOptions

    spec = _spec(path, rev=rev, subdir=subdir, namespace=namespace, selector=selector, app_name=app_name,
                 inventory_namespace=inventory_namespace, kustomize_command=kustomize_command,
                 allow_remote_bases=allow_remote_bases, max_input_size=max_input_size, prune=prune,
                 force_prune=force_prune, server_side=server_side, adopt_managers=adopt_managers,
                 sync=SyncOptions(heal_unmanaged=heal_unmanaged, force_replace=force_replace, take_over=adopt,
                                  server_checks=not no_preflight))
    if hold and release:
        _fail(ValueError("--hold and --release: give one (--hold replaces a hold, --release ends it)"), 2)
    note = console.line if output != "json" else errors.line
    try:
        session = _session(spec, kubeconfig, context)
        planned, held = _plan_held(session, override_hold=hold or release)
        if not planned.refusals and not dry_run:
            _hold_before_writing(session, planned, held, note, hold=hold, by=_who(kubeconfig, context),
                                 reason=reason, until_release=until_release)
    except GitapplyError as err:
        _fail(err, err.exit_code)
    if planned.refusals:
        _refused(planned.refusals, "nothing was applied")
    plan = planned.plan
    with _progress("applying", len(plan.changes)) as step:

        def done(change: Change, failure: Failure | None) -> None:
            step()
            if failure is None and output != "json":
                console.line(outcome_line(change, dry_run=dry_run))

        try:
            failures = session.apply(planned, dry_run=dry_run, on_done=done)
        except GitapplyError as err:
            _fail(err, err.exit_code)
    for change in plan.changes:
        if change.action is Action.UNCHANGED and output != "json":
            console.line(outcome_line(change, dry_run=dry_run))
    for line in failure_lines(failures):
        errors.error(line)
    if release and not dry_run:
        try:
            _release(session.holds, note)
        except GitapplyError as err:
            _fail(err, err.exit_code)
    failed_rollouts: tuple[ObjectKey, ...] = ()
    if (wait or rollback_on_failure) and not dry_run and not failures:
        failed_rollouts = _wait_for_rollouts(session, planned, timeout, rollback_on_failure).failed
    if output == "json":
        report = json_report(plan)
        report["failures"] = [{"object": str(f.key), "message": f.message} for f in failures]
        report["failedRollouts"] = [str(key) for key in failed_rollouts]
        console.json(report)
    else:
        console.line(summary(plan) + (" (dry run)" if dry_run else ""))
    raise Exit(_apply_exit_code(failures, failed_rollouts))


ROLLOUT_FAILED = 4


def _refused(refusals: list[Failure], outcome: str) -> NoReturn:
    """Every refusal of the checks before any write, then what that means; exit 2 (nothing written)."""
    for refusal in refusals:
        errors.error(refusal.message)
    errors.line(outcome)
    raise Exit(2)


def _apply_exit_code(failures: list[Failure], failed_rollouts: tuple[ObjectKey, ...]) -> int:
    """3 when the cluster failed part-way (run apply again), 1 when objects were refused (fix them),
    4 when a rollout failed, else 0; see the module docstring."""
    if any(failure.cluster_failed for failure in failures):
        return 3
    return 1 if failures else ROLLOUT_FAILED if failed_rollouts else 0


def _wait_for_rollouts(session: AppSession, planned: Planned, timeout: float, restore_failed: bool) -> Rollouts:
    """Wait for the plan's rollouts, telling each as it settles; say which failed and which were restored."""
    from .render.report import resource_name

    rollouts = session.wait(planned, timeout=timeout, restore_failed=restore_failed,
                            on_change=lambda o: errors.line(f"{resource_name(o.key)}: {o.health} ({o.reason})"))
    for outcome in rollouts.outcomes:
        if outcome.key in rollouts.failed:
            errors.error(f"{outcome.key}: rollout {outcome.health}: {outcome.reason}")
    for change in rollouts.restored:
        console.line(f"{resource_name(change.key)} -n {change.key.namespace} rolled back "
                     "to its previous configuration")
    return rollouts


@app.command()
def drift(path: str = PathArg, rev: Optional[str] = Rev, subdir: Optional[str] = Subdir,
          kubeconfig: Optional[str] = Kubeconfig, context: Optional[str] = Context, namespace: str = Namespace,
          selector: str = Selector, app_name: str = AppName, output: str = Output,
          fail_on: str = option("any", "--fail-on", help="Exit 1 on: drift, pending or any."),
          junit: Optional[str] = option(None, "--junit", help="Also write a JUnit XML report here."),
          prometheus: Optional[str] = option(None, "--prometheus",
                                             help="Also write node-exporter textfile metrics here."),
          inventory_namespace: str = InventoryNamespace, kustomize_command: Optional[str] = KustomizeCommand,
          allow_remote_bases: bool = RemoteBases, max_input_size: Optional[float] = MaxInput,
          server_side: bool = ServerSideOption, adopt_managers: str = AdoptManagers) -> None:
    """Compare git with the cluster and report drift; writes nothing to the cluster."""
    from pathlib import Path

    from .cache import write_atomically
    from .render.drift import drift_json, drift_junit, drift_prometheus, drift_summary, drift_table
    from .render.holds import hold_line

    if fail_on not in ("drift", "pending", "any"):
        _fail(ValueError(f"--fail-on must be drift, pending or any, not {fail_on!r}"), 2)
    spec = _spec(path, rev=rev, subdir=subdir, namespace=namespace, selector=selector, app_name=app_name,
                 inventory_namespace=inventory_namespace, kustomize_command=kustomize_command,
                 allow_remote_bases=allow_remote_bases, max_input_size=max_input_size, server_side=server_side,
                 adopt_managers=adopt_managers)
    try:
        session = _session(spec, kubeconfig, context)
        prepared = session.read()
        report = session.drift(prepared)
        held = session.hold_status(prepared)
    except GitapplyError as err:
        _fail(err, err.exit_code)
    try:
        if junit:
            write_atomically(Path(junit), drift_junit(report, hold=held).encode())
        if prometheus:
            write_atomically(Path(prometheus), drift_prometheus(report).encode())
    except OSError as err:
        _fail(err, 2)
    if output == "json":
        console.json(drift_json(report, hold=held))
    else:
        if held.hold is not None:
            console.line(f"{report.app} is held {hold_line(held)}", "yellow")
        if report.has_drift or report.has_pending:
            console.rich().print(drift_table(report, width=console.width))
        console.line(drift_summary(report))
    failing = {"drift": report.has_drift, "pending": report.has_pending,
               "any": report.has_drift or report.has_pending}[fail_on]
    raise Exit(1 if failing else 0)


def _who(kubeconfig: Optional[str], context: Optional[str]) -> str:
    """Who holds an app: the kubeconfig user or service account, and the login at the keyboard."""
    from .cluster.identity import acting_user

    return acting_user(kubeconfig, context, local=bool(_CHOICE.local))


def _plan_held(session: AppSession, *, override_hold: bool) -> tuple[Planned, HoldStatus]:
    """The plan (refused for a held app unless ``override_hold``) and the app's hold, read once."""
    prepared = session.read()
    held = session.hold_status(prepared)
    return session.plan(prepared, hold=held, override_hold=override_hold), held


def _hold_before_writing(session: AppSession, planned: Planned, held: HoldStatus, note: Callable[[str], None], *,
                         hold: bool, by: str, reason: str, until_release: bool) -> None:
    """``apply --hold`` holds before the first write, so a reconcile pass that reads the writes also reads the
    hold; a hold git moved past ends now, as the reconcile loop would end it."""
    from .engine.holds import HoldState
    from .render.holds import describe, moved_text

    app_name = planned.prepared.app
    if hold:
        placed = session.hold(planned.prepared, by=by, reason=reason, until_release=until_release)
        note(f"{app_name} is held {describe(placed)}")
    elif held.state is HoldState.ENDED and held.hold is not None and session.holds.release(held.hold):
        note(f"{app_name}: the hold ended, {moved_text(held)}")


def _release(holds: AppHolds, note: Callable[[str], None]) -> None:
    from .render.holds import set_by

    ended = holds.release()
    note(f"{holds.app} released (it was held {set_by(ended)})" if ended else f"{holds.app} was not held")


# the other commands register on ``app`` as their modules load (they import this one's options)
from . import cli_reconcile, cli_workloads  # noqa: E402,F401


INTERNAL_ERROR = 70
"""An unexpected exception: a bug in gitapply (sysexits' EX_SOFTWARE), told in one line, details in a file."""


def main() -> None:
    """Run the command line; no Python traceback reaches the user."""
    try:
        code = app.run(sys.argv[1:])
    except KeyboardInterrupt:
        errors.line("interrupted")
        sys.exit(130)
    except GitapplyError as err:  # raised outside a command's own handling (e.g. while it prints)
        errors.error(str(err))
        sys.exit(err.exit_code)
    except BrokenPipeError:
        # `gitapply diff | head`: the reader has gone, and Python would complain at exit while flushing
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - the one place every other exception ends
        from .source import redact_text

        where = _crash_report(err)
        errors.error(redact_text(f"gitapply failed unexpectedly ({type(err).__name__}: {err}). "
                                 f"This is a bug in gitapply: please report it with {where}, which holds the "
                                 "details."))
        sys.exit(INTERNAL_ERROR)
    sys.exit(code)


def _crash_report(err: Exception) -> str:
    """Write the traceback to a file under the cache directory; its path, or where it could not be written."""
    import os
    import time
    import traceback

    from .cache import folder

    path = str(folder("crashes", f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"gitapply {sys.argv[1:]}\n")
            handle.write("".join(traceback.format_exception(err)))
    except OSError:
        return "the command that failed (the details could not be written to disk)"
    return path
