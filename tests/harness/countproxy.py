"""A TLS proxy in front of the test API server that forwards every request and counts them, by verb.

The API server's own request counters also count the controller-manager's work, so a client's load (the
reconcile controller's requests per second while nothing changes) is measured here, between that client and
the server: ``with CountingProxy(plane) as proxy``, point the client at ``proxy.kubeconfig(path)``, and
compare ``proxy.snapshot()`` before and after.

Rules:
- The proxy changes nothing: every request goes upstream as sent (hop-by-hop headers aside), every answer
  comes back as the server gave it (compressed bodies stay compressed).
- Answers are relayed as they arrive, never gathered first: a chunked answer (a watch, open for minutes)
  goes to the client chunk by chunk, each flushed, so an event reaches the client when the server sends it.
- Verbs are the API's, not HTTP's: a GET of a collection is ``LIST``, a GET with ``watch=1`` (or under
  ``/watch/``) is ``WATCH``; the others are the HTTP method. A watch counts under ``watches`` and
  ``open_watches``, never under ``requests``, so an idle client's polling shows apart from the watches it
  keeps open. ``writes`` are POST, PUT, PATCH and DELETE without ``dryRun``. A watch its client hangs up on
  stays open (upstream, and in ``open_watches``) until its next event, when the relay's write fails.
- Leaving the ``with`` block closes every connection, watches included: the listening socket, each client's
  socket and each upstream socket, so no relay thread outlives the proxy waiting for a quiet watch.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .tlsproxy import kubeconfig_for, listen, upstream

GET, LIST, WATCH = "GET", "LIST", "WATCH"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                         "upgrade", "content-length"})
# A namespace's own subresources: /api/v1/namespaces/NS/status is the namespace, not a collection "status".
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_CHUNK = 64 * 1024
# Ordinary answers come within seconds; a watch is quiet for as long as nothing changes, so it has no timeout.
_REQUEST_TIMEOUT = 120.0


@dataclass(frozen=True)
class Counts:
    """Requests seen by a ``CountingProxy`` up to one moment (or, from ``requests_since``, between two).

    ``open_watches`` is a state, not a count: the watches open at the later moment."""

    requests: int = 0
    watches: int = 0
    writes: int = 0
    open_watches: int = 0
    by_verb: dict[str, int] = field(default_factory=dict)


def verb(method: str, target: str) -> str:
    """The API verb of an HTTP request for ``target`` (a path with its query): LIST, WATCH, GET or the method."""
    if method != "GET":
        return method
    url = urlsplit(target)
    if parse_qs(url.query).get("watch", [""])[-1].lower() in ("1", "true"):
        return WATCH
    parts = [part for part in url.path.split("/") if part]
    # /api/VERSION/... and /apis/GROUP/VERSION/...; anything else (discovery, /version, /openapi) is a GET
    if parts[:1] == ["api"] and len(parts) > 2:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        rest = parts[3:]
    else:
        return GET
    if rest[0] == "watch":
        return WATCH
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        rest = rest[2:]
    return LIST if len(rest) == 1 else GET


class CountingProxy:
    """``with CountingProxy(plane) as proxy``: ``proxy.kubeconfig(path)`` points a client at it; ``snapshot()``
    and ``requests_since()`` tell what the client asked for; ``log()`` lists each request."""

    def __init__(self, plane: Any) -> None:
        self.plane = plane
        self._lock = threading.Lock()
        self._requests = 0
        self._watches = 0
        self._writes = 0
        self._open_watches = 0
        self._by_verb: Counter[str] = Counter()
        self._log: list[tuple[float, str, str]] = []
        self._relays: set[Any] = set()
        self._stopped = False
        self._upstream, self._client_context = upstream(plane)
        self._server, self.server = listen(plane, self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="countproxy", daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, path: Path) -> str:
        """A copy of the control plane's kubeconfig whose server is this proxy."""
        return kubeconfig_for(self.plane, self.server, path)

    def snapshot(self) -> Counts:
        """Everything counted so far."""
        with self._lock:
            return Counts(self._requests, self._watches, self._writes, self._open_watches, dict(self._by_verb))

    def requests_since(self, before: Counts) -> Counts:
        """What was counted after ``before`` (a ``snapshot()``); ``open_watches`` is the number open now."""
        now = self.snapshot()
        by_verb = {name: count - before.by_verb.get(name, 0) for name, count in now.by_verb.items()}
        return Counts(now.requests - before.requests, now.watches - before.watches, now.writes - before.writes,
                      now.open_watches, {name: count for name, count in by_verb.items() if count})

    def log(self) -> list[tuple[float, str, str]]:
        """(``time.monotonic()``, verb, path and query) of every request so far, watches included."""
        with self._lock:
            return list(self._log)

    def stop(self) -> None:
        """Stop accepting and close every open connection, each watch's on both sides included."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        with self._lock:  # after the last accept: a relay set up later cuts itself (``Relay.setup``)
            relays = list(self._relays)
        for relay in relays:
            relay.cut()

    def _opened(self, method: str, target: str) -> str:
        """Count a request as it starts; its verb."""
        kind = verb(method, target)
        with self._lock:
            self._log.append((time.monotonic(), kind, target))
            self._by_verb[kind] += 1
            if kind == WATCH:
                self._watches += 1
                self._open_watches += 1
            else:
                self._requests += 1
            if method in _WRITES and not parse_qs(urlsplit(target).query).get("dryRun"):
                self._writes += 1
        return kind

    def _closed(self, kind: str) -> None:
        if kind == WATCH:
            with self._lock:
                self._open_watches -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Relay(BaseHTTPRequestHandler):
            """One client connection, kept alive, with its own upstream connection."""

            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.upstream = http.client.HTTPSConnection(*proxy._upstream, context=proxy._client_context,
                                                            timeout=_REQUEST_TIMEOUT)
                with proxy._lock:
                    proxy._relays.add(self)
                    stopped = proxy._stopped
                if stopped:
                    self.cut()

            def finish(self) -> None:
                with proxy._lock:
                    proxy._relays.discard(self)
                self.upstream.close()
                try:
                    super().finish()
                except OSError:
                    pass

            def cut(self) -> None:
                """Shut both sockets, from another thread: a relay blocked on either side sees an error."""
                for sock in (self.connection, self.upstream.sock):
                    if sock is not None:
                        try:
                            sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass

            def relay(self) -> None:
                body = self._body()
                kind = proxy._opened(self.command, self.path)
                try:
                    answer = self._forward(body, kind)
                    if answer is None:
                        self.send_error(502, "upstream unreachable")
                        self.close_connection = True
                        return
                    self._answer(answer)
                finally:
                    proxy._closed(kind)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = relay  # noqa: N815 - http.server's

            def _body(self) -> bytes | None:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return b"".join(iter(lambda: _read_chunk(self.rfile), b""))
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else None

            def _forward(self, body: bytes | None, kind: str) -> http.client.HTTPResponse | None:
                """Send the request upstream; once more on a fresh connection if the kept-alive one was closed
                by the server before it read the request (as http clients do), else None."""
                headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
                for attempt in (1, 2):
                    reused = self.upstream.sock is not None
                    try:
                        self.upstream.request(self.command, self.path, body=body, headers=headers)
                        if self.upstream.sock is not None:
                            self.upstream.sock.settimeout(None if kind == WATCH else _REQUEST_TIMEOUT)
                        return self.upstream.getresponse()
                    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                        self.upstream.close()
                        if not reused or attempt == 2:
                            return None
                    except (OSError, http.client.HTTPException):
                        self.upstream.close()
                        return None
                return None

            def _answer(self, answer: http.client.HTTPResponse) -> None:
                """The status and headers, then the body as it comes: with its length when the server gave
                one, chunked (each chunk flushed) when it streams, whole when it ends by closing."""
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                if answer.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.flush()  # a watch's headers now: its client waits for them before any event
                    _copy(answer, lambda data: self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data)))
                    self.wfile.write(b"0\r\n\r\n")
                elif answer.length is not None:
                    self.send_header("Content-Length", str(answer.length))
                    self.end_headers()
                    _copy(answer, self.wfile.write)
                else:
                    data = answer.read()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                self.wfile.flush()
                # read to its end, yet still open: a response left open refuses the connection's next request
                answer.close()
                if answer.will_close:
                    self.upstream.close()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        return Relay


def _copy(answer: http.client.HTTPResponse, write: Callable[[bytes], object]) -> None:
    """Write the body as it arrives: ``read1`` returns what one read of the socket gives, never waiting for a
    whole chunk or a full buffer. The client's socket is unbuffered, so each write is sent at once."""
    while data := answer.read1(_CHUNK):
        write(data)


def _read_chunk(stream: Any) -> bytes:
    """One chunk of a chunked request body; b"" at its end (the trailer is read and dropped)."""
    size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
    if size == 0:
        while stream.readline().strip():
            pass
        return b""
    data: bytes = stream.read(size)
    stream.readline()
    return data
