"""After an apply: wait for the workloads it changed to roll out, and put back the previous configuration
of those that failed.

"Failed" is the controller's verdict (a Deployment past its progress deadline) or the wait running out of
time. The previous configuration is the one the object's last-applied record held before this apply (the
last good apply), so restoring it is an apply of that configuration: the record is rewritten too, and the
next ``gitapply apply`` of the new commit rolls forward again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from ..cluster.base import Cluster
from ..engine.health import ROLLOUT_KINDS, Health, rollout_health
from ..engine.lastapplied import LAST_APPLIED
from ..engine.objectplan import Bookkeeping, plan_object
from ..model import Action, Change, ObjectKey
from .apply import write


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a workload's rollout ended: ready, failed (with why), or still progressing at the deadline."""

    key: ObjectKey
    health: Health
    reason: str


def rolled_out(changes: Iterable[Change]) -> list[ObjectKey]:
    """The workloads a plan creates, patches or replaces: the ones with a rollout to wait for."""
    return [c.key for c in changes
            if c.key.kind in ROLLOUT_KINDS and c.action in (Action.CREATE, Action.PATCH, Action.REPLACE)]


def wait(cluster: Cluster, keys: list[ObjectKey], *, timeout: float, interval: float = 1.0,
         on_change: Callable[[Outcome], None] = lambda outcome: None) -> list[Outcome]:
    """Poll until every workload is ready or failed, or ``timeout`` seconds pass (then: progressing)."""
    deadline = time.monotonic() + timeout
    settled: dict[ObjectKey, Outcome] = {}
    latest: dict[ObjectKey, Outcome] = {}
    while True:
        for key in keys:
            if key in settled:
                continue
            live = cluster.get(key)
            health, reason = rollout_health(live) if live else (Health.FAILED, "deleted while rolling out")
            outcome = Outcome(key, health, reason)
            if latest.get(key) != outcome:
                latest[key] = outcome
                on_change(outcome)
            if health is not Health.PROGRESSING:
                settled[key] = outcome
        if len(settled) == len(keys) or time.monotonic() >= deadline:
            return [settled.get(key) or latest[key] for key in keys]
        time.sleep(interval)


def restore(cluster: Cluster, changes: Iterable[Change], failed: set[ObjectKey], marks: Bookkeeping) -> list[Change]:
    """Apply again, to each failed workload, the configuration it had before this apply; returns what was
    written. Objects this apply created have no earlier configuration and are left as they are."""
    restored = []
    for change in changes:
        if change.key not in failed or change.live is None:
            continue
        record = ((change.live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        if not record:
            continue
        previous = json.loads(record)
        node = cluster.patch_node(change.key.api_version, change.key.kind)
        back = plan_object(previous, cluster.get(change.key), node, bookkeeping=_previous_marks(change, marks))
        if back.action is not Action.UNCHANGED:
            write(cluster, back)
            restored.append(back)
    return restored


def _previous_marks(change: Change, marks: Bookkeeping) -> Bookkeeping:
    """The bookkeeping the object had before: its earlier commit, not the one that failed."""
    annotations = ((change.live or {}).get("metadata") or {}).get("annotations") or {}
    earlier = {k: annotations[k] for k in marks.annotations if k in annotations}
    return Bookkeeping(marks.labels, earlier)
