"""A TLS proxy in front of the test API server that dies part-way through an apply, as a real server can.

It forwards every request until ``writes`` writes (POST, PUT, PATCH, DELETE without ``dryRun``) have been
forwarded; the next write is not forwarded: once the writes in flight are answered (so exactly ``writes``
were made and acknowledged, whatever the timing), the proxy closes every connection and its listening
socket, so the client sees a connection cut mid-request and every retry refused — what a client of a
crashed API server, or of one behind a load balancer that lost it, sees. Dry-runs and reads pass, so an apply's
preflight completes and the cut falls among its writes.
"""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from .tlsproxy import kubeconfig_for, listen, upstream

_WRITES = ("POST", "PUT", "PATCH", "DELETE")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class CuttingProxy:
    """``with CuttingProxy(plane, writes=10) as proxy``: ``proxy.kubeconfig(path)`` points a client at it.

    ``lose_answer=N`` instead keeps serving but loses the server's answer to the N-th write: the write is
    made, and the client sees its connection closed with no reply, as when a load balancer drops it."""

    def __init__(self, plane: Any, *, writes: int | None = None, lose_answer: int | None = None) -> None:
        self.plane = plane
        self.allowed = writes if writes is not None else 1 << 30
        self.lose_answer = lose_answer
        self.lost = 0  # answers lost
        self.forwarded = 0  # writes forwarded
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._in_flight = 0
        self._sockets: set[socket.socket] = set()
        self._upstream, self._client_context = upstream(plane)
        self._server, self.server = listen(plane, self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._die()

    def kubeconfig(self, path: Path) -> str:
        """A copy of the control plane's kubeconfig whose server is this proxy."""
        return kubeconfig_for(self.plane, self.server, path)

    def _die(self) -> None:
        """Stop accepting (later connections are refused) and cut every open connection."""
        with self._lock:
            if self.cut.is_set():
                return
            self.cut.set()
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=30)
        threading.Thread(target=self._server.shutdown, daemon=True).start()
        self._server.socket.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _admit(self, method: str, path: str) -> tuple[bool, bool]:
        """Whether this request may pass (every request until the allowed writes have been forwarded), and
        whether its answer is to be lost."""
        with self._lock:
            if self.cut.is_set():
                return False, False
            write = method in _WRITES and "dryRun=" not in path
            admitted = not write or self.forwarded < self.allowed
            self.forwarded += write and admitted
            self._in_flight += admitted
            lose = write and admitted and self.forwarded == self.lose_answer
        if not admitted:
            self._die()
        return admitted, lose

    def _answered(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._settled.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._sockets.add(self.connection)
                self.upstream = http.client.HTTPSConnection(*proxy._upstream, context=proxy._client_context,
                                                            timeout=30)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._sockets.discard(self.connection)
                self.upstream.close()
                try:
                    super().finish()
                except OSError:
                    pass

            def relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                admitted, lose = proxy._admit(self.command, self.path)
                if not admitted:
                    self.close_connection = True
                    return
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = self.upstream.getresponse()
                    data = answer.read()
                    if lose:
                        proxy.lost += 1
                        self.close_connection = True
                        return
                    self.send_response(answer.status, answer.reason)
                    for name, value in answer.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                finally:
                    proxy._answered()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay  # noqa: N815 - http.server's names

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        return Relay
