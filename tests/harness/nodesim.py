"""A simulated node, standing in for kubelet and scheduler (what KWOK does), so workloads roll out for real.

The control plane has no kubelet and no kube-scheduler. Without them a Deployment's pods stay Pending forever
and no rollout ever completes or fails. The simulator closes that gap from outside, through the API only:

- It registers one Node, Ready, with generous capacity, and renews its Lease (and its Ready heartbeat) every
  ``heartbeat_seconds``, so the node-lifecycle controller never marks it unreachable and evicts its pods.
- It watches pods in all namespaces. An unscheduled pod is bound to the node through the ``pods/binding``
  subresource, the way the scheduler does it. A pod on the node gets the status a kubelet would report.
- A pod whose containers all have good images is Running and Ready. A pod with any image matching
  ``bad_image`` stays Pending, Ready=False, that container waiting with reason ImagePullBackOff, so its
  Deployment stalls until ProgressDeadlineExceeded. By default an image is bad when the word ``bad`` is one
  of its name or tag parts: ``bad``, ``nginx:bad``, ``example.com/bad-image:1``, ``busybox:1.32-bad``.
- A pod being deleted (deletionTimestamp set) is deleted at once with gracePeriodSeconds=0, as a kubelet does
  once its containers stop, so ReplicaSets scale down and namespaces empty.
- Init containers complete at once. Nothing else ever ends: Jobs' pods keep running, containers never restart,
  probes are not run; volumes, resources and node-local behaviour are not simulated.

The watch reconnects on any error and relists every ``resync_seconds``, so a missed event or a failed write
is repaired on the next pass. Every write is idempotent: a pod already in the wanted state is left alone.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

from .apiclient import ApiClient, ApiError

log = logging.getLogger(__name__)

DEFAULT_BAD_IMAGE = re.compile(r"(^|[/:.@_-])bad($|[/:.@_-])")
NODE_NAME = "gitapply-node"
CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}

Pod = dict[str, Any]


def now() -> str:
    """The current time as the API's RFC 3339 seconds timestamp."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """The current time as a MicroTime (what Lease.spec.renewTime requires)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def condition(kind: str, ok: bool, reason: str = "", message: str = "", *, since: str = "",
              heartbeat: bool = False) -> dict[str, Any]:
    """One status condition, changed ``since`` (default now); node conditions also carry a heartbeat time."""
    entry: dict[str, Any] = {"type": kind, "status": "True" if ok else "False",
                             "lastTransitionTime": since or now()}
    if heartbeat:
        entry["lastHeartbeatTime"] = now()
    if reason:
        entry["reason"] = reason
    if message:
        entry["message"] = message
    return entry


def node_manifest(name: str, since: str) -> dict[str, Any]:
    """The simulated Node, with a status that a kubelet would have posted on registration."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "type": "gitapply-simulated",
        }},
        "spec": {},
        "status": node_status(name, since),
    }


def node_status(name: str, since: str) -> dict[str, Any]:
    """A node healthy ``since`` its registration; posting it again is the Ready heartbeat."""
    return {
        "capacity": CAPACITY,
        "allocatable": CAPACITY,
        "conditions": [
            condition("MemoryPressure", False, "KubeletHasSufficientMemory", since=since, heartbeat=True),
            condition("DiskPressure", False, "KubeletHasNoDiskPressure", since=since, heartbeat=True),
            condition("PIDPressure", False, "KubeletHasSufficientPID", since=since, heartbeat=True),
            condition("Ready", True, "KubeletReady", "simulated by gitapply's test harness",
                      since=since, heartbeat=True),
        ],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "", "osImage": "simulated",
            "containerRuntimeVersion": "simulated://1", "kubeletVersion": "v1.20.2",
            "kubeProxyVersion": "v1.20.2", "operatingSystem": "linux", "architecture": "amd64",
        },
    }


def pod_ip(uid: str) -> str:
    """A stable fake pod IP in 10.244.0.0/16, derived from the pod's uid."""
    digest = hashlib.sha256(uid.encode()).digest()
    return f"10.244.{digest[0]}.{digest[1] % 254 + 1}"


