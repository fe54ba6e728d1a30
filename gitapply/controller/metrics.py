"""The controller's Prometheus metrics, per app (label ``app``), on a registry of their own.

| metric | type | labels | meaning |
| --- | --- | --- | --- |
| ``gitapply_objects`` | gauge | app, state | objects by drift state at the last pass: in-sync, pending, drifted, missing, deleted |
| ``gitapply_drifted_fields`` | gauge | app, manager | fields changed in the cluster at the last pass, by the manager that changed them ("unknown": none recorded) |
| ``gitapply_last_successful_pass_timestamp_seconds`` | gauge | app | Unix time the last pass without problems finished |
| ``gitapply_pass_duration_seconds`` | histogram | app | how long passes take |
| ``gitapply_passes_total`` | counter | app, result | passes by result: ok, failed |
| ``gitapply_writes_total`` | counter | app, action | objects written: create, patch, replace, prune |
| ``gitapply_errors_total`` | counter | app, reason | problems by reason (``ErrorReason``) |
| ``gitapply_events_total`` | counter | app, reason, outcome | Events sent or dropped by the rate limit |
| ``gitapply_leader`` | gauge | app | 1 while this replica holds the app's Lease (always 1 without --leader-elect) |
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter as PromCounter, Gauge, Histogram, generate_latest

from ..engine.drift import DriftReport, FieldState, ObjectState
from ..model import Action


class ErrorReason(StrEnum):
    """Why a pass (or part of one) failed."""

    SOURCE = "source"              # git unreachable, or its manifests invalid
    CLUSTER = "cluster"            # the API server failed or refused a request
    REFUSED = "refused"            # the server refused an object (dry-run or write)
    NOT_LEADING = "not-leading"    # a write skipped: the Lease was lost, or the process is stopping
    EVENT = "event"                # an Event could not be sent


_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """The metrics of one controller process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.objects = Gauge("gitapply_objects", "Objects by drift state at the last pass.", ["app", "state"],
                             registry=r)
        self.drifted_fields = Gauge("gitapply_drifted_fields", "Fields changed in the cluster at the last pass, "
                                    "by the manager that changed them.", ["app", "manager"], registry=r)
        self.last_success = Gauge("gitapply_last_successful_pass_timestamp_seconds",
                                  "Unix time the last pass without problems finished.", ["app"], registry=r)
        self.duration = Histogram("gitapply_pass_duration_seconds", "Duration of a pass.", ["app"],
                                  buckets=_BUCKETS, registry=r)
        self.passes = PromCounter("gitapply_passes", "Passes by result.", ["app", "result"], registry=r)
        self.writes = PromCounter("gitapply_writes", "Objects written, by action.", ["app", "action"], registry=r)
        self.errors = PromCounter("gitapply_errors", "Problems, by reason.", ["app", "reason"], registry=r)
        self.events = PromCounter("gitapply_events", "Events sent or dropped by the rate limit.",
                                  ["app", "reason", "outcome"], registry=r)
        self.leader = Gauge("gitapply_leader", "1 while this replica holds the app's Lease.", ["app"], registry=r)
        self._managers: dict[str, set[str]] = {}

    def app_started(self, app: str) -> None:
        """Every series of an app exists from the start, at zero: a rate() over it needs no first event."""
        for state in ObjectState:
            self.objects.labels(app, str(state))
        for result in ("ok", "failed"):
            self.passes.labels(app, result)
        for action in (Action.CREATE, Action.PATCH, Action.REPLACE, Action.PRUNE):
            self.writes.labels(app, str(action))
        for reason in ErrorReason:
            self.errors.labels(app, str(reason))
        self.leader.labels(app).set(0)
        self.duration.labels(app)

    def observe(self, app: str, report: DriftReport) -> None:
        """The states and drifted fields a pass found."""
        for state in ObjectState:
            self.objects.labels(app, str(state)).set(report.count(state))
        by_manager = Counter(
            item.changed_by.manager if item.changed_by is not None else "unknown"
            for obj in report.objects for item in obj.fields
            if item.state in (FieldState.DRIFT, FieldState.UNMANAGED))
        for gone in self._managers.get(app, set()) - by_manager.keys():
            self.drifted_fields.remove(app, gone)
        for manager, count in by_manager.items():
            self.drifted_fields.labels(app, manager).set(count)
        self._managers[app] = set(by_manager)

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

    def text(self) -> bytes:
        """The exposition format, for ``/metrics``."""
        return generate_latest(self.registry)
