"""The push webhook: GitHub, GitLab or Gitea tells the controller a repository changed, and the apps reading it
run a pass now instead of at their next poll.

Rules:

* ``POST /hooks/git`` only: another path is 404, another method on it 405.
* The request is verified before its body is parsed: GitHub's and Gitea's ``X-Hub-Signature-256``
  (``sha256=`` + hex HMAC-SHA256 of the body under the shared secret) or GitLab's ``X-Gitlab-Token`` (the secret
  itself), both compared in constant time. Anything else is 401 and triggers nothing. An empty secret verifies
  nothing: the receiver would otherwise let anyone make the controller fetch.
* A body over ``MAX_BODY`` bytes is refused (413) from its ``Content-Length`` alone, before it is read.
* The payload names its repository in several spellings (clone URL, SSH URL, web page); every one is passed on,
  and ``same_repository`` matches them against the apps' repositories. A false match costs one fetch, a missed
  one a push that waits for the next poll, so the comparison leans to matching: scheme, user, port, case,
  a trailing ``/`` and ``.git`` are dropped.
* 202 with ``{"apps": [...]}`` the apps triggered (an empty list, said in ``message``, when no app uses the
  repository); GitHub's ``ping`` is 200 ``{"ok": true}``.
* Each request is logged (remote address, outcome, apps), never the secret, the signature or the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from ..source import is_remote, redact

log = logging.getLogger("gitapply.controller")

PATH = "/hooks/git"
MAX_BODY = 1024 * 1024
"""Push payloads are a few kilobytes to a few hundred (GitHub caps them at 25 MB, listing every commit)."""
TIMEOUT = 10.0
"""Seconds a client may take to send its request: a slow one must not hold a thread for ever."""

_URL_FIELDS = {
    "repository": ("clone_url", "ssh_url", "git_url", "html_url", "url", "git_http_url", "git_ssh_url", "homepage"),
    "project": ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url"),
}


def verify(body: bytes, headers: Mapping[str, str], secret: bytes) -> bool:
    """Whether the request carries proof of ``secret``: a valid ``X-Hub-Signature-256`` (GitHub, Gitea) or
    ``X-Gitlab-Token`` (GitLab); header names are case-insensitive. Missing or garbled proof is False."""
    if not secret:
        return False
    named = {name.lower(): value for name, value in headers.items()}
    signature = named.get("x-hub-signature-256")
    if signature is not None:
        algorithm, _, digest = signature.strip().partition("=")
        try:
            given = bytes.fromhex(digest)
        except ValueError:
            return False
        return algorithm == "sha256" and hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).digest(), given)
    token = named.get("x-gitlab-token")
    if token is None:
        return False
    try:
        # http.server decodes header values as ISO-8859-1, so that gives the bytes as sent
        return hmac.compare_digest(token.encode("latin-1"), secret)
    except UnicodeEncodeError:
        return False


def repositories(payload: Any) -> set[str]:
    """The repository URLs a push payload names (GitHub's and Gitea's ``repository``, GitLab's ``project`` and
    ``repository``); empty for anything else."""
    if not isinstance(payload, dict):
        return set()
    found: set[str] = set()
    for section, fields in _URL_FIELDS.items():
        described = payload.get(section)
        if isinstance(described, dict):
            found.update(value for name in fields if isinstance(value := described.get(name), str) and value.strip())
    return found


def same_repository(a: str, b: str) -> bool:
    """Whether two locations name one repository: ``git@host:org/repo.git`` is ``https://host/org/repo``; local
    paths and ``file://`` URLs are compared as absolute real paths."""
    return _normalized(a) == _normalized(b)


def _normalized(location: str) -> str:
    text = location.strip()
    if text.lower().startswith("file://"):
        return "file:" + os.path.realpath(unquote(urlsplit(text).path))
    if not is_remote(text):
        return "file:" + os.path.realpath(text)
    scheme, sep, rest = text.partition("://")
    if sep:
        authority, _, path = rest.partition("/")
        place = authority.rpartition("@")[2]
        # the port goes: one server's SSH and HTTPS ports serve the same repositories (an IPv6 literal keeps its colons)
        host = place.partition("]")[0] + "]" if place.startswith("[") else place.partition(":")[0]
    else:  # scp-like user@host:path
        head, _, path = text.partition(":")
        host = head.rpartition("@")[2]
    path = path.strip("/").removesuffix(".git").rstrip("/")
    # hosts are case-insensitive, and GitHub and GitLab treat paths so too
    return f"{host}/{path}".lower()


