"""Reading and writing an app's hold on its inventory ConfigMap (``engine.holds`` has the record and the rules).

Every write is one merge patch of the ConfigMap's ``gitapply.io/hold`` annotation carrying the
``resourceVersion`` read (the same ``patch`` verb the inventory's own writes need, no ``update``): two writers
that read the same record cannot both succeed, so a reconcile loop recording its commit cannot bring back a
hold that ``gitapply release`` removed a moment before. ``write_inventory`` patches only ``data``, so the
annotation survives every apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..cluster.base import Cluster
from ..engine.holds import DEFAULT_REV, HOLD_ANNOTATION, Hold, format_hold, parse_hold
from ..errors import ConflictingWriteError, ForbiddenError, GitapplyError
from ..model import ObjectKey, PatchType
from .inventory import INVENTORY_LABEL, PREFIX, inventory_key

_ATTEMPTS = 3


class HoldError(GitapplyError):
    """The hold cannot be set: the app has no inventory where it was looked for; the message says where."""


def read_hold(cluster: Cluster, app: str, namespace: str) -> Hold | None:
    """The app's hold; None when it is not held (or has no inventory)."""
    return _hold_of(cluster.get(inventory_key(app, namespace)), inventory_key(app, namespace))


def _hold_of(inventory: dict[str, Any] | None, key: ObjectKey) -> Hold | None:
    text = ((inventory or {}).get("metadata", {}).get("annotations") or {}).get(HOLD_ANNOTATION)
    return parse_hold(text, key) if text else None


Change = Callable[[Hold | None], Hold | None]
"""From the record read to the record wanted (None: no hold)."""


def change_hold(cluster: Cluster, app: str, namespace: str, change: Change, *, create: bool = False) -> Hold | None:
    """Apply ``change`` to the app's hold, re-reading and trying again when another writer came in between;
    returns the record it replaced. Without an inventory: ``HoldError``, or with ``create`` an empty inventory
    holding the record (``apply --hold`` of an app applied for the first time sets its hold before writing)."""
    key = inventory_key(app, namespace)
    for attempt in range(_ATTEMPTS):
        current = cluster.get(key)
        if current is None and not create:
            raise HoldError(str(key), f"no app {app!r} here: it has no inventory in namespace {namespace!r}; "
                                      "check the name, and pass --inventory-namespace where it was applied")
        before = _hold_of(current, key)
        wanted = change(before)
        if wanted == before:
            return before
        if current is None:  # with ``create``; ``wanted`` differs from no hold, so it is one
            if wanted is not None:
                cluster.create(_empty_inventory(key, app, wanted))
            return None
        patch = {"metadata": {"resourceVersion": current["metadata"].get("resourceVersion"),
                              "annotations": {HOLD_ANNOTATION: format_hold(wanted) if wanted else None}}}
        try:
            cluster.patch(key, patch, PatchType.MERGE)
        except ConflictingWriteError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        return before
    return None  # not reached: the last attempt returns or raises


def _empty_inventory(key: ObjectKey, app: str, hold: Hold) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": key.name, "namespace": key.namespace, "labels": {INVENTORY_LABEL: app},
                         "annotations": {HOLD_ANNOTATION: format_hold(hold)}},
            "data": {"objects": "[]"}}


def inventory_namespace_of(cluster: Cluster, app: str, namespace: str) -> str | None:
    """Where the app's inventory is: ``namespace`` when it is there, else the one namespace holding an
    inventory of that app (found by its label; a user who may not list ConfigMaps across namespaces is told
    to name it). None when there is none."""
    if cluster.get(inventory_key(app, namespace)) is not None:
        return namespace
    try:
        found = cluster.list("v1", "ConfigMap", label_selector=f"gitapply.io/inventory={app}")
    except ForbiddenError:
        return None
    places = sorted({obj["metadata"]["namespace"] for obj in found if obj["metadata"]["name"] == PREFIX + app})
    return places[0] if len(places) == 1 else None


def head_commit(path: str, subdir: str | None) -> str:
    """The commit ``HEAD`` of the repository at ``path`` (a URL's mirror fetched) resolves to now: where the
    app's source is while ``--rev`` applies another commit."""
    from ..source import git

    commit, _, _ = git.locate(path, rev=DEFAULT_REV, subdir=subdir)
    return commit
