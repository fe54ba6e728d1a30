"""Watching a kind: the ``Watchable`` protocol (a versioned LIST, then a WATCH from its resourceVersion) and
the streaming WATCH over gitapply's HTTP layer (``cluster.transport``), for ``cluster.watchcache``.

A watch is one long GET (``?watch=1``) whose body is a line of JSON per event, ``{"type": ..., "object":
...}``, until the server ends it at ``timeoutSeconds``. Rules:
- Objects arrive as plain dicts with ``apiVersion`` and ``kind`` set (as ``KubeCluster`` reads return them).
- An ``ERROR`` event, or an HTTP error answer, is raised as gitapply's error naming the kind: 410 Gone (the
  resourceVersion is older than the server keeps) as ``WatchExpiredError``, which means "LIST again"; the
  others as ``cluster.apierrors`` maps them. A broken connection is ``ConnectionFailedError``.
- ``WatchStream.close`` may be called from any thread: it shuts the connection, ending a read in progress
  elsewhere, so a watching thread can be stopped at once.
- Watches are not retried here: resuming, relisting and backing off are the watch cache's decisions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

from ..errors import ClusterError, ConnectionFailedError, GitapplyError
from .apierrors import api_error
from .base import Resource
from .transport import Stream, Transport, Untrusted

# Beyond the server's own timeoutSeconds: a stream silent for that long is a dead connection, not a quiet kind.
IDLE_MARGIN_SECONDS = 60.0


class WatchExpiredError(GitapplyError):
    """The server answered 410 Gone: the resourceVersion to watch from is older than it keeps. LIST again."""


class EventType(StrEnum):
    """The kinds of watch event a ``WatchEvent`` carries (``ERROR`` events are raised, never yielded)."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change to one object: ``type`` is an ``EventType`` value; a BOOKMARK's object carries only
    ``metadata.resourceVersion`` (how far the watch has got, with nothing changed)."""

    type: str
    object: dict[str, Any]


@runtime_checkable
class Watchable(Protocol):
    """A cluster that can list a kind with the collection's resourceVersion and watch it from there."""

    def list_versioned(self, api_version: str, kind: str, *,
                       namespace: str = "") -> tuple[list[dict[str, Any]], str]:
        """Every object (paginated, like KubeCluster.list) and the collection's resourceVersion."""
        ...

    def watch(self, api_version: str, kind: str, *, namespace: str = "", resource_version: str,
              timeout_seconds: int) -> Iterator[WatchEvent]:
        """?watch=1&allowWatchBookmarks=true&resourceVersion=...&timeoutSeconds=...; yields events until the
        server ends the stream; closing the iterator (its ``close()``) closes the connection."""
        ...


def typed(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """Items of a LIST come without apiVersion/kind; put them back so every object names itself."""
    if obj.get("kind") != kind or obj.get("apiVersion") != api_version:
        obj = {"apiVersion": api_version, "kind": kind, **obj}
        obj["apiVersion"], obj["kind"] = api_version, kind
    return obj


def open_watch(transport: Transport, resource: Resource, namespace: str, *, user_agent: str, timeout: float,
               resource_version: str, timeout_seconds: int) -> WatchStream:
    """Start a WATCH of ``resource`` (in ``namespace``, or across them when "") after ``resource_version``;
    returns once the server has accepted it, raising its refusal otherwise."""
    subject = kind_subject(resource)
    query = [("watch", "1"), ("allowWatchBookmarks", "true"), ("resourceVersion", resource_version),
             ("timeoutSeconds", str(timeout_seconds))]
    url = f"{transport.server}{resource.path(namespace)}?{urlencode(query)}"
    headers = {"Accept": "application/json", "User-Agent": user_agent}
    try:
        stream = transport.stream(url, headers, timeout=timeout,
                                  idle_timeout=timeout_seconds + IDLE_MARGIN_SECONDS)
    except Untrusted as exc:
        raise ConnectionFailedError(subject, f"the TLS connection to {transport.server} failed ({exc}); check "
                                             "the kubeconfig cluster's certificate-authority and server name") from exc
    except OSError as exc:
        raise _unreachable(subject, transport.server, exc) from exc
    if stream.status != 200:
        try:
            data = stream.read()
        except OSError:
            data = b""
        if stream.status == 410:
            raise WatchExpiredError(subject, "the watch's resourceVersion is too old (410 Gone); list again")
        raise api_error(stream.status, stream.reason, data, subject)
    return WatchStream(stream, resource, server=transport.server)


class WatchStream:
    """The events of one WATCH, read as they arrive; an iterator whose ``close`` works from any thread."""

    def __init__(self, stream: Stream, resource: Resource, *, server: str) -> None:
        self._stream = stream
        self._lines = stream.lines()
        self._resource = resource
        self._subject = kind_subject(resource)
        self._server = server

    def __iter__(self) -> WatchStream:
        return self

    def __next__(self) -> WatchEvent:
        try:
            line = b""
            while not line.strip():
                line = next(self._lines)
            return self._event(line)
        except StopIteration:
            raise
        except OSError as exc:
            self.close()
            raise _unreachable(self._subject, self._server, exc) from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End the watch: the connection is shut (a read in another thread ends with it)."""
        self._stream.close()
        try:
            self._lines.close()
        except ValueError:
            pass  # being read in another thread, which the shut connection stops

    def _event(self, line: bytes) -> WatchEvent:
        try:
            event = json.loads(line)
            kind, obj = str(event["type"]), event["object"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ClusterError(self._subject, f"the watch sent an event that is not JSON ({line[:200]!r}); "
                                              "is a proxy between gitapply and the API server rewriting it?") from exc
        if kind == "ERROR":
            raise _error_event(obj if isinstance(obj, dict) else {}, self._subject)
        return WatchEvent(kind, typed(obj, self._resource.api_version, self._resource.kind))


def _error_event(status: dict[str, Any], subject: str) -> GitapplyError:
    """An ERROR event's Status, as gitapply's error: 410 means the watch must LIST again."""
    code = int(status.get("code") or 500)
    if code == 410:
        return WatchExpiredError(subject, f"the watch expired ({status.get('message') or 'Gone'}); list again")
    return api_error(code, str(status.get("reason") or ""), json.dumps(status).encode(), subject)


def _unreachable(subject: str, server: str, exc: BaseException) -> ConnectionFailedError:
    return ConnectionFailedError(subject, f"the watch on {server} failed ({exc}); check that the API server is "
                                          "up and reachable")


def kind_subject(resource: Resource) -> str:
    """``apps/Deployment``, ``ConfigMap``: the kind a watch error is about."""
    group = resource.api_version.rpartition("/")[0]
    return f"{group}/{resource.kind}" if group else resource.kind
