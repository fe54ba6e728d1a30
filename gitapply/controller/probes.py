"""Liveness and readiness, as decisions over what each app's loop last reported.

- **healthy** (``/healthz``): every app's loop is running and has started a pass or finished waiting within
  its allowance (``stall_after``: a few intervals, and never less than a slow pass needs). A loop that died
  or hangs makes the process unhealthy, so the kubelet restarts it.
- **ready** (``/readyz``): every app has finished a pass since start, and its last pass could reach its git
  repository (a pass that read a broken commit still counts: git was reachable). A follower is ready: it
  reads and is one Lease away from writing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class LoopStatus:
    """What one app's loop last said: when it last ticked, whether it finished a pass, whether git was
    reachable then, and whether the loop still runs."""

    interval: float
    ticked_at: float
    passes: int = 0
    git_reachable: bool = True
    running: bool = True


def stall_after(interval: float) -> float:
    return max(3 * interval, 300.0)


def healthy(statuses: dict[str, LoopStatus], now: float) -> tuple[bool, list[str]]:
    """Whether every loop runs; the reasons when not."""
    reasons = []
    for app, status in sorted(statuses.items()):
        if not status.running:
            reasons.append(f"{app}: the loop has stopped")
        elif now - status.ticked_at > stall_after(status.interval):
            reasons.append(f"{app}: no pass started for {now - status.ticked_at:.0f} s")
    return not reasons, reasons


def ready(statuses: dict[str, LoopStatus]) -> tuple[bool, list[str]]:
    """Whether every app finished a pass and could reach git; the reasons when not."""
    reasons = []
    if not statuses:
        reasons.append("no app has started")
    for app, status in sorted(statuses.items()):
        if status.passes == 0:
            reasons.append(f"{app}: no pass finished yet")
        elif not status.git_reachable:
            reasons.append(f"{app}: the last pass could not reach its git repository")
    return not reasons, reasons


class Probes:
    """The loops' statuses, updated from their threads and read by the HTTP server's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[str, LoopStatus] = {}

    def started(self, app: str, interval: float, now: float) -> None:
        with self._lock:
            self._statuses[app] = LoopStatus(interval, now)

    def ticked(self, app: str, now: float) -> None:
        self._update(app, ticked_at=now)

    def finished(self, app: str, now: float, *, git_reachable: bool) -> None:
        with self._lock:
            status = self._statuses[app]
            self._statuses[app] = replace(status, ticked_at=now, passes=status.passes + 1,
                                          git_reachable=git_reachable)

    def stopped(self, app: str) -> None:
        self._update(app, running=False)

    def _update(self, app: str, **changes: object) -> None:
        with self._lock:
            self._statuses[app] = replace(self._statuses[app], **changes)  # type: ignore[arg-type]

    def snapshot(self) -> dict[str, LoopStatus]:
        with self._lock:
            return dict(self._statuses)
