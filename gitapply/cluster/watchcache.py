"""A ``Cluster`` whose reads come from memory, kept current by watching: the reconcile controller holds one per
process, shared by every app, so a pass over an idle cluster sends no request at all.

Rules:
- Reads (``get``, ``list``) of a kind start, on first use, a LIST+WATCH of it across namespaces
  (``cluster.informer``), keyed by its REST resource, and wait for the first LIST (``sync_timeout``, else
  ``ConnectionFailedError``). Every other kind of read, and discovery, goes to ``upstream``: kinds that cannot
  be listed and watched (discovery's verbs), label selectors beyond equality (``in``, ``notin``), and every
  read when ``upstream`` is not ``Watchable`` (the local cluster, a wrapper).
- Where RBAC forbids listing a kind across namespaces, it is watched per namespace, from the first read in
  each; listing it across namespaces raises the refusal, as the server would, so ``snapshot.list_in`` goes on
  per namespace. A refusal is remembered for the life of the cache (asking again on every read would cost a
  request each): a process granted more rights since is restarted to use them. A namespace refused too reads
  through ``upstream``, which may still ``get`` with the rights it has. Where RBAC allows listing a kind but
  not watching it, the kind is read from ``upstream`` from then on (a copy nobody updates would let passes
  act on stale state).
- Every read returns a private copy (objects are kept as JSON and decoded per read).
- Writes go to ``upstream``; what create, patch, apply and replace return (not a dry-run's) replaces the kept
  object when newer, so a pass reads its own writes, and their watch events change nothing. A delete changes
  nothing here: its watch event does.
- ``on_change(obj, deleted)`` hears, on the informers' threads, of changes that are more than status and
  bookkeeping, and not of the cache's own writes (see ``cluster.informer``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import ConnectionFailedError, ForbiddenError, GitapplyError
from ..merge import Node
from ..model import ObjectKey, PatchType
from .base import Cluster, Propagation, Resource
from .informer import Informer, Labels, OnChange, Timing
from .watch import Watchable, kind_subject, typed

__all__ = ["CacheStats", "Timing", "WatchCache", "parse_selector"]

WATCH_VERBS = frozenset({"list", "watch"})
CLOSE_SECONDS = 5.0  # how long ``close`` waits, in all, for informer threads to end
Objects = list[dict[str, Any]]  # spelled once here: inside the class ``list`` is the method


@dataclass(frozen=True, slots=True)
class CacheStats:
    """``objects`` kept, ``kinds`` watched, ``restarts`` of watches after an error, a 410 or a broken
    connection (not a stream the server ended on time), and whether every informer is ``synced``: listed
    and watching now."""

    objects: int
    kinds: int
    restarts: int
    synced: bool


class Operator(StrEnum):
    """The equality-based label selector's operators."""

    EQUALS = "="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    ABSENT = "!"


Requirement = tuple[str, Operator, str]
_LABEL_KEY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?")


def parse_selector(text: str) -> list[Requirement] | None:
    """An equality-based label selector (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, comma-separated) as
    requirements, all of which must hold; None for anything else (``k in (a,b)``…): the server judges those."""
    requirements: list[Requirement] = []
    for term in (part.strip() for part in text.split(",")) if text.strip() else ():
        if term.startswith("!"):
            key, operator, value = term[1:], Operator.ABSENT, ""
        elif "!=" in term:
            key, _, value = term.partition("!=")
            operator = Operator.NOT_EQUALS
        elif "=" in term:
            key, _, value = term.partition("==") if "==" in term else term.partition("=")
            operator = Operator.EQUALS
        else:
            key, operator, value = term, Operator.EXISTS, ""
        key, value = key.strip(), value.strip()
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
            return None
        requirements.append((key, operator, value))
    return requirements


def matches(labels: Labels, requirements: Iterable[Requirement]) -> bool:
    """Whether ``labels`` meet every requirement (``k!=v`` holds where ``k`` is absent, as on the server)."""
    for key, operator, value in requirements:
        if operator == Operator.EQUALS and labels.get(key) != value:
            return False
        if operator == Operator.NOT_EQUALS and labels.get(key) == value:
            return False
        if operator == Operator.EXISTS and key not in labels:
            return False
        if operator == Operator.ABSENT and key in labels:
            return False
    return True


