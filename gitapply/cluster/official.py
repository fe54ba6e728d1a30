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
from pathlib import Path
from typing import Any, Callable

import kubernetes.client
import kubernetes.config
import urllib3
import urllib3.exceptions

from .kubeconfig import KubeconfigError
from .transport import Answer, Unreachable, Untrusted, silence_insecure_warnings

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
        for setting in self._api.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        try:
            response = self._api.rest_client.pool_manager.request(
                method, url, body=body, headers=headers, retries=False, timeout=urllib3.Timeout(total=timeout),
                preload_content=True)
        except urllib3.exceptions.SSLError as exc:
            raise Untrusted(str(exc)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(str(exc)) from exc
        return response.status, response.reason or "", response.data, response.headers


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
