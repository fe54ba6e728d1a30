"""Rollout health per kind, from the status the controllers write."""

from __future__ import annotations

from gitapply.engine.health import Health, rollout_health


def deployment(status, generation=2, replicas=3):
    return {"kind": "Deployment", "metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": status}


def test_a_deployment_is_progressing_until_the_controller_observes_it():
    health, reason = rollout_health(deployment({"observedGeneration": 1}))
    assert health is Health.PROGRESSING and "observe" in reason


def test_a_deployment_is_ready_when_every_replica_is_updated_and_available():
    status = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
    assert rollout_health(deployment(status))[0] is Health.READY


def test_old_replicas_still_terminating_keep_a_deployment_progressing():
    status = {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}
    health, reason = rollout_health(deployment(status))
    assert health is Health.PROGRESSING and "old replicas" in reason


def test_a_deployment_past_its_progress_deadline_has_failed():
    status = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-1" has timed out progressing.'}]}
    health, reason = rollout_health(deployment(status))
    assert health is Health.FAILED and "timed out" in reason


def test_a_statefulset_waits_for_its_update_revision():
    sts = {"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 2,
                      "currentRevision": "a", "updateRevision": "b"}}
    assert rollout_health(sts)[0] is Health.PROGRESSING
    sts["status"]["currentRevision"] = "b"
    assert rollout_health(sts)[0] is Health.READY


def test_a_daemonset_is_ready_when_every_scheduled_pod_is_updated_and_available():
    ds = {"kind": "DaemonSet", "metadata": {"generation": 1},
          "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2,
                     "numberAvailable": 1}}
    assert rollout_health(ds)[0] is Health.PROGRESSING
    ds["status"]["numberAvailable"] = 2
    assert rollout_health(ds)[0] is Health.READY


def test_kinds_without_a_rollout_are_ready():
    assert rollout_health({"kind": "ConfigMap"})[0] is Health.READY
