"""One app's pass as a controller runs it: read once, report drift (metrics, log, Events), and — when this
replica leads and the app is not detect-only — plan and write through the guard.

A follower, and a detect-only app, stop after the reading half: no dry-run, no write, so a detect-only app
runs with a read-only role (plus ``create`` on events).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable

from ..cluster.base import Cluster
from ..errors import GitapplyError, SourceError, SourceUnreachableError
from ..model import Action, Change, ObjectKey
from ..ops.apply import Failure
from ..ops.drift import classify_prepared
from ..ops.prepare import Request, prepare
from ..ops.sync import SyncOptions, plan_prepared, write_sync
from .events import EventLimiter, Reason, change_message, drift_message, drifted_objects, event_object, reason_for
from .guard import GuardedCluster
from .metrics import ErrorReason, Metrics

log = logging.getLogger("gitapply.controller")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one pass did."""

    number: int
    revision: str | None
    changed: int
    problems: tuple[str, ...]
    seconds: float
    git_reachable: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class AppRunner:
    """The passes of one app."""

    app: str
    request: Request
    cluster: Cluster
    metrics: Metrics
    may_write: Callable[[], bool]
    detect_only: bool = False
    instance: str = "gitapply"
    options: SyncOptions = SyncOptions()
    limiter: EventLimiter = field(default_factory=EventLimiter)

    def run_pass(self, number: int) -> Outcome:
        start = time.monotonic()
        try:
            revision, changed, problems = self._pass(number)
        except SourceUnreachableError as err:
            self.metrics.error(self.app, ErrorReason.SOURCE)
            return self._done(Outcome(number, None, 0, (str(err),), time.monotonic() - start, git_reachable=False))
        except GitapplyError as err:
            reason = ErrorReason.SOURCE if isinstance(err, SourceError) else ErrorReason.CLUSTER
            self.metrics.error(self.app, reason)
            return self._done(Outcome(number, None, 0, (str(err),), time.monotonic() - start))
        return self._done(Outcome(number, revision, changed, problems, time.monotonic() - start))

    def _done(self, outcome: Outcome) -> Outcome:
        self.metrics.pass_done(self.app, outcome.seconds, ok=outcome.ok, finished_at=time.time())
        return outcome

    def _pass(self, number: int) -> tuple[str | None, int, tuple[str, ...]]:
        prepared = prepare(self.cluster, self.request)
        report = classify_prepared(prepared, self.cluster.field_manager)
        self.metrics.observe(self.app, report)
        revision = prepared.state.revision
        drifted = {item.key: item for item in drifted_objects(report.objects)}
        writing = not self.detect_only and self.may_write()
        guarded = GuardedCluster(self.cluster, self.may_write)
        for item in drifted.values():
            message = drift_message(item)
            log.info(f"{self.app}: {item.key}: {message}",
                     extra={"app": self.app, "pass": number, "object": str(item.key), "action": "drifted"})
            if self.may_write():
                self._event(guarded, item.key, prepared.live.get(item.key), Reason.DRIFTED, message)
        if not writing:
            return revision, 0, ()
        planned = plan_prepared(guarded, prepared, self.options)
        if planned.refusals:
            self.metrics.error(self.app, ErrorReason.REFUSED, len(planned.refusals))
            return revision, 0, tuple(planned.refusals)

        def done(change: Change, failure: Failure | None) -> None:
            if failure is not None:
                return
            self.metrics.wrote(self.app, change.action)
            log.info(f"{self.app}: {change.action} {change.key}",
                     extra={"app": self.app, "pass": number, "object": str(change.key),
                            "action": str(change.action)})
            reason = reason_for(change.action)
            if reason is not None:
                self._event(guarded, change.key, change.live,
                            reason, change_message(change.action, revision, drifted.get(change.key)))

        failures = write_sync(guarded, planned, self.request.inventory_namespace, on_done=done)
        skipped = [f for f in failures if f.key in guarded.refused]
        if skipped:
            self.metrics.error(self.app, ErrorReason.NOT_LEADING, len(skipped))
            log.warning(f"{self.app}: {len(skipped)} write(s) skipped: not leading", extra={"app": self.app})
        real = [f.message for f in failures if f.key not in guarded.refused]
        if real:
            self.metrics.error(self.app, ErrorReason.REFUSED, len(real))
        changed = sum(1 for c in planned.plan.changes if c.action is not Action.UNCHANGED)
        return revision, changed, tuple(real)

    def _event(self, cluster: Cluster, key: ObjectKey, live: dict[str, Any] | None, reason: Reason,
               message: str) -> None:
        if not self.limiter.allow(key, reason, message, time.monotonic()):
            self.metrics.event(self.app, str(reason), sent=False)
            return
        try:
            cluster.create(event_object(key, live, reason, message, instance=self.instance,
                                        when=datetime.now(UTC)))
        except GitapplyError as err:
            self.metrics.error(self.app, ErrorReason.EVENT)
            log.warning(f"{self.app}: {key}: could not send the {reason} event: {err}", extra={"app": self.app})
            return
        self.metrics.event(self.app, str(reason), sent=True)
