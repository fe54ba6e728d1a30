"""``/metrics``, ``/healthz`` and ``/readyz`` over HTTP (``--metrics-addr``), on a thread of its own.

The standard library's threading server is enough for a scrape every few seconds and two probes; the
probes answer 200 with ``ok`` or 503 with the reasons, one per line, so ``kubectl describe pod`` says why.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST

from .metrics import Metrics
from .probes import Probes, healthy, ready


def parse_address(text: str, flag: str = "--metrics-addr") -> tuple[str, int]:
    """``:8080``, ``0.0.0.0:8080`` or ``127.0.0.1:9000`` → (host, port); an empty host listens everywhere."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{flag} {text!r}: expected HOST:PORT or :PORT, e.g. :8080")
    return host.strip("[]"), int(port)


def serve(address: tuple[str, int], metrics: Metrics, probes: Probes,
          clock: Callable[[], float] = time.monotonic) -> ThreadingHTTPServer:
    """Start serving on ``address`` (a daemon thread); ``shutdown()`` the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, metrics.text(), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/livez"):
                self._probe(*healthy(probes.snapshot(), clock()))
            elif path == "/readyz":
                self._probe(*ready(probes.snapshot()))
            else:
                self._answer(404, b"not found: /metrics, /healthz, /readyz\n", "text/plain")

        def _probe(self, ok: bool, reasons: list[str]) -> None:
            body = "ok\n" if ok else "".join(f"{reason}\n" for reason in reasons)
            self._answer(200 if ok else 503, body.encode(), "text/plain; charset=utf-8")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes and probes are not worth a log line each."""

    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
