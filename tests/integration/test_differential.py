"""Differential tests: the same sequence through ``kubectl apply`` (v1.20.2, the oracle) and through gitapply
must leave the same live object, last-applied annotation included, byte for byte.

Each scenario runs twice against the real control plane, once per namespace: the kubectl run in one, the
gitapply run in the other. gitapply's run goes through the path users run (``AppSession``: a folder of
manifests read, validated, planned, checked by the server's dry-run, written, its inventory recorded).
Out-of-band changes (``kubectl scale``, ``kubectl patch`` standing in for ``kubectl edit``) are made by kubectl
in both runs. Objects are compared after the controllers settle, without uid, resourceVersion, timestamps,
managedFields and status, and without gitapply's bookkeeping beside kubectl's record (the ``gitapply.io/app``
label, kept out of the last-applied annotation, and server-side apply's ``gitapply.io/applied`` digest); the
namespace is normalised.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any, Callable

import pytest

import yaml

from gitapply.cluster.kube import KubeCluster
from gitapply.engine.plan import APP_LABEL
from gitapply.engine.serverside import APPLIED_ANNOTATION
from gitapply.model import Action, ApplyMethod, ObjectKey
from gitapply.ops.prepare import Request
from gitapply.session import AppSession, AppSpec


class WriteCounter:
    """A cluster that counts the writes sent through it, and apart from them the dry-runs."""

    def __init__(self, cluster: KubeCluster) -> None:
        self._cluster = cluster
        self.writes = 0
        self.dry_runs = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._cluster, name)
        if name in ("create", "patch", "apply", "replace", "delete"):
            def counted(*args: Any, **kwargs: Any) -> Any:
                if kwargs.get("dry_run"):
                    self.dry_runs += 1
                else:
                    self.writes += 1
                return attribute(*args, **kwargs)
            return counted
        return attribute


def apply_as_users_do(cluster: Any, obj: dict[str, Any], namespace: str, folder,
                      method: ApplyMethod | None = None) -> Action:
    """``gitapply apply FOLDER -n NAMESPACE``, through the session the CLI runs; the object's action."""
    folder.mkdir(exist_ok=True)
    (folder / "object.yaml").write_text(yaml.safe_dump(obj))
    session = AppSession(cluster, AppSpec(Request(path=str(folder), namespace=namespace, app="parity",
                                                  inventory_namespace=namespace, method=method)))
    planned = session.plan()
    assert not planned.refusals, [refusal.message for refusal in planned.refusals]
    assert session.apply(planned) == []
    (change,) = [c for c in planned.plan.changes if c.key.kind == obj["kind"]]
    again = session.diff()
    assert not again.refusals and not again.plan.has_changes, "after an apply, diff of the same source shows nothing"
    return change.action


def deployment(*, image: str = "nginx:1.19", replicas: int | None = 2, annotations: dict | None = None,
               env: list | None = None, sidecar: bool = True, max_surge: Any = 1) -> dict[str, Any]:
    containers = [{"name": "web", "image": image, "ports": [{"containerPort": 80}],
                   "env": env if env is not None else [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]
    if sidecar:
        containers.append({"name": "log", "image": "busybox:1.32", "args": ["tail", "-f", "/dev/null"]})
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    metadata: dict[str, Any] = {"name": "web", "labels": {"app": "web"}}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
             "data": {"LOG_LEVEL": "info", "REGION": "eu-west-1", "FEATURE": "on"}}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def widget(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "gear"}, "spec": spec}


