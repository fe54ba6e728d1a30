"""gitapply's own kubeconfig reader: which files, how they merge, what each context resolves to, and a clear
error (naming the file or context) for every way a kubeconfig can be wrong."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitapply.cluster.kubeconfig import KubeconfigError, kubeconfig_files, load
from gitapply.cluster.transport import DirectTransport, _bypassed

CA = b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n"


def config(*, current: str = "main", clusters: dict[str, Any] | None = None, users: dict[str, Any] | None = None,
           contexts: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": current,
            "clusters": [{"name": n, "cluster": c} for n, c in (clusters or {}).items()],
            "users": [{"name": n, "user": u} for n, u in (users or {}).items()],
            "contexts": [{"name": n, "context": c} for n, c in (contexts or {}).items()]}


def simple(user: dict[str, Any] | None = None, **cluster: Any) -> dict[str, Any]:
    return config(clusters={"c": {"server": "https://10.0.0.1:6443", **cluster}},
                  users={"u": user if user is not None else {"token": "t0"}},
                  contexts={"main": {"cluster": "c", "user": "u", "namespace": "shop"},
                            "other": {"cluster": "c", "user": "u"}})


def write(path: Path, document: Any) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_the_current_context_gives_server_namespace_and_token(tmp_path):
    access = load([write(tmp_path / "config", simple())])
    assert (access.server, access.namespace, access.context, access.token) == (
        "https://10.0.0.1:6443", "shop", "main", "t0")
    assert access.plugin == "" and not access.insecure


def test_a_named_context_is_used_and_without_a_namespace_means_default(tmp_path):
    access = load([write(tmp_path / "config", simple())], "other")
    assert (access.context, access.namespace) == ("other", "default")


def test_an_unknown_context_names_the_file_and_the_contexts_there_are(tmp_path):
    path = write(tmp_path / "config", simple())
    with pytest.raises(KubeconfigError, match=r"config: context 'prod' not found \(contexts: main, other\)"):
        load([path], "prod")


def test_no_current_context_says_to_pass_one(tmp_path):
    with pytest.raises(KubeconfigError, match="no current-context set; pass --context"):
        load([write(tmp_path / "config", {**simple(), "current-context": ""})])


def test_a_context_naming_an_undefined_cluster_or_user_is_an_error(tmp_path):
    document = simple()
    document["contexts"][0]["context"]["cluster"] = "gone"
    with pytest.raises(KubeconfigError, match="names cluster 'gone', which is not defined"):
        load([write(tmp_path / "a", document)])
    document = simple()
    document["contexts"][0]["context"]["user"] = "nobody"
    with pytest.raises(KubeconfigError, match="names user 'nobody', which is not defined"):
        load([write(tmp_path / "b", document)])


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    path = write(tmp_path / "config", "apiVersion: v1\nclusters:\n  - name: c\n   cluster: [\n")
    with pytest.raises(KubeconfigError, match=r"config:\d+: not valid YAML"):
        load([path])


def test_a_kubeconfig_that_is_not_a_mapping_is_refused(tmp_path):
    with pytest.raises(KubeconfigError, match="a kubeconfig is a mapping"):
        load([write(tmp_path / "config", "- just\n- a list\n")])


def test_a_missing_file_given_by_flag_is_an_error_and_none_at_all_says_where_it_looked(tmp_path):
    with pytest.raises(KubeconfigError, match="absent: no kubeconfig at this path; check --kubeconfig"):
        load(kubeconfig_files(str(tmp_path / "absent"), {}))
    with pytest.raises(KubeconfigError, match=r"no kubeconfig found .*pass --kubeconfig or set KUBECONFIG"):
        load(kubeconfig_files(None, {"HOME": str(tmp_path)}))


def test_files_come_from_the_flag_then_kubeconfig_then_home(tmp_path):
    home = write(tmp_path / "home" / ".kube" / "config", simple())
    one, two = write(tmp_path / "one", simple()), write(tmp_path / "two", simple())
    env = {"HOME": str(tmp_path / "home"), "KUBECONFIG": os.pathsep.join([one, str(tmp_path / "missing"), two])}
    assert kubeconfig_files("flag", env) == ["flag"]
    assert kubeconfig_files(None, env) == [one, two]
    assert kubeconfig_files(None, {"HOME": str(tmp_path / "home")}) == [home]


def test_merged_files_the_first_to_define_a_name_or_current_context_wins(tmp_path):
    first = config(current="", clusters={"c": {"server": "https://first"}}, users={"u": {"token": "first"}})
    second = config(current="b", clusters={"c": {"server": "https://second"}, "d": {"server": "https://d"}},
                    users={"u": {"token": "second"}},
                    contexts={"b": {"cluster": "c", "user": "u"}, "x": {"cluster": "d", "user": "u"}})
    third = config(current="x")
    files = [write(tmp_path / "1", first), write(tmp_path / "2", second), write(tmp_path / "3", third)]
    access = load(files)
    assert (access.context, access.server, access.token) == ("b", "https://first", "first")
    assert load(files, "x").server == "https://d"


def test_relative_paths_are_relative_to_the_file_that_names_them(tmp_path):
    (tmp_path / "a" / "pki").mkdir(parents=True)
    (tmp_path / "a" / "pki" / "ca.crt").write_bytes(CA)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "client.crt").write_bytes(b"CERT")
    (tmp_path / "b" / "client.key").write_bytes(b"KEY")
    (tmp_path / "b" / "token").write_text("from-file\n")
    first = config(current="main", clusters={"c": {"server": "https://x", "certificate-authority": "pki/ca.crt"}},
                   contexts={"main": {"cluster": "c", "user": "u"}})
    second = config(current="", users={"u": {"client-certificate": "client.crt", "client-key": "client.key",
                                             "tokenFile": "token"}})
    access = load([write(tmp_path / "a" / "config", first), write(tmp_path / "b" / "config", second)])
    assert access.ca_pem == CA
    assert (access.client_cert_pem, access.client_key_pem) == (b"CERT", b"KEY")
    assert access.token_file == str(tmp_path / "b" / "token")


def test_data_fields_win_over_files_and_may_be_wrapped(tmp_path):
    encoded = base64.b64encode(CA).decode()
    wrapped = "\n".join(encoded[i:i + 20] for i in range(0, len(encoded), 20))
    access = load([write(tmp_path / "config", simple(**{"certificate-authority-data": wrapped,
                                                        "certificate-authority": "/nonexistent"}))])
    assert access.ca_pem == CA


def test_bad_base64_and_unreadable_files_name_the_field(tmp_path):
    with pytest.raises(KubeconfigError, match="certificate-authority-data is not valid base64"):
        load([write(tmp_path / "a", simple(**{"certificate-authority-data": "%%%"}))])
    with pytest.raises(KubeconfigError, match=r"user 'u'.*cannot read client-key .*nope"):
        load([write(tmp_path / "b", simple({"client-certificate-data": "Q0VSVA==", "client-key": "nope"}))])


def test_insecure_tls_server_name_proxy_and_basic_auth_are_read(tmp_path):
    access = load([write(tmp_path / "config", simple({"username": "ann", "password": "pw"},
                                                     **{"insecure-skip-tls-verify": True,
                                                        "tls-server-name": "api.internal",
                                                        "proxy-url": "http://proxy:3128"}))])
    assert access.insecure and access.tls_server_name == "api.internal" and access.proxy_url == "http://proxy:3128"
    assert (access.username, access.password) == ("ann", "pw")
    assert "pw" not in repr(access)


@pytest.mark.parametrize("user, plugin", [
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "get-token"}}, "exec"),
    ({"auth-provider": {"name": "oidc", "config": {}}}, "auth-provider"),
])
def test_a_credential_plugin_is_left_to_the_official_client(tmp_path, user, plugin):
    assert load([write(tmp_path / "config", simple(user))]).plugin == plugin


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str | None]]]:
    """A loopback HTTP server answering ``{}``, recording each request's Authorization header."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", seen
    httpd.shutdown()


