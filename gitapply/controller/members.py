"""Shard membership, kept: one thread per replica that renews this replica's membership Lease and LISTs the
member Leases every retry period, and the write guard the app loops consult before every write. The decisions
(assignment, liveness, the guard, garbage) are ``shard``'s; this module does the I/O and keeps the state.

The rules, as this module applies them:

- **Traffic.** Per round: one write of its own Lease (``replace`` with the resourceVersion last seen, so a
  stale write is refused with 409; ``create`` when it has none), then one LIST of the member Leases by label
  selector; however many apps there are. A 409 or 404 fails the round; the LIST tells the next round which
  version to replace, or that the Lease must be created. The rare extra request deletes a garbage Lease.
- **The write guard** (``may_write``): not stopping; the last *successful* round (write and LIST both
  succeeded, and the LIST shows this replica's Lease as written) began less than ``renew_deadline`` ago; the
  app is assigned to this replica by the view of that LIST; and this replica is settled (``renew_deadline``
  since it (re)joined: see ``shard``). A failed write or LIST is not fatal: the round fails and the guard
  lapses on its own when the deadline passes.
- **Own Lease taken.** If a LIST shows this replica's Lease with another holder (released or overwritten by
  someone else) the others may already count it dead: the replica drops its standing and rejoins.
- **Garbage.** Member Leases dead for twice the lease duration are deleted by a replica the guard permits.
- **Shutdown.** ``stop_writing`` makes ``may_write`` false at once (the write in flight finishes);
  ``release`` stops the thread and empties the holder of the Lease (written at the version last seen), which
  the others count as dead at their next round and then collect as garbage. It is released rather than deleted
  because a member that merely *vanishes* keeps its apps for ``renew_deadline`` (``shard``'s rules).
- ``on_change(writable)`` is called from the thread whenever the set of apps ``may_write`` allows changes,
  checked at every round, so a change due only to time (settled, or a lapsed deadline) is reported too.
- API errors are logged as warnings naming the Lease; nothing raises out of the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from ..cluster.base import Cluster
from ..errors import ConflictingWriteError, GitapplyError, NotFoundError
from ..model import ObjectKey
from . import shard
from .lease import LEASE_API_VERSION, LeaseRecord, Timing, lease_spec, released_spec
from .shard import LOST, Member, MemberState, Standing

log = logging.getLogger("gitapply.controller")


class ShardMembership:
    """This replica (``identity``)'s membership Lease in ``namespace``, and its view of the members."""

    def __init__(self, cluster: Cluster, *, namespace: str, identity: str, timing: Timing, apps: Iterable[str],
                 on_change: Callable[[frozenset[str]], None] = lambda writable: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cluster = cluster
        self.key = ObjectKey("coordination.k8s.io", "v1", "Lease", namespace, shard.member_lease_name(identity))
        self.identity = identity
        self.timing = timing
        self._apps = tuple(dict.fromkeys(apps))
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._own: LeaseRecord | None = None  # the version of our Lease to replace; None: create it
        self._view: dict[str, Member] = {}
        self._counted: tuple[str, ...] = ()
        self._owners: dict[str, str] = {}
        self._standing: Standing = LOST
        self._reported: frozenset[str] = frozenset()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the loops ask -----------------------------------------------------------------------------------

    def may_write(self, app: str) -> bool:
        """Whether a write for ``app`` may start now (rules in the module docstring)."""
        with self._lock:
            return self._permitted() and self._owner(app) == self.identity

    def assigned(self, app: str) -> bool:
        """Whether the current view assigns ``app`` to this replica, settled or not."""
        with self._lock:
            return self._owner(app) == self.identity

    def writable(self) -> frozenset[str]:
        """The apps ``may_write`` allows now."""
        with self._lock:
            return self._writable()

    def members(self) -> tuple[str, ...]:
        """The identities apps are assigned over (live members, and vanishing ones still counted), sorted."""
        with self._lock:
            return self._counted

    def _permitted(self) -> bool:
        return not self._stopping.is_set() and self._standing.permitted(self._clock(), self.timing)

    def _owner(self, app: str) -> str | None:
        return self._owners[app] if app in self._owners else shard.owner(app, self._counted)

    def _writable(self) -> frozenset[str]:
        if not self._permitted():
            return frozenset()
        return frozenset(app for app, member in self._owners.items() if member == self.identity)

    # -- the thread -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.key.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.try_once()
            except Exception:  # the thread must outlive any surprise: a failed round only lets the guard lapse
                log.exception(f"{self._where}: shard membership round failed unexpectedly; retrying")
            self._stopping.wait(self.timing.retry_period)

    @property
    def _where(self) -> str:
        return f"{self.key.namespace}/{self.key.name}"

    def try_once(self) -> None:
        """One round: write this replica's Lease, LIST the members, update the view and the standing, collect
        garbage, report a change of the writable apps."""
        started = self._clock()
        written = self._write_own()
        asked = self._clock()
        leases = self._list_members()
        if leases is not None:
            self._update(leases, asked=asked, answered=self._clock(), started=started, written=written)
            self._collect(asked)
        self._report()

    def _write_own(self) -> tuple[float, bool] | None:
        """Create or renew this replica's Lease: (when the write returned, whether it created it), or None."""
        with self._lock:
            own = self._own
        spec = lease_spec(own, identity=self.identity, timing=self.timing, when=datetime.now(UTC))
        body = shard.member_lease(self.key.name, self.key.namespace, spec, own.resource_version if own else "")
        try:
            stored = self._cluster.replace(body) if own is not None else self._cluster.create(body)
        except ConflictingWriteError as err:
            log.warning(f"{self._where}: the Lease changed since it was read; renewing the version listed next: "
                        f"{err}")
            return None
        except NotFoundError as err:
            log.warning(f"{self._where}: the Lease is gone; creating it again (and rejoining): {err}")
            with self._lock:
                self._own = None
            return None
        except GitapplyError as err:
            log.warning(f"{self._where}: cannot write the Lease: {err}")
            return None
        with self._lock:
            self._own = LeaseRecord.of(stored)
        return self._clock(), own is None

    def _list_members(self) -> list[dict[str, Any]] | None:
        try:
            return self._cluster.list(LEASE_API_VERSION, "Lease", namespace=self.key.namespace,
                                      label_selector=shard.MEMBER_SELECTOR)
        except GitapplyError as err:
            log.warning(f"{self._where}: cannot list the member Leases ({shard.MEMBER_SELECTOR}): {err}")
            return None

    def _update(self, leases: list[dict[str, Any]], *, asked: float, answered: float, started: float,
                written: tuple[float, bool] | None) -> None:
        """The view after the LIST, our Lease's version as listed, and the standing the round earned."""
        with self._lock:
            before = self._counted
            self._view = shard.next_view(self._view, leases, asked=asked, answered=answered, timing=self.timing)
            mine = self._view.get(self.key.name)
            listed = mine.observed.record if mine is not None and mine.state is not MemberState.VANISHING else None
            # another holder on a Lease this replica kept: the others may count it dead already (a Lease left
            # by an earlier process of the same identity is merely renewed over)
            taken = listed is not None and listed.holder != self.identity and self._standing != LOST
            self._own = listed  # missing from the LIST: gone, so the next round creates it
            if taken:
                self._standing = LOST
            elif written is not None and mine is not None and mine.state is MemberState.LIVE \
                    and mine.identity == self.identity:
                self._standing = self._standing.succeeded(started=started, written=written[0], created=written[1],
                                                          now=self._clock(), timing=self.timing)
            after = self._counted = shard.counted(self._view)
            if after != before:
                self._owners = shard.assignment(self._apps, after)
            assigned = sum(member == self.identity for member in self._owners.values())
        if taken:
            log.warning(f"{self._where}: the Lease was released or taken over by someone else; this replica "
                        f"stops writing and rejoins")
        if after != before:
            log.info(f"members: {_changes(before, after)}; {assigned} of {len(self._apps)} apps assigned to "
                     f"{self.identity}", extra={"action": "members"})

    def _collect(self, asked: float) -> None:
        """Delete member Leases dead for twice the lease duration, if this replica may write."""
        with self._lock:
            if not self._permitted():
                return
            dead = [m for m in shard.garbage(self._view, asked=asked, timing=self.timing) if m.name != self.key.name]
        for member in dead:
            key = ObjectKey("coordination.k8s.io", "v1", "Lease", self.key.namespace, member.name)
            try:
                self._cluster.delete(key)
            except GitapplyError as err:
                log.warning(f"{key.namespace}/{key.name}: cannot delete this dead member Lease: {err}")
                continue
            with self._lock:
                self._view.pop(member.name, None)
            log.info(f"{key.namespace}/{key.name}: deleted the Lease of departed member {member.identity or '?'} "
                     f"({member.state})", extra={"action": "collected"})

    def _report(self) -> None:
        with self._lock:
            writable = self._writable()
            changed = writable != self._reported
            self._reported = writable
        if changed:
            log.info(f"{self.identity} now writes {len(writable)} of {len(self._apps)} apps",
                     extra={"action": "shard"})
            self._on_change(writable)

    # -- shutdown ---------------------------------------------------------------------------------------------

    def stop_writing(self) -> None:
        """From now on ``may_write`` is False (a stop was requested); the write in flight finishes."""
        self._stopping.set()

    def release(self) -> None:
        """Stop the thread and release this replica's Lease (empty holder, at the version last seen), so that
        the others count it dead and take its apps at their next round. ``on_change(frozenset())`` is called
        from here (the thread has stopped) if this replica was writing any app."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timing.renew_deadline)
        with self._lock:
            own, self._own, self._standing = self._own, None, LOST
        self._report()
        if own is None or own.holder != self.identity:
            return
        body = shard.member_lease(self.key.name, self.key.namespace, released_spec(own, when=datetime.now(UTC)),
                                  own.resource_version)
        try:
            self._cluster.replace(body)
        except GitapplyError as err:
            log.warning(f"{self._where}: could not release the Lease (the others take over when it expires): {err}")
            return
        log.info(f"{self._where}: released the membership Lease of {self.identity}", extra={"action": "released"})


def _changes(before: tuple[str, ...], after: tuple[str, ...]) -> str:
    """``a, b, c (joined: c; left: d)``."""
    joined = [m for m in after if m not in before]
    left = [m for m in before if m not in after]
    notes = "; ".join(part for part in (f"joined: {', '.join(joined)}" if joined else "",
                                        f"left: {', '.join(left)}" if left else "") if part)
    return (", ".join(after) or "none") + (f" ({notes})" if notes else "")