def without(obj: dict[str, Any], *paths: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for path in paths:
        *parents, last = path.split(".")
        target = obj
        for part in parents:
            target = target.get(part, {})
        target.pop(last, None)
    return obj


Step = tuple[str, Any]
SCENARIOS: dict[str, list[Step]] = {
    "create": [("apply", deployment())],
    "change an annotation": [("apply", deployment(annotations={"organization": "sales"})),
                             ("apply", deployment(annotations={"organization": "marketing"}))],
    "remove a field": [("apply", deployment(annotations={"organization": "sales", "team": "web"})),
                       ("apply", deployment(annotations={"organization": "sales"}))],
    "remove a container": [("apply", deployment()), ("apply", deployment(sidecar=False))],
    "add and reorder env vars": [
        ("apply", deployment()),
        ("apply", deployment(env=[{"name": "C", "value": "3"}, {"name": "B", "value": "2"},
                                  {"name": "A", "value": "1"}]))],
    "remove, add and reorder env vars in one apply": [
        ("apply", deployment(env=[{"name": n, "value": n.lower()} for n in "ABCD"])),
        ("apply", deployment(env=[{"name": n, "value": n.lower()} for n in "DEA"]))],
    "replace the sidecar and add a container in one apply": [
        ("apply", deployment()),
        ("apply", {**deployment(sidecar=False), "spec": {**deployment(sidecar=False)["spec"], "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "metrics", "image": "busybox:1.32", "args": ["sleep", "3600"]},
                {"name": "web", "image": "nginx:1.19", "ports": [{"containerPort": 80}],
                 "env": [{"name": "A", "value": "1"}]},
                {"name": "proxy", "image": "busybox:1.32"}]}}}})],
    "rename a container beside one added by hand": [
        ("apply", deployment(sidecar=False)),
        ("kubectl", ["patch", "deployment/web", "-p", json.dumps({"spec": {"template": {"spec": {"containers": [
            {"name": "injected", "image": "busybox:1.32"}]}}}})]),
        ("apply", {**deployment(sidecar=False), "spec": {**deployment(sidecar=False)["spec"], "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "web2", "image": "nginx:1.19"}]}}}})],
    "maxSurge from 1 to 25%": [("apply", deployment()), ("apply", deployment(max_surge="25%"))],
    "service keeps its clusterIP and port defaults": [
        ("apply", SERVICE),
        ("apply", {**SERVICE, "spec": {**SERVICE["spec"], "ports": [
            {"name": "http", "port": 80, "targetPort": 9090}]}})],
    "configmap key removed and changed": [
        ("apply", CONFIGMAP),
        ("apply", {**CONFIGMAP, "data": {"LOG_LEVEL": "debug", "REGION": "eu-west-1"}})],
    "custom resource by JSON merge patch": [
        ("apply", widget({"size": 3, "colors": ["red", "blue"], "shape": {"kind": "cog", "teeth": 12}})),
        ("apply", widget({"size": 4, "colors": ["green"], "shape": {"kind": "cog"}}))],
    "kubectl scale and edit between two applies": [
        ("apply", deployment()),
        ("kubectl", ["scale", "deployment/web", "--replicas=5"]),
        ("kubectl", ["patch", "deployment/web", "--type=merge", "-p",
                     json.dumps({"metadata": {"labels": {"edited": "by-hand"}},
                                 "spec": {"template": {"spec": {"containers": [
                                     {"name": "web", "image": "nginx:1.19",
                                      "resources": {"limits": {"cpu": "500m"}}}]}}}})]),
        ("apply", deployment(image="nginx:1.20"))],
}

VOLATILE = ("metadata.uid", "metadata.resourceVersion", "metadata.creationTimestamp", "metadata.managedFields",
            "metadata.selfLink", "status")


def normalised(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The object minus what differs between two runs (ids, times, the namespace, allocated IPs, gitapply's
    app label)."""
    obj = without(obj, *VOLATILE)
    for section, ours in (("labels", APP_LABEL), ("annotations", APPLIED_ANNOTATION)):
        values = obj["metadata"].get(section) or {}
        values.pop(ours, None)
        if not values:
            obj["metadata"].pop(section, None)
    text = json.dumps(obj, sort_keys=True).replace(namespace, "NAMESPACE")
    obj = json.loads(text)
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Service":
        assert spec.pop("clusterIP", "").startswith("10.96."), "a Service gets a clusterIP from the range"
        spec.pop("clusterIPs", None)
    return obj


def rolled_out(obj: dict[str, Any]) -> bool:
    """What ``kubectl rollout status`` waits for: the latest generation observed and every replica updated.

    Observing the generation alone is not enough: a change of replicas and template together is first
    handled as a scaling event (generation observed, no new ReplicaSet yet) and rolled out on a later sync.
    """
    if obj.get("kind") != "Deployment":
        return True
    status, spec = obj.get("status") or {}, obj.get("spec") or {}
    wanted = spec.get("replicas", 1)
    return (status.get("observedGeneration") == obj["metadata"].get("generation")
            and status.get("updatedReplicas", 0) == wanted and status.get("replicas", 0) == wanted)


def wait_settled(read: Callable[[], dict[str, Any]], timeout: float = 90) -> dict[str, Any]:
    """Wait until a workload's rollout is complete, so that controller-written fields are final."""
    deadline = time.monotonic() + timeout
    while True:
        obj = read()
        if rolled_out(obj):
            return obj
        if time.monotonic() > deadline:
            raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']} did not settle: {obj.get('status')}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(control_plane) -> KubeCluster:
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(CRD))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=60s")
    return KubeCluster(kubeconfig=control_plane.kubeconfig)


def run_scenario(steps: list[Step], namespace: str, apply: Callable[[dict[str, Any]], None], control_plane,
                 cluster: KubeCluster) -> dict[str, Any]:
    """Run the steps, letting the controllers settle after each, so both runs see the same history
    (a template changed twice before the controller looked is one ReplicaSet revision, not two)."""
    key = ObjectKey.of([arg for verb, arg in steps if verb == "apply"][-1], namespace)
    for verb, arg in steps:
        if verb == "apply":
            apply(arg)
        else:
            control_plane.kubectl(*arg, "-n", namespace)
        final = wait_settled(lambda: cluster.get(key))
    return final


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_gitapply_leaves_the_same_live_object_as_kubectl_apply(name, control_plane, cluster, tmp_path):
    steps = SCENARIOS[name]
    ns_kubectl = control_plane.new_namespace("kubectl")
    ns_gitapply = control_plane.new_namespace("gitapply")

    def kubectl_apply(obj):
        control_plane.kubectl("apply", "-n", ns_kubectl, "-f", "-", input=json.dumps(obj))

    def gitapply_apply(obj):
        apply_as_users_do(cluster, obj, ns_gitapply, tmp_path / "app")

    by_kubectl = normalised(run_scenario(steps, ns_kubectl, kubectl_apply, control_plane, cluster), ns_kubectl)
    by_gitapply = normalised(run_scenario(steps, ns_gitapply, gitapply_apply, control_plane, cluster),
                             ns_gitapply)
    assert by_gitapply == by_kubectl


def test_annotation_change_bumps_generation_but_not_the_revision(control_plane, cluster, tmp_path):
    namespace = control_plane.new_namespace("revision")
    key = ObjectKey("apps", "v1", "Deployment", namespace, "web")
    apply_as_users_do(cluster, deployment(annotations={"organization": "sales"}), namespace, tmp_path)
    before = wait_settled(lambda: cluster.get(key))
    action = apply_as_users_do(cluster, deployment(annotations={"organization": "marketing"}), namespace, tmp_path)
    after = wait_settled(lambda: cluster.get(key))
    assert action is Action.PATCH
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    revision = "deployment.kubernetes.io/revision"
    assert after["metadata"]["annotations"][revision] == before["metadata"]["annotations"][revision] == "1"
    assert after["metadata"]["annotations"]["organization"] == "marketing"


def test_removing_replicas_keeps_the_live_count_where_kubectl_resets_to_one(control_plane, cluster, tmp_path):
    """The one place gitapply departs from kubectl on purpose (engine/defaults.yaml: keep-live-when-removed):
    ``replicas`` leaving git hands the count to whoever scales the workload, instead of dropping it to 1."""
    steps = [("apply", deployment(replicas=7)), ("apply", deployment(replicas=None))]
    ns_kubectl, ns_gitapply = control_plane.new_namespace("kubectl"), control_plane.new_namespace("gitapply")
    by_kubectl = run_scenario(steps, ns_kubectl, lambda obj: control_plane.kubectl(
        "apply", "-n", ns_kubectl, "-f", "-", input=json.dumps(obj)), control_plane, cluster)
    by_gitapply = run_scenario(steps, ns_gitapply, lambda obj: apply_as_users_do(cluster, obj, ns_gitapply, tmp_path),
                               control_plane, cluster)
    assert (by_kubectl["spec"]["replicas"], by_gitapply["spec"]["replicas"]) == (1, 7)


def test_applying_the_same_manifest_twice_is_unchanged_without_a_write(control_plane, cluster, tmp_path):
    namespace = control_plane.new_namespace("unchanged")
    counter = WriteCounter(cluster)
    assert apply_as_users_do(counter, deployment(), namespace, tmp_path) is Action.CREATE
    writes = counter.writes
    assert apply_as_users_do(counter, deployment(), namespace, tmp_path) is Action.UNCHANGED
    assert counter.writes == writes, "an unchanged app costs no write (nor its inventory)"


def test_kubectl_apply_after_gitapply_changes_nothing(control_plane, cluster, tmp_path):
    namespace = control_plane.new_namespace("interchange")
    key = ObjectKey("apps", "v1", "Deployment", namespace, "web")
    apply_as_users_do(cluster, deployment(), namespace, tmp_path)
    before = wait_settled(lambda: cluster.get(key))
    result = control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment()))
    assert "unchanged" in result.stdout
    after = cluster.get(key)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]