class WebhookServer(ThreadingHTTPServer):
    """The receiver's HTTP server; ``shutdown()`` stops it and closes its socket."""

    daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that stalls past ``TIMEOUT`` or drops the connection: a log line, not a traceback on stderr."""
        log.warning(f"webhook: the request from {client_address[0]} failed: {sys.exc_info()[1]!r}")


def serve(address: tuple[str, int], secret: bytes, trigger: Callable[[set[str]], list[str]]) -> WebhookServer:
    """Receive push webhooks on ``address`` (a daemon thread); ``trigger(urls)`` runs the passes of the apps
    using those repositories and returns their names. ``ValueError`` for an empty secret."""
    if not secret:
        raise ValueError("the webhook needs a secret: without one anybody could make the controller fetch")
    server = WebhookServer(address, _handler(secret, trigger))
    threading.Thread(target=server.serve_forever, name="webhook-http", daemon=True).start()
    return server


def _handler(secret: bytes, trigger: Callable[[set[str]], list[str]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = TIMEOUT

        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            if self._path() != PATH:
                return self._answer(404, {"error": f"not found: the webhook is POST {PATH}"})
            size = self._size()
            if size is None:
                return
            body = self.rfile.read(size)
            if not verify(body, dict(self.headers.items()), secret):
                return self._answer(401, {"error": "signature or token missing or wrong"})
            if self.headers.get("X-GitHub-Event", "") == "ping":
                return self._answer(200, {"ok": True})
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                return self._answer(400, {"error": "the body is not JSON"})
            urls = repositories(payload)
            try:
                apps = trigger(urls)
            except Exception:  # noqa: BLE001 - a bug answers 500 and is logged; the server goes on
                log.exception("webhook: triggering the apps failed; this is a bug in gitapply")
                return self._answer(500, {"error": "triggering the apps failed; see the controller's log"})
            answer: dict[str, Any] = {"apps": apps}
            if not apps:
                answer["message"] = ("no app uses " + ", ".join(sorted(map(redact, urls)))) if urls else \
                    "the payload names no repository"
            self._answer(202, answer, apps)

        def _size(self) -> int | None:
            """The body's size from Content-Length, or None once the request was answered (refused)."""
            length = self.headers.get("Content-Length")
            if length is None:
                self._answer(411, {"error": "Content-Length required"})
                return None
            if not length.strip().isdigit():
                self._answer(400, {"error": "Content-Length is not a number"})
                return None
            if int(length) > MAX_BODY:
                # the body stays unread: the connection closes rather than drain a large upload
                self.close_connection = True
                self._answer(413, {"error": f"the body is over {MAX_BODY} bytes"})
                return None
            return int(length)

        def _not_allowed(self) -> None:
            if self._path() != PATH:
                return self._answer(404, {"error": f"not found: the webhook is POST {PATH}"})
            self._answer(405, {"error": f"{self.command} not allowed: POST the push event"})

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # noqa: N815

        def _path(self) -> str:
            return self.path.split("?", 1)[0]

        def _answer(self, status: int, answer: dict[str, Any], apps: list[str] | None = None) -> None:
            outcome = answer.get("error") or answer.get("message") or "ok"
            triggered = f", apps triggered: {', '.join(apps) or 'none'}" if apps is not None else ""
            log.info(f"webhook {self.command} {self._path()} from {self.client_address[0]}: {status} {outcome}"
                     f"{triggered}", extra={"remote": self.client_address[0], "status": status})
            body = (json.dumps(answer) + "\n").encode()
            self.send_response(status)
            if status == 405:
                self.send_header("Allow", "POST")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """``_answer`` logs each request once, through gitapply's logger."""

    return Handler
