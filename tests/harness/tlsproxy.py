"""What the test proxies in front of the API server share: a TLS listener with the server's own certificate,
the way to the server behind it, and a kubeconfig that points a client at the proxy.

``TLSServer`` makes each TLS handshake in its connection's own thread. Wrapping the listening socket instead
would make every handshake in the accept loop, one after another: a client slow to complete one (a busy
controller's thread) would hold up all the others. The backlog is large so that a burst of new connections (a
controller's many threads at its first passes) waits in the queue rather than having SYNs dropped and retried
1, 3, 7, 15 s later, which a test or a benchmark would see as stalls.
"""

from __future__ import annotations

import json
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class TLSServer(ThreadingHTTPServer):
    """A thread per connection, each making its own TLS handshake (see the module docstring)."""

    request_queue_size = 1024
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except OSError:
            return  # a client gone during its handshake: nothing to relay
        try:
            super().finish_request(tls, client_address)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-answer, or the proxy cutting connections, is expected: no traceback."""


def listen(plane: Any, handler: type[BaseHTTPRequestHandler]) -> tuple[TLSServer, str]:
    """A ``TLSServer`` on a free loopback port, presenting the API server's certificate; and its URL."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*plane.serving_certificate)
    server = TLSServer(("127.0.0.1", 0), handler, context)
    return server, f"https://127.0.0.1:{server.server_address[1]}"


def upstream(plane: Any) -> tuple[tuple[str, int], ssl.SSLContext]:
    """The API server's address, and a TLS context that trusts it, for the proxy's own connections to it."""
    parts = urlsplit(plane.server)
    return (parts.hostname or "127.0.0.1", parts.port or 443), ssl.create_default_context(cafile=plane.ca_file)


def kubeconfig_for(plane: Any, server: str, path: Path) -> str:
    """A copy of the control plane's kubeconfig, written to ``path``, whose server is ``server``."""
    config = json.loads(Path(plane.kubeconfig).read_text())
    config["clusters"][0]["cluster"]["server"] = server
    path.write_text(json.dumps(config))
    return str(path)
