"""The realistic Deployment the merge benchmark uses: last-applied, new configuration, live object.

Live is about 3.5 KB of JSON with the defaults the API server adds and a status; the change is a new image,
an added env var, a removed sidecar and a removed annotation (the yardstick of ../shared/FACTS.md).
"""

from __future__ import annotations

import copy
from typing import Any


def _container(name: str, image: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "REGION", "value": "eu-west-1"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    }


def last_applied() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"organization": "sales", "team": "storefront"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "frontend"}},
                "spec": {
                    "containers": [_container("web", "registry.example.com/web:1.4.2"), _container("log-shipper", "fluent/fluent-bit:2.1")],
                    "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
                },
            },
        },
    }


def modified() -> dict[str, Any]:
    obj = last_applied()
    del obj["metadata"]["annotations"]["team"]
    spec = obj["spec"]["template"]["spec"]
    spec["containers"] = [spec["containers"][0]]
    web = spec["containers"][0]
    web["image"] = "registry.example.com/web:1.5.0"
    web["env"].append({"name": "FEATURE_CART", "value": "on"})
    return obj


def _defaulted_container(container: dict[str, Any]) -> dict[str, Any]:
    container = copy.deepcopy(container)
    container["ports"][0]["protocol"] = "TCP"
    probe = container["readinessProbe"]
    probe["httpGet"]["scheme"] = "HTTP"
    probe.update(timeoutSeconds=1, successThreshold=1, failureThreshold=3)
    container.update(
        terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File", imagePullPolicy="IfNotPresent"
    )
    return container


def live() -> dict[str, Any]:
    import json

    obj = last_applied()
    annotation = json.dumps(obj, separators=(",", ":"))
    obj["metadata"].update(
        uid="8a6e0c3f-2f0e-4b5e-9d53-4f8b0c1d2e3f",
        resourceVersion="482913",
        generation=4,
        creationTimestamp="2026-11-01T09:12:44Z",
    )
    obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = annotation
    spec = obj["spec"]
    spec.update(progressDeadlineSeconds=600, revisionHistoryLimit=10)
    spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    pod = spec["template"]["spec"]
    pod["containers"] = [_defaulted_container(c) for c in pod["containers"]]
    pod["volumes"][0]["configMap"]["defaultMode"] = 420
    pod.update(
        restartPolicy="Always",
        terminationGracePeriodSeconds=30,
        dnsPolicy="ClusterFirst",
        securityContext={},
        schedulerName="default-scheduler",
    )
    spec["template"]["metadata"]["creationTimestamp"] = None
    obj["status"] = {
        "observedGeneration": 4,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            {"type": "Available", "status": "True", "lastUpdateTime": "2026-11-01T09:13:02Z",
             "lastTransitionTime": "2026-11-01T09:13:02Z", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "lastUpdateTime": "2026-11-20T14:40:11Z",
             "lastTransitionTime": "2026-11-01T09:12:44Z", "reason": "NewReplicaSetAvailable",
             "message": 'ReplicaSet "web-7d9c6b5f4" has successfully progressed.'},
        ],
    }
    return obj