class WatchCache:
    """``upstream`` with reads served from watched memory; a ``Cluster`` (see the module's rules)."""

    def __init__(self, upstream: Cluster, *, on_change: OnChange = lambda obj, deleted: None,
                 sync_timeout: float = 60.0, timing: Timing = Timing()) -> None:
        self.upstream = upstream
        self.field_manager = upstream.field_manager
        self._source = upstream if isinstance(upstream, Watchable) else None
        self._on_change = on_change
        self._sync_timeout = sync_timeout
        self._timing = timing
        self._lock = threading.Lock()
        self._informers: dict[tuple[str, str, str], Informer] = {}  # (apiVersion, resource, namespace or "")
        self._forbidden: dict[tuple[str, str, str], ForbiddenError] = {}  # the same keys: LIST refused there
        self._unwatchable: set[tuple[str, str]] = set()  # (apiVersion, resource): WATCH refused, read upstream
        self._closed = False

    # -- the cache itself ------------------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        informers = self._running()
        return CacheStats(objects=sum(len(informer) for informer in informers),
                          kinds=len({(i.resource.api_version, i.resource.name) for i in informers}),
                          restarts=sum(informer.restarts for informer in informers),
                          synced=all(informer.synced for informer in informers))

    def watched(self) -> list[tuple[str, str, str]]:
        """``(apiVersion, kind, namespace or "")`` of every running informer."""
        return sorted((i.resource.api_version, i.resource.kind, i.namespace) for i in self._running())

    def close(self) -> None:
        """Stop every informer and wait (a few seconds at most) for their threads; reads then go upstream."""
        with self._lock:
            self._closed = True
            informers = list(self._informers.values())
            self._informers.clear()
        for informer in informers:
            informer.stop()
        deadline = time.monotonic() + CLOSE_SECONDS
        for informer in informers:
            informer.join(max(0.0, deadline - time.monotonic()))

    def _running(self) -> list[Informer]:
        with self._lock:
            return list(self._informers.values())

    # -- passed through --------------------------------------------------------------------------------------

    def server_version(self) -> str:
        return self.upstream.server_version()

    def default_namespace(self) -> str:
        return self.upstream.default_namespace()

    def resource(self, api_version: str, kind: str) -> Resource:
        return self.upstream.resource(api_version, kind)

    def prefetch(self, api_versions: Iterable[str] = ()) -> None:
        self.upstream.prefetch(api_versions)

    def patch_node(self, api_version: str, kind: str) -> Node | None:
        return self.upstream.patch_node(api_version, kind)

    # -- reads -----------------------------------------------------------------------------------------------

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        resource, informer = self._reader(key.api_version, key.kind, key.namespace)
        if informer is None:
            return self.upstream.get(key)
        obj = informer.get(key.namespace if resource.namespaced else "", key.name)
        return None if obj is None else typed(obj, key.api_version, key.kind)

    def list(self, api_version: str, kind: str, *, namespace: str = "", label_selector: str = "") -> Objects:
        requirements = parse_selector(label_selector)
        if requirements is None:
            return self.upstream.list(api_version, kind, namespace=namespace, label_selector=label_selector)
        resource, informer = self._reader(api_version, kind, namespace)
        if informer is None:
            with self._lock:
                refusal = self._forbidden.get((resource.api_version, resource.name, ""))
            if refusal is not None and not (resource.namespaced and namespace):
                raise refusal
            return self.upstream.list(api_version, kind, namespace=namespace, label_selector=label_selector)
        where = namespace if resource.namespaced else ""
        return [typed(obj, api_version, kind)
                for obj in informer.select(where, lambda labels: matches(labels, requirements))]

    def _reader(self, api_version: str, kind: str, namespace: str) -> tuple[Resource, Informer | None]:
        """The kind's resource, and the informer to read it from (started and listed), or None: upstream."""
        resource = self.upstream.resource(api_version, kind)
        if self._source is None or not WATCH_VERBS <= resource.verbs \
                or (resource.api_version, resource.name) in self._unwatchable:
            return resource, None
        informer = self._informer(self._source, resource, "")
        if informer is None and resource.namespaced and namespace \
                and (resource.api_version, resource.name) not in self._unwatchable:
            informer = self._informer(self._source, resource, namespace)
        return resource, informer

    def _informer(self, source: Watchable, resource: Resource, namespace: str) -> Informer | None:
        """The listed informer of ``resource`` in ``namespace``, started on first use; None where LIST is
        forbidden (or the cache is closed)."""
        key = (resource.api_version, resource.name, namespace)
        with self._lock:
            if key in self._forbidden or self._closed:
                return None
            informer = self._informers.get(key)
            if informer is None:
                informer = self._informers[key] = Informer(source, resource, namespace, on_change=self._on_change,
                                                           timing=self._timing)
                informer.start()
        if not informer.wait(self._sync_timeout):
            where = f" in namespace {namespace}" if namespace else ""
            raise ConnectionFailedError(
                kind_subject(resource),
                f"the watch cache's first LIST{where} did not finish within {self._sync_timeout:g} s; check that "
                "the API server is up and not overloaded, and the network to it")
        failure = informer.failure
        if failure is None:
            return informer
        with self._lock:
            if self._informers.get(key) is informer:
                del self._informers[key]  # the next read starts afresh
            if informer.watch_refused:
                self._unwatchable.add((resource.api_version, resource.name))
            elif isinstance(failure, ForbiddenError):
                self._forbidden[key] = failure
        if isinstance(failure, ForbiddenError):
            return None
        raise failure

    # -- writes ----------------------------------------------------------------------------------------------

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        return self._remember(self.upstream.create(obj, dry_run=dry_run), dry_run)

    def patch(self, key: ObjectKey, patch: dict[str, Any], patch_type: PatchType, *,
              dry_run: bool = False) -> dict[str, Any]:
        return self._remember(self.upstream.patch(key, patch, patch_type, dry_run=dry_run), dry_run)

    def apply(self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        return self._remember(self.upstream.apply(obj, force=force, dry_run=dry_run), dry_run)

    def replace(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        return self._remember(self.upstream.replace(obj, dry_run=dry_run), dry_run)

    def delete(self, key: ObjectKey, *, propagation: Propagation = Propagation.BACKGROUND,
               dry_run: bool = False) -> None:
        self.upstream.delete(key, propagation=propagation, dry_run=dry_run)

    def _remember(self, written: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        """Keep what a write returned in the informers watching its kind (read-your-writes)."""
        if dry_run:
            return written
        key = ObjectKey.of(written)
        try:
            resource = self.upstream.resource(key.api_version, key.kind)
        except GitapplyError:
            return written
        where = key.namespace if resource.namespaced else ""
        with self._lock:
            informers = [self._informers.get((resource.api_version, resource.name, namespace))
                         for namespace in {"", where}]
        for informer in informers:
            if informer is not None:
                informer.remember(written)
        return written
