"""The real cluster backend's own behaviour, against a scripted HTTP server on loopback: kubeconfig handling,
retries of transient failures, and API errors mapped to messages that name the object and say what to do."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitapply.cluster.kube import KubeCluster
from gitapply.errors import ConflictingWriteError, ConnectionFailedError, InvalidObjectError, UnknownKindError
from gitapply.model import ObjectKey, PatchType

DEPLOYMENTS = {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
    {"name": "deployments", "namespaced": True, "kind": "Deployment", "verbs": ["get", "list", "patch"]},
    {"name": "deployments/status", "namespaced": True, "kind": "Deployment", "verbs": ["get"]}]}


class Script:
    """Answers per (method, path): a list of (status, body) consumed in order, the last one repeating."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[tuple[int, dict]]] = {}
        self.seen: list[tuple[str, str, str]] = []
        self.authorization: list[str | None] = []

    def on(self, method: str, path: str, *answers: tuple[int, dict]) -> None:
        self.answers[(method, path)] = list(answers)

    def answer(self, method: str, path: str) -> tuple[int, dict]:
        queue = self.answers.get((method, path.split("?")[0]))
        if not queue:
            return 404, {"kind": "Status", "reason": "NotFound", "message": f"{path} not found"}
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server(tmp_path: Path):
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            script.seen.append((self.command, self.path, body))
            script.authorization.append(self.headers.get("Authorization"))
            status, payload = script.answer(self.command, self.path)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _reply

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "one",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{httpd.server_port}"}}],
        "users": [{"name": "u", "user": {"token": "secret-token"}}],
        "contexts": [{"name": "one", "context": {"cluster": "c", "user": "u", "namespace": "shop"}},
                     {"name": "two", "context": {"cluster": "c", "user": "u"}}]}))
    script.kubeconfig = str(kubeconfig)
    script.stop = lambda: (httpd.shutdown(), httpd.server_close())  # later connections are refused
    yield script
    httpd.shutdown()


def cluster(server: Script, **options) -> KubeCluster:
    return KubeCluster(kubeconfig=server.kubeconfig, retries=3, **options)


def test_the_default_namespace_comes_from_the_chosen_context(server):
    assert cluster(server).default_namespace() == "shop"
    assert cluster(server, context="two").default_namespace() == "default"


def test_a_missing_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(ConnectionFailedError, match="absent: no kubeconfig at this path; check --kubeconfig"):
        KubeCluster(kubeconfig=str(tmp_path / "absent"))


def test_transient_failures_are_retried_with_backoff(server):
    server.on("GET", "/version", (503, {"message": "busy"}), (429, {"message": "slow down"}),
              (200, {"gitVersion": "v1.20.2"}))
    client = cluster(server)
    assert client.server_version() == "v1.20.2"
    assert client.requests == 3


def test_every_request_carries_the_kubeconfig_users_bearer_token(server):
    server.on("GET", "/version", (200, {"gitVersion": "v1.20.2"}))
    client = cluster(server)
    client.server_version()
    client.request("GET", "/version")
    assert server.authorization == ["Bearer secret-token", "Bearer secret-token"]


def test_an_unknown_kind_names_the_versions_that_serve_it(server):
    server.on("GET", "/apis/apps/v1beta9", (404, {"message": "not found"}))
    server.on("GET", "/api", (200, {"versions": ["v1"]}))
    server.on("GET", "/api/v1", (200, {"resources": []}))
    server.on("GET", "/apis", (200, {"groups": [{"versions": [{"groupVersion": "apps/v1"}]}]}))
    server.on("GET", "/apis/apps/v1", (200, DEPLOYMENTS))
    with pytest.raises(UnknownKindError, match="apps/v1beta9.*offers it as apps/v1"):
        cluster(server).resource("apps/v1beta9", "Deployment")


def test_lists_are_paginated_and_items_get_their_kind(server):
    server.on("GET", "/apis/apps/v1", (200, DEPLOYMENTS))
    server.on("GET", "/apis/apps/v1/deployments",
              (200, {"items": [{"metadata": {"name": "a", "namespace": "x"}}], "metadata": {"continue": "t1"}}),
              (200, {"items": [{"metadata": {"name": "b", "namespace": "y"}}], "metadata": {}}))
    items = cluster(server).list("apps/v1", "Deployment")
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert all(i["kind"] == "Deployment" and i["apiVersion"] == "apps/v1" for i in items)
    assert "continue=t1" in server.seen[-1][1]


