"""A minimal Kubernetes API client on the standard library: JSON over HTTPS with a bearer token.

The harness needs a dozen requests and one watch; the official client costs ~0.5 s to import and turns every
answer into model objects. This one returns decoded JSON and keeps one connection alive per client.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.parse
from collections.abc import Iterator
from typing import Any


class ApiError(RuntimeError):
    """The API server answered a request with an error status."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status
        self.body = body


class ApiClient:
    """JSON over HTTPS with a bearer token, on one kept-alive connection; the standard library keeps it light.

    Not thread-safe: use one client per thread. ``abort()`` is the exception: it may be called from another
    thread to break a blocking ``watch`` and refuse every later request, so a stopping watcher cannot
    reconnect after the abort.
    """

    def __init__(self, server: str, token: str, ca_file: str, *, timeout: float = 30.0) -> None:
        url = urllib.parse.urlsplit(server)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 443
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._context = ssl.create_default_context(cafile=ca_file)
        self._timeout = timeout
        self._conn: http.client.HTTPSConnection | None = None
        self._aborted = False

    def _connection(self, timeout: float | None = None) -> http.client.HTTPSConnection:
        if self._aborted:
            raise ConnectionAbortedError("the API client was aborted")
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(
                self._host, self._port, context=self._context, timeout=timeout or self._timeout
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def abort(self) -> None:
        """Shut the socket down under a reader blocked in another thread, which then sees an error."""
        self._aborted = True
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def _send(self, method: str, path: str, body: Any, content_type: str, *,
              timeout: float | None = None) -> http.client.HTTPResponse:
        payload = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if payload is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            try:
                conn = self._connection(timeout)
                conn.request(method, path, body=payload, headers=headers)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                self.close()
                if attempt == 2 or self._aborted:
                    raise
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, body: Any = None, *,
                content_type: str = "application/json") -> Any:
        """Send one request and return the decoded JSON answer; an error status raises ``ApiError``."""
        response = self._send(method, path, body, content_type)
        raw = response.read()
        try:
            decoded: Any = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")
        if response.status >= 400:
            raise ApiError(method, path, response.status, decoded)
        return decoded

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def create(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: Any = None) -> Any:
        return self.request("DELETE", path, body)

    def watch(self, path: str, *, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        """Yield the events of a watch on ``path`` (a collection) until the server ends it after ``timeout_seconds``.

        The connection is the client's own, opened for the watch, with a read timeout longer than the watch's,
        so a quiet watch ends on the server's schedule rather than by a socket timeout.
        """
        self.close()
        separator = "&" if "?" in path else "?"
        path = f"{path}{separator}watch=true&timeoutSeconds={timeout_seconds}"
        response = self._send("GET", path, None, "application/json", timeout=timeout_seconds + 30.0)
        if response.status >= 400:
            raise ApiError("GET", path, response.status, response.read().decode(errors="replace"))
        try:
            for line in iter(response.readline, b""):
                if line.strip():
                    yield json.loads(line)
        finally:
            self.close()
