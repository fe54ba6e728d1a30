"""Applying desired objects to a cluster, one request per changed object, as ``kubectl apply`` does.

A write that loses a race (HTTP 409: the object changed between our read and our patch) is recomputed from
a fresh read, a few times, before it is reported. Independent objects are applied concurrently (bounded).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable

from ..cluster.base import Cluster
from ..engine.objectplan import plan_object
from ..errors import ConflictingWriteError
from ..model import Action, ObjectKey

CONFLICT_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome for one object: what was done and the live object the server returned."""

    key: ObjectKey
    action: Action
    live: dict[str, Any] | None


def with_namespace(desired: dict[str, Any], cluster: Cluster, namespace: str = "") -> dict[str, Any]:
    """``desired`` with ``metadata.namespace`` filled for a namespaced kind (from ``namespace`` or the
    context), as kubectl does before it applies."""
    resource = cluster.resource(desired.get("apiVersion", ""), desired.get("kind", ""))
    metadata = desired.get("metadata") or {}
    if not resource.namespaced or metadata.get("namespace"):
        return desired
    return {**desired, "metadata": {**metadata, "namespace": namespace or cluster.default_namespace()}}


def apply_object(cluster: Cluster, desired: dict[str, Any], *, dry_run: bool = False,
                 overwrite: bool = True) -> Applied:
    """Create or patch one object (namespace already set); unchanged objects cost a read and no write."""
    key = ObjectKey.of(desired)
    node = cluster.patch_node(key.api_version, key.kind)
    for attempt in range(CONFLICT_RETRIES + 1):
        plan = plan_object(desired, cluster.get(key), node, overwrite=overwrite)
        try:
            if plan.action is Action.CREATE:
                return Applied(key, plan.action, cluster.create(plan.body, dry_run=dry_run))
            if plan.action is Action.UNCHANGED:
                return Applied(key, plan.action, plan.predicted)
            assert plan.patch_type is not None
            return Applied(key, plan.action, cluster.patch(key, plan.body, plan.patch_type, dry_run=dry_run))
        except ConflictingWriteError:
            if attempt == CONFLICT_RETRIES:
                raise
    raise AssertionError("unreachable")


def apply_all(cluster: Cluster, objects: Iterable[dict[str, Any]], *, workers: int = 8,
              dry_run: bool = False) -> list[Applied]:
    """Apply independent objects concurrently; results in input order. Fails on the first error."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda obj: apply_object(cluster, obj, dry_run=dry_run), objects))
