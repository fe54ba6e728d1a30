"""Server-side apply against the real v1.20.2 control plane, with kubectl 1.32's ``apply --server-side
--force-conflicts`` as the oracle: the same scenario leaves the same live object. Where kubectl's own
server-side apply fails on this server (ports without a protocol, a switch to ``strategy: Recreate``, a volume
switching source), gitapply reaches the object client-side apply leaves. Then: migration from client-side
apply and back, adoption of what other appliers applied, an object too large for client-side apply, drift by
another manager, the HPA hand-off, and re-applies that write nothing.

Every gitapply apply here is followed by a ``diff`` of the same source that must exit 0 (``cli_helpers``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from gitapply.cluster.kube import KubeCluster
from gitapply.model import ApplyMethod, ObjectKey
from gitapply.ops.prepare import Request
from gitapply.session import AppSession, AppSpec
from tests.integration.cli_helpers import gitapply, live, write
from tests.integration.test_differential import (CRD, SCENARIOS, WriteCounter, apply_as_users_do, deployment,
                                                 normalised, run_scenario)

KUBECTL = shutil.which("kubectl") or "kubectl"  # 1.32 on these machines: its --server-side is the oracle


def kubectl(control_plane, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([KUBECTL, f"--kubeconfig={control_plane.kubeconfig}", *args], input=input, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0 or not check, done.stderr
    return done


def with_protocol(obj: Any) -> Any:
    """Every ``ports`` item with ``protocol: TCP`` spelt out, so that kubectl's server-side apply can take it."""
    if isinstance(obj, list):
        return [with_protocol(item) for item in obj]
    if not isinstance(obj, dict):
        return obj
    result = {key: with_protocol(value) for key, value in obj.items()}
    if isinstance(result.get("ports"), list):
        result["ports"] = [{"protocol": "TCP", **p} if "port" in p or "containerPort" in p else p
                           for p in result["ports"]]
    return result


@pytest.fixture(scope="module")
def cluster(control_plane) -> KubeCluster:
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(CRD))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=60s")
    return KubeCluster(kubeconfig=control_plane.kubeconfig)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_gitapply_server_side_leaves_the_same_object_as_kubectl_server_side(name, control_plane, cluster,
                                                                            tmp_path):
    steps = [(verb, with_protocol(arg) if verb == "apply" else arg) for verb, arg in SCENARIOS[name]]
    ns_kubectl, ns_gitapply = control_plane.new_namespace("ssa-kubectl"), control_plane.new_namespace("ssa-ours")

    def kubectl_apply(obj):
        kubectl(control_plane, "apply", "--server-side", "--force-conflicts", "-n", ns_kubectl, "-f", "-",
                input=json.dumps(obj))

    def gitapply_apply(obj):
        apply_as_users_do(cluster, obj, ns_gitapply, tmp_path / "app", ApplyMethod.SERVER_SIDE)

    by_kubectl = normalised(run_scenario(steps, ns_kubectl, kubectl_apply, control_plane, cluster), ns_kubectl)
    by_gitapply = normalised(run_scenario(steps, ns_gitapply, gitapply_apply, control_plane, cluster), ns_gitapply)
    assert by_gitapply == by_kubectl


SERVICE_NO_PROTOCOL = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                       "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}


def recreate(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "spec": {**obj["spec"], "strategy": {"type": "Recreate"}}}


