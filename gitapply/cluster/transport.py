"""The HTTP layer under ``KubeCluster``: pooled keep-alive connections to the API server, with its TLS
settings and credentials, built from a kubeconfig ``Access`` without the official client.

``DirectTransport`` is the standard library's ``http.client`` with a small pool of its own: urllib3 (which
the official client uses) costs ~40 ms more to import, a sixth of a whole small ``diff``, and gives nothing a
single API server needs beyond a pool of connections to one host.

A ``Transport`` sends one request and returns the raw answer; retries, JSON and error mapping stay in
``kube.py``. Two implementations: ``DirectTransport`` here (token, basic auth, client certificates: every
kubeconfig without a plugin), and ``cluster.official`` (exec and auth-provider plugins, in-cluster), which
imports the official client and so is loaded only for them.

Rules:
- A transport never retries a request on its own, except once on a fresh connection when a kept-alive one
  turns out closed by the server: ``kube.py`` decides what is transient. Failures reach it as ``Unreachable``
  (worth retrying) or ``Untrusted`` (the server's certificate does not verify: retrying cannot help).
- With ``insecure-skip-tls-verify``, urllib3's ``InsecureRequestWarning`` (one per request, official client
  only) is silenced; the CLI says once that the server is not verified.
- A client certificate and key given as data are written to a private temporary folder only for as long
  as ``ssl`` takes to load them (it reads files only), then removed.
- Proxies: the kubeconfig's ``proxy-url``, else ``HTTPS_PROXY``/``HTTP_PROXY`` unless ``NO_PROXY`` matches,
  as kubectl does.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .kubeconfig import Access, KubeconfigError

Answer = tuple[int, str, bytes, Any]  # status, reason, body, headers (a mapping with .get)
TOKEN_FILE_REREAD_SECONDS = 60.0


class Transport(Protocol):
    """Sends one request to the API server; ``server`` is its base URL."""

    server: str
    insecure: bool

    def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
             timeout: float) -> Answer: ...


class Unreachable(OSError):
    """The request did not get an answer (refused, reset, timed out): worth retrying."""


class Untrusted(OSError):
    """The server's TLS certificate does not verify against the kubeconfig's CA (or its name)."""


def silence_insecure_warnings() -> None:
    """urllib3 warns on every unverified request; the kubeconfig asked for it, so say it once, elsewhere."""
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")


class DirectTransport:
    """``http.client`` connections to one API server, configured from a kubeconfig ``Access``."""

    def __init__(self, access: Access, *, pool_size: int = 16) -> None:
        self.server = access.server
        self.insecure = access.insecure
        self._access = access
        self._headers = _static_auth_headers(access)
        self._token_lock = threading.Lock()
        self._token_read_at = -TOKEN_FILE_REREAD_SECONDS
        self._file_token = ""
        parts = urlsplit(access.server)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname or "", parts.port or (443 if self._https else 80)
        self._context = _ssl_context(access) if self._https else None
        self._proxy = urlsplit(_proxy_for(access)) if _proxy_for(access) else None
        self._pool_size = pool_size
        self._idle: list[http.client.HTTPConnection] = []
        self._pool_lock = threading.Lock()

    def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
             timeout: float) -> Answer:
        headers.update(self._headers)
        if self._access.token_file and "Authorization" not in self._headers:
            headers["Authorization"] = f"Bearer {self._token_from_file()}"
        target = url if self._proxy is not None and not self._https else url[len(self.server):] or "/"
        connection, reused = self._connection(timeout)
        try:
            try:
                response = _exchange(connection, method, target, body, headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                connection.close()  # the server closed a kept-alive connection: once more, on a new one
                connection, reused = self._new_connection(timeout), False
                response = _exchange(connection, method, target, body, headers)
            data = response.read()
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            reason = str(exc.reason or "certificate verify failed").replace("_", " ").lower()
            raise Untrusted(f"{reason}: {exc.verify_message}") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise Unreachable(str(exc) or type(exc).__name__) from exc
        if response.will_close:
            connection.close()
        else:
            self._release(connection)
        return response.status, response.reason or "", data, response.headers

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._pool_lock:
            if self._idle:
                connection = self._idle.pop()
                connection.timeout = timeout
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
                return connection, True
        return self._new_connection(timeout), False

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        host, port = (self._proxy.hostname or "", self._proxy.port or 80) if self._proxy else (self._host, self._port)
        connection: http.client.HTTPConnection
        if self._https:
            connection = _HTTPSConnection(host, port, timeout=timeout, context=self._context,
                                          server_hostname=self._access.tls_server_name or self._host)
            if self._proxy is not None:
                connection.set_tunnel(self._host, self._port)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        return connection

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._pool_lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(connection)
                return
        connection.close()

    def _token_from_file(self) -> str:
        """A token file is re-read every minute: the tokens in it (projected service-account tokens) rotate."""
        with self._token_lock:
            now = time.monotonic()
            if now - self._token_read_at >= TOKEN_FILE_REREAD_SECONDS:
                try:
                    self._file_token = Path(self._access.token_file).read_text().strip()
                except OSError as exc:
                    raise KubeconfigError(self._access.origin, f"cannot read tokenFile {self._access.token_file} "
                                                               f"({exc.strerror or exc})") from None
                self._token_read_at = now
            return self._file_token


def _exchange(connection: http.client.HTTPConnection, method: str, target: str, body: bytes | None,
              headers: dict[str, str]) -> http.client.HTTPResponse:
    connection.request(method, target, body=body, headers=headers)
    return connection.getresponse()


class _HTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection that checks the certificate against ``server_hostname`` (the kubeconfig's
    ``tls-server-name``, else the server's host) and sends it as SNI, also through a proxy tunnel."""

    def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext | None,
                 server_hostname: str) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._server_hostname = server_hostname
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        if getattr(self, "_tunnel_host", None):
            self._tunnel()  # type: ignore[attr-defined]
        assert self._tls is not None
        self.sock = self._tls.wrap_socket(sock, server_hostname=self._server_hostname)


