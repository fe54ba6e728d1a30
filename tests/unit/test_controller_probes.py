"""Probes: healthy while every loop runs, ready once every app finished a pass that could reach git."""

from __future__ import annotations

from gitapply.controller.probes import Probes, healthy, ready


def test_ready_after_a_pass_and_unready_when_git_is_unreachable():
    probes = Probes()
    probes.started("shop", 10, now=0)
    assert not ready(probes.snapshot())[0]
    probes.finished("shop", 1, git_reachable=True)
    assert ready(probes.snapshot()) == (True, [])
    probes.finished("shop", 2, git_reachable=False)
    ok, reasons = ready(probes.snapshot())
    assert not ok and "shop: the last pass could not reach its git repository" in reasons


def test_unhealthy_when_a_loop_stops_or_stalls():
    probes = Probes()
    probes.started("shop", 10, now=0)
    assert healthy(probes.snapshot(), now=299)[0]
    assert not healthy(probes.snapshot(), now=301)[0]
    probes.ticked("shop", 301)
    assert healthy(probes.snapshot(), now=302)[0]
    probes.stopped("shop")
    assert healthy(probes.snapshot(), now=302) == (False, ["shop: the loop has stopped"])
