"""A ``Cluster`` whose writes ask first: every create, patch, apply, replace and delete (not dry-runs, not reads)
checks ``may_write`` just before it is sent, so a replica that lost its Lease, or is shutting down, starts no
new write. The write already in flight finishes; the ones after it fail with ``NotLeadingError``, which the
loop counts as skipped rather than as a problem of the app."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..cluster.base import Cluster, Propagation, Resource
from ..errors import NotLeadingError
from ..merge import Node
from ..model import ObjectKey, PatchType


class GuardedCluster:
    """``cluster`` with every write guarded by ``may_write``."""

    def __init__(self, cluster: Cluster, may_write: Callable[[], bool]) -> None:
        self._cluster = cluster
        self._may_write = may_write
        self.field_manager = cluster.field_manager

    def _check(self, key: ObjectKey, dry_run: bool) -> None:
        if dry_run or self._may_write():
            return
        raise NotLeadingError(str(key), "not written: this replica is not leading (the Lease was lost or the "
                                        "process is stopping); the leader writes it")

    def server_version(self) -> str:
        return self._cluster.server_version()

    def default_namespace(self) -> str:
        return self._cluster.default_namespace()

    def resource(self, api_version: str, kind: str) -> Resource:
        return self._cluster.resource(api_version, kind)

    def prefetch(self, api_versions: Iterable[str] = ()) -> None:
        self._cluster.prefetch(api_versions)

    def patch_node(self, api_version: str, kind: str) -> Node | None:
        return self._cluster.patch_node(api_version, kind)

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        return self._cluster.get(key)

    def list(self, api_version: str, kind: str, *, namespace: str = "",
             label_selector: str = "") -> list[dict[str, Any]]:
        return self._cluster.list(api_version, kind, namespace=namespace, label_selector=label_selector)

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        self._check(ObjectKey.of(obj), dry_run)
        return self._cluster.create(obj, dry_run=dry_run)

    def patch(self, key: ObjectKey, patch: dict[str, Any], patch_type: PatchType, *,
              dry_run: bool = False) -> dict[str, Any]:
        self._check(key, dry_run)
        return self._cluster.patch(key, patch, patch_type, dry_run=dry_run)

    def apply(self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        self._check(ObjectKey.of(obj), dry_run)
        return self._cluster.apply(obj, force=force, dry_run=dry_run)

    def replace(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        self._check(ObjectKey.of(obj), dry_run)
        return self._cluster.replace(obj, dry_run=dry_run)

    def delete(self, key: ObjectKey, *, propagation: Propagation = Propagation.BACKGROUND,
               dry_run: bool = False) -> None:
        self._check(key, dry_run)
        self._cluster.delete(key, propagation=propagation, dry_run=dry_run)