def _static_auth_headers(access: Access) -> dict[str, str]:
    if access.token:
        return {"Authorization": f"Bearer {access.token}"}
    if access.username or access.password:
        pair = base64.b64encode(f"{access.username}:{access.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _ssl_context(access: Access) -> ssl.SSLContext:
    """Only the kubeconfig's CA when it names one (as kubectl), else the system's roots."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if access.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif access.ca_pem:
        try:
            context.load_verify_locations(cadata=access.ca_pem.decode("ascii", "replace"))
        except ssl.SSLError as exc:
            raise KubeconfigError(access.origin, f"certificate-authority is not a PEM certificate ({exc.reason}); "
                                                 "fix the cluster's certificate-authority(-data)") from None
    else:
        context.load_default_certs()
    if access.client_cert_pem or access.client_key_pem:
        _load_client_certificate(context, access)
    return context


def _load_client_certificate(context: ssl.SSLContext, access: Access) -> None:
    if not (access.client_cert_pem and access.client_key_pem):
        raise KubeconfigError(access.origin, "a client certificate needs both client-certificate(-data) and "
                                             "client-key(-data)")
    import tempfile  # on use: only client certificates are written out

    with tempfile.TemporaryDirectory(prefix="gitapply-tls-") as folder:
        cert, key = Path(folder) / "client.crt", Path(folder) / "client.key"
        for path, data in ((cert, access.client_cert_pem), (key, access.client_key_pem)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
        try:
            context.load_cert_chain(str(cert), str(key))
        except ssl.SSLError as exc:
            raise KubeconfigError(access.origin, f"the client certificate and key do not load ({exc.reason}); "
                                                 "check client-certificate(-data) and client-key(-data)") from None


def _proxy_for(access: Access) -> str:
    if access.proxy_url:
        return access.proxy_url
    host = urlsplit(access.server).hostname or ""
    scheme = "https" if access.server.startswith("https://") else "http"
    proxy = os.environ.get(f"{scheme}_proxy") or os.environ.get(f"{scheme.upper()}_PROXY") or ""
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    return "" if not proxy or _bypassed(host, no_proxy) else proxy


def _bypassed(host: str, no_proxy: str) -> bool:
    """``NO_PROXY`` as curl and Go read it: ``*``, exact hosts, and domain suffixes (``.example.com``)."""
    for entry in (part.strip().lower() for part in no_proxy.split(",")):
        entry = entry.split(":")[0] if entry.count(":") == 1 else entry
        if entry == "*" or (entry and (host == entry.lstrip(".") or host.endswith("." + entry.lstrip(".")))):
            return True
    return False