def with_volume(obj: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    template = obj["spec"]["template"]
    return {**obj, "spec": {**obj["spec"], "template": {**template, "spec": {
        **template["spec"], "volumes": [{"name": "data", **source}]}}}}


QUIRKS = {
    "service ports without protocol": [SERVICE_NO_PROTOCOL],
    "container ports without protocol, then Recreate": [deployment(), recreate(deployment())],
    "a volume switching from emptyDir to configMap": [
        with_volume(deployment(), {"emptyDir": {}}), with_volume(deployment(), {"configMap": {"name": "settings"}})],
}


@pytest.mark.parametrize("name", list(QUIRKS))
def test_where_kubectls_server_side_apply_fails_gitapply_reaches_the_client_side_result(name, control_plane,
                                                                                         cluster, tmp_path):
    objects = QUIRKS[name]
    ns_kubectl = control_plane.new_namespace("kubectl-ssa")
    outcomes = [kubectl(control_plane, "apply", "--server-side", "--force-conflicts", "-n", ns_kubectl, "-f", "-",
                        input=json.dumps(obj), check=False).returncode for obj in objects]
    assert any(outcomes), "kubectl's own server-side apply fails here (else the case proves nothing)"
    ns_oracle, ns_gitapply = control_plane.new_namespace("csa"), control_plane.new_namespace("ssa")
    steps = [("apply", obj) for obj in objects]
    by_csa = run_scenario(steps, ns_oracle, lambda obj: control_plane.kubectl(
        "apply", "-n", ns_oracle, "-f", "-", input=json.dumps(obj)), control_plane, cluster)
    by_ssa = run_scenario(steps, ns_gitapply, lambda obj: apply_as_users_do(
        cluster, obj, ns_gitapply, tmp_path / "app", ApplyMethod.SERVER_SIDE), control_plane, cluster)
    # the generation counts writes: where the server's own apply cannot go, gitapply's patch before its apply
    # is one write more (the object is the same)
    assert without_generation(normalised(by_ssa, ns_gitapply)) == without_generation(normalised(strip_record(by_csa),
                                                                                              ns_oracle))


def without_generation(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "generation"}}


def strip_record(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without client-side apply's record, which server-side apply does not write."""
    annotations = dict(obj["metadata"].get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    metadata = {**obj["metadata"], "annotations": annotations}
    if not annotations:
        metadata.pop("annotations")
    return {**obj, "metadata": metadata}


V1 = {"cm.yaml": """\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings, labels: {team: shop, tier: back}}
    data: {level: info, region: eu}
    """, "web.yaml": """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, labels: {app: web}}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: web
            image: nginx:1.19
            ports: [{containerPort: 80, protocol: TCP}]
            env: [{name: A, value: "1"}, {name: B, value: "2"}]
    """}
V2 = {"cm.yaml": V1["cm.yaml"].replace(", tier: back", "").replace(", region: eu", ""),
      "web.yaml": V1["web.yaml"].replace(', {name: B, value: "2"}', "")}


def dropped_everywhere(control_plane, namespace: str) -> None:
    """What V2 dropped from V1 is gone from the cluster: a label, a data key, an env var."""
    settings = live(control_plane, namespace, "configmap/settings")
    web = live(control_plane, namespace, "deployment/web")
    assert "tier" not in settings["metadata"]["labels"] and settings["data"] == {"level": "info"}
    assert [e["name"] for e in web["spec"]["template"]["spec"]["containers"][0]["env"]] == ["A"]


def managers(control_plane, namespace: str, what: str) -> set[tuple[str, str]]:
    shown = kubectl(control_plane, "get", what, "-n", namespace, "-o", "json", "--show-managed-fields").stdout
    return {(e["manager"], e["operation"]) for e in json.loads(shown)["metadata"]["managedFields"]}


def test_client_side_to_server_side_and_back_removes_what_git_dropped(control_plane, namespace, tmp_path):
    common = ("-n", namespace, "--app", "shop", "--inventory-namespace", namespace)
    folder = write(tmp_path / "app", V1)
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    write(folder, V2)
    done = gitapply("apply", str(folder), *common, "--server-side", kubeconfig=control_plane.kubeconfig)
    assert done.returncode == 0, done.stderr
    dropped_everywhere(control_plane, namespace)
    web = live(control_plane, namespace, "deployment/web")
    assert "kubectl.kubernetes.io/last-applied-configuration" not in web["metadata"].get("annotations", {})
    assert ("gitapply", "Apply") in managers(control_plane, namespace, "deployment/web")
    assert ("gitapply", "Update") not in managers(control_plane, namespace, "configmap/settings")
    write(folder, {"cm.yaml": V2["cm.yaml"].replace("{team: shop}", "{}")})
    done = gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig)  # back to client-side
    assert done.returncode == 0, done.stderr
    assert set(live(control_plane, namespace, "configmap/settings")["metadata"]["labels"]) == {"gitapply.io/app"}


@pytest.mark.parametrize("ours", ["client-side", "server-side"])
def test_objects_kubectl_applied_server_side_are_adopted(ours, control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", V1)
    kubectl(control_plane, "apply", "--server-side", "-n", namespace, "-f", str(folder))
    write(folder, V2)
    flags = ["--server-side"] if ours == "server-side" else []
    done = gitapply("apply", str(folder), "-n", namespace, "--app", "shop", "--inventory-namespace", namespace,
                    *flags, kubeconfig=control_plane.kubeconfig)
    assert done.returncode == 0, done.stderr
    dropped_everywhere(control_plane, namespace)


def test_a_manager_named_in_adopt_managers_is_adopted_and_others_are_not(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", V1)
    kubectl(control_plane, "apply", "--server-side", "--field-manager=kustomize-controller", "-n", namespace, "-f",
            str(folder))
    write(folder, V2)
    common = ("-n", namespace, "--app", "shop", "--inventory-namespace", namespace, "--server-side")
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    assert live(control_plane, namespace, "configmap/settings")["data"]["region"] == "eu", \
        "a stranger's fields stay until it is adopted"
    done = gitapply("apply", str(folder), *common, "--adopt-managers", "kustomize-controller",
                    kubeconfig=control_plane.kubeconfig)
    assert done.returncode == 0, done.stderr
    dropped_everywhere(control_plane, namespace)


def big_crd(type_of_first: str = "string") -> dict[str, Any]:
    """A CRD of about 300 KB of JSON: its last-applied record would not fit the annotation limit."""
    properties = {f"field{i:04d}": {"type": "string", "description": "d" * 250} for i in range(1000)}
    properties["field0000"] = {"type": type_of_first}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "properties": {"spec": {"type": "object", "properties": properties}}}}}]}}


