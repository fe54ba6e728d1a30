"""A hold in words and as data: one line for terminals, logs, Events and refusals, a JSON object for ``drift -o
json``, properties for JUnit. Pure: values in, text out.
"""

from __future__ import annotations

from typing import Any

from ..engine.holds import Hold, HoldState, HoldStatus

SHORT = 12


def until_text(hold: Hold) -> str:
    """How the hold ends."""
    if hold.until_release:
        return "until released"
    if hold.commit:
        return f"until {hold.rev} moves past {hold.commit[:SHORT]}, or released"
    return "until released, or until git moves past the commit the reconcile loop reads at its next pass"


def hold_line(status: HoldStatus) -> str:
    """``by admin (alice@laptop) since 2026-12-08T03:12:09Z, "bad image"; until HEAD moves past 0123456789ab,
    or released`` — and, when git moved past it, what it is at now."""
    hold = status.hold
    if hold is None:
        return "not held"
    text = f"{set_by(hold)}; {until_text(hold)}"
    if status.state is HoldState.ENDED and status.commit:
        text += f"; {status.rev} is at {status.commit[:SHORT]} now: the hold ends at the next apply or pass"
    return text


def moved_text(status: HoldStatus) -> str:
    """How git moved past a hold: ``HEAD moved from 0123456789ab to 89abcdef0123 (held by … since …)``."""
    hold = status.hold
    if hold is None:
        return "not held"
    return f"{status.rev} moved from {hold.commit[:SHORT]} to {(status.commit or '')[:SHORT]} (held {set_by(hold)})"


def set_by(hold: Hold) -> str:
    """``by admin (alice@laptop) since 2026-12-08T03:12:09Z, "bad image"``: who, when, why."""
    return f"by {hold.by} since {hold.at}" + (f", {hold.reason!r}" if hold.reason else "")


def describe(hold: Hold) -> str:
    """``hold_line`` of a hold just set or ended, whatever git says of it."""
    return hold_line(HoldStatus(hold, HoldState.HELD))


def hold_json(status: HoldStatus) -> dict[str, Any] | None:
    """The hold for ``drift -o json``: the record, and ``ended`` when git moved past it (null: not held)."""
    hold = status.hold
    if hold is None:
        return None
    return {"by": hold.by, "since": hold.at, "reason": hold.reason, "untilRelease": hold.until_release,
            "rev": hold.rev or None, "commit": hold.commit or None, "ended": status.state is HoldState.ENDED,
            "text": hold_line(status)}


def hold_properties(status: HoldStatus) -> list[tuple[str, str]]:
    """JUnit ``<property>`` pairs for a held app (none when not held)."""
    hold = status.hold
    if hold is None:
        return []
    return [("held", "true"), ("hold.by", hold.by), ("hold.since", hold.at), ("hold.reason", hold.reason),
            ("hold.commit", hold.commit), ("hold", hold_line(status))]
