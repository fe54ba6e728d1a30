"""The Lease, kept: one thread per app that acquires, renews or follows every retry period (the decisions are
``lease``'s), and the write guard the app's loop consults before every write.

A failed read or write of the Lease is not fatal: the replica keeps trying every retry period, and a leader
that has not renewed within the renew deadline simply stops being allowed to write (``can_write``), whatever
its thread is doing at that moment. On shutdown ``release`` gives the Lease up so that a follower takes over
at its next retry instead of waiting for the lease to expire.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Callable

from ..cluster.base import Cluster
from ..errors import ConflictingWriteError, GitapplyError
from ..model import ObjectKey
from .lease import (LEASE_API_VERSION, Decision, LeaseRecord, Observed, Timing, decide, lease_object, lease_spec,
                    may_write, observe, released_spec)

log = logging.getLogger("gitapply.controller")


class LeaderElector:
    """Leader election for one app on the Lease ``namespace/name``, as ``identity``."""

    def __init__(self, cluster: Cluster, *, name: str, namespace: str, identity: str, timing: Timing,
                 app: str = "", on_change: Callable[[bool], None] = lambda leading: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cluster = cluster
        self.key = ObjectKey("coordination.k8s.io", "v1", "Lease", namespace, name)
        self.identity = identity
        self.timing = timing
        self._app = app
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._observed: Observed | None = None
        self._renewed_at: float | None = None
        self._leading = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the loop asks ---------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self.can_write()

    def can_write(self) -> bool:
        """Whether a write may start now: leading, renewed within the deadline, and not shutting down."""
        with self._lock:
            return self._leading and not self._stopping.is_set() and may_write(self._renewed_at, self._clock(),
                                                                              self.timing)

    # -- the thread -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.key.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.try_once()
            self._stopping.wait(self.timing.retry_period)

    def try_once(self) -> Decision | None:
        """One round: read the Lease, decide, write if acquiring or renewing. Returns the decision taken (None
        when the Lease could not be read)."""
        started = self._clock()
        try:
            lease = self._cluster.get(self.key)
        except GitapplyError as err:
            self._lost_touch(f"cannot read the Lease: {err}")
            return None
        record = LeaseRecord.of(lease) if lease is not None else None
        with self._lock:
            self._observed = observe(self._observed, record, started)
            decision = decide(self._observed, identity=self.identity, now=self._clock())
        if decision is Decision.FOLLOW:
            self._set_leading(False, f"following; {record.holder if record else '?'} leads")
            return decision
        spec = lease_spec(record, identity=self.identity, timing=self.timing, when=datetime.now(UTC))
        body = lease_object(self.key.name, self.key.namespace, spec, record.resource_version if record else "")
        try:
            written = self._cluster.create(body) if lease is None else self._cluster.replace(body)
        except ConflictingWriteError:
            self._set_leading(False, "another replica wrote the Lease first; following")
            return Decision.FOLLOW
        except GitapplyError as err:
            self._lost_touch(f"cannot write the Lease: {err}")
            return None
        with self._lock:
            self._observed = Observed(LeaseRecord.of(written), started)
            self._renewed_at = started  # when the request began: the conservative end of the lease
        self._set_leading(True, "acquired the Lease; leading" if decision is Decision.ACQUIRE else "")
        return decision

    def _lost_touch(self, why: str) -> None:
        """A failed round: a leader keeps leading until its renew deadline passes, then steps down."""
        with self._lock:
            expired = self._leading and not may_write(self._renewed_at, self._clock(), self.timing)
        log.warning(f"{self._app}: {self.key.namespace}/{self.key.name}: {why}", extra={"app": self._app})
        if expired:
            self._set_leading(False, "could not renew the Lease within the renew deadline; stopped writing")

    def _set_leading(self, leading: bool, message: str) -> None:
        with self._lock:
            changed = leading != self._leading
            self._leading = leading
        if changed:
            if message:
                log.info(f"{self._app}: {message} (Lease {self.key.namespace}/{self.key.name}, "
                         f"identity {self.identity})", extra={"app": self._app, "action": "leading" if leading
                                                              else "following"})
            self._on_change(leading)

    # -- shutdown -------------------------------------------------------------------------------------------

    def stop_writing(self) -> None:
        """From now on ``can_write`` is False (a stop was requested); the write in flight finishes."""
        self._stopping.set()

    def release(self) -> None:
        """Stop the thread and, if this replica holds the Lease, give it up (empty holder, 1 s)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timing.renew_deadline)
        with self._lock:
            held = self._leading
            self._leading = False
        if not held:
            return
        try:
            lease = self._cluster.get(self.key)
            record = LeaseRecord.of(lease) if lease is not None else None
            if record is None or record.holder != self.identity:
                return
            self._cluster.replace(lease_object(self.key.name, self.key.namespace,
                                               released_spec(record, when=datetime.now(UTC)),
                                               record.resource_version))
        except GitapplyError as err:
            log.warning(f"{self._app}: could not release the Lease (followers take over when it expires): {err}",
                        extra={"app": self._app})
            return
        log.info(f"{self._app}: released the Lease {self.key.namespace}/{self.key.name}",
                 extra={"app": self._app, "action": "released"})
        self._on_change(False)


__all__ = ["LEASE_API_VERSION", "LeaderElector"]
