"""A fleet of desired objects for the cluster benchmarks: N objects of 10 kinds across 20 namespaces.

Workloads have ``replicas: 0`` so the benchmark measures the API, not the node simulator. Written as public
projects write manifests: quantities in non-canonical forms (``"0.5"``, ``1024Mi``, ``2000m``), NetworkPolicy
ports without their default protocol, zero values the server omits, so that a diff of the unchanged fleet
shows whether gitapply reports differences the server would not make.
"""

from __future__ import annotations

from typing import Any

KINDS = 10


def _object(kind_index: int, name: str, namespace: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": {"app": name, "bench": "fleet"}}
    labels = {"app": name}
    match kind_index:
        case 0:
            return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"key": name, "level": "info"}}
        case 1:
            return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
                    "stringData": {"password": f"pw-{name}"}}
        case 2:
            return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                    "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}
        case 3:
            return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
        case 4:
            return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
                    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}
        case 5:
            return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]}
        case 6:
            return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
                "replicas": 0, "selector": {"matchLabels": labels}, "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.19", "ports": [{"containerPort": 80}],
                                             "env": [{"name": "NAME", "value": name}],
                                             "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"},
                                                           "limits": {"cpu": "2000m"}}}]}},
                "minReadySeconds": 0}}
        case 7:
            return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
                    "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"],
                             "ingress": [{"ports": [{"port": 80}, {"port": 443}]}]}}
        case 8:
            return {"apiVersion": "v1", "kind": "LimitRange", "metadata": meta,
                    "spec": {"limits": [{"type": "Container", "default": {"cpu": "0.2", "memory": "0.25Gi"}}]}}
        case _:
            return {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": meta,
                    "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}}


def namespaces(count: int = 20, prefix: str = "fleet") -> list[dict[str, Any]]:
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{prefix}-{i:02d}"}} for i in range(count)]


def fleet(total: int = 2000, namespace_count: int = 20, prefix: str = "fleet") -> list[dict[str, Any]]:
    """``total`` objects, kinds round-robin, spread evenly over the namespaces."""
    return [_object(i % KINDS, f"obj-{i:05d}", f"{prefix}-{i % namespace_count:02d}") for i in range(total)]


def kinds() -> list[tuple[str, str]]:
    return sorted({(obj["apiVersion"], obj["kind"]) for obj in fleet(KINDS, 1)})
