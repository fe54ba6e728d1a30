"""Who writes which app: the three ways a controller process decides, behind one interface.

* **alone** (no ``--leader-elect``): this process writes every app until it is asked to stop;
* **one Lease per app** (``--leader-elect``): the app's Lease holder writes it (``elector``); a follower still
  runs the reading half of each pass (drift as metrics);
* **sharded** (``--leader-elect --shard``): one membership Lease per replica, apps assigned by rendezvous hashing
  (``members``, ``shard``); a replica runs passes only for the apps assigned to it, so N replicas share the
  reading as well as the writing, and Lease traffic grows with replicas, not apps.

``gitapply_leader{app}`` means "this replica writes this app" in all three.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from ..cluster.base import Cluster
from .elector import LeaderElector
from .lease import Timing, lease_name
from .members import ShardMembership

OnWriter = Callable[[str, bool], None]
"""Told (app, writes) whenever this replica starts or stops being an app's writer."""


class Writers(Protocol):
    def start(self) -> None: ...

    def may_write(self, app: str) -> bool:
        """Whether a write for ``app`` may start now (the write guard)."""
        ...

    def runs(self, app: str) -> bool:
        """Whether this replica runs ``app``'s passes at all."""
        ...

    def stop_writing(self) -> None:
        """A stop was asked: no write starts from now on."""
        ...

    def release(self) -> None:
        """Give up what this replica holds, so the others take over at once."""
        ...


class Alone:
    """One process, no election: it writes every app until it stops."""

    def __init__(self, apps: Iterable[str], on_writer: OnWriter) -> None:
        self._apps = tuple(apps)
        self._on_writer = on_writer
        self._stopping = threading.Event()

    def start(self) -> None:
        for app in self._apps:
            self._on_writer(app, True)

    def may_write(self, app: str) -> bool:
        return not self._stopping.is_set()

    def runs(self, app: str) -> bool:
        return True

    def stop_writing(self) -> None:
        self._stopping.set()

    def release(self) -> None:
        self._stopping.set()


class LeasePerApp:
    """A Lease per app; every replica runs every app's passes, the holder writes."""

    def __init__(self, cluster: Cluster, apps: Iterable[str], *, namespace: str, identity: str, timing: Timing,
                 on_writer: OnWriter) -> None:
        self._electors = {app: LeaderElector(cluster, name=lease_name(app), namespace=namespace, identity=identity,
                                             timing=timing, app=app, on_change=_told(on_writer, app))
                          for app in apps}

    def start(self) -> None:
        for elector in self._electors.values():
            elector.start()

    def may_write(self, app: str) -> bool:
        return self._electors[app].can_write()

    def runs(self, app: str) -> bool:
        return True

    def stop_writing(self) -> None:
        for elector in self._electors.values():
            elector.stop_writing()

    def release(self) -> None:
        for elector in self._electors.values():
            elector.release()


def _told(on_writer: OnWriter, app: str) -> Callable[[bool], None]:
    return lambda leading: on_writer(app, leading)


class Sharded:
    """Apps spread over the live replicas; each runs and writes only its own."""

    def __init__(self, cluster: Cluster, apps: Iterable[str], *, namespace: str, identity: str, timing: Timing,
                 on_writer: OnWriter) -> None:
        self._apps = tuple(apps)
        self._on_writer = on_writer
        self._writing: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.membership = ShardMembership(cluster, namespace=namespace, identity=identity, timing=timing,
                                          apps=self._apps, on_change=self._changed)

    def _changed(self, writable: frozenset[str]) -> None:
        with self._lock:
            before, self._writing = self._writing, frozenset(writable)
        for app in sorted(writable - before):
            self._on_writer(app, True)
        for app in sorted(before - writable):
            self._on_writer(app, False)

    def start(self) -> None:
        self.membership.start()

    def may_write(self, app: str) -> bool:
        return self.membership.may_write(app)

    def runs(self, app: str) -> bool:
        return self.membership.assigned(app)

    def stop_writing(self) -> None:
        self.membership.stop_writing()

    def release(self) -> None:
        self.membership.release()
