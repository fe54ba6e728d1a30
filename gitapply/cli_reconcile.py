"""``gitapply reconcile``: the command that runs the controller (``gitapply.controller``) for one app or the
apps of an apps file. Registered on ``cli.app`` when ``gitapply.cli`` is imported."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Optional

from .cli import (AdoptManagers, AppName, Context, InventoryNamespace, Kubeconfig, KustomizeCommand, MaxInput,
                  Namespace, Prune, RemoteBases, Rev, Selector, ServerSideOption, Subdir, _cluster, _fail, _spec,
                  app)
from .cliargs import Exit, argument, option
from .errors import GitapplyError

if TYPE_CHECKING:
    from .session import AppSpec


@app.command()
def reconcile(path: Optional[str] = argument(None, help="A directory or a git repository (local path or "
                                                         "URL); omit with --apps."),
              rev: Optional[str] = Rev, subdir: Optional[str] = Subdir,
              kubeconfig: Optional[str] = Kubeconfig, context: Optional[str] = Context,
              namespace: str = Namespace, selector: str = Selector, app_name: str = AppName, prune: bool = Prune,
              interval: float = option(60.0, "--interval", help="Seconds between passes."),
              passes: Optional[int] = option(None, "--passes", help="Stop after this many passes."),
              heal_unmanaged: bool = option(False, "--heal-unmanaged",
                                            help="Also remove fields added out of band."),
              inventory_namespace: str = InventoryNamespace, kustomize_command: Optional[str] = KustomizeCommand,
              allow_remote_bases: bool = RemoteBases, max_input_size: Optional[float] = MaxInput,
              server_side: bool = ServerSideOption, adopt_managers: str = AdoptManagers,
              apps_file: Optional[str] = option(None, "--apps", help="A YAML file of apps to run in one "
                                                                      "process (see docs/controller.md)."),
              detect_only: bool = option(False, "--detect-only", help="Read only: drift as metrics, logs "
                                                                      "and Events; no writes."),
              leader_elect: bool = option(False, "--leader-elect", help="Write only while holding the "
                                                                        "app's Lease (for 2+ replicas)."),
              lease_namespace: str = option("", "--lease-namespace", help="Where the Leases are (default: "
                                                                          "the controller's namespace)."),
              lease_duration: float = option(15.0, "--lease-duration", help="Seconds a Lease lasts."),
              renew_deadline: float = option(10.0, "--renew-deadline",
                                             help="Seconds a leader may go without renewing; then it stops "
                                                  "writing."),
              retry_period: float = option(2.0, "--retry-period", help="Seconds between Lease attempts."),
              shard: bool = option(False, "--shard", help="With --leader-elect: share the apps among the replicas "
                                                          "(one Lease per replica; see docs/controller.md)."),
              workers: int = option(16, "--workers", help="Passes run at once, at most."),
              webhook_addr: Optional[str] = option(None, "--webhook-addr",
                                                   help="Receive git push webhooks here: POST /hooks/git."),
              webhook_secret_file: Optional[str] = option(None, "--webhook-secret-file",
                                                          help="The webhooks' shared secret (default: "
                                                               "$GITAPPLY_WEBHOOK_SECRET)."),
              identity: str = option("", "--identity", help="This replica's name in the Lease (default: "
                                                            "hostname and a random suffix)."),
              metrics_addr: Optional[str] = option(None, "--metrics-addr",
                                                   help="Serve /metrics, /healthz, /readyz here (:8080)."),
              log_format: str = option("text", "--log-format", help="text or json.")) -> None:
    """Keep the cluster converged: apply git every --interval seconds until stopped (SIGTERM, Ctrl-C).

    A failing pass is reported and the loop goes on. Exit code: 0 if the last pass succeeded, 1 if not."""
    import signal
    import threading

    from .controller import logs
    from .controller.apps import AppEntry, parse_apps
    from .controller.lease import Timing
    from .controller.process import ControllerOptions, run
    from .model import ApplyMethod
    from .session import SyncOptions

    if log_format not in ("text", "json"):
        _fail(ValueError(f"--log-format must be text or json, not {log_format!r}"), 2)
    if path == "-":
        _fail(ValueError("reconcile reads its source again on every pass, and standard input only once; give a "
                         "directory or a repository"), 2)
    if (path is None) == (apps_file is None):
        _fail(ValueError("give a PATH or --apps FILE (one of them)"), 2)
    timing = Timing(lease_duration, renew_deadline, retry_period)
    if leader_elect and timing.problems():
        _fail(ValueError("; ".join(timing.problems())), 2)
    if shard and not leader_elect:
        _fail(ValueError("--shard needs --leader-elect: the replicas find each other through their Leases"), 2)
    if workers < 1:
        _fail(ValueError(f"--workers must be at least 1, not {workers}"), 2)

    def spec_for(entry: AppEntry) -> AppSpec:
        return _spec(entry.repository, rev=entry.rev, subdir=entry.path, namespace=entry.namespace,
                     selector=selector, app_name=entry.name, inventory_namespace=entry.inventory_namespace,
                     kustomize_command=kustomize_command, allow_remote_bases=allow_remote_bases,
                     max_input_size=max_input_size, prune=entry.prune,
                     method=entry.method, adopt_managers=adopt_managers,
                     sync=SyncOptions(heal_unmanaged=heal_unmanaged))

    defaults = AppEntry(name=app_name, repository=path or "", rev=rev, path=subdir, namespace=namespace,
                        interval=interval, prune=prune, detect_only=detect_only,
                        inventory_namespace=inventory_namespace,
                        method=ApplyMethod.SERVER_SIDE if server_side else None)
    try:
        address = _address(metrics_addr, "--metrics-addr")
        hook_address = _address(webhook_addr, "--webhook-addr")
        secret = _webhook_secret(webhook_secret_file) if webhook_addr else b""
        if apps_file is not None:
            with open(apps_file, encoding="utf-8") as handle:
                entries = parse_apps(handle.read(), apps_file, defaults)
        else:  # one app, named as diff and apply name it
            entries = (replace(defaults, name=spec_for(defaults).name),)
        cluster = _cluster(kubeconfig, context)
        lease_cluster = _cluster(kubeconfig, context) if leader_elect else cluster
    except (OSError, ValueError) as err:
        _fail(err, 2)
    except GitapplyError as err:
        _fail(err, err.exit_code)
    logs.configure(logs.LogFormat(log_format))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    options = ControllerOptions(leader_elect=leader_elect, shard=shard, lease_namespace=lease_namespace,
                                timing=timing, identity=identity, metrics_address=address,
                                webhook_address=hook_address, webhook_secret=secret, max_passes=passes,
                                workers=workers)
    raise Exit(0 if run(entries, options, cluster, lease_cluster, stop, spec_for) else 1)


def _webhook_secret(path: str | None) -> bytes:
    """The shared secret of the push webhooks: a request without its signature triggers nothing."""
    import os

    if path is not None:
        with open(path, "rb") as handle:
            secret = handle.read().strip()
        where = path
    else:
        secret, where = os.environ.get("GITAPPLY_WEBHOOK_SECRET", "").strip().encode(), "$GITAPPLY_WEBHOOK_SECRET"
    if not secret:
        raise ValueError(f"--webhook-addr needs a shared secret and {where} is empty; set GITAPPLY_WEBHOOK_SECRET "
                         "or give --webhook-secret-file (the same secret as in the git host's webhook settings)")
    return secret


def _address(text: str | None, flag: str) -> tuple[str, int] | None:
    if not text:
        return None
    from .controller.server import parse_address

    return parse_address(text, flag)
