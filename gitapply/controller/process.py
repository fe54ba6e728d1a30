"""The controller process: every app's passes, driven by what changes, over one shared view of the cluster.

* **One cache.** Passes read live state from a shared watch cache (``cluster.watchcache``): a LIST then a WATCH
  per kind the apps read, so a pass that finds nothing to do sends no request. Writes, dry-runs and the Leases
  go to the API server.
* **Passes on change.** A change to an object an app owns (its ``gitapply.io/app`` label, or its inventory's
  ``gitapply.io/inventory``) queues that app's pass half a second on (``queue``: one pass for a burst, never two
  at once for an app, at most ``workers`` passes at a time). Each app also passes every ``interval`` (the full
  resync), when its commit moves (``sources``: each repository fetched once per poll) and when a push webhook
  names its repository (``webhook``).
* **Writers.** Alone, one Lease per app, or sharded over the replicas (``writers``).
* **Stopping.** On SIGTERM no new write starts, the passes in flight end, what this replica holds is released
  so another takes over at once, then the process exits.

One app's failure never stops another: a pass's errors stay in its report.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from ..cluster.base import Cluster
from ..cluster.watch import Watchable
from ..cluster.watchcache import WatchCache
from ..engine.plan import APP_LABEL
from ..ops.inventory import INVENTORY_LABEL
from ..session import AppSpec
from .apps import AppEntry
from .lease import Timing
from .metrics import Metrics
from .probes import Probes
from .queue import Item, Trigger, WorkQueue
from .runner import AppRunner, Outcome
from .sources import Sources
from .writers import Alone, LeasePerApp, Sharded, Writers

log = logging.getLogger("gitapply.controller")


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    leader_elect: bool = False
    shard: bool = False
    lease_namespace: str = ""
    timing: Timing = Timing()
    identity: str = ""
    metrics_address: tuple[str, int] | None = None
    webhook_address: tuple[str, int] | None = None
    webhook_secret: bytes = b""
    max_passes: int | None = None
    workers: int = 16
    debounce: float = 0.5
    watch: bool = True


def default_identity() -> str:
    """The pod's name (its hostname) and a random suffix, so a restarted pod is a new candidate."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class Controller:
    """The parts of one process and how they call each other (wiring only: each part has its own module)."""

    def __init__(self, apps: tuple[AppEntry, ...], options: ControllerOptions, cluster: Cluster,
                 lease_cluster: Cluster, spec_for: Callable[[AppEntry], AppSpec]) -> None:
        self.apps = {entry.name: entry for entry in apps}
        self.options = options
        self.metrics, self.probes, self.queue = Metrics(), Probes(), WorkQueue()
        self.identity = options.identity or default_identity()
        self.cache = _watch_cache(cluster, self._changed) if options.watch else None
        specs = {entry.name: spec_for(entry) for entry in apps}
        self.sources = Sources({name: spec.source for name, spec in specs.items()},
                               {name: entry.interval for name, entry in self.apps.items()},
                               on_moved=lambda app: self.queue.add(app, Trigger.GIT))
        self.writers = _writers(options, lease_cluster, tuple(self.apps), self.identity,
                                namespace=options.lease_namespace or cluster.default_namespace(),
                                on_writer=self._writer_changed)
        reads = self.cache if self.cache is not None else cluster
        self.runners = {name: AppRunner(name, specs[name], reads, self.metrics, partial(self.writers.may_write, name),
                                        detect_only=entry.detect_only, instance=self.identity,
                                        desired=partial(self.sources.desired, name),
                                        fresh=cluster if self.cache is not None else None)
                        for name, entry in self.apps.items()}
        self.results: dict[str, Outcome | None] = dict.fromkeys(self.apps)
        self._passes = dict.fromkeys(self.apps, 0)

    # -- what tells the queue -------------------------------------------------------------------------------

    def _changed(self, obj: dict[str, Any], deleted: bool) -> None:
        """A watched object changed: queue its app's pass (debounced)."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for label in (APP_LABEL, INVENTORY_LABEL):
            app = labels.get(label)
            if app in self.apps:
                self.queue.add(app, Trigger.CHANGE, self.options.debounce)

    def _writer_changed(self, app: str, writes: bool) -> None:
        self.metrics.leading(app, writes)
        if writes:
            self.queue.add(app, Trigger.WRITER)  # a new writer does not wait an interval for its first pass

    def webhook(self, repositories: set[str]) -> list[str]:
        """A push named these repositories: fetch them now and queue their apps."""
        apps = self.sources.refresh(repositories)
        for app in apps:
            self.queue.add(app, Trigger.WEBHOOK)
        return apps

    # -- the passes -----------------------------------------------------------------------------------------

    def work(self, stop: threading.Event) -> None:
        """A worker: take the next due app, run its pass (or skip it: another replica's), queue its resync."""
        while (item := self.queue.get(stop)) is not None:
            try:
                self._run(item)
            finally:
                self.queue.done(item.app)

    def _run(self, item: Item) -> None:
        entry = self.apps[item.app]
        now = time.monotonic()
        self.probes.ticked(entry.name, now)
        if not self.writers.runs(entry.name):  # another replica's app (--shard): it is theirs to read and write
            self.probes.finished(entry.name, now, git_reachable=True)
            self.queue.add(entry.name, Trigger.RESYNC, entry.interval)
            return
        if item.changed_at is not None:
            self.metrics.reacted(now - item.changed_at)
        self._passes[entry.name] += 1
        number = self._passes[entry.name]
        outcome = self.runners[entry.name].run_pass(number)
        self.results[entry.name] = outcome
        self.probes.finished(entry.name, time.monotonic(), git_reachable=outcome.git_reachable)
        _report(entry.name, outcome, item)
        if self.options.max_passes is not None and number >= self.options.max_passes:
            self.queue.retire(entry.name)
        else:
            self.queue.add(entry.name, Trigger.RESYNC, entry.interval)

    def sample(self) -> None:
        """The process's gauges, every fraction of a second."""
        stats = self.cache.stats() if self.cache is not None else None
        self.metrics.process(cache_objects=stats.objects if stats else 0, cache_kinds=stats.kinds if stats else 0,
                             watch_restarts=stats.restarts if stats else 0, queue_depth=self.queue.due_now(),
                             git_fetches=self.sources.fetches())
        if isinstance(self.writers, Sharded):
            membership = self.writers.membership
            self.metrics.shard(members=len(membership.members()),
                               assigned=sum(1 for app in self.apps if membership.assigned(app)))

    def finished(self) -> bool:
        return self.queue.all_retired(len(self.apps))

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def run(apps: tuple[AppEntry, ...], options: ControllerOptions, cluster: Cluster, lease_cluster: Cluster,
        stop: threading.Event, spec_for: Callable[[AppEntry], AppSpec]) -> bool:
    """Run every app until ``stop`` is set (or each ran ``max_passes``); True when every app's last pass
    was ok."""
    controller = Controller(apps, options, cluster, lease_cluster, spec_for)
    servers = _servers(controller, options)
    now = time.monotonic()
    for entry in apps:
        controller.metrics.app_started(entry.name)
        controller.probes.started(entry.name, entry.interval, now)
        controller.queue.add(entry.name, Trigger.START)
    controller.writers.start()
    halt = threading.Event()  # the workers' and the git poller's stop: set once the writers stopped writing
    threads = [threading.Thread(target=controller.work, args=(halt,), name=f"worker-{number}", daemon=True)
               for number in range(max(1, options.workers))]
    threads.append(threading.Thread(target=controller.sources.run, args=(halt,), name="git-poll", daemon=True))
    for thread in threads:
        thread.start()
    while not stop.is_set() and not controller.finished():
        controller.sample()
        stop.wait(0.2)
    controller.writers.stop_writing()
    halt.set()
    controller.queue.close()
    for thread in threads:
        thread.join()
    controller.writers.release()
    for app in controller.apps:
        controller.probes.stopped(app)
    for server in servers:
        server.shutdown()
    controller.close()
    return all(outcome is None or outcome.ok for outcome in controller.results.values())


def _watch_cache(cluster: Cluster, on_change: Callable[[dict[str, Any], bool], None]) -> WatchCache | None:
    if not isinstance(cluster, Watchable):  # the embedded local cluster: it has no watch, passes read it
        return None
    return WatchCache(cluster, on_change=on_change)


def _writers(options: ControllerOptions, cluster: Cluster, apps: tuple[str, ...], identity: str, *,
             namespace: str, on_writer: Callable[[str, bool], None]) -> Writers:
    if options.shard:
        return Sharded(cluster, apps, namespace=namespace, identity=identity, timing=options.timing,
                       on_writer=on_writer)
    if options.leader_elect:
        return LeasePerApp(cluster, apps, namespace=namespace, identity=identity, timing=options.timing,
                           on_writer=on_writer)
    return Alone(apps, on_writer)


def _servers(controller: Controller, options: ControllerOptions) -> list[Any]:
    servers: list[Any] = []
    if options.metrics_address is not None:
        from .server import serve

        servers.append(serve(options.metrics_address, controller.metrics, controller.probes))
    if options.webhook_address is not None:
        from . import webhook

        servers.append(webhook.serve(options.webhook_address, options.webhook_secret, controller.webhook))
    return servers


def _report(app: str, outcome: Outcome, item: Item) -> None:
    commit = f" at {outcome.revision[:12]}" if outcome.revision else ""
    state = ("ok" if outcome.ok else f"{len(outcome.problems)} problem(s)") + (", held" if outcome.held else "")
    why = ", ".join(sorted(item.triggers))
    log.info(f"{app}: pass {outcome.number}{commit} ({why}): {outcome.changed} changed, {state} "
             f"({outcome.seconds:.1f} s)",
             extra={"app": app, "pass": outcome.number, "revision": outcome.revision, "seconds": outcome.seconds})
    for problem in outcome.problems:
        log.error(problem, extra={"app": app, "pass": outcome.number})
