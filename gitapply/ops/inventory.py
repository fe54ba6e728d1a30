"""The app's inventory: a ConfigMap listing every object gitapply applied under an app name.

Prune reads it to know what the app owns, so that ownership is recorded, never guessed. It is written after
each successful apply with exactly the objects of that apply. A ConfigMap (not a CRD) so that gitapply
needs nothing installed in the cluster; it lives in the namespace given by ``--inventory-namespace``.
"""

from __future__ import annotations

import json
from typing import Iterable

from ..cluster.base import Cluster
from ..model import ObjectKey, PatchType

PREFIX = "gitapply-inventory-"


def inventory_key(app: str, namespace: str) -> ObjectKey:
    return ObjectKey("", "v1", "ConfigMap", namespace, PREFIX + app)


def read_inventory(cluster: Cluster, app: str, namespace: str) -> list[ObjectKey]:
    """The keys recorded for ``app``; empty when the app was never applied."""
    record = cluster.get(inventory_key(app, namespace))
    if record is None:
        return []
    entries = json.loads((record.get("data") or {}).get("objects") or "[]")
    return [ObjectKey(*entry) for entry in entries]


def write_inventory(cluster: Cluster, app: str, namespace: str, keys: Iterable[ObjectKey]) -> None:
    """Replace the app's inventory with ``keys``."""
    key = inventory_key(app, namespace)
    entries = [[k.group, k.version, k.kind, k.namespace, k.name] for k in sorted(set(keys))]
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": key.name, "namespace": namespace, "labels": {"gitapply.io/inventory": app}},
        "data": {"objects": json.dumps(entries, separators=(",", ":"))},
    }
    if cluster.get(key) is None:
        cluster.create(body)
    else:
        cluster.patch(key, {"data": body["data"]}, PatchType.MERGE)

