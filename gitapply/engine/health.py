"""Rollout health per kind, read from the status the controllers write (what ``kubectl rollout status`` reads).

- Deployment: progressing until the controller has observed the latest generation and every replica is
  updated and available and no old replica is left; **failed** when its ``Progressing`` condition says
  ``ProgressDeadlineExceeded`` (the only kind whose controller declares failure itself).
- StatefulSet: progressing until the latest generation is observed, every replica is updated and ready, and
  the current revision is the update revision (for the ``RollingUpdate`` strategy).
- DaemonSet: progressing until the latest generation is observed and every scheduled pod is updated and
  available.
- Every other kind is ready once it exists: it has no rollout.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

ROLLOUT_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})


class Health(StrEnum):
    PROGRESSING = "progressing"
    READY = "ready"
    FAILED = "failed"


def rollout_health(obj: dict[str, Any]) -> tuple[Health, str]:
    """The health of one live object and a sentence saying why."""
    kind = obj.get("kind")
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if kind not in ROLLOUT_KINDS:
        return Health.READY, "no rollout"
    if status.get("observedGeneration", 0) < metadata.get("generation", 0):
        return Health.PROGRESSING, "waiting for the controller to observe the new generation"
    if kind == "Deployment":
        return _deployment(spec, status)
    if kind == "StatefulSet":
        return _statefulset(spec, status)
    return _daemonset(status)


def _deployment(spec: dict[str, Any], status: dict[str, Any]) -> tuple[Health, str]:
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return Health.FAILED, condition.get("message") or "progress deadline exceeded"
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < wanted:
        return Health.PROGRESSING, f"{updated} of {wanted} replicas updated"
    if status.get("replicas", 0) > updated:
        return Health.PROGRESSING, f"{status.get('replicas', 0) - updated} old replicas pending termination"
    if status.get("availableReplicas", 0) < updated:
        return Health.PROGRESSING, f"{status.get('availableReplicas', 0)} of {updated} updated replicas available"
    return Health.READY, f"{updated} replicas updated and available"


def _statefulset(spec: dict[str, Any], status: dict[str, Any]) -> tuple[Health, str]:
    wanted = spec.get("replicas", 1)
    if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return Health.READY, "OnDelete strategy: pods are updated when deleted"
    if status.get("updatedReplicas", 0) < wanted:
        return Health.PROGRESSING, f"{status.get('updatedReplicas', 0)} of {wanted} pods updated"
    if status.get("readyReplicas", 0) < wanted:
        return Health.PROGRESSING, f"{status.get('readyReplicas', 0)} of {wanted} pods ready"
    if status.get("currentRevision") != status.get("updateRevision"):
        return Health.PROGRESSING, "waiting for the update revision to become current"
    return Health.READY, f"{wanted} pods updated and ready"


def _daemonset(status: dict[str, Any]) -> tuple[Health, str]:
    wanted = status.get("desiredNumberScheduled", 0)
    if status.get("updatedNumberScheduled", 0) < wanted:
        return Health.PROGRESSING, f"{status.get('updatedNumberScheduled', 0)} of {wanted} pods updated"
    if status.get("numberAvailable", 0) < wanted:
        return Health.PROGRESSING, f"{status.get('numberAvailable', 0)} of {wanted} pods available"
    return Health.READY, f"{wanted} pods updated and available"