def test_a_rejected_patch_names_the_object_and_the_field(server):
    server.on("GET", "/apis/apps/v1", (200, DEPLOYMENTS))
    server.on("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", (422, {
        "kind": "Status", "reason": "Invalid", "message": "field is immutable",
        "details": {"causes": [{"field": "spec.selector", "message": "field is immutable"}]}}))
    key = ObjectKey("apps", "v1", "Deployment", "shop", "web")
    with pytest.raises(InvalidObjectError) as caught:
        cluster(server).patch(key, {"spec": {}}, PatchType.STRATEGIC)
    assert str(caught.value).startswith("apps/Deployment/shop/web: ")
    assert "spec.selector" in str(caught.value)
    patch_request = server.seen[-1]
    assert json.loads(patch_request[2]) == {"spec": {}}


def test_a_conflict_is_reported_as_such_and_not_retried_by_the_backend(server):
    server.on("GET", "/apis/apps/v1", (200, DEPLOYMENTS))
    server.on("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", (409, {"reason": "Conflict",
                                                                              "message": "changed"}))
    client = cluster(server)
    with pytest.raises(ConflictingWriteError, match="re-run"):
        client.patch(ObjectKey("apps", "v1", "Deployment", "shop", "web"), {}, PatchType.STRATEGIC)
    assert sum(1 for method, *_ in server.seen if method == "PATCH") == 1


def test_an_unreachable_server_says_where_it_looked(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    client = KubeCluster(kubeconfig=str(kubeconfig), retries=5)
    with pytest.raises(ConnectionFailedError, match="^cannot reach the API server at http://127.0.0.1:9"):
        client.server_version()
    assert client.requests == 1, "a server that never answered is not retried for seconds (kubectl fails at once)"


def test_a_server_gone_mid_run_costs_one_round_of_retries_not_one_per_request(server, monkeypatch):
    """A server that answered may be restarting: retried. Once a request has spent its retries on it, the
    next requests (the rest of an apply, its inventory) fail at once instead of waiting 6 s each."""
    monkeypatch.setattr("gitapply.cluster.kube.time.sleep", lambda seconds: None)
    server.on("GET", "/version", (200, {"gitVersion": "v1.20.2"}))
    client = cluster(server)
    client.server_version()
    server.stop()
    for _ in range(3):
        with pytest.raises(ConnectionFailedError, match="cannot reach the API server"):
            client.get(ObjectKey("", "v1", "Namespace", "", "shop"))
    assert client.requests == 1 + (3 + 1) + 1 + 1


def test_prefetched_discovery_is_asked_once_however_many_threads_look_it_up(server, tmp_path, monkeypatch):
    """prefetch returns at once; lookups racing it wait for its answer instead of asking again."""
    monkeypatch.setenv("GITAPPLY_CACHE", str(tmp_path / "cache"))
    core = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "configmaps", "namespaced": True, "kind": "ConfigMap", "verbs": ["get", "list"]}]}
    server.on("GET", "/api/v1", (200, core))
    server.on("GET", "/apis/apps/v1", (200, DEPLOYMENTS))
    server.on("GET", "/version", (200, {"gitVersion": "v1.20.2"}))
    client = cluster(server)
    client.prefetch(["v1", "apps/v1"])
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda kind: client.resource(*kind), [("v1", "ConfigMap"), ("apps/v1", "Deployment")] * 8))
    assert {resource.name for resource in found} == {"configmaps", "deployments"}
    client.prefetch(["v1", "apps/v1"])  # known now: nothing is asked again
    assert client.server_version() == "v1.20.2"
    paths = [path.split("?")[0] for method, path, _ in server.seen]
    assert paths.count("/api/v1") == 1 and paths.count("/apis/apps/v1") == 1 and paths.count("/version") == 1


def exec_plugin(folder: Path, token: str) -> Path:
    """A credential plugin as kubectl runs them: a program printing an ExecCredential."""
    script = folder / "get-token"
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": token}}
    script.write_text(f"#!{sys.executable}\nimport json\nprint(json.dumps({credential!r}))\n")
    script.chmod(0o755)
    return script


def test_an_exec_plugins_token_is_sent(server, tmp_path):
    document = json.loads(Path(server.kubeconfig).read_text())
    document["users"] = [{"name": "u", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(exec_plugin(tmp_path, "from-exec")),
        "interactiveMode": "Never"}}}]
    Path(server.kubeconfig).write_text(json.dumps(document))
    server.on("GET", "/version", (200, {"gitVersion": "v1.20.2"}))
    assert cluster(server).server_version() == "v1.20.2"
    assert server.authorization == ["Bearer from-exec"]


def test_a_plain_kubeconfig_loads_neither_the_official_client_nor_urllib3(server):
    code = ("import sys; from gitapply.cluster.kube import KubeCluster; "
            f"KubeCluster(kubeconfig={server.kubeconfig!r}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'jsonschema', 'deepdiff', 'urllib3', 'pydantic')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
