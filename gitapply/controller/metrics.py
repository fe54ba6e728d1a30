"""The controller's Prometheus metrics, per app (label ``app``), on a registry of their own: the families of
``render.prometheus`` (names, types, labels and help texts are defined there, once), exposed through
``prometheus_client``. The drift families are filled from the same samples as the drift textfile's; the rest
count passes, writes, problems (``ErrorReason``), Events and leadership. docs/controller.md has the table.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter as PromCounter, Gauge, Histogram, generate_latest

from ..engine.drift import DriftReport, ObjectState
from ..model import Action
from ..render import prometheus as vocabulary
from ..render.prometheus import Family


class ErrorReason(StrEnum):
    """Why a pass (or part of one) failed."""

    SOURCE = "source"              # git unreachable, or its manifests invalid
    CLUSTER = "cluster"            # the API server failed or refused a request
    REFUSED = "refused"            # the server refused an object (dry-run or write)
    NOT_LEADING = "not-leading"    # a write skipped: the Lease was lost, or the process is stopping
    EVENT = "event"                # an Event could not be sent
    INTERNAL = "internal"          # a bug in gitapply failed the pass (told in the log)


_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """The metrics of one controller process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.drift = {family: Gauge(*_declared(family), registry=r) for family in vocabulary.DRIFT_FAMILIES}
        self.last_success = Gauge(*_declared(vocabulary.LAST_SUCCESSFUL_PASS), registry=r)
        self.duration = Histogram(*_declared(vocabulary.PASS_DURATION), buckets=_BUCKETS, registry=r)
        self.passes = PromCounter(*_declared(vocabulary.PASSES), registry=r)
        self.writes = PromCounter(*_declared(vocabulary.WRITES), registry=r)
        self.errors = PromCounter(*_declared(vocabulary.ERRORS), registry=r)
        self.events = PromCounter(*_declared(vocabulary.EVENTS), registry=r)
        self.leader = Gauge(*_declared(vocabulary.LEADER), registry=r)
        self.app_held = Gauge(*_declared(vocabulary.APP_HELD), registry=r)
        self.cache_objects = Gauge(*_declared(vocabulary.CACHE_OBJECTS), registry=r)
        self.cache_kinds = Gauge(*_declared(vocabulary.CACHE_KINDS), registry=r)
        self.watch_restarts = PromCounter(*_declared(vocabulary.WATCH_RESTARTS), registry=r)
        self.queue_depth = Gauge(*_declared(vocabulary.QUEUE_DEPTH), registry=r)
        self.change_to_pass = Histogram(*_declared(vocabulary.CHANGE_TO_PASS), buckets=_BUCKETS, registry=r)
        self.git_fetches = PromCounter(*_declared(vocabulary.GIT_FETCHES), registry=r)
        self.shard_members = Gauge(*_declared(vocabulary.SHARD_MEMBERS), registry=r)
        self.shard_apps = Gauge(*_declared(vocabulary.SHARD_APPS), registry=r)
        self._counted = {"restarts": 0, "fetches": 0}
        self._series: dict[tuple[str, Family], set[tuple[str, ...]]] = {}

    def app_started(self, app: str) -> None:
        """Every series of an app exists from the start, at zero: a rate() over it needs no first event."""
        for state in ObjectState:
            self.drift[vocabulary.OBJECTS].labels(app, str(state))
        for field_state in vocabulary.COUNTED_FIELDS:
            self.drift[vocabulary.DRIFT_FIELDS].labels(app, str(field_state))
        for result in ("ok", "failed"):
            self.passes.labels(app, result)
        for action in (Action.CREATE, Action.PATCH, Action.REPLACE, Action.PRUNE):
            self.writes.labels(app, str(action))
        for reason in ErrorReason:
            self.errors.labels(app, str(reason))
        self.leader.labels(app).set(0)
        self.app_held.labels(app).set(0)
        self.duration.labels(app)

    def observe(self, app: str, report: DriftReport) -> None:
        """The drift a pass found: the drift families' samples, as the textfile has them; a series the pass
        no longer has (a manager whose fields are back in line) is removed, not left at its last value."""
        for family, samples in vocabulary.drift_samples(report, app).items():
            gauge, found = self.drift[family], set()
            for labels, value in samples:
                values = tuple(labels[name] for name in family.labels)
                gauge.labels(*values).set(value)
                found.add(values)
            for gone in self._series.get((app, family), set()) - found:
                gauge.remove(*gone)
            self._series[(app, family)] = found

    def pass_done(self, app: str, seconds: float, *, ok: bool, finished_at: float) -> None:
        self.duration.labels(app).observe(seconds)
        self.passes.labels(app, "ok" if ok else "failed").inc()
        if ok:
            self.last_success.labels(app).set(finished_at)

    def wrote(self, app: str, action: Action) -> None:
        self.writes.labels(app, str(action)).inc()

    def error(self, app: str, reason: ErrorReason, count: int = 1) -> None:
        self.errors.labels(app, str(reason)).inc(count)

    def event(self, app: str, reason: str, *, sent: bool) -> None:
        self.events.labels(app, reason, "sent" if sent else "dropped").inc()

    def leading(self, app: str, leading: bool) -> None:
        self.leader.labels(app).set(1 if leading else 0)

    def held(self, app: str, held: bool) -> None:
        self.app_held.labels(app).set(1 if held else 0)

    def process(self, *, cache_objects: int, cache_kinds: int, watch_restarts: int, queue_depth: int,
                git_fetches: int) -> None:
        """The process's own figures, sampled (the counters are cumulative where they are kept)."""
        self.cache_objects.set(cache_objects)
        self.cache_kinds.set(cache_kinds)
        self.queue_depth.set(queue_depth)
        for name, counter, total in (("restarts", self.watch_restarts, watch_restarts),
                                     ("fetches", self.git_fetches, git_fetches)):
            if total > self._counted[name]:
                counter.inc(total - self._counted[name])
                self._counted[name] = total

    def reacted(self, seconds: float) -> None:
        """A pass started ``seconds`` after the change that queued it."""
        self.change_to_pass.observe(seconds)

    def shard(self, *, members: int, assigned: int) -> None:
        self.shard_members.set(members)
        self.shard_apps.set(assigned)

    def text(self) -> bytes:
        """The exposition format, for ``/metrics``."""
        return generate_latest(self.registry)


def _declared(family: Family) -> tuple[str, str, tuple[str, ...]]:
    """A family's name, help text and label names, as prometheus_client's constructors take them (a
    counter's ``_total`` is its own to add: it takes the name with or without it)."""
    return family.name, family.help, family.labels