def test_a_token_is_sent_as_bearer_and_basic_auth_as_basic(tmp_path, recorder):
    url, seen = recorder
    for user in ({"token": "t0"}, {"username": "ann", "password": "pw"}):
        transport = DirectTransport(load([write(tmp_path / "config", simple(user, server=url))]))
        assert transport.send("GET", f"{url}/version", None, {}, 5.0)[0] == 200
    assert seen == ["Bearer t0", "Basic " + base64.b64encode(b"ann:pw").decode()]


def test_connections_are_kept_alive_and_reused(tmp_path, recorder):
    url, seen = recorder
    transport = DirectTransport(load([write(tmp_path / "config", simple(server=url))]))
    for _ in range(3):
        transport.send("GET", f"{url}/version", None, {}, 5.0)
    assert len(seen) == 3 and len(transport._idle) == 1


def test_a_token_file_is_read_when_first_needed_and_again_after_a_minute(tmp_path, monkeypatch, recorder):
    url, seen = recorder
    token = tmp_path / "token"
    token.write_text("one\n")
    transport = DirectTransport(load([write(tmp_path / "config", simple({"tokenFile": str(token)}, server=url))]))
    clock = [1000.0]
    monkeypatch.setattr("gitapply.cluster.transport.time.monotonic", lambda: clock[0])
    transport.send("GET", url, None, {}, 5.0)
    token.write_text("two\n")
    transport.send("GET", url, None, {}, 5.0)
    clock[0] += 61
    transport.send("GET", url, None, {}, 5.0)
    assert seen == ["Bearer one", "Bearer one", "Bearer two"]


def test_a_ca_that_is_not_pem_is_a_kubeconfig_error(tmp_path):
    with pytest.raises(KubeconfigError, match="certificate-authority is not a PEM certificate"):
        DirectTransport(load([write(tmp_path / "config", simple(**{"certificate-authority-data": "bm9wZQ=="}))]))


@pytest.mark.parametrize("host, no_proxy, bypassed", [
    ("10.0.0.1", "", False), ("10.0.0.1", "*", True), ("10.0.0.1", "localhost,10.0.0.1", True),
    ("api.example.com", ".example.com", True), ("api.example.com", "example.com", True),
    ("badexample.com", "example.com", False), ("api.example.com", "example.com:443", True),
])
def test_no_proxy_matches_hosts_and_domain_suffixes(host, no_proxy, bypassed):
    assert _bypassed(host, no_proxy) is bypassed
