"""The reconcile loop's own rules: a failing pass does not end it, a stop request does, between passes."""

from __future__ import annotations

import threading

from gitapply.errors import SourceError
from gitapply.ops.reconcile import Synced, loop


def test_a_failing_pass_is_reported_and_the_loop_goes_on():
    outcomes = iter([SourceError("web.yaml:3", "bad"), Synced("abc", 2), Synced("abc", 0)])

    def sync_once() -> Synced:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    reports = loop(sync_once, interval=0, stop=threading.Event(), on_pass=lambda report: None, max_passes=3)
    assert [(r.ok, r.changed) for r in reports] == [(False, 0), (True, 2), (True, 0)]
    assert "web.yaml:3" in reports[0].problems[0]


def test_a_stop_request_ends_the_loop_after_the_current_pass():
    stop = threading.Event()

    def sync_once() -> Synced:
        stop.set()
        return Synced(None, 1)

    reports = loop(sync_once, interval=60, stop=stop, on_pass=lambda report: None)
    assert len(reports) == 1 and reports[0].ok
