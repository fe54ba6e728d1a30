"""No false differences, against the real server: a realistic app is in sync right after it is applied (by
gitapply or by kubectl), idle reconcile passes send no write, and each out-of-band kubectl verb is reported
with the field, its state and the manager that made it; ``--heal-unmanaged`` removes only what another
manager added. The quantity canonicaliser is checked against what the server stores."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gitapply.cluster.kube import KubeCluster
from gitapply.engine.quantity import canonical
from gitapply.model import PatchType
from gitapply.ops.prepare import Request
from gitapply.ops.sync import plan_sync, write_sync
from tests.integration import realistic_app
from tests.integration.cli_helpers import gitapply, live, write
from tests.unit.test_quantity import STORED, STORED_PLAIN


def test_the_server_stores_each_quantity_as_the_canonicaliser_says(control_plane, namespace):
    for index, (written, _) in enumerate(STORED):
        body = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": f"q{index}"},
                "spec": {"hard": {"cpu": written}}}
        control_plane.request("POST", f"/api/v1/namespaces/{namespace}/resourcequotas", body)
    for index, (written, expected) in enumerate(STORED):
        stored = control_plane.request("GET", f"/api/v1/namespaces/{namespace}/resourcequotas/q{index}")
        assert stored["spec"]["hard"]["cpu"] == canonical(written, in_resource_list=True) == expected, repr(written)


def test_a_quantity_outside_a_resource_list_is_stored_as_the_canonicaliser_says(control_plane, namespace):
    volumes = [{"name": f"v{index}", "emptyDir": {"sizeLimit": written}}
               for index, (written, _) in enumerate(STORED_PLAIN)]
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sizes"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "sizes"}}, "template": {
            "metadata": {"labels": {"app": "sizes"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "volumes": volumes}}}}
    stored = control_plane.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body)
    limits = [volume["emptyDir"]["sizeLimit"] for volume in stored["spec"]["template"]["spec"]["volumes"]]
    assert limits == [canonical(written) for written, _ in STORED_PLAIN] == [stored for _, stored in STORED_PLAIN]


class App:
    """The realistic app in one namespace, applied and checked through the command line."""

    def __init__(self, control_plane: Any, namespace: str, folder: Path) -> None:
        self.control_plane, self.namespace = control_plane, namespace
        self.folder = write(folder, realistic_app.files(namespace))

    def common(self) -> list[str]:
        return ["-n", self.namespace, "--app", "shop", "--inventory-namespace", self.namespace]

    def run(self, *args: str) -> Any:
        return gitapply(args[0], str(self.folder), *self.common(), *args[1:],
                        kubeconfig=self.control_plane.kubeconfig)

    def drift(self) -> tuple[int, dict[str, Any]]:
        result = self.run("drift", "-o", "json")
        assert result.returncode in (0, 1), result.stderr
        return result.returncode, json.loads(result.stdout)

    def kubectl(self, *args: str, **options: Any) -> None:
        self.control_plane.kubectl(*args, "-n", self.namespace, **options)

    def assert_in_sync(self) -> None:
        code, report = self.drift()
        not_in_sync = [(o["key"], o["fields"]) for o in report["objects"] if o["state"] != "in-sync"]
        assert code == 0 and not not_in_sync, json.dumps(not_in_sync, indent=1)
        diff = self.run("diff")
        assert diff.returncode == 0, diff.stdout + diff.stderr


def wait_for_controllers(app: App) -> None:
    """Let the controllers do what they do after an apply (revisions, status, pods, PVCs) before checking
    that none of it is reported as a difference."""
    for workload in ("deployment/web", "deployment/api", "statefulset/zk", "daemonset/logs"):
        app.kubectl("rollout", "status", workload, "--timeout=90s")
    time.sleep(2)


@pytest.fixture
def app(control_plane, namespace, tmp_path) -> App:
    instance = App(control_plane, namespace, tmp_path / "shop")
    result = instance.run("apply")
    assert result.returncode == 0, result.stdout + result.stderr
    return instance


def test_a_realistic_app_is_in_sync_right_after_gitapply_applied_it(app):
    app.assert_in_sync()
    wait_for_controllers(app)
    app.assert_in_sync()


def test_idle_reconcile_passes_send_no_write(app, control_plane):
    wait_for_controllers(app)
    cluster = WriteCounting(kubeconfig=control_plane.kubeconfig)
    request = Request(path=str(app.folder), namespace=app.namespace, app="shop", prune=True,
                      inventory_namespace=app.namespace)
    for _ in range(3):
        planned = plan_sync(cluster, request)
        assert not planned.refusals
        assert write_sync(cluster, planned) == []
    assert cluster.writes == [], "an idle pass wrote"
    assert cluster.dry_runs == [], "an idle pass needed the server to confirm a prediction"


class WriteCounting(KubeCluster):
    """The real backend, counting the writes (and dry-runs) it sends."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.writes: list[str] = []
        self.dry_runs: list[str] = []

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        (self.dry_runs if dry_run else self.writes).append(f"create {obj['kind']}/{obj['metadata']['name']}")
        return super().create(obj, dry_run=dry_run)

    def patch(self, key: Any, patch: dict[str, Any], patch_type: PatchType, *, dry_run: bool = False) -> dict[str, Any]:
        (self.dry_runs if dry_run else self.writes).append(f"patch {key}: {json.dumps(patch)[:300]}")
        return super().patch(key, patch, patch_type, dry_run=dry_run)


