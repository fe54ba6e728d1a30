"""One LIST+WATCH: the objects of a kind (across namespaces, or in one) kept current in memory, on a thread of
their own, for ``cluster.watchcache.WatchCache``.

Rules:
- An object is kept whole (managedFields, status) as its compact JSON and decoded per read: every reader gets
  a private copy, and the bytes cost about a tenth of the dict they decode to.
- The first LIST runs on the informer's thread; readers wait for it (``wait``) and meet its failure
  (``failure``), after which the informer stops: the cache decides what a failure means.
- Then WATCH from the last resourceVersion seen (an event's or a BOOKMARK's), each stream asking for a random
  ``Timing.watch_seconds`` so that informers started together do not all re-watch together. A stream the
  server ends on time is resumed at once and is not a restart; one that ends sooner lost its connection (a
  connection dropped between two events reads like a clean end). 410 Gone: LIST again, at once. Any other
  failure (a refused connection while the API server restarts, a lost one…): wait, with exponential backoff
  and jitter, then resume, or LIST again if that is what failed. Each of these is a restart. Reads are
  served, possibly stale, meanwhile.
- After a LIST the objects are exactly the list's (ones deleted meanwhile are dropped), except an object
  written through the cache since the list's snapshot (``remember``), which is newer.
- ``on_change(obj, deleted)`` is called on the informer's thread for each object an event or a LIST changes
  beyond status and bookkeeping (``IGNORED_METADATA``), never for the first LIST; its exceptions are logged.
- ``remember`` keeps what a write returned when its resourceVersion is newer (compared as integers when both
  are; resourceVersions are opaque, so one that is not is taken): reads see our writes at once, and the
  watch event of the same write then changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ConnectionFailedError, ForbiddenError, GitapplyError
from .base import Resource
from .watch import EventType, Watchable, WatchEvent, WatchExpiredError, kind_subject

# A child of the controller's logger: the cache serves the controller, whose log set-up covers its children.
log = logging.getLogger("gitapply.controller.watchcache")

OnChange = Callable[[dict[str, Any], bool], None]
Labels = dict[str, str]
# Changed by every write, or (generation) only beside a change already seen elsewhere in the object, except for
# a custom resource without a status subresource, whose status updates bump it: none is a change to react to.
IGNORED_METADATA = frozenset({"resourceVersion", "managedFields", "generation"})
ON_TIME_SECONDS = 1.0  # a stream may end this much before its timeoutSeconds and still count as ended on time


@dataclass(frozen=True, slots=True)
class Timing:
    """How informers pace themselves: backoff after a failure (seconds, doubling up to ``backoff_max``, with up
    to a fifth of jitter either way), and the range each WATCH's ``timeoutSeconds`` is drawn from."""

    backoff: float = 0.5
    backoff_max: float = 30.0
    watch_seconds: tuple[int, int] = (300, 600)


@dataclass(frozen=True, slots=True)
class _Entry:
    data: bytes
    rv: str
    labels: Labels
    fingerprint: bytes


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _entry(obj: dict[str, Any]) -> _Entry:
    metadata = obj.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    return _Entry(json.dumps(obj, separators=(",", ":")).encode(), str(metadata.get("resourceVersion") or ""),
                  labels, _fingerprint(obj))


def _fingerprint(obj: dict[str, Any]) -> bytes:
    """A digest of the object without its status and ``IGNORED_METADATA``: what ``on_change`` compares."""
    rest = {key: value for key, value in obj.items() if key not in ("status", "metadata")}
    rest["metadata"] = {key: value for key, value in (obj.get("metadata") or {}).items()
                        if key not in IGNORED_METADATA}
    return hashlib.blake2b(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode(), digest_size=16).digest()


def compare_versions(a: str, b: str) -> int | None:
    """-1, 0 or 1 as resourceVersion ``a`` is older than, the same as or newer than ``b``; None when either is
    not an integer (the API calls them opaque; every real server's are etcd revisions)."""
    try:
        first, second = int(a), int(b)
    except ValueError:
        return None
    return (first > second) - (first < second)


def _jittered(delay: float) -> float:
    return delay * random.uniform(0.8, 1.2)


