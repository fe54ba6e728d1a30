"""The reconcile loop and an app's hold, once per pass, after the pass read git and the cluster:

* every replica reads the hold and reports it (``gitapply_app_held``), and a held app gets no write: its pass
  still reads and reports drift;
* the replica that writes (the leader; never a detect-only app) records its own rev and commit on a hold that
  has none for it (``gitapply hold``, ``rollback``), and ends a hold git moved past (``Released``), then applies;
* a hold seen for the first time is told in the log (who, why, since when) and, by the writer, as a ``Held``
  Event on the app's inventory ConfigMap; a hold found gone (released by someone, or by this loop) likewise,
  as ``Released``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from ..engine.holds import Hold, HoldState, HoldStatus
from ..errors import NotLeadingError
from ..ops.prepare import Prepared
from ..render.holds import SHORT, hold_line, moved_text, set_by
from ..session import AppSession
from .events import Reason
from .metrics import Metrics

log = logging.getLogger("gitapply.controller")

Send = Callable[[Reason, str], None]
"""Sends an Event about the app (on its inventory), within the rate limit."""


class HoldWatch:
    """The hold of one app's passes; remembers the hold it last saw, to tell a new one once."""

    def __init__(self, app: str, session: AppSession, metrics: Metrics, send: Send) -> None:
        self.app, self.session, self.metrics, self.send = app, session, metrics, send
        self._seen: Hold | None = None

    def check(self, prepared: Prepared, number: int, *, writing: bool) -> HoldStatus:
        """The hold's status for this pass (``holds``: make no write), after acting on it when ``writing``."""
        status = self.session.hold_status(prepared)
        released = None
        if writing:
            try:
                status, released = self._act(prepared, status, number)
            except NotLeadingError:  # the Lease was lost mid-pass: the next leader does it
                writing = False
        self.metrics.held(self.app, status.holds)
        if status.holds and status.hold is not None and not _same(status.hold, self._seen):
            self._tell(number, Reason.HELD, f"held {hold_line(status)}: no writes while it is held",
                       writing=writing)
        elif released is not None:
            self._tell(number, Reason.RELEASED, f"hold released: {moved_text(replace(status, hold=released))}; "
                                                "applying", writing=writing)
        elif not status.holds and self._seen is not None:
            how = "ends: git moved past it" if status.state is HoldState.ENDED else "was released"
            self._tell(number, Reason.RELEASED, f"the hold {how} (it was held {set_by(self._seen)})", writing=writing)
        self._seen = status.hold if status.holds else None
        return status

    def _act(self, prepared: Prepared, status: HoldStatus, number: int) -> tuple[HoldStatus, Hold | None]:
        """The writer's part: record its rev and commit on a hold that has none for it; end a hold git moved
        past. The status after, and the hold ended (None: none)."""
        if status.state is HoldState.UNPINNED:
            status = self.session.holds.pin(status)
            if status.state is HoldState.HELD and status.hold is not None and status.hold.commit:
                self._log(number, f"hold recorded at {status.rev} = {status.hold.commit[:SHORT]}: it ends when "
                                  f"{status.rev} moves", "pinned")
        if status.state is not HoldState.ENDED or status.hold is None:
            return status, None
        released = self.session.holds.release(status.hold)
        if released is None:  # set again meanwhile: judge the new one
            return self.session.hold_status(prepared), None
        return HoldStatus(None, HoldState.NONE, status.rev, status.commit), released

    def _tell(self, number: int, reason: Reason, message: str, *, writing: bool) -> None:
        self._log(number, message, str(reason).lower())
        if writing:
            self.send(reason, message)

    def _log(self, number: int, message: str, action: str) -> None:
        log.info(f"{self.app}: {message}", extra={"app": self.app, "pass": number, "action": action})


def _same(hold: Hold, seen: Hold | None) -> bool:
    """The same hold as the one seen (recording its commit does not make it another)."""
    return seen is not None and (hold.by, hold.at, hold.reason, hold.until_release) == (
        seen.by, seen.at, seen.reason, seen.until_release)