def test_an_object_too_large_for_client_side_apply_goes_server_side_by_itself(control_plane, namespace, tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "crd.json").write_text(json.dumps(big_crd()))
    assert len((folder / "crd.json").read_text()) > 262_144
    (folder / "gadget.yaml").write_text("apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n"
                                        "spec: {field0001: a}\n")
    common = ("-n", namespace, "--app", "big", "--inventory-namespace", namespace)
    done = gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig)
    assert done.returncode == 0, done.stderr
    assert "customresourcedefinition.apiextensions.k8s.io/gadgets.example.com created (server-side: too large " \
           "for client-side apply)" in done.stdout
    drift = gitapply("drift", str(folder), *common, kubeconfig=control_plane.kubeconfig)
    assert drift.returncode == 0, drift.stdout
    (folder / "crd.json").write_text(json.dumps(big_crd("integer")))
    done = gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig)
    assert done.returncode == 0 and "gadgets.example.com configured" in done.stdout, done.stdout + done.stderr
    stored = live(control_plane, "", "crd/gadgets.example.com")
    schema = stored["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert schema["field0000"]["type"] == "integer"


def test_kubectl_set_image_is_drift_by_kubectl_set_and_the_next_apply_takes_it_back(control_plane, namespace,
                                                                                     tmp_path):
    folder = write(tmp_path / "app", V1)
    common = ("-n", namespace, "--app", "shop", "--inventory-namespace", namespace, "--server-side")
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    control_plane.kubectl("set", "image", "deployment/web", "web=nginx:1.20", "-n", namespace)
    drift = gitapply("drift", str(folder), *common, "-o", "json", kubeconfig=control_plane.kubeconfig)
    assert drift.returncode == 1
    (web,) = [o for o in json.loads(drift.stdout)["objects"] if o["key"].endswith("Deployment/" + namespace + "/web")]
    (image,) = [f for f in web["fields"] if f["path"].endswith(".image")]
    assert (image["state"], image["changedBy"]["manager"]) == ("drift", "kubectl-set")
    done = gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig)
    assert 'forced .spec.template.spec.containers[name="web"].image from kubectl-set' in done.stdout
    assert live(control_plane, namespace, "deployment/web")["spec"]["template"]["spec"]["containers"][0][
        "image"] == "nginx:1.19"
    assert gitapply("drift", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0


HPA = """\
    apiVersion: autoscaling/v1
    kind: HorizontalPodAutoscaler
    metadata: {name: web}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 2
      maxReplicas: 10
    """


def test_the_hpa_keeps_replicas_through_a_scale_and_through_git_dropping_them(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"web.yaml": V1["web.yaml"]})
    common = ("-n", namespace, "--app", "shop", "--inventory-namespace", namespace, "--server-side")
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    write(folder, {"hpa.yaml": HPA})
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    control_plane.kubectl("scale", "deployment/web", "--replicas=7", "-n", namespace)
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    assert live(control_plane, namespace, "deployment/web")["spec"]["replicas"] == 7
    write(folder, {"web.yaml": re.sub(r"\n *replicas: 2", "", V1["web.yaml"])})
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    assert live(control_plane, namespace, "deployment/web")["spec"]["replicas"] == 7