class Informer:
    """The objects of ``resource`` in ``namespace`` (all namespaces when ""), listed then watched."""

    def __init__(self, source: Watchable, resource: Resource, namespace: str, *, on_change: OnChange,
                 timing: Timing) -> None:
        self.resource = resource
        self.namespace = namespace
        self.failure: BaseException | None = None
        self.watch_refused = False
        """Listed, but the WATCH was refused (403): the informer stopped, its kind is read upstream."""
        self.restarts = 0
        self.connected = False
        self._source = source
        self._on_change = on_change
        self._timing = timing
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], _Entry] = {}
        self._rv = ""
        self._since_list = 0  # events since the last LIST
        self._listed = threading.Event()
        self._stop = threading.Event()
        self._stream: Iterator[WatchEvent] | None = None
        where = f" in {namespace}" if namespace else ""
        self._subject = kind_subject(resource)
        self._where = f"the watch{where or ' across namespaces'}"
        self._thread = threading.Thread(target=self._run, name=f"watch-{resource.name}{where}", daemon=True)

    # -- life ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Whether the first LIST is done (or failed: see ``failure``) within ``timeout`` seconds."""
        return self._listed.wait(timeout)

    @property
    def synced(self) -> bool:
        """Listed, and watching now (not between a failure and the next watch)."""
        return self._listed.is_set() and self.failure is None and self.connected

    def stop(self) -> None:
        """Ask the thread to end, and end the stream it may be blocked reading."""
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            _close(stream)

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- reads and writes ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._objects.get((namespace, name))
        return None if entry is None else json.loads(entry.data)

    def select(self, namespace: str, matches: Callable[[Labels], bool]) -> list[dict[str, Any]]:
        """The objects in ``namespace`` (all when "") whose labels ``matches``, by namespace and name."""
        with self._lock:
            found = [(key, entry.data) for key, entry in self._objects.items()
                     if (not namespace or key[0] == namespace) and matches(entry.labels)]
        return [json.loads(data) for _, data in sorted(found)]

    def remember(self, obj: dict[str, Any]) -> None:
        """Keep what a write returned, if the informer has listed and it is newer than what is kept."""
        key = _key(obj)
        if not self._listed.is_set() or self.failure is not None or (self.namespace and key[0] != self.namespace):
            return
        entry = _entry(obj)
        with self._lock:
            old = self._objects.get(key)
            if old is None or compare_versions(entry.rv, old.rv) in (None, 1):
                self._objects[key] = entry

    # -- the thread ------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._relist(initial=True)
        except Exception as exc:  # noqa: BLE001 - handed to the readers waiting for the first LIST
            self.failure = exc
            return
        finally:
            self._listed.set()
        self._follow()

    def _follow(self) -> None:
        """Watch, resume, relist and back off until stopped."""
        delay, relist = self._timing.backoff, False
        while not self._stop.is_set():
            try:
                if relist:
                    self._relist(initial=False)
                    relist = False
                self._watch()
            except Exception as exc:  # noqa: BLE001 - every failure is met by resuming or relisting
                if self._stop.is_set():
                    return
                if isinstance(exc, ForbiddenError):  # RBAC grants list but not watch: readers go upstream
                    log.warning("%s: %s (%s); this kind is read from the API server at every pass instead: grant "
                                "`watch` on it to read it from the cache", self._subject, exc.message, self._where)
                    self.failure, self.watch_refused = exc, True
                    return
                expired = isinstance(exc, WatchExpiredError)
                relist = relist or expired
                if self.connected:
                    delay = self._timing.backoff  # a working watch broke: start the backoff afresh
                self._restarted(exc)
                if expired and self._since_list:
                    continue  # relist at once; but back off if a list expires before bringing anything
                if self._stop.wait(_jittered(delay)):
                    return
                delay = min(delay * 2, self._timing.backoff_max)

    def _watch(self) -> None:
        """One WATCH stream from the last resourceVersion, until it ends; ``ConnectionFailedError`` if it ended
        before its time."""
        seconds = random.randint(*self._timing.watch_seconds)
        began = time.monotonic()
        stream = self._source.watch(self.resource.api_version, self.resource.kind, namespace=self.namespace,
                                    resource_version=self._rv, timeout_seconds=seconds)
        with self._lock:
            self._stream = stream
        self.connected = True
        try:
            if self._stop.is_set():  # stopped before the stream was there to be closed by ``stop``
                return
            for event in stream:
                if self._stop.is_set():
                    break
                self._apply(event)
        finally:
            with self._lock:
                self._stream = None
            _close(stream)
        lasted = time.monotonic() - began
        if not self._stop.is_set() and lasted < seconds - ON_TIME_SECONDS:
            raise ConnectionFailedError(self._subject, f"the watch ended after {lasted:.0f} s of the {seconds} s it "
                                                       "asked for: the connection was lost")

    def _apply(self, event: WatchEvent) -> None:
        """One event into the objects; ``on_change`` if it changed one beyond status and bookkeeping."""
        obj = event.object
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        key, changed = _key(obj), False
        with self._lock:
            old = self._objects.get(key)
            if event.type in (EventType.ADDED, EventType.MODIFIED, EventType.DELETED) and \
                    (old is None or compare_versions(rv, old.rv) != -1):  # older: one of our writes is newer
                if event.type == EventType.DELETED:
                    changed = self._objects.pop(key, None) is not None
                else:
                    entry = self._objects[key] = _entry(obj)
                    changed = old is None or old.fingerprint != entry.fingerprint
            if rv:
                self._rv = rv
            self._since_list += 1
        if changed:
            self._notify(obj, event.type == EventType.DELETED)

    def _relist(self, *, initial: bool) -> None:
        """LIST, and make the objects exactly the list's (but for newer ones of our writes); ``on_change``
        for each difference, unless ``initial``."""
        items, rv = self._source.list_versioned(self.resource.api_version, self.resource.kind,
                                                namespace=self.namespace)
        listed = {_key(obj): _entry(obj) for obj in items}
        del items
        with self._lock:
            old = self._objects
            kept = {key: entry for key, entry in old.items() if compare_versions(entry.rv, rv) == 1}
            objects = {**listed, **kept}
            changes: list[tuple[bytes, bool]] = [] if initial else [
                *((entry.data, False) for key, entry in listed.items()
                  if key not in kept and (key not in old or old[key].fingerprint != entry.fingerprint)),
                *((entry.data, True) for key, entry in old.items() if key not in objects)]
            self._objects, self._rv, self.connected, self._since_list = objects, rv, True, 0
        for data, deleted in changes:
            self._notify(json.loads(data), deleted)

    def _restarted(self, exc: Exception) -> None:
        with self._lock:
            self.restarts += 1
            self.connected = False
        message = exc.message if isinstance(exc, GitapplyError) else str(exc)
        log.warning("%s: %s (%s); resuming", self._subject, message, self._where)

    def _notify(self, obj: dict[str, Any], deleted: bool) -> None:
        try:
            self._on_change(obj, deleted)
        except Exception:  # noqa: BLE001 - a failing callback must not stop the watch
            log.exception("%s: on_change failed for %s (%s)", self._subject, "/".join(filter(None, _key(obj))),
                          self._where)


def _close(stream: Iterator[WatchEvent]) -> None:
    """Close a watch stream; one being read in another thread (a generator) cannot be, and ends by itself."""
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except ValueError:
            pass
