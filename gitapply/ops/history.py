"""A workload's revision history, and rolling it back to one of its revisions.

The controllers keep the history: a Deployment's ReplicaSets (annotation ``deployment.kubernetes.io/revision``)
and a DaemonSet's or StatefulSet's ControllerRevisions (field ``revision``), each owned by the workload.
Rolling back writes the chosen revision's pod template back to the workload, as ``kubectl rollout undo``
does: the controller then rolls out a new revision with that template. Git is not changed, so ``drift``
reports the rolled-back template as drift until git follows (or the next apply rolls forward).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cluster.base import Cluster
from ..errors import GitapplyError, NotFoundError
from ..model import ObjectKey, PatchType

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HISTORY_KINDS = frozenset({"Deployment", "DaemonSet", "StatefulSet"})


class RollbackError(GitapplyError):
    """The rollback cannot be done (no such revision, not a workload); the message says what exists."""


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision of a workload: its number, the object that holds it, its pod template and images."""

    number: int
    holder: str
    template: dict[str, Any]
    created: str
    current: bool

    @property
    def images(self) -> list[str]:
        return [c.get("image", "") for c in (self.template.get("spec") or {}).get("containers") or ()]


def revisions(cluster: Cluster, key: ObjectKey) -> list[Revision]:
    """The workload's revisions, oldest first; raises when the workload does not exist."""
    if key.kind not in HISTORY_KINDS:
        raise RollbackError(str(key), f"{key.kind} keeps no revision history; only Deployments, DaemonSets "
                                      "and StatefulSets do (for other objects apply an earlier commit: --rev)")
    workload = cluster.get(key)
    if workload is None:
        raise NotFoundError(str(key), "not found; check the namespace (-n) and the name")
    uid = workload["metadata"]["uid"]
    selector = ",".join(f"{k}={v}" for k, v in
                        ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).items())
    if key.kind == "Deployment":
        found = _from_replicasets(cluster, key, uid, selector, workload)
    else:
        found = _from_controller_revisions(cluster, key, uid, selector, workload)
    return sorted(found, key=lambda revision: revision.number)


def _owned(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or ())


def _from_replicasets(cluster: Cluster, key: ObjectKey, uid: str, selector: str,
                      workload: dict[str, Any]) -> list[Revision]:
    current = (workload["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
    found = []
    for replicaset in cluster.list("apps/v1", "ReplicaSet", namespace=key.namespace, label_selector=selector):
        if not _owned(replicaset, uid):
            continue
        metadata = replicaset["metadata"]
        number = (metadata.get("annotations") or {}).get(REVISION_ANNOTATION)
        if number is None or not number.isdigit():
            continue
        template = _without_hash(replicaset["spec"]["template"])
        found.append(Revision(int(number), f"ReplicaSet/{metadata['name']}", template,
                              metadata.get("creationTimestamp", ""), number == current))
    return found


def _from_controller_revisions(cluster: Cluster, key: ObjectKey, uid: str, selector: str,
                               workload: dict[str, Any]) -> list[Revision]:
    status = workload.get("status") or {}
    current_name = status.get("updateRevision") or status.get("currentRevision")
    found = []
    for record in cluster.list("apps/v1", "ControllerRevision", namespace=key.namespace, label_selector=selector):
        if not _owned(record, uid):
            continue
        metadata = record["metadata"]
        template = ((record.get("data") or {}).get("spec") or {}).get("template") or {}
        template = {k: v for k, v in template.items() if k != "$patch"}
        is_current = metadata["name"] == current_name if current_name else False
        found.append(Revision(int(record.get("revision", 0)), f"ControllerRevision/{metadata['name']}", template,
                              metadata.get("creationTimestamp", ""), is_current))
    if not current_name and found:
        newest = max(found, key=lambda revision: revision.number)
        found = [Revision(r.number, r.holder, r.template, r.created, r is newest) for r in found]
    return found


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """A ReplicaSet's template without the ``pod-template-hash`` label the Deployment controller adds."""
    metadata = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k != "pod-template-hash"}
    metadata["labels"] = labels
    return {**template, "metadata": metadata}


def rollback(cluster: Cluster, key: ObjectKey, to_revision: int | None = None, *,
             dry_run: bool = False) -> Revision:
    """Write a revision's pod template back to the workload (default: the one before the current one)."""
    history = revisions(cluster, key)
    target = _choose(history, key, to_revision)
    patch = {"spec": {"template": {"$patch": "replace", **target.template}}}
    cluster.patch(key, patch, PatchType.STRATEGIC, dry_run=dry_run)
    return target


def _choose(history: list[Revision], key: ObjectKey, to_revision: int | None) -> Revision:
    numbers = ", ".join(str(r.number) for r in history) or "none"
    if to_revision is not None:
        for revision in history:
            if revision.number == to_revision:
                return revision
        raise RollbackError(str(key), f"no revision {to_revision}; the revisions kept are {numbers}")
    current = next((r for r in history if r.current), history[-1] if history else None)
    earlier = [r for r in history if current is not None and r.number < current.number]
    if not earlier:
        raise RollbackError(str(key), f"no revision before the current one (revisions kept: {numbers})")
    return earlier[-1]
