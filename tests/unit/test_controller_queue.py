"""The work queue: a burst of changes is one pass, an app never runs twice at once, what arrives during a pass
runs after it, and the earliest request decides when."""

from __future__ import annotations

import threading

from gitapply.controller.queue import Trigger, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def take(queue: WorkQueue):
    """The item due now, without waiting (a set stop event makes ``get`` return at once when nothing is due)."""
    return queue._pop_due(queue._clock())  # noqa: SLF001 - the same step get() takes, without its wait


def test_a_burst_of_changes_is_one_pass_half_a_second_after_the_first():
    clock = Clock()
    queue = WorkQueue(clock)
    for _ in range(10):
        queue.add("shop", Trigger.CHANGE, 0.5)
        clock.now += 0.04
    assert take(queue) is None  # 0.4 s after the first change: not yet
    clock.now += 0.1
    item = take(queue)
    assert item is not None and item.app == "shop" and item.triggers == {Trigger.CHANGE}
    assert item.changed_at == 100.0
    assert take(queue) is None


def test_the_earliest_request_decides_and_every_reason_is_kept():
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add("shop", Trigger.RESYNC, 60)
    queue.add("shop", Trigger.GIT)
    item = take(queue)
    assert item is not None and item.triggers == {Trigger.RESYNC, Trigger.GIT}
    assert queue.depth() == 0


def test_an_app_is_not_handed_out_while_its_pass_runs_and_a_change_meanwhile_runs_after_it():
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add("shop", Trigger.START)
    first = take(queue)
    assert first is not None
    queue.add("shop", Trigger.CHANGE, 0.5)
    clock.now += 1
    assert take(queue) is None, "handed out while running"
    queue.done("shop")
    second = take(queue)
    assert second is not None and second.triggers == {Trigger.CHANGE}


def test_apps_come_out_in_the_order_they_fell_due_and_retired_apps_never():
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add("b", Trigger.RESYNC, 2)
    queue.add("a", Trigger.RESYNC, 1)
    queue.add("c", Trigger.RESYNC, 3)
    queue.retire("c")
    clock.now += 5
    assert queue.due_now() == 2
    assert [take(queue).app, take(queue).app] == ["a", "b"]
    assert take(queue) is None
    queue.add("c", Trigger.CHANGE)
    assert take(queue) is None


def test_get_waits_for_the_due_time_and_close_wakes_the_workers():
    queue = WorkQueue()
    queue.add("shop", Trigger.CHANGE, 0.2)
    stop = threading.Event()
    item = queue.get(stop)
    assert item is not None and item.app == "shop"
    got = []
    worker = threading.Thread(target=lambda: got.append(queue.get(stop)))
    worker.start()
    queue.close()
    worker.join(timeout=2)
    assert not worker.is_alive() and got == [None]
