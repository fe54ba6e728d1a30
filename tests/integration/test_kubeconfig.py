"""Every way of reaching the server a kubeconfig offers, against the real control plane, through the command
line as a user runs it: a bearer token, a client certificate, an exec credential plugin, the in-cluster
service account, and ``insecure-skip-tls-verify`` (quietly). And every way a kubeconfig goes wrong gives one
clear line and exit code 3, never a Python traceback."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitapply.cluster.kube import KubeCluster
from tests.harness.controlplane import _openssl

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n"


def kubeconfig(control_plane: Any, folder: Path, user: dict[str, Any], *, name: str = "kubeconfig",
               server: str | None = None, **cluster: Any) -> str:
    if not cluster:
        cluster = {"certificate-authority": control_plane.ca_file}
    document = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
                "clusters": [{"name": "c", "cluster": {"server": server or control_plane.server, **cluster}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}]}
    path = folder / name
    path.write_text(json.dumps(document))
    return str(path)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitapply", *args], capture_output=True, text=True, timeout=120,
                          env=env)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "cm.yaml").write_text(CONFIGMAP)
    return folder


def diff(app: Path, namespace: str, config: str) -> subprocess.CompletedProcess[str]:
    return run("diff", str(app), "-n", namespace, "--app", "kc", "--inventory-namespace", namespace,
               "--kubeconfig", config)


def assert_reaches_the_server(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stderr
    assert "1 to create" in result.stdout and "Traceback" not in result.stderr


def client_certificate(control_plane: Any, folder: Path) -> tuple[Path, Path]:
    """A client certificate for a member of system:masters, signed by the CA the API server trusts."""
    pki = Path(control_plane.ca_file).parent
    _openssl(folder, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "client.key", "-out", "client.csr", "-subj", "/O=system:masters/CN=cert-admin")
    _openssl(folder, "x509", "-req", "-in", "client.csr", "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
             "-CAcreateserial", "-CAserial", str(folder / "ca.srl"), "-days", "1", "-out", "client.crt")
    return folder / "client.crt", folder / "client.key"


def test_a_bearer_token_reaches_the_server(control_plane, namespace, app, tmp_path):
    assert_reaches_the_server(diff(app, namespace, kubeconfig(control_plane, tmp_path, {"token": control_plane.token})))


def test_a_client_certificate_as_files_or_as_data_reaches_the_server(control_plane, namespace, app, tmp_path):
    cert, key = client_certificate(control_plane, tmp_path)
    files = kubeconfig(control_plane, tmp_path, {"client-certificate": str(cert), "client-key": str(key)},
                       name="files")
    assert_reaches_the_server(diff(app, namespace, files))
    data = kubeconfig(control_plane, tmp_path, {
        "client-certificate-data": base64.b64encode(cert.read_bytes()).decode(),
        "client-key-data": base64.b64encode(key.read_bytes()).decode()}, name="data",
        **{"certificate-authority-data": base64.b64encode(Path(control_plane.ca_file).read_bytes()).decode()})
    assert_reaches_the_server(diff(app, namespace, data))


def test_an_exec_credential_plugin_reaches_the_server(control_plane, namespace, app, tmp_path):
    plugin = tmp_path / "get-token"
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": control_plane.token}}
    plugin.write_text(f"#!{sys.executable}\nimport json\nprint(json.dumps({credential!r}))\n")
    plugin.chmod(0o755)
    config = kubeconfig(control_plane, tmp_path, {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin), "interactiveMode": "Never"}})
    assert_reaches_the_server(diff(app, namespace, config))


def test_the_in_cluster_service_account_reaches_the_server(control_plane, tmp_path, monkeypatch):
    """As in a pod: no kubeconfig, the service host and port in the environment, the token and CA mounted."""
    import kubernetes.config.incluster_config as incluster

    from gitapply.cluster import official

    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    (mount / "token").write_text(control_plane.token)
    (mount / "ca.crt").write_bytes(Path(control_plane.ca_file).read_bytes())
    (mount / "namespace").write_text("kube-system\n")
    monkeypatch.setattr(incluster, "SERVICE_TOKEN_FILENAME", str(mount / "token"))
    monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(mount / "ca.crt"))
    monkeypatch.setattr(official, "SERVICE_ACCOUNT", mount)
    host, port = control_plane.server.removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    cluster = KubeCluster()
    assert cluster.default_namespace() == "kube-system"
    assert cluster.server_version().startswith("v1.20")


def test_insecure_skip_tls_verify_works_without_warning_spam(control_plane, namespace, app, tmp_path):
    config = kubeconfig(control_plane, tmp_path, {"token": control_plane.token}, **{"insecure-skip-tls-verify": True})
    result = diff(app, namespace, config)
    assert_reaches_the_server(result)
    assert "InsecureRequestWarning" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) <= 1 and all("not verified" in line for line in lines), result.stderr


def bad_kubeconfigs(control_plane: Any, folder: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (the kubeconfig flags, a phrase the one-line error must hold)."""
    wrong_ca = folder / "wrong-ca"
    wrong_ca.mkdir()
    _openssl(wrong_ca, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=another-ca")
    malformed = folder / "malformed"
    malformed.write_text("apiVersion: v1\nclusters:\n- name: c\n  cluster: {server: [\n")
    good = kubeconfig(control_plane, folder, {"token": control_plane.token}, name="good")
    return {
        "missing file": (["--kubeconfig", str(folder / "absent")], "no kubeconfig at this path"),
        "malformed YAML": (["--kubeconfig", str(malformed)], "not valid YAML"),
        "unknown context": (["--kubeconfig", good, "--context", "prod"], "context 'prod' not found"),
        "wrong token": (["--kubeconfig", kubeconfig(control_plane, folder, {"token": "expired"}, name="expired")],
                        "Unauthorized"),
        "unreachable server": (["--kubeconfig", kubeconfig(control_plane, folder, {"token": "t"}, name="down",
                                                           server="https://127.0.0.1:9")],
                               "cannot reach the API server at https://127.0.0.1:9"),
        "TLS mismatch": (["--kubeconfig", kubeconfig(control_plane, folder, {"token": control_plane.token},
                                                     name="tls", **{"certificate-authority":
                                                                    str(wrong_ca / "ca.crt")})],
                         "certificate verify failed"),
    }


def test_bad_kubeconfigs_give_one_clear_line_and_exit_3(control_plane, namespace, app, tmp_path):
    failures = []
    for case, (flags, phrase) in bad_kubeconfigs(control_plane, tmp_path).items():
        for command in ("diff", "apply"):
            result = run(command, str(app), "-n", namespace, "--app", "kc", "--inventory-namespace", namespace,
                         *flags)
            errors = [line for line in result.stderr.splitlines() if line.strip()]
            if (result.returncode != 3 or "Traceback" in result.stderr + result.stdout or len(errors) != 1
                    or phrase not in errors[0]):
                failures.append(f"{case} ({command}): exit {result.returncode}\n{result.stderr}")
    assert not failures, "\n".join(failures)
    assert "configmap/settings" not in control_plane.kubectl("get", "configmap", "-n", namespace, "-o", "name").stdout


def limited_kubeconfig(control_plane: Any, namespace: str, folder: Path) -> str:
    """A ServiceAccount that may do anything with ConfigMaps and Namespaces, cluster wide, and nothing with
    Secrets."""
    token = control_plane.service_account_token(namespace, "limited")
    control_plane.kubectl("create", "clusterrole", f"{namespace}-cm", "--verb=*", "--resource=configmaps,namespaces")
    control_plane.kubectl("create", "clusterrolebinding", f"{namespace}-cm", f"--clusterrole={namespace}-cm",
                          f"--serviceaccount={namespace}:limited")
    return kubeconfig(control_plane, folder, {"token": token}, name="limited")


def test_a_kind_the_user_may_not_touch_is_named_and_nothing_is_written(control_plane, namespace, app, tmp_path):
    (app / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  pw: x\n")
    config = limited_kubeconfig(control_plane, namespace, tmp_path)
    for command in ("diff", "apply"):
        result = run(command, str(app), "-n", namespace, "--app", "kc", "--inventory-namespace", namespace,
                     "--kubeconfig", config)
        assert result.returncode == 3, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        assert "Secret" in result.stderr and "forbidden" in result.stderr.lower(), result.stderr
    assert control_plane.kubectl("get", "configmap", "settings", "-n", namespace, check=False).returncode != 0, \
        "the ConfigMap the user may write was not written alone"


def namespaced_kubeconfig(control_plane: Any, namespace: str, folder: Path) -> str:
    """A ServiceAccount bound to the built-in ``edit`` role in one namespace only, as a team is given its
    namespace: it may not list anything across namespaces."""
    token = control_plane.service_account_token(namespace, "team")
    control_plane.kubectl("create", "rolebinding", "team-edit", "-n", namespace, "--clusterrole=edit",
                          f"--serviceaccount={namespace}:team")
    return kubeconfig(control_plane, folder, {"token": token}, name="team")


def test_a_user_with_only_a_namespaced_role_can_apply_diff_drift_and_prune(control_plane, namespace, app, tmp_path):
    """kubectl apply works with a RoleBinding in one namespace; so must gitapply, which lists namespace by
    namespace when the cluster-wide list is forbidden."""
    (app / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  pw: x\n")
    config = namespaced_kubeconfig(control_plane, namespace, tmp_path)
    assert control_plane.kubectl("get", "configmaps", "-A", "--kubeconfig", config, check=False).returncode != 0, \
        "the user was meant to be refused a cluster-wide list"
    common = ("-n", namespace, "--app", "team", "--inventory-namespace", namespace, "--kubeconfig", config)
    applied = run("apply", str(app), *common)
    assert applied.returncode == 0, applied.stderr
    for command in ("diff", "drift"):
        after = run(command, str(app), *common)
        assert after.returncode == 0, (command, after.stdout, after.stderr)
    (app / "secret.yaml").unlink()
    pruned = run("apply", str(app), "--prune", *common)
    assert pruned.returncode == 0 and "secret/db" in pruned.stdout, pruned.stdout + pruned.stderr
    assert control_plane.kubectl("get", "secret", "db", "-n", namespace, check=False).returncode != 0
    assert run("diff", str(app), *common).returncode == 0
