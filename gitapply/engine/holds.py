"""Holds: an app left as it is, by every entry point, until released or until git moves.

The operator who rolls back at 3 a.m. holds the app, so that the reconcile loop does not put the bad commit
back at its next pass. A hold is one record on the app's inventory ConfigMap (annotation ``gitapply.io/hold``,
compact JSON, written by ``ops.holds``), so every controller replica, the drift CronJob and every CLI user read
the same one. This module is the pure part: the record's parse and format, and the decisions.

The record:

* ``by``, ``at``, ``reason``: who set it (the kubeconfig user or service account, when known), when (RFC 3339,
  UTC), why (``--reason``, may be empty);
* ``untilRelease``: only ``gitapply release`` (or ``apply --release``) ends it;
* ``rev``, ``commit``: the rev the app's source follows and the commit it resolved to when the hold was set
  — where git was, not the older commit a rollback applied. Both empty when the setter had no source
  (``gitapply hold``, ``gitapply rollback``) or the source is a plain directory.

The decision (``judge``), for a reader whose source follows ``rev`` and resolves to ``commit`` now:

1. no record: ``NONE``;
2. ``untilRelease``, or the reader has no commit (a directory source): ``HELD``;
3. the record has no commit, or one for another rev than the reader's: ``UNPINNED`` — held; the reconcile
   loop's leader records its own rev and commit (``pinned``), so the hold ends when *what the loop reads*
   moves, never because two readers name their revs differently;
4. the reader's commit is the recorded one: ``HELD``;
5. it is another: ``ENDED`` — a fix or a revert landed; the hold ends by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ..errors import RecordError
from ..model import ObjectKey

HOLD_ANNOTATION = "gitapply.io/hold"
DEFAULT_REV = "HEAD"
"""The rev of a source that names none: what ``reconcile REPO`` without ``--rev`` reads."""


@dataclass(frozen=True, slots=True)
class Hold:
    """One app's hold, as recorded (the module docstring has the fields' meaning)."""

    by: str
    at: str
    reason: str = ""
    until_release: bool = False
    rev: str = ""
    commit: str = ""


class HoldState(StrEnum):
    """What a hold means to one reader now (the rules are the module docstring's)."""

    NONE = "none"
    HELD = "held"
    UNPINNED = "unpinned"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class HoldStatus:
    """A reader's view of the app's hold: the record, the decision, and the rev and commit it was made for."""

    hold: Hold | None
    state: HoldState
    rev: str = DEFAULT_REV
    commit: str | None = None

    @property
    def holds(self) -> bool:
        """Whether the app is held for this reader: no write may be made for it."""
        return self.state in (HoldState.HELD, HoldState.UNPINNED)


NOT_HELD = HoldStatus(None, HoldState.NONE)


def judge(hold: Hold | None, rev: str | None, commit: str | None) -> HoldStatus:
    """The decision for a reader whose source follows ``rev`` (None: ``HEAD``) and resolves to ``commit`` now
    (None: a source without commits)."""
    rev = rev or DEFAULT_REV
    if hold is None:
        return HoldStatus(None, HoldState.NONE, rev, commit)
    if hold.until_release or commit is None:
        state = HoldState.HELD
    elif not hold.commit or hold.rev != rev:
        state = HoldState.UNPINNED
    else:
        state = HoldState.HELD if hold.commit == commit else HoldState.ENDED
    return HoldStatus(hold, state, rev, commit)


def pinned(status: HoldStatus) -> Hold | None:
    """The record an ``UNPINNED`` hold gets from its reader: the reader's rev and commit (None: nothing to pin)."""
    if status.state is not HoldState.UNPINNED or status.hold is None or status.commit is None:
        return None
    return replace(status.hold, rev=status.rev, commit=status.commit)


def format_hold(hold: Hold) -> str:
    """The annotation's value: compact JSON with stable keys."""
    return json.dumps({"by": hold.by, "at": hold.at, "reason": hold.reason, "untilRelease": hold.until_release,
                       "rev": hold.rev, "commit": hold.commit}, separators=(",", ":"), ensure_ascii=False)


_STRINGS = ("by", "at", "reason", "rev", "commit")


def parse_hold(text: str, inventory: ObjectKey) -> Hold:
    """The record in an annotation's value of ``inventory``; ``RecordError`` naming it when the value is not
    one that ``format_hold`` wrote."""
    try:
        value: Any = json.loads(text)
    except ValueError as err:
        raise _broken(inventory, f"not valid JSON ({err})") from err
    if not isinstance(value, dict):
        raise _broken(inventory, "not a JSON object")
    wrong = [name for name in _STRINGS if not isinstance(value.get(name, ""), str)]
    if not isinstance(value.get("untilRelease", False), bool):
        wrong.append("untilRelease")
    if wrong or not value.get("by") or not value.get("at"):
        raise _broken(inventory, f"missing or mistyped fields ({', '.join(wrong) or 'by, at'})")
    return Hold(by=value["by"], at=value["at"], reason=value.get("reason", ""),
                until_release=value.get("untilRelease", False), rev=value.get("rev", ""),
                commit=value.get("commit", ""))


def _broken(inventory: ObjectKey, problem: str) -> RecordError:
    return RecordError(str(inventory), f"its {HOLD_ANNOTATION} annotation is {problem}: it was edited by hand. Set "
                                       f"the hold again (gitapply hold), or remove it (kubectl annotate configmap "
                                       f"{inventory.name} -n {inventory.namespace} {HOLD_ANNOTATION}-)")
