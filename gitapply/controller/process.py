"""The controller process: one loop thread per app (and one Lease thread per app with leader election), the
HTTP server for metrics and probes, and an orderly stop: on SIGTERM no new write starts, the pass in flight
ends, each Lease is released so a follower takes over at its next retry, then the process exits.

One app's failure never stops another: each app has its own thread, and a pass's errors stay in its report.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from ..cluster.base import Cluster
from ..session import AppSpec
from .apps import AppEntry
from .elector import LeaderElector
from .lease import Timing, lease_name
from .metrics import Metrics
from .probes import Probes
from .runner import AppRunner, Outcome

log = logging.getLogger("gitapply.controller")


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    leader_elect: bool = False
    lease_namespace: str = ""
    timing: Timing = Timing()
    identity: str = ""
    metrics_address: tuple[str, int] | None = None
    max_passes: int | None = None


def default_identity() -> str:
    """The pod's name (its hostname) and a random suffix, so a restarted pod is a new candidate."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def run(apps: tuple[AppEntry, ...], options: ControllerOptions, cluster: Cluster, lease_cluster: Cluster,
        stop: threading.Event, spec_for: Callable[[AppEntry], AppSpec]) -> bool:
    """Run every app until ``stop`` is set (or each ran ``max_passes``); True when every app's last pass
    was ok."""
    metrics, probes = Metrics(), Probes()
    identity = options.identity or default_identity()
    namespace = options.lease_namespace or cluster.default_namespace()
    server = None
    if options.metrics_address is not None:
        from .server import serve

        server = serve(options.metrics_address, metrics, probes)
    results: dict[str, Outcome | None] = {}
    electors: list[LeaderElector] = []
    threads = []
    for entry in apps:
        metrics.app_started(entry.name)
        wake = threading.Event()
        elector = None
        if options.leader_elect:
            elector = LeaderElector(lease_cluster, name=lease_name(entry.name), namespace=namespace,
                                    identity=identity, timing=options.timing, app=entry.name,
                                    on_change=_on_change(metrics, entry.name, wake))
            electors.append(elector)
        else:
            metrics.leading(entry.name, True)
        may_write = elector.can_write if elector is not None else (lambda: not stop.is_set())
        runner = AppRunner(entry.name, spec_for(entry), cluster, metrics, may_write, detect_only=entry.detect_only,
                           instance=identity)
        probes.started(entry.name, entry.interval, time.monotonic())
        thread = threading.Thread(target=_loop, name=f"app-{entry.name}",
                                  args=(runner, entry, probes, stop, wake, options.max_passes, results))
        threads.append(thread)
    for elector in electors:
        elector.start()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        if stop.wait(0.2):
            for elector in electors:
                elector.stop_writing()
    for thread in threads:
        thread.join()
    for elector in electors:
        elector.release()
    if server is not None:
        server.shutdown()
    return all(outcome is None or outcome.ok for outcome in results.values())


def _on_change(metrics: Metrics, app: str, wake: threading.Event) -> Callable[[bool], None]:
    def changed(leading: bool) -> None:
        metrics.leading(app, leading)
        if leading:
            wake.set()  # a new leader does not wait an interval for its first pass
    return changed


def _loop(runner: AppRunner, entry: AppEntry, probes: Probes, stop: threading.Event, wake: threading.Event,
          max_passes: int | None, results: dict[str, Outcome | None]) -> None:
    number = 0
    results[entry.name] = None
    try:
        while not stop.is_set() and (max_passes is None or number < max_passes):
            number += 1
            probes.ticked(entry.name, time.monotonic())
            outcome = runner.run_pass(number)
            results[entry.name] = outcome
            probes.finished(entry.name, time.monotonic(), git_reachable=outcome.git_reachable)
            _report(entry.name, outcome)
            if max_passes is not None and number >= max_passes:
                break
            deadline = time.monotonic() + entry.interval
            while not stop.is_set() and time.monotonic() < deadline:
                if wake.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
                    wake.clear()
                    break
    finally:
        probes.stopped(entry.name)


def _report(app: str, outcome: Outcome) -> None:
    commit = f" at {outcome.revision[:12]}" if outcome.revision else ""
    state = ("ok" if outcome.ok else f"{len(outcome.problems)} problem(s)") + (", held" if outcome.held else "")
    log.info(f"{app}: pass {outcome.number}{commit}: {outcome.changed} changed, {state} ({outcome.seconds:.1f} s)",
             extra={"app": app, "pass": outcome.number, "revision": outcome.revision, "seconds": outcome.seconds})
    for problem in outcome.problems:
        log.error(problem, extra={"app": app, "pass": outcome.number})