def test_gitapply_after_kubectl_apply_changes_nothing(control_plane, cluster, tmp_path):
    namespace = control_plane.new_namespace("interchange")
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment()))
    # the object is adopted: gitapply's app label is its one change, and the spec is left as kubectl applied it
    before = cluster.get(ObjectKey("apps", "v1", "Deployment", namespace, "web"))
    apply_as_users_do(cluster, deployment(), namespace, tmp_path)
    after = cluster.get(ObjectKey("apps", "v1", "Deployment", namespace, "web"))
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]


def container_order(obj: dict[str, Any]) -> list[tuple[str, list[str]]]:
    containers = obj["spec"]["template"]["spec"]["containers"]
    return [(c["name"], [e["name"] for e in c.get("env", [])]) for c in containers]


@pytest.mark.parametrize("name", ["remove, add and reorder env vars in one apply",
                                  "replace the sidecar and add a container in one apply",
                                  "rename a container beside one added by hand",
                                  "add and reorder env vars", "remove a container"])
def test_the_predicted_object_has_the_servers_list_order(name, control_plane, cluster, tmp_path):
    """``apply_patch`` (what diff shows) must order merged lists exactly as the API server does."""
    from gitapply.engine.objectplan import plan_object

    *before, (_, desired) = SCENARIOS[name]
    namespace = control_plane.new_namespace("order")
    run_scenario(before, namespace, lambda obj: apply_as_users_do(cluster, obj, namespace, tmp_path),
                 control_plane, cluster)
    key = ObjectKey.of(desired, namespace)
    with_namespace = {**desired, "metadata": {**desired["metadata"], "namespace": namespace}}
    predicted = plan_object(with_namespace, cluster.get(key), cluster.patch_node(key.api_version, key.kind)).predicted
    apply_as_users_do(cluster, desired, namespace, tmp_path)
    assert container_order(predicted) == container_order(cluster.get(key))