def container_status(container: dict[str, Any], bad: bool, started_at: str) -> dict[str, Any]:
    """What a kubelet reports for one container: running and ready, or stuck pulling a bad image."""
    image = container.get("image", "")
    status: dict[str, Any] = {"name": container["name"], "image": image, "imageID": "", "restartCount": 0,
                              "ready": not bad, "started": not bad}
    if bad:
        status["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                       "message": f'Back-off pulling image "{image}"'}}
    else:
        status["imageID"] = f"simulated://{image}"
        status["containerID"] = "simulated://" + hashlib.sha256(f"{image}{started_at}".encode()).hexdigest()[:32]
        status["state"] = {"running": {"startedAt": started_at}}
    return status


def init_status(container: dict[str, Any], bad: bool, started_at: str) -> dict[str, Any]:
    """An init container has either completed or is stuck pulling a bad image."""
    status = container_status(container, bad, started_at)
    if not bad:
        status.update(ready=True, started=False, state={"terminated": {
            "exitCode": 0, "reason": "Completed", "startedAt": started_at, "finishedAt": started_at}})
    return status


def desired_pod_status(pod: Pod, is_bad: Callable[[str], bool]) -> dict[str, Any]:
    """The status a kubelet would report for ``pod`` on the simulated node."""
    spec = pod["spec"]
    started_at = (pod.get("status") or {}).get("startTime") or now()
    inits = spec.get("initContainers") or []
    containers = spec.get("containers") or []
    init_bad = [c["name"] for c in inits if is_bad(c.get("image", ""))]
    bad = [c["name"] for c in containers if init_bad or is_bad(c.get("image", ""))]
    not_ready = f"containers with unready status: [{' '.join(bad)}]" if bad else ""
    status: dict[str, Any] = {
        "phase": "Pending" if bad else "Running",
        "conditions": [
            condition("Initialized", not init_bad, "ContainersNotInitialized" if init_bad else "",
                      f"containers with incomplete status: [{' '.join(init_bad)}]" if init_bad else ""),
            condition("Ready", not bad, "ContainersNotReady" if bad else "", not_ready),
            condition("ContainersReady", not bad, "ContainersNotReady" if bad else "", not_ready),
            condition("PodScheduled", True),
        ],
        "hostIP": "127.0.0.1",
        "podIP": pod_ip(pod["metadata"]["uid"]),
        "podIPs": [{"ip": pod_ip(pod["metadata"]["uid"])}],
        "startTime": started_at,
        "containerStatuses": [container_status(c, c["name"] in bad, started_at) for c in containers],
    }
    if inits:
        status["initContainerStatuses"] = [init_status(c, c["name"] in init_bad, started_at) for c in inits]
    return status


def fingerprint(status: dict[str, Any]) -> tuple[Any, ...]:
    """What decides whether a pod's status needs writing: phase, conditions, and each container's state."""
    conditions = tuple(sorted((c.get("type"), c.get("status")) for c in status.get("conditions") or []))
    containers = tuple(
        (c.get("name"), c.get("image"), c.get("ready"), tuple(sorted((c.get("state") or {}).keys())))
        for key in ("initContainerStatuses", "containerStatuses") for c in status.get(key) or []
    )
    return status.get("phase"), conditions, containers


class NodeSimulator:
    """One simulated node, run by two daemon threads: the pod watch and the heartbeat.

    ``connect`` makes a new API client (one per thread). ``start()`` returns once the Node exists; ``stop()``
    returns once both threads ended. ``errors`` counts failed writes, for tests that want to assert on it.
    """

    def __init__(self, connect: Callable[[], ApiClient], *, node_name: str = NODE_NAME,
                 bad_image: re.Pattern[str] = DEFAULT_BAD_IMAGE, heartbeat_seconds: float = 10.0,
                 resync_seconds: int = 30) -> None:
        self.node_name = node_name
        self.bad_image = bad_image
        self.errors = 0
        self._connect = connect
        self._heartbeat_seconds = heartbeat_seconds
        self._resync_seconds = resync_seconds
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watch_client: ApiClient | None = None
        self._since = now()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def is_bad(self, image: str) -> bool:
        return bool(self.bad_image.search(image))

    def start(self) -> None:
        client = self._connect()
        try:
            self._register(client)
        finally:
            client.close()
        self._watch_client = self._connect()
        for target, name in ((self._watch_loop, "pods"), (self._heartbeat_loop, "heartbeat")):
            thread = threading.Thread(target=target, name=f"nodesim-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._watch_client is not None:
            self._watch_client.abort()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _register(self, client: ApiClient) -> None:
        """Create the Node (or refresh an existing one's status) and its Lease."""
        try:
            client.create("/api/v1/nodes", node_manifest(self.node_name, self._since))
        except ApiError as error:
            if error.status != 409:
                raise
        self._heartbeat(client)

    def _heartbeat(self, client: ApiClient) -> None:
        """Renew the Lease and post the Ready condition; either keeps the node-lifecycle controller content."""
        client.merge_patch(f"/api/v1/nodes/{self.node_name}/status",
                           {"status": node_status(self.node_name, self._since)})
        lease = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node_name}"
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": 40, "renewTime": now_micro()}
        try:
            client.merge_patch(lease, {"spec": spec})
        except ApiError as error:
            if error.status != 404:
                raise
            client.create(lease.rsplit("/", 1)[0], {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                    "metadata": {"name": self.node_name}, "spec": spec})

    def _heartbeat_loop(self) -> None:
        client = self._connect()
        try:
            while not self._stopping.wait(self._heartbeat_seconds):
                try:
                    self._heartbeat(client)
                except ApiError as error:
                    if error.status != 404:
                        raise
                    log.warning("node %s was deleted; registering it again", self.node_name)
                    self._register(client)
                except Exception as error:  # noqa: BLE001 - one missed beat is harmless; the next one retries
                    log.warning("node heartbeat failed: %s", error)
                    client.close()
        finally:
            client.close()

    def _watch_loop(self) -> None:
        """List, reconcile, watch from the list's resourceVersion; on any end or error, start over."""
        assert self._watch_client is not None
        worker = self._connect()
        try:
            while not self._stopping.is_set():
                try:
                    version = self._resync(worker)
                    self._watch(worker, version)
                except Exception as error:  # noqa: BLE001 - the simulator must outlive any single failure
                    if self._stopping.is_set():
                        return
                    log.warning("pod watch failed, relisting: %s", error)
                    worker.close()
                    self._stopping.wait(1.0)
        finally:
            worker.close()
            self._watch_client.close()

    def _resync(self, worker: ApiClient) -> str:
        pods = worker.get("/api/v1/pods")
        for pod in pods.get("items") or []:
            self._reconcile(worker, pod)
        return str(pods["metadata"]["resourceVersion"])

    def _watch(self, worker: ApiClient, version: str) -> None:
        assert self._watch_client is not None
        path = f"/api/v1/pods?allowWatchBookmarks=true&resourceVersion={version}"
        for event in self._watch_client.watch(path, timeout_seconds=self._resync_seconds):
            if self._stopping.is_set() or event.get("type") == "ERROR":
                return
            if event.get("type") in ("ADDED", "MODIFIED"):
                self._reconcile(worker, event["object"])

    def _reconcile(self, worker: ApiClient, pod: Pod) -> None:
        """Bring one pod one step closer to what a node would make of it; failures are logged and counted."""
        meta = pod["metadata"]
        try:
            if meta.get("deletionTimestamp"):
                self._finish_deletion(worker, pod)
            elif (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return
            elif not pod["spec"].get("nodeName"):
                self._bind(worker, pod)
                self._report(worker, pod)
            elif pod["spec"]["nodeName"] == self.node_name:
                self._report(worker, pod)
        except ApiError as error:
            if error.status not in (404, 409):
                self.errors += 1
                log.warning("pod %s/%s: %s", meta.get("namespace"), meta.get("name"), error)

    def _bind(self, worker: ApiClient, pod: Pod) -> None:
        meta = pod["metadata"]
        worker.create(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", {
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        })
        pod["spec"]["nodeName"] = self.node_name

    def _report(self, worker: ApiClient, pod: Pod) -> None:
        wanted = desired_pod_status(pod, self.is_bad)
        if fingerprint(wanted) == fingerprint(pod.get("status") or {}):
            return
        meta = pod["metadata"]
        worker.merge_patch(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                           {"status": wanted})

    def _finish_deletion(self, worker: ApiClient, pod: Pod) -> None:
        """Delete now, but only this incarnation: a StatefulSet may already have recreated the name."""
        meta = pod["metadata"]
        worker.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", {
            "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
            "preconditions": {"uid": meta["uid"]},
        })
