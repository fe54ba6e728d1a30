"""The HTTP layer under ``KubeCluster``: pooled keep-alive connections to the API server, with its TLS
settings and credentials, built from a kubeconfig ``Access`` without the official client.

``DirectTransport`` is the standard library's ``http.client`` with a small pool of its own: urllib3 (which
the official client uses) costs ~40 ms more to import, a sixth of a whole small ``diff``, and gives nothing a
single API server needs beyond a pool of connections to one host.

A ``Transport`` sends one request and returns the raw answer; retries, JSON and error mapping stay in
``kube.py``. ``stream`` opens a long GET (a watch) and hands its body over line by line as it arrives, on a
connection of its own (never the pool's: a watch holds it for minutes); its ``close`` may be called from any
thread and ends a read blocked in another, so a watching thread can be stopped at once. Two implementations:
``DirectTransport`` here (token, basic auth, client certificates: every kubeconfig without a plugin), and
``cluster.official`` (exec and auth-provider plugins, in-cluster), which imports the official client and so is
loaded only for them.

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
from collections.abc import Generator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .kubeconfig import Access, KubeconfigError

Answer = tuple[int, str, bytes, Any]  # status, reason, body, headers (a mapping with .get)
TOKEN_FILE_REREAD_SECONDS = 60.0


class Stream(Protocol):
    """The answer to a long GET, its body read as it comes."""

    status: int
    reason: str

    def read(self) -> bytes:
        """The whole body (of an error answer), then the stream is closed."""
        ...

    def lines(self) -> Generator[bytes, None, None]:
        """The body line by line until the server ends it (``Unreachable`` if the connection breaks)."""
        ...

    def close(self) -> None:
        """Close the connection; from any thread, ending a ``lines`` blocked in another."""
        ...


class Transport(Protocol):
    """Sends one request to the API server; ``server`` is its base URL."""

    server: str
    insecure: bool

    def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
             timeout: float) -> Answer: ...

    def stream(self, url: str, headers: dict[str, str], *, timeout: float, idle_timeout: float) -> Stream:
        """GET ``url`` and return once the status is in; ``timeout`` bounds connecting and the answer's head,
        ``idle_timeout`` each wait for more of the body."""
        ...


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
        target = self._prepare(url, headers)
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
        except (OSError, http.client.HTTPException) as exc:
            raise _failed(connection, exc) from exc
        if response.will_close:
            connection.close()
        else:
            self._release(connection)
        return response.status, response.reason or "", data, response.headers

    def stream(self, url: str, headers: dict[str, str], *, timeout: float, idle_timeout: float) -> Stream:
        target = self._prepare(url, headers)
        connection = self._new_connection(timeout)
        try:
            response = _exchange(connection, "GET", target, None, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise _failed(connection, exc) from exc
        if connection.sock is not None:
            connection.sock.settimeout(idle_timeout)
        return _DirectStream(connection, response)

    def _prepare(self, url: str, headers: dict[str, str]) -> str:
        """Add the credentials to ``headers``; the request target for ``url``."""
        headers.update(self._headers)
        if self._access.token_file and "Authorization" not in self._headers:
            headers["Authorization"] = f"Bearer {self._token_from_file()}"
        return url if self._proxy is not None and not self._https else url[len(self.server):] or "/"

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


class _DirectStream:
    """A streamed answer on a connection of its own, closed with it. Only the thread reading the body closes
    the response (``close`` from another thread shuts the socket down, which ends that read)."""

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.reason = response.reason or ""
        self._connection = connection
        self._response = response
        self._closed = False
        self._reading = False

    def read(self) -> bytes:
        try:
            return self._response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(str(exc) or type(exc).__name__) from exc
        finally:
            self._release()

    def lines(self) -> Generator[bytes, None, None]:
        self._reading = True
        try:
            while line := self._response.readline():
                yield line
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if not self._closed:  # after close() a failure of the read it interrupted is just that close
                raise Unreachable(str(exc) or type(exc).__name__) from exc
        finally:
            self._release()

    def close(self) -> None:
        self._closed = True
        sock = self._connection.sock
        if sock is not None:
            try:
                # shutdown, unlike close, wakes a recv blocked in another thread
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if not self._reading:
            self._release()

    def _release(self) -> None:
        self._closed = True
        self._response.close()
        self._connection.close()


def _untrusted(exc: ssl.SSLCertVerificationError) -> Untrusted:
    reason = str(exc.reason or "certificate verify failed").replace("_", " ").lower()
    return Untrusted(f"{reason}: {exc.verify_message}")


def _failed(connection: http.client.HTTPConnection, exc: Exception) -> OSError:
    """The connection closed, and the failure as the transport reports it: ``Untrusted`` for a certificate that
    does not verify (retrying cannot help), else ``Unreachable``."""
    connection.close()
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _untrusted(exc)
    return Unreachable(str(exc) or type(exc).__name__)


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
