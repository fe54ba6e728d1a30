"""The controller's work queue: which app's pass runs next.

Rules:

* An app is in the queue at most once, due at the earliest time anyone asked for (a burst of changes to its
  objects is one pass: each change asks for a pass half a second on, and the first of them decides).
* An app whose pass is running is not handed out again; a request made meanwhile is kept and queued when the
  pass ends (the pass may have read the cluster before that change).
* Apps are handed out in the order they fell due; a bounded number of workers take them, so a thousand apps
  never mean a thousand passes at once.
* A retired app (it ran its ``--passes``) is never handed out again.

Every request says why (``Trigger``); the time from the first change seen to the pass that handles it is
the controller's reaction time (``Item.changed_at``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable


class Trigger(StrEnum):
    """Why a pass was asked for."""

    START = "start"          # the process started
    CHANGE = "change"        # an object of the app changed in the cluster
    RESYNC = "resync"        # the interval passed: a full pass whatever the watch saw
    GIT = "git"              # the app's commit moved
    WEBHOOK = "webhook"      # a push webhook named the app's repository
    WRITER = "writer"        # this replica became the app's writer


@dataclass(frozen=True, slots=True)
class Item:
    """An app handed to a worker, with every reason it was asked for and when the first change was seen."""

    app: str
    triggers: frozenset[Trigger]
    changed_at: float | None = None


@dataclass(slots=True)
class _Pending:
    due: float
    triggers: set[Trigger] = field(default_factory=set)
    changed_at: float | None = None

    def merge(self, due: float, trigger: Trigger, changed_at: float | None) -> None:
        self.due = min(self.due, due)
        self.triggers.add(trigger)
        if changed_at is not None:
            self.changed_at = changed_at if self.changed_at is None else min(self.changed_at, changed_at)


class WorkQueue:
    """Apps waiting for a pass (rules in the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._condition = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._heap: list[tuple[float, int, str]] = []  # (due, order, app); stale entries skipped on pop
        self._order = itertools.count()
        self._running: set[str] = set()
        self._after: dict[str, _Pending] = {}  # asked for while running
        self._retired: set[str] = set()
        self._closed = False

    def add(self, app: str, trigger: Trigger, delay: float = 0.0) -> None:
        """Ask for a pass of ``app`` in ``delay`` seconds (or sooner, if already asked for sooner)."""
        now = self._clock()
        changed_at = now if trigger is Trigger.CHANGE else None
        with self._condition:
            if app in self._retired or self._closed:
                return
            waiting = self._after if app in self._running else self._pending
            entry = waiting.get(app)
            if entry is None:
                waiting[app] = entry = _Pending(now + delay)
            entry.merge(now + delay, trigger, changed_at)
            if waiting is self._pending:
                heapq.heappush(self._heap, (entry.due, next(self._order), app))
                self._condition.notify()

    def get(self, stop: threading.Event) -> Item | None:
        """The next due app (waiting for one); None once ``stop`` is set or the queue is closed."""
        with self._condition:
            while not stop.is_set() and not self._closed:
                now = self._clock()
                item = self._pop_due(now)
                if item is not None:
                    return item
                wait = self._heap[0][0] - now if self._heap else 0.5
                self._condition.wait(min(max(wait, 0.01), 0.5))
            return None

    def _pop_due(self, now: float) -> Item | None:
        while self._heap and self._heap[0][0] <= now:
            due, _, app = heapq.heappop(self._heap)
            entry = self._pending.get(app)
            if entry is None or entry.due != due:
                continue  # superseded by an earlier request, or already handed out
            del self._pending[app]
            self._running.add(app)
            return Item(app, frozenset(entry.triggers), entry.changed_at)
        return None

    def done(self, app: str) -> None:
        """The app's pass ended: what was asked for meanwhile is queued now."""
        with self._condition:
            self._running.discard(app)
            after = self._after.pop(app, None)
            if after is None or app in self._retired:
                return
            entry = self._pending.get(app)
            if entry is None:
                self._pending[app] = entry = after
            else:
                for trigger in after.triggers:
                    entry.merge(after.due, trigger, after.changed_at)
            heapq.heappush(self._heap, (entry.due, next(self._order), app))
            self._condition.notify()

    def retire(self, app: str) -> None:
        """No more passes of ``app``."""
        with self._condition:
            self._retired.add(app)
            self._pending.pop(app, None)
            self._after.pop(app, None)

    def all_retired(self, apps: int) -> bool:
        with self._condition:
            return len(self._retired) >= apps and not self._running

    def depth(self) -> int:
        """Apps waiting for a pass that is due now or later (not the running ones)."""
        with self._condition:
            return len(self._pending)

    def due_now(self) -> int:
        """Apps whose pass is due and not yet started: the backlog."""
        now = self._clock()
        with self._condition:
            return sum(1 for entry in self._pending.values() if entry.due <= now)

    def close(self) -> None:
        """Wake every waiting worker; nothing more is handed out."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
