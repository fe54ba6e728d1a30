"""Smoke tests: the test control plane behaves like a real cluster wherever gitapply's tests depend on it.

Each proves one thing the other integration tests take for granted: Deployments get revisioned ReplicaSets and
roll out (pods made Ready by the node simulator), a bad image stalls a rollout until its progress deadline,
custom resources can be served and re-applied (the reflect2 fix), Services get IPs from the /16, and two
control planes can run on one machine at once.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from tests.harness import ControlPlane, wait_until
from tests.harness.controlplane import SERVICE_CIDR
from tests.harness.nodesim import NODE_NAME


def deployment(name: str, image: str, *, replicas: int = 2, progress_deadline: int | None = None) -> str:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "main", "image": image}]}},
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec})


def get(control_plane: ControlPlane, namespace: str, *what: str) -> dict[str, Any]:
    return json.loads(control_plane.kubectl("get", "-n", namespace, *what, "-o", "json").stdout)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def test_deployment_gets_a_revisioned_replicaset_and_rolls_out(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=deployment("web", "nginx:1.19"))
    control_plane.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=60s")

    replica_sets = get(control_plane, namespace, "replicasets", "-l", "app=web")["items"]
    assert [rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in replica_sets] == ["1"]
    pods = get(control_plane, namespace, "pods", "-l", "app=web")["items"]
    assert len(pods) == 2
    assert all(p["spec"]["nodeName"] == NODE_NAME and condition(p, "Ready")["status"] == "True" for p in pods)


def test_bad_image_stalls_the_rollout_until_the_progress_deadline(control_plane: ControlPlane,
                                                                    namespace: str) -> None:
    manifest = deployment("stuck", "nginx:bad", progress_deadline=10)
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)

    wait_until(
        lambda: condition(get(control_plane, namespace, "deployment/stuck"), "Progressing").get("reason")
        == "ProgressDeadlineExceeded",
        timeout=60, interval=1, message="deployment/stuck never reported ProgressDeadlineExceeded",
    )
    deployed = get(control_plane, namespace, "deployment/stuck")
    assert condition(deployed, "Progressing")["status"] == "False"
    assert not deployed["status"].get("readyReplicas")
    rollout = control_plane.kubectl("rollout", "status", "-n", namespace, "deployment/stuck", "--timeout=10s",
                                    check=False)
    assert rollout.returncode != 0
    assert "exceeded its progress deadline" in rollout.stderr


def widget_crd(group: str) -> str:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "string"}, "count": {"type": "integer"}}}}}
    return json.dumps({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}]},
    })


def widget(group: str, size: str) -> str:
    return json.dumps({"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"},
                       "spec": {"size": size, "count": 3}})


def test_custom_resources_can_be_created_listed_and_reapplied(control_plane: ControlPlane, namespace: str) -> None:
    group = f"{namespace}.gitapply.test"
    control_plane.kubectl("apply", "-f", "-", input=widget_crd(group))
    try:
        control_plane.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
        # Discovery of a just-established group can lag a moment behind the condition.
        wait_until(lambda: control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=widget(group, "small"),
                                                 check=False).returncode == 0,
                   timeout=30, message="the first Widget was never accepted")
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=widget(group, "large"))

        listed = get(control_plane, namespace, f"widgets.{group}")["items"]
        assert [(w["metadata"]["name"], w["spec"]["size"]) for w in listed] == [("w1", "large")]
        assert control_plane.ready(), "the API server stopped answering after serving custom resources"
    finally:
        control_plane.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


def test_service_gets_a_cluster_ip_from_the_service_range(control_plane: ControlPlane, namespace: str) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(service))

    cluster_ip = get(control_plane, namespace, "service/web")["spec"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(SERVICE_CIDR)


def test_two_control_planes_run_side_by_side(control_plane: ControlPlane) -> None:
    with ControlPlane(controller_manager=False) as second:
        assert second.server != control_plane.server
        assert second.ready() and control_plane.ready()
        only_there = second.new_namespace("only-there")
        assert control_plane.kubectl("get", "namespace", only_there, check=False).returncode != 0
        assert second.kubectl("get", "namespace", only_there, check=False).returncode == 0
