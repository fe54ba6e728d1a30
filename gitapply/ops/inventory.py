"""The app's inventory: a ConfigMap listing every object gitapply applied under an app name.

Prune reads it to know what the app owns, so that ownership is recorded, never guessed. It is written after
each successful apply (``next_inventory`` says with what). A ConfigMap (not a CRD) so that gitapply
needs nothing installed in the cluster; it lives in the namespace given by ``--inventory-namespace``.
"""

from __future__ import annotations

import json
from typing import Iterable

from ..cluster.base import Cluster
from ..errors import RecordError
from ..model import ObjectKey, PatchType

PREFIX = "gitapply-inventory-"
INVENTORY_LABEL = "gitapply.io/inventory"
"""On the inventory, its app's name: a watch tells a change to the app's record (a hold, a release) by it."""


def inventory_key(app: str, namespace: str) -> ObjectKey:
    return ObjectKey("", "v1", "ConfigMap", namespace, PREFIX + app)


def read_inventory(cluster: Cluster, app: str, namespace: str) -> list[ObjectKey]:
    """The keys recorded for ``app``; empty when the app was never applied."""
    key = inventory_key(app, namespace)
    record = cluster.get(key)
    if record is None:
        return []
    try:
        entries = json.loads((record.get("data") or {}).get("objects") or "[]")
    except ValueError as err:
        raise _unreadable(key, app, f"not valid JSON ({err})") from err
    if not isinstance(entries, list) or not all(
            isinstance(entry, list) and len(entry) == 5 and all(isinstance(part, str) for part in entry)
            for entry in entries):
        raise _unreadable(key, app, "not a list of [group, version, kind, namespace, name]")
    return [ObjectKey(*entry) for entry in entries]


def _unreadable(key: ObjectKey, app: str, problem: str) -> RecordError:
    return RecordError(str(key), f"the inventory of app {app} is {problem}: it was edited by hand. Delete it "
                                 f"(kubectl delete configmap {key.name} -n {key.namespace}) and apply again; "
                                 "prune then knows only of the objects applied from then on")


def write_inventory(cluster: Cluster, app: str, namespace: str, keys: Iterable[ObjectKey]) -> None:
    """Replace the app's inventory with ``keys``."""
    key = inventory_key(app, namespace)
    entries = [[k.group, k.version, k.kind, k.namespace, k.name] for k in sorted(set(keys))]
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": key.name, "namespace": namespace, "labels": {INVENTORY_LABEL: app}},
        "data": {"objects": json.dumps(entries, separators=(",", ":"))},
    }
    current = cluster.get(key)
    if current is None:
        cluster.create(body)
    elif current.get("data") != body["data"]:  # an idle pass of the reconcile loop writes nothing
        cluster.patch(key, {"data": body["data"]}, PatchType.MERGE)



def next_inventory(applied: Iterable[ObjectKey], previous: Iterable[ObjectKey], still_owned: Iterable[ObjectKey],
                   pruned: Iterable[ObjectKey]) -> set[ObjectKey]:
    """What the app owns after an apply: what was applied, plus earlier entries that still exist as the
    app's (git dropped them but they were not pruned, or a selector left them out), minus what was pruned.

    Dropping an unpruned object from the inventory would make it unprunable forever."""
    owned = set(still_owned)
    return (set(applied) | {key for key in previous if key in owned}) - set(pruned)
