"""The reconcile loop: apply git to the cluster again and again, so that the cluster stays converged.

Each pass is a whole ``gitapply apply`` (a remote repository is fetched first). A pass that fails — a commit
with a broken manifest, an unreachable API server, an object the server refuses — is reported and the loop
goes on: the cluster stays as the last good pass left it, and the next commit gets its chance. A stop
request (SIGTERM, Ctrl-C) is honoured between passes, so a pass is never cut in half.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import GitapplyError


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did: the commit, how many objects it changed, and what went wrong."""

    number: int
    revision: str | None
    changed: int
    problems: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Synced:
    """What a pass's sync returns: the commit applied, how many objects changed, what went wrong."""

    revision: str | None
    changed: int
    problems: tuple[str, ...] = ()


def run_pass(number: int, sync_once: Callable[[], Synced]) -> PassReport:
    """One pass; an error of gitapply's becomes the pass's problem instead of ending the loop."""
    start = time.monotonic()
    try:
        synced = sync_once()
    except GitapplyError as err:
        return PassReport(number, None, 0, (str(err),), time.monotonic() - start)
    return PassReport(number, synced.revision, synced.changed, synced.problems, time.monotonic() - start)


def loop(sync_once: Callable[[], Synced], *, interval: float, stop: threading.Event,
         on_pass: Callable[[PassReport], None], max_passes: int | None = None) -> list[PassReport]:
    """Run passes every ``interval`` seconds until ``stop`` is set (or ``max_passes`` ran)."""
    reports: list[PassReport] = []
    while not stop.is_set() and (max_passes is None or len(reports) < max_passes):
        report = run_pass(len(reports) + 1, sync_once)
        reports.append(report)
        on_pass(report)
        if max_passes is not None and len(reports) >= max_passes:
            break
        stop.wait(interval)
    return reports
