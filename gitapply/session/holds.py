"""An app's hold, as every entry point reads and changes it: ``gitapply hold``/``release``, ``apply --hold``/
``--release``, ``rollback``, ``drift`` and the reconcile loop (through ``AppSession``, which refuses a held
app's writes in ``plan``). ``engine.holds`` has the record and the rules, ``ops.holds`` the reads and writes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from ..cluster.base import Cluster
from ..engine.appname import AppNameError, checked
from ..engine.holds import NOT_HELD, Hold, HoldState, HoldStatus, judge, pinned
from ..errors import SourceError
from ..model import Action, Failure, FailureKind, ObjectKey
from ..ops.holds import HoldError, change_hold, inventory_namespace_of, read_hold
from ..ops.inventory import inventory_key
from ..render.holds import hold_line
from .boundary import boundary


def now() -> str:
    """The time a hold is set, as recorded: RFC 3339, UTC, whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_hold(by: str, *, reason: str = "", until_release: bool = False, rev: str = "",
             commit: str | None = None) -> Hold:
    """A hold set now by ``by``; ``rev``/``commit``: where the app's source is (none: the reconcile loop
    records its own at its next pass)."""
    return Hold(by=by, at=now(), reason=reason, until_release=until_release, rev=rev if commit else "",
                commit=commit or "")


class AppHolds:
    """The hold of app ``app``, whose inventory is in ``namespace``."""

    def __init__(self, cluster: Cluster, app: str, namespace: str) -> None:
        self.cluster, self.app, self.namespace = cluster, app, namespace

    @classmethod
    def named(cls, cluster: Cluster, app: str, namespace: str) -> AppHolds:
        """The hold of the app a user named (``gitapply hold APP``): the name is checked first."""
        try:
            return cls(cluster, checked(app), namespace)
        except AppNameError as err:
            raise SourceError("APP", str(err)) from err

    @classmethod
    def of_workload_app(cls, cluster: Cluster, app: str, namespace: str) -> AppHolds:
        """The hold of the app a workload carries in its label, its inventory found in ``namespace`` or, when
        it is not there, the one namespace that holds it; ``HoldError`` saying what to pass otherwise."""
        with boundary():
            found = inventory_namespace_of(cluster, app, namespace)
        if found is None:
            raise HoldError(str(inventory_key(app, namespace)),
                            f"the app {app!r} has no inventory in namespace {namespace!r} (nor in a single other "
                            "one): pass --inventory-namespace where it was applied, or --no-hold to roll back "
                            "without holding (a reconcile loop then undoes the rollback at its next pass)")
        return cls(cluster, app, found)

    @property
    def inventory(self) -> ObjectKey:
        """The inventory ConfigMap the hold is on."""
        return inventory_key(self.app, self.namespace)

    def read(self) -> Hold | None:
        with boundary():
            return read_hold(self.cluster, self.app, self.namespace)

    def status(self, rev: str | None, commit: str | None) -> HoldStatus:
        """The hold and what it means to a reader whose source follows ``rev`` and is at ``commit`` now."""
        hold = self.read()
        return NOT_HELD if hold is None else judge(hold, rev, commit)

    def hold(self, hold: Hold, *, create: bool = False) -> Hold | None:
        """Set ``hold``, replacing any; the one replaced. ``create``: also for an app without an inventory yet."""
        with boundary():
            return change_hold(self.cluster, self.app, self.namespace, lambda _: hold, create=create)

    def release(self, expected: Hold | None = None) -> Hold | None:
        """End the hold; the one ended (None: it was not held). ``expected``: only if the record is still that
        one (the reconcile loop ends a hold git moved past, not one set again meanwhile)."""
        def drop(current: Hold | None) -> Hold | None:
            return None if expected is None or current == expected else current

        with boundary():
            before = change_hold(self.cluster, self.app, self.namespace, drop)
        return before if expected is None or before == expected else None

    def pin(self, status: HoldStatus) -> HoldStatus:
        """Record the reader's rev and commit on an ``UNPINNED`` hold (if it is still the record judged); the
        status after."""
        wanted = pinned(status)
        if wanted is None:
            return status

        def pin(current: Hold | None) -> Hold | None:
            return wanted if current == status.hold else current

        with boundary():
            before = change_hold(self.cluster, self.app, self.namespace, pin)
        if before != status.hold:  # changed meanwhile: judge what is there now
            return judge(before, status.rev, status.commit)
        return replace(status, hold=wanted, state=HoldState.HELD)

    def refusal(self, status: HoldStatus) -> Failure | None:
        """The refusal a held app's plan gets: nothing is written, and the message names the hold."""
        if not status.holds or status.hold is None:
            return None
        key = inventory_key(self.app, self.namespace)
        return Failure(key, Action.PATCH, f"{key}: the app {self.app} is held ({hold_line(status)}); nothing is "
                       f"written while it is held: `gitapply release {self.app}` ends the hold, "
                       "`apply --release` applies and ends it, `apply --hold` applies and holds again",
                       FailureKind.HELD)