def test_an_unchanged_re_apply_writes_nothing(control_plane, cluster, tmp_path):
    namespace = control_plane.new_namespace("ssa-idle")
    counter = WriteCounter(cluster)
    workload, settings = with_protocol(deployment()), {"apiVersion": "v1", "kind": "ConfigMap",
                                                       "metadata": {"name": "settings"}, "data": {"a": "1"}}
    for obj in (workload, settings):
        apply_as_users_do(counter, obj, namespace, tmp_path / obj["kind"], ApplyMethod.SERVER_SIDE)
    key = ObjectKey("", "v1", "ConfigMap", namespace, "settings")  # no controller writes it
    version = cluster.get(key)["metadata"]["resourceVersion"]
    writes = counter.writes
    for obj in (workload, settings, workload, settings):
        apply_as_users_do(counter, obj, namespace, tmp_path / obj["kind"], ApplyMethod.SERVER_SIDE)
    assert counter.writes == writes, "an unchanged server-side apply sends no request that writes"
    assert cluster.get(key)["metadata"]["resourceVersion"] == version


def test_server_side_diff_of_an_unchanged_app_asks_the_server_nothing(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", V1)
    common = ("-n", namespace, "--app", "shop", "--inventory-namespace", namespace, "--server-side")
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    counter = WriteCounter(KubeCluster(kubeconfig=control_plane.kubeconfig))
    session = AppSession(counter, AppSpec(Request(path=str(folder), namespace=namespace, app="shop",
                                                  inventory_namespace=namespace, method=ApplyMethod.SERVER_SIDE)))
    assert not session.diff().plan.has_changes
    assert (counter.writes, counter.dry_runs) == (0, 0), "a no-op is recognised without the server's dry-run"


def test_heal_unmanaged_removes_a_field_added_by_hand_and_keeps_owning_only_git(control_plane, namespace,
                                                                                tmp_path):
    folder = write(tmp_path / "app", {"web.yaml": V1["web.yaml"]})
    common = ("-n", namespace, "--app", "shop", "--inventory-namespace", namespace, "--server-side")
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    control_plane.kubectl("patch", "deployment/web", "-n", namespace, "-p", json.dumps({"spec": {"template": {
        "spec": {"containers": [{"name": "web", "resources": {"limits": {"cpu": "500m"}}}]}}}}))
    done = gitapply("apply", str(folder), *common, "--heal-unmanaged", kubeconfig=control_plane.kubeconfig)
    assert done.returncode == 0, done.stderr
    container = live(control_plane, namespace, "deployment/web")["spec"]["template"]["spec"]["containers"][0]
    assert not container.get("resources"), container
    assert gitapply("drift", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    assert ("gitapply", "Update") not in managers(control_plane, namespace, "deployment/web")
