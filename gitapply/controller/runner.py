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
from ..model import Action, Change, Failure, FailureKind, ObjectKey
from ..ops.prepare import Prepared
from ..ops.sync import Planned
from ..session import AppSession, AppSpec
from ..source import DesiredState, redact_text
from .events import EventLimiter, Reason, change_message, drift_message, drifted_objects, event_object, reason_for
from .guard import GuardedCluster
from .holds import HoldWatch
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
    held: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class AppRunner:
    """The passes of one app."""

    app: str
    spec: AppSpec
    cluster: Cluster
    metrics: Metrics
    may_write: Callable[[], bool]
    detect_only: bool = False
    instance: str = "gitapply"
    desired: Callable[[], DesiredState] | None = None
    """The app's source as already read (``controller.sources``); None: each pass reads it."""
    fresh: Cluster | None = None
    """The API server itself when ``cluster`` is a cache: the hold is read from it before a write."""
    limiter: EventLimiter = field(default_factory=EventLimiter)
    guarded: GuardedCluster = field(init=False)
    session: AppSession = field(init=False)
    holds: HoldWatch = field(init=False)

    def __post_init__(self) -> None:
        # every write of a pass (objects, inventory, Events) goes through the guard: a replica that lost its
        # Lease starts none
        self.guarded = GuardedCluster(self.cluster, self.may_write)
        self.session = AppSession(self.guarded, self.spec)
        self.holds = HoldWatch(self.app, self.session, self.metrics, self._app_event)

    def run_pass(self, number: int) -> Outcome:
        """One pass; whatever goes wrong is this pass's failure (counted, logged, in readiness), never the
        end of the app's thread."""
        start = time.monotonic()
        try:
            revision, changed, problems, held = self._pass(number)
        except SourceUnreachableError as err:
            self.metrics.error(self.app, ErrorReason.SOURCE)
            return self._done(Outcome(number, None, 0, (str(err),), time.monotonic() - start, git_reachable=False))
        except GitapplyError as err:
            reason = ErrorReason.SOURCE if isinstance(err, SourceError) else ErrorReason.CLUSTER
            self.metrics.error(self.app, reason)
            return self._done(Outcome(number, None, 0, (str(err),), time.monotonic() - start))
        except Exception as err:  # noqa: BLE001 - a bug must fail this pass, not kill the app's thread
            log.debug("pass failed unexpectedly", exc_info=True, extra={"app": self.app})
            self.metrics.error(self.app, ErrorReason.INTERNAL)
            problem = redact_text(f"{self.app}: pass failed unexpectedly ({type(err).__name__}: {err}); this is a "
                                  "bug in gitapply, please report it")
            return self._done(Outcome(number, None, 0, (problem,), time.monotonic() - start))
        return self._done(Outcome(number, revision, changed, problems, time.monotonic() - start, held=held))

    def _done(self, outcome: Outcome) -> Outcome:
        self.metrics.pass_done(self.app, outcome.seconds, ok=outcome.ok, finished_at=time.time())
        return outcome

    def _pass(self, number: int) -> tuple[str | None, int, tuple[str, ...], bool]:
        prepared = self.session.read(self.desired() if self.desired is not None else None)
        report = self.session.drift(prepared)
        self.metrics.observe(self.app, report)
        revision = prepared.state.revision
        drifted = {item.key: item for item in drifted_objects(report.objects)}
        writing = not self.detect_only and self.may_write()
        hold = self.holds.check(prepared, number, writing=writing)
        for item in drifted.values():
            message = drift_message(item)
            log.info(f"{self.app}: {item.key}: {message}",
                     extra={"app": self.app, "pass": number, "object": str(item.key), "action": "drifted"})
            if self.may_write():
                self._event(self.guarded, item.key, prepared.live.get(item.key), Reason.DRIFTED, message)
        if not writing or hold.holds:
            return revision, 0, (), hold.holds
        planned = self.session.plan(prepared, hold=hold)
        if planned.refusals:
            self.metrics.error(self.app, ErrorReason.REFUSED, len(planned.refusals))
            return revision, 0, tuple(refusal.message for refusal in planned.refusals), False
        if self._held_now(prepared, planned):
            return revision, 0, (), True

        def done(change: Change, failure: Failure | None) -> None:
            if failure is not None:
                return
            self.metrics.wrote(self.app, change.action)
            log.info(f"{self.app}: {change.action} {change.key}",
                     extra={"app": self.app, "pass": number, "object": str(change.key),
                            "action": str(change.action)})
            reason = reason_for(change.action)
            if reason is not None:
                self._event(self.guarded, change.key, change.live,
                            reason, change_message(change.action, revision, drifted.get(change.key)))

        failures = self.session.apply(planned, on_done=done)
        skipped = [f for f in failures if f.kind is FailureKind.NOT_LEADING]
        if skipped:
            self.metrics.error(self.app, ErrorReason.NOT_LEADING, len(skipped))
            log.warning(f"{self.app}: {len(skipped)} write(s) skipped: not leading", extra={"app": self.app})
        real = [f.message for f in failures if f.kind is not FailureKind.NOT_LEADING]
        if real:
            self.metrics.error(self.app, ErrorReason.REFUSED, len(real))
        changed = sum(1 for c in planned.plan.changes if c.action is not Action.UNCHANGED)
        return revision, changed, tuple(real), False

    def _held_now(self, prepared: Prepared, planned: Planned) -> bool:
        """Whether a hold the cache has not shown yet stops this pass's writes. An operator holds the app, then
        rolls back; the cache may get the rollback before the hold (two watches, no order between them), and
        writing then would undo the rollback. So before any write the hold is read from the API server: one
        GET, only in passes that write."""
        if self.fresh is None or not _writes(planned):
            return False
        status = AppSession(self.fresh, self.spec).hold_status(prepared)
        if status.holds:
            log.info(f"{self.app}: held (seen just before writing): no writes", extra={"app": self.app})
            self.metrics.held(self.app, True)
        return status.holds

    def _app_event(self, reason: Reason, message: str) -> None:
        """An Event about the app itself, on its inventory ConfigMap (``kubectl describe`` finds it there)."""
        key = self.session.holds.inventory
        self._event(self.guarded, key, self.guarded.get(key), reason, message)

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


def _writes(planned: Planned) -> bool:
    return any(change.action is not Action.UNCHANGED for change in planned.plan.changes)