def test_the_app_applied_by_kubectl_is_in_sync_for_gitapply(control_plane, namespace, tmp_path):
    app = App(control_plane, namespace, tmp_path / "shop")
    app.kubectl("apply", "-f", str(app.folder))
    wait_for_controllers(app)
    code, report = app.drift()
    assert code == 0, json.dumps([o for o in report["objects"] if o["state"] != "in-sync"], indent=1)
    result = app.run("apply")  # takes the objects over: adds its label, changes nothing else
    assert result.returncode == 0, result.stderr
    app.assert_in_sync()


def by_path(report: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    found = next(o for o in report["objects"] if o["key"] == key)
    return {field["path"]: field for field in found["fields"]}


def test_each_out_of_band_verb_is_reported_with_its_field_state_and_manager(app, tmp_path, monkeypatch):
    ns = app.namespace
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\npath = sys.argv[1]\ntext = open(path).read()\n"
                      "open(path, 'w').write(text.replace('zookeeper:3.6', 'zookeeper:3.7'))\n")
    monkeypatch.setenv("KUBE_EDITOR", f"{sys.executable} {editor}")
    app.kubectl("edit", "statefulset/zk")
    app.kubectl("scale", "deployment/web", "--replicas=3")
    app.kubectl("label", "deployment/web", "team=checkout")
    app.kubectl("annotate", "deployment/web", "note=hand-made")
    app.kubectl("set", "image", "daemonset/logs", "shipper=fluent/fluent-bit:1.9")
    app.kubectl("set", "resources", "deployment/api", "-c", "api", "--limits=cpu=200m")
    app.kubectl("patch", "configmap/settings", "-p", json.dumps({"data": {"extra": "1"}}))
    code, report = app.drift()
    assert code == 1
    expected = {
        (f"apps/StatefulSet/{ns}/zk", "spec.template.spec.containers[name=zk].image"): ("drift", "kubectl-edit"),
        (f"apps/Deployment/{ns}/web", "spec.replicas"): ("drift", None),
        (f"apps/Deployment/{ns}/web", "metadata.labels.team"): ("unmanaged", "kubectl-label"),
        (f"apps/Deployment/{ns}/web", "metadata.annotations.note"): ("unmanaged", "kubectl-annotate"),
        (f"apps/DaemonSet/{ns}/logs", "spec.template.spec.containers[name=shipper].image"): ("drift", "kubectl-set"),
        (f"apps/Deployment/{ns}/api", "spec.template.spec.containers[name=api].resources.limits.cpu"):
            ("unmanaged", "kubectl-set"),
        (f"ConfigMap/{ns}/settings", "data.extra"): ("unmanaged", "kubectl-patch"),
    }
    reported = {(o["key"], f["path"]): (f["state"], (f["changedBy"] or {}).get("manager"))
                for o in report["objects"] for f in o["fields"] if f["state"] != "ignored"}
    assert reported == expected

    healed = app.run("apply", "--heal-unmanaged")
    assert healed.returncode == 0, healed.stderr
    app.assert_in_sync()
    web = live(app.control_plane, ns, "deployment/web")
    assert "team" not in web["metadata"]["labels"] and "note" not in web["metadata"]["annotations"]
    assert web["spec"]["replicas"] == 2
    assert "deployment.kubernetes.io/revision" in web["metadata"]["annotations"], "a controller's field was healed"
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent", "a server default was healed"
    api = live(app.control_plane, ns, "deployment/api")
    assert "limits" not in api["spec"]["template"]["spec"]["containers"][0].get("resources", {})


def test_gitapply_names_itself_as_the_field_manager(app):
    web = live(app.control_plane, app.namespace, "deployment/web")
    assert {entry["manager"] for entry in web["metadata"]["managedFields"]} >= {"gitapply"}
    assert "python-urllib3" not in json.dumps(web["metadata"]["managedFields"])


def test_git_dropping_the_last_label_keeps_the_app_label(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "cfg", {"cfg.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"
                                                  "  labels: {tier: web}\ndata: {a: '1'}\n"})
    common = ("-n", namespace, "--app", "labels", "--inventory-namespace", namespace)
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    write(folder, {"cfg.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata: {a: '1'}\n"})
    result = gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert live(control_plane, namespace, "configmap/cfg")["metadata"]["labels"] == {"gitapply.io/app": "labels"}


DUPLICATE_ENV = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: twice
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: twice
spec:
  selector:
    matchLabels: {app: twice}
  template:
    metadata:
      labels: {app: twice}
    spec:
      containers:
      - name: web
        image: nginx:1.19
        env:
        - {name: MODE, value: blue}
        - {name: MODE, value: green}
"""


def test_an_env_var_listed_twice_is_applied_as_kubectl_applies_it(control_plane, tmp_path):
    by_kubectl, by_gitapply = control_plane.new_namespace("twice-k"), control_plane.new_namespace("twice-g")
    try:
        folder = write(tmp_path / "twice", {"twice.yaml": DUPLICATE_ENV})
        kubectl = control_plane.kubectl("apply", "-f", str(folder), "-n", by_kubectl, check=False)
        ours = gitapply("apply", str(folder), "-n", by_gitapply, "--app", "twice", "--inventory-namespace",
                        by_gitapply, kubeconfig=control_plane.kubeconfig)
        assert (ours.returncode == 0) == (kubectl.returncode == 0), ours.stderr + kubectl.stderr
        if kubectl.returncode == 0:
            envs = [live(control_plane, ns, "deployment/twice")["spec"]["template"]["spec"]["containers"][0]["env"]
                    for ns in (by_kubectl, by_gitapply)]
            assert envs[0] == envs[1]
    finally:
        control_plane.delete_namespace(by_kubectl)
        control_plane.delete_namespace(by_gitapply)
