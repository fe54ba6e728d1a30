"""The push webhook: verified before anything is parsed or triggered, payloads' repositories matched to apps'."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import socket
from collections.abc import Iterator

import pytest

from gitapply.controller.webhook import MAX_BODY, WebhookServer, repositories, same_repository, serve, verify

SECRET = b"hook-secret-value"
CLONE_URL = "https://github.com/acme/ops.git"
GITHUB_PUSH = {
    "ref": "refs/heads/main",
    "repository": {"clone_url": CLONE_URL, "ssh_url": "git@github.com:acme/ops.git",
                   "git_url": "git://github.com/acme/ops.git", "html_url": "https://github.com/acme/ops",
                   "url": "https://github.com/acme/ops"},
}
GITLAB_PUSH = {
    "object_kind": "push",
    "project": {"git_http_url": "https://gitlab.example.com/group/sub/ops.git",
                "git_ssh_url": "git@gitlab.example.com:group/sub/ops.git",
                "web_url": "https://gitlab.example.com/group/sub/ops"},
    "repository": {"url": "git@gitlab.example.com:group/sub/ops.git",
                   "homepage": "https://gitlab.example.com/group/sub/ops"},
}


def signature(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Trigger:
    """Records each call; answers with the apps of the repositories it knows."""

    def __init__(self, apps: list[str]) -> None:
        self.apps = apps
        self.calls: list[set[str]] = []

    def __call__(self, urls: set[str]) -> list[str]:
        self.calls.append(urls)
        return self.apps if any(same_repository(url, CLONE_URL) for url in urls) else []


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[WebhookServer, Trigger]]:
    """One server for the module: stopping one waits up to half a second for its loop to notice."""
    recorder = Trigger(["shop", "web"])
    running = serve(("127.0.0.1", 0), SECRET, recorder)
    yield running, recorder
    running.shutdown()


@pytest.fixture
def trigger(shared: tuple[WebhookServer, Trigger]) -> Trigger:
    shared[1].calls.clear()
    return shared[1]


@pytest.fixture
def server(shared: tuple[WebhookServer, Trigger], trigger: Trigger) -> WebhookServer:
    return shared[0]


def request(server: WebhookServer, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        text = response.read()
        return response.status, json.loads(text) if text else {}
    finally:
        connection.close()


def github(body: bytes, event: str = "push") -> dict[str, str]:
    return {"X-Hub-Signature-256": signature(body), "X-GitHub-Event": event, "Content-Type": "application/json"}


def test_a_signed_github_push_triggers_the_apps_of_its_repository(server, trigger):
    body = json.dumps(GITHUB_PUSH).encode()
    status, answer = request(server, "POST", "/hooks/git", body, github(body))
    assert (status, answer) == (202, {"apps": ["shop", "web"]})
    assert trigger.calls == [set(GITHUB_PUSH["repository"].values())]


def test_a_gitlab_push_with_the_token_is_accepted(server, trigger):
    body = json.dumps(GITLAB_PUSH).encode()
    status, answer = request(server, "POST", "/hooks/git", body, {"X-Gitlab-Token": SECRET.decode()})
    assert status == 202
    assert answer["apps"] == [] and "no app uses" in answer["message"]
    assert "https://gitlab.example.com/group/sub/ops.git" in trigger.calls[0]


@pytest.mark.parametrize("headers", [
    {"X-Hub-Signature-256": signature(b"another body")},
    {"X-Hub-Signature-256": signature(json.dumps(GITHUB_PUSH).encode(), b"wrong secret")},
    {"X-Hub-Signature-256": "sha256=not-hex"},
    {"X-Hub-Signature-256": ""},
    {},
    {"X-Gitlab-Token": "wrong token"},
    {"X-Gitlab-Token": ""},
], ids=["other body", "other secret", "garbled", "empty", "missing", "wrong gitlab token", "empty gitlab token"])
def test_a_request_without_valid_proof_is_401_and_triggers_nothing(server, trigger, headers):
    status, _ = request(server, "POST", "/hooks/git", json.dumps(GITHUB_PUSH).encode(), headers)
    assert status == 401
    assert trigger.calls == []


def test_github_ping_is_answered_after_verification_without_triggering(server, trigger):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    assert request(server, "POST", "/hooks/git", body, github(body, "ping")) == (200, {"ok": True})
    assert request(server, "POST", "/hooks/git", body, {"X-GitHub-Event": "ping"})[0] == 401
    assert trigger.calls == []


def test_a_signed_body_that_is_not_json_is_400(server, trigger):
    body = b"payload=%7B%7D"
    assert request(server, "POST", "/hooks/git", body, github(body))[0] == 400
    assert trigger.calls == []


def test_a_payload_naming_no_repository_is_accepted_and_says_so(server, trigger):
    body = b"{}"
    status, answer = request(server, "POST", "/hooks/git", body, github(body))
    assert (status, answer["apps"]) == (202, [])
    assert answer["message"] == "the payload names no repository"
    assert trigger.calls == [set()]


def test_other_paths_are_404_and_other_methods_405(server, trigger):
    body = json.dumps(GITHUB_PUSH).encode()
    assert request(server, "POST", "/hooks/other", body, github(body))[0] == 404
    assert request(server, "GET", "/", b"")[0] == 404
    assert request(server, "GET", "/hooks/git")[0] == 405
    assert request(server, "PUT", "/hooks/git", body, github(body))[0] == 405
    assert trigger.calls == []


def test_a_body_over_the_limit_is_413_before_it_is_sent(server, trigger):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(f"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}\r\n"
                       f"X-Hub-Signature-256: {signature(b'')}\r\n\r\n".encode())
        answer = client.makefile("rb").readline()
    assert answer.startswith(b"HTTP/1.0 413") or answer.startswith(b"HTTP/1.1 413")
    assert trigger.calls == []


def test_the_log_names_the_outcome_and_apps_but_never_the_secret_or_signature(server, caplog):
    caplog.set_level(logging.INFO, logger="gitapply.controller")
    body = json.dumps(GITHUB_PUSH).encode()
    headers = github(body)
    request(server, "POST", "/hooks/git", body, headers)
    request(server, "POST", "/hooks/git", body, {"X-Gitlab-Token": SECRET.decode() + "x"})
    assert "202" in caplog.text and "shop, web" in caplog.text and "127.0.0.1" in caplog.text
    assert "401" in caplog.text
    assert SECRET.decode() not in caplog.text
    assert headers["X-Hub-Signature-256"].partition("=")[2] not in caplog.text


def test_serving_without_a_secret_is_refused():
    with pytest.raises(ValueError, match="secret"):
        serve(("127.0.0.1", 0), b"", lambda urls: [])


def test_verify_reads_header_names_in_any_case_and_refuses_an_empty_secret():
    body = b'{"ref": "main"}'
    assert verify(body, {"x-hub-signature-256": signature(body)}, SECRET)
    assert verify(body, {"X-GITLAB-TOKEN": SECRET.decode()}, SECRET)
    assert not verify(body, {"X-Hub-Signature-256": signature(body).replace("sha256", "sha1")}, SECRET)
    assert not verify(body, {"X-Gitlab-Token": "\u20ac"}, SECRET)
    assert not verify(body, {"X-Gitlab-Token": ""}, b"")
    assert not verify(body, {"X-Hub-Signature-256": signature(body, b"")}, b"")


def test_repositories_are_read_from_github_gitlab_and_gitea_payloads():
    assert repositories(GITHUB_PUSH) == set(GITHUB_PUSH["repository"].values())
    assert repositories(GITLAB_PUSH) == {*GITLAB_PUSH["project"].values(), *GITLAB_PUSH["repository"].values()}
    gitea = {"repository": {"clone_url": "https://gitea.example.com/acme/ops.git", "ssh_url": "", "html_url": None}}
    assert repositories(gitea) == {"https://gitea.example.com/acme/ops.git"}
    assert repositories([GITHUB_PUSH]) == set()
    assert repositories({"repository": "https://github.com/acme/ops"}) == set()


@pytest.mark.parametrize("a, b, same", [
    ("https://github.com/acme/ops.git", "https://github.com/acme/ops", True),
    ("https://github.com/acme/ops/", "https://github.com/acme/ops.git", True),
    ("git@github.com:acme/ops.git", "https://github.com/acme/ops", True),
    ("ssh://git@github.com:22/acme/ops.git", "https://github.com/acme/ops", True),
    ("git://github.com/acme/ops.git", "https://github.com/acme/ops", True),
    ("https://deploy:token@github.com/acme/ops.git", "https://github.com/acme/ops", True),
    ("https://GitHub.com/Acme/Ops", "https://github.com/acme/ops", True),
    ("git@gitlab.example.com:group/sub/ops.git", "https://gitlab.example.com/group/sub/ops", True),
    ("https://github.com/acme/ops", "https://github.com/acme/ops-config", False),
    ("https://github.com/acme/ops", "https://gitlab.com/acme/ops", False),
    ("https://github.com/acme/ops", "https://github.com/other/ops", False),
    ("https://[::1]:8443/acme/ops.git", "ssh://git@[::1]/acme/ops", True),
    ("/srv/git/ops.git", "file:///srv/git/ops.git", True),
    ("/srv/git/ops.git/", "/srv/git/../git/ops.git", True),
    ("/srv/git/ops.git", "/srv/git/ops", False),
    ("/srv/git/ops.git", "https://srv/git/ops", False),
])
def test_same_repository(a, b, same):
    assert same_repository(a, b) is same
    assert same_repository(b, a) is same
