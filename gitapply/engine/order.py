"""The order objects are applied in: what others depend on first; deletions in reverse.

Namespaces hold everything namespaced; CRDs must exist (and be established) before their custom resources;
ServiceAccounts and RBAC before the workloads that run as them; ConfigMaps and Secrets before the pods that
mount them; Services before workloads so that their environment variables exist at pod start.
"""

from __future__ import annotations

from ..model import ObjectKey

_RANKS: dict[str, int] = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "PriorityClass": 2,
    "StorageClass": 2,
    "ServiceAccount": 3,
    "ClusterRole": 4,
    "ClusterRoleBinding": 4,
    "Role": 4,
    "RoleBinding": 4,
    "ResourceQuota": 5,
    "LimitRange": 5,
    "ConfigMap": 6,
    "Secret": 6,
    "PersistentVolume": 6,
    "PersistentVolumeClaim": 6,
    "Service": 7,
    "Deployment": 8,
    "StatefulSet": 8,
    "DaemonSet": 8,
    "ReplicaSet": 8,
    "ReplicationController": 8,
    "Job": 8,
    "CronJob": 8,
    "Pod": 8,
}
REST = 9


def rank(key: ObjectKey) -> int:
    """The apply stage of an object's kind (lower first); kinds not listed come last."""
    return _RANKS.get(key.kind, REST)


def apply_order(key: ObjectKey) -> tuple[int, ObjectKey]:
    """Sort key for applying: by stage, then by key so output is stable."""
    return rank(key), key


def delete_order(key: ObjectKey) -> tuple[int, ObjectKey]:
    """Sort key for deleting: the reverse stages (custom resources before their CRD, namespaces last)."""
    return -rank(key), key
