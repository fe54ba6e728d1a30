"""The HTTP layer under ``KubeCluster``: one pooled urllib3 connection to the API server, with its TLS
settings and credentials, built from a kubeconfig ``Access`` without the official client.

A ``Transport`` sends one request and returns the raw answer; retries, JSON and error mapping stay in
``kube.py``. Two implementations: ``DirectTransport`` here (token, basic auth, client certificates: every
kubeconfig without a plugin), and ``cluster.official`` (exec and auth-provider plugins, in-cluster), which
imports the official client and so is loaded only for them.

Rules:
- urllib3 never retries on its own (``retries=False``): ``kube.py`` decides what is transient.
- With ``insecure-skip-tls-verify``, urllib3's ``InsecureRequestWarning`` (one per request) is silenced; the
  CLI says once that the server is not verified.
- A client certificate and key given as data are written to a private temporary folder only for as long
  as ``ssl`` takes to load them (it reads files only), then removed.
- Proxies: the kubeconfig's ``proxy-url``, else ``HTTPS_PROXY``/``HTTP_PROXY`` unless ``NO_PROXY`` matches,
  as kubectl does.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Mapping, Protocol
from urllib.parse import urlsplit

import urllib3
import urllib3.exceptions

from .kubeconfig import Access, KubeconfigError

Answer = tuple[int, str, bytes, Mapping[str, str]]
TOKEN_FILE_REREAD_SECONDS = 60.0


class Transport(Protocol):
    """Sends one request to the API server; ``server`` is its base URL."""

    server: str
    insecure: bool

    def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
             timeout: float) -> Answer: ...


def silence_insecure_warnings() -> None:
    """urllib3 warns on every unverified request; the kubeconfig asked for it, so say it once, elsewhere."""
    warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)


class DirectTransport:
    """urllib3 on its own, configured from a kubeconfig ``Access``."""

    def __init__(self, access: Access, *, pool_size: int = 16) -> None:
        self.server = access.server
        self.insecure = access.insecure
        self._access = access
        self._headers = _static_auth_headers(access)
        self._token_lock = threading.Lock()
        self._token_read_at = -TOKEN_FILE_REREAD_SECONDS
        self._file_token = ""
        options: dict[str, Any] = {"maxsize": pool_size, "retries": False}
        if access.server.startswith("https://"):
            options.update(ssl_context=_ssl_context(access),
                           cert_reqs="CERT_NONE" if access.insecure else "CERT_REQUIRED")
            if access.insecure:
                options["assert_hostname"] = False
                silence_insecure_warnings()
            elif access.tls_server_name:
                options["server_hostname"] = access.tls_server_name
        proxy = _proxy_for(access)
        self._pool: urllib3.PoolManager = (urllib3.ProxyManager(proxy, **options) if proxy
                                           else urllib3.PoolManager(**options))

    def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
             timeout: float) -> Answer:
        headers.update(self._headers)
        if self._access.token_file and "Authorization" not in self._headers:
            headers["Authorization"] = f"Bearer {self._token_from_file()}"
        response = self._pool.request(method, url, body=body, headers=headers, retries=False,
                                      timeout=urllib3.Timeout(total=timeout), preload_content=True)
        return response.status, response.reason or "", response.data, response.headers

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
