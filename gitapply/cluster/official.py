"""The official ``kubernetes`` client, for what only it does here: exec and auth-provider credential
plugins, and the in-cluster service account. The only module that imports ``kubernetes``.

Importing the client costs 0.25–0.45 s (it loads every generated model), so ``kube.py`` imports this module
only when the kubeconfig's user runs a plugin or gitapply runs in a pod; every other kubeconfig goes through
``transport.DirectTransport``. The client is used for configuration and credentials and its connection
pool; bodies are encoded and decoded by gitapply, never through the generated models.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, Callable

import kubernetes.client
import kubernetes.config
import urllib3
import urllib3.exceptions

from .kubeconfig import KubeconfigError
from .transport import Answer, Stream, Unreachable, Untrusted, silence_insecure_warnings

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class OfficialTransport:
    """Requests on the official client's connection pool, with the credentials its loaders produce."""

    def __init__(self, configuration: Any, *, pool_size: int) -> None:
        configuration.connection_pool_maxsize = pool_size
        if configuration.refresh_api_key_hook is not None:
            configuration.refresh_api_key_hook = _throttled(configuration.refresh_api_key_hook, seconds=10.0)
        self.insecure = not configuration.verify_ssl
        if self.insecure:
            silence_insecure_warnings()
        self._api = kubernetes.client.ApiClient(configuration)
        self.server = str(configuration.host).rstrip("/")

    def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
             timeout: float) -> Answer:
        self._authorize(headers)
        try:
            response = self._api.rest_client.pool_manager.request(
                method, url, body=body, headers=headers, retries=False, timeout=urllib3.Timeout(total=timeout),
                preload_content=True)
        except urllib3.exceptions.SSLError as exc:
            raise Untrusted(str(exc)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(str(exc)) from exc
        return response.status, response.reason or "", response.data, response.headers

    def stream(self, url: str, headers: dict[str, str], *, timeout: float, idle_timeout: float) -> Stream:
        self._authorize(headers)
        try:
            response = self._api.rest_client.pool_manager.request(
                "GET", url, headers=headers, retries=False, preload_content=False,
                timeout=urllib3.Timeout(connect=timeout, read=idle_timeout))
        except urllib3.exceptions.SSLError as exc:
            raise Untrusted(str(exc)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(str(exc)) from exc
        return _Urllib3Stream(response)

    def _authorize(self, headers: dict[str, str]) -> None:
        for setting in self._api.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]


class _Urllib3Stream:
    """A streamed answer from urllib3's pool. A connection read to its end goes back to the pool; one closed
    early is dropped (its unread rest would corrupt the next request)."""

    def __init__(self, response: Any) -> None:
        self.status = int(response.status)
        self.reason = str(response.reason or "")
        self._response = response
        self._closed = False

    def read(self) -> bytes:
        try:
            return bytes(self._response.read())
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(str(exc)) from exc
        finally:
            self._response.release_conn()

    def lines(self) -> Generator[bytes, None, None]:
        pending = b""
        try:
            # per HTTP chunk as it arrives: the API server flushes one chunk per watch event
            for chunk in self._response.stream(1 << 16):
                *complete, pending = (pending + chunk).split(b"\n")
                yield from (line + b"\n" for line in complete)
            if pending:
                yield pending
            self._response.release_conn()
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if not self._closed:
                raise Unreachable(str(exc)) from exc
        finally:
            self._response.close()

    def close(self) -> None:
        self._closed = True
        shutdown = getattr(self._response, "shutdown", None)  # urllib3 >= 2.3: wakes a read in another thread
        if shutdown is not None:
            shutdown()
        else:
            self._response.close()


def from_kubeconfig(files: list[str], context: str | None, *, pool_size: int) -> OfficialTransport:
    """The official client's kubeconfig loader, for a user with an exec or auth-provider plugin."""
    configuration = kubernetes.client.Configuration()
    where = os.pathsep.join(files)
    try:
        kubernetes.config.load_kube_config(config_file=os.pathsep.join(files), context=context,
                                           client_configuration=configuration, persist_config=False)
    except (kubernetes.config.ConfigException, ValueError, KeyError, OSError) as exc:
        raise KubeconfigError(where, f"the credential plugin failed ({_first_line(exc)}); check the user's exec "
                                     "or auth-provider settings") from exc
    return OfficialTransport(configuration, pool_size=pool_size)


def in_cluster(*, pool_size: int) -> tuple[OfficialTransport, str]:
    """The pod's service account; the namespace it runs in."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException as exc:
        raise KubeconfigError("in-cluster", f"cannot use the pod's service account ({_first_line(exc)}); "
                                            "mount its token or pass --kubeconfig") from exc
    namespace_file = SERVICE_ACCOUNT / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
    return OfficialTransport(configuration, pool_size=pool_size), namespace or "default"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _throttled(hook: Callable[[Any], None], *, seconds: float) -> Callable[[Any], None]:
    """The client re-reads the kubeconfig's credentials before every request (to refresh exec and OIDC
    tokens), re-resolving proxies from the environment each time: a third of a millisecond per request,
    which adds up to seconds over thousands of writes. Tokens live for minutes; refreshing at most every
    ``seconds`` keeps them fresh. (Each refresh installs a new hook; it is taken and wrapped again.)"""
    lock = threading.Lock()
    current = [hook]
    last = [-seconds]

    def refresh(configuration: Any) -> None:
        with lock:
            now = time.monotonic()
            if now - last[0] < seconds:
                return
            current[0](configuration)
            last[0] = now
            if configuration.refresh_api_key_hook is not refresh:
                current[0] = configuration.refresh_api_key_hook
                configuration.refresh_api_key_hook = refresh

    return refresh
