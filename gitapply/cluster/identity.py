"""Who is acting, as far as the client can tell: recorded on a hold so the next operator knows whom to ask.

A v1.20 API server has no "who am I" request (``SelfSubjectReview`` came in 1.26), so the name is read from
the credentials, best first:

* a service account's token (a pod's, or one in the kubeconfig): the ``sub`` claim of the JWT, as the server
  authenticates it (``system:serviceaccount:NAMESPACE:NAME``); the signature is not checked, the server does
  that on every request;
* basic auth: the user name;
* otherwise the kubeconfig's user entry (``admin``), a local name for the credentials.

Outside a pod the login and host of the person at the keyboard follow in brackets (``admin (alice@laptop)``):
several people often share one kubeconfig user. Nothing here fails: an unreadable credential gives a less
precise name, never an error.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import socket

from . import kubeconfig

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def acting_user(kubeconfig_flag: str | None = None, context: str | None = None, *, local: bool = False) -> str:
    """The name to record for the current user of ``--kubeconfig``/``--context`` (``local``: the embedded
    cluster, which has no users)."""
    person = _person()
    if local:
        return person
    files = kubeconfig.kubeconfig_files(kubeconfig_flag)
    if not files and not kubeconfig_flag and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return _service_account(_read(SERVICE_ACCOUNT_TOKEN)) or "in-cluster service account"
    try:
        access = kubeconfig.load(files, context)
    except kubeconfig.KubeconfigError:
        return person
    token = access.token or (_read(access.token_file) if access.token_file else "")
    name = _service_account(token) or access.username or access.user or "unknown"
    return f"{name} ({person})"


def _person() -> str:
    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        login = "unknown"
    return f"{login}@{socket.gethostname()}"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _service_account(token: str) -> str:
    """The ``sub`` claim of a service account's JWT; "" for any other token."""
    parts = token.split(".")
    if len(parts) != 3:
        return ""
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return ""
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) and subject.startswith("system:serviceaccount:") else ""
