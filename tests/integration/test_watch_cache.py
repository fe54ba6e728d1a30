"""The watch cache against the real v1.20.2 control plane: a kubectl change reaches it within a second and calls
``on_change`` while reads send no request; status-only changes (the Deployment controller's, and one written to
a Service's status) call nothing; and the watch survives a restart of the API server — objects changed in etcd
while no API server was there to tell, and through the API right after — ending exactly as the server has it.

The API server restart is last in this file: the other tests of the session find it up again (``restart_apiserver``
returns once /readyz answers)."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitapply.cluster.kube import KubeCluster
from gitapply.cluster.watchcache import Timing, WatchCache
from gitapply.model import ObjectKey
from tests.harness import ControlPlane
from tests.harness.controlplane import wait_until

QUICK = Timing(backoff=0.2, backoff_max=1.0)


class Recorder:
    """``on_change``'s calls, as ``(kind, name, deleted)``, from the informers' threads."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()

    def __call__(self, obj: dict[str, Any], deleted: bool) -> None:
        with self._lock:
            self.calls.append((obj["kind"], obj["metadata"]["name"], deleted))

    def of(self, kind: str, name: str) -> list[bool]:
        with self._lock:
            return [deleted for k, n, deleted in self.calls if (k, n) == (kind, name)]


@pytest.fixture
def kube(control_plane: ControlPlane) -> KubeCluster:
    return KubeCluster(kubeconfig=control_plane.kubeconfig)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def cache(kube: KubeCluster, recorder: Recorder) -> Iterator[WatchCache]:
    watch_cache = WatchCache(kube, on_change=recorder, timing=QUICK)
    yield watch_cache
    watch_cache.close()


def configmap(namespace: str, name: str) -> ObjectKey:
    return ObjectKey("", "v1", "ConfigMap", namespace, name)


def test_a_kubectl_change_reaches_the_cache_within_a_second_and_reads_send_nothing(control_plane, namespace, kube,
                                                                                    cache, recorder):
    control_plane.kubectl("create", "configmap", "web", "--from-literal=color=blue", "-n", namespace)
    web = cache.get(configmap(namespace, "web"))
    assert web is not None and web["data"] == {"color": "blue"} and web["metadata"]["managedFields"]
    before = kube.requests
    for _ in range(10):
        cache.get(configmap(namespace, "web"))
        cache.list("v1", "ConfigMap", namespace=namespace, label_selector="!absent")
    assert kube.requests == before, "an idle pass reads from memory only"

    control_plane.kubectl("patch", "configmap", "web", "-n", namespace, "-p", '{"data":{"color":"red"}}')
    patched = time.monotonic()
    wait_until(lambda: cache.get(configmap(namespace, "web"))["data"] == {"color": "red"}, timeout=5, interval=0.01,
               message="the cache did not see kubectl's patch")
    assert time.monotonic() - patched < 1.0
    control_plane.kubectl("delete", "configmap", "web", "-n", namespace)
    wait_until(lambda: cache.get(configmap(namespace, "web")) is None, timeout=5, interval=0.01,
               message="the cache did not see kubectl's delete")
    wait_until(lambda: recorder.of("ConfigMap", "web") == [False, True], timeout=2, interval=0.01,
               message="on_change was not called for the patch and the delete (only)")
    began = time.monotonic()
    cache.close()
    assert time.monotonic() - began < 2.0, "close ends a watch blocked on its TLS connection at once"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("watch-")]


def test_status_only_changes_call_nothing(control_plane, namespace, cache, recorder):
    deployment = ObjectKey("apps", "v1", "Deployment", namespace, "web")
    service = ObjectKey("", "v1", "Service", namespace, "web")
    cache.list("apps/v1", "Deployment", namespace=namespace)
    control_plane.kubectl("create", "deployment", "web", "--image=nginx:1.19", "-n", namespace)
    control_plane.kubectl("create", "service", "clusterip", "web", "--tcp=80:80", "-n", namespace)
    # the Deployment controller's first write sets the revision annotation; every later one of its writes is status
    wait_until(lambda: "deployment.kubernetes.io/revision" in (cache.get(deployment) or {}).get("metadata", {}).get(
        "annotations", {}), timeout=30, message="the Deployment controller did not annotate the Deployment")
    seen = len(recorder.of("Deployment", "web"))
    wait_until(lambda: (cache.get(deployment) or {}).get("status", {}).get("availableReplicas") == 1, timeout=60,
               message="the Deployment did not become available")

    assert cache.get(service)["status"] == {"loadBalancer": {}}
    control_plane.request("PATCH", f"/api/v1/namespaces/{namespace}/services/web/status",
                          {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
                          content_type="application/merge-patch+json")
    control_plane.kubectl("label", "service", "web", "-n", namespace, "marked=yes")
    # events of one kind are handled in order: once the label is in, the status change before it was too
    wait_until(lambda: recorder.of("Service", "web"), timeout=5, interval=0.01, message="the label did not arrive")
    assert cache.get(service)["status"]["loadBalancer"] == {"ingress": [{"ip": "192.0.2.1"}]}
    assert recorder.of("Service", "web") == [False], "the label's change alone"
    assert len(recorder.of("Deployment", "web")) == seen, "the Deployment controller's status updates call nothing"


def etcd_url(control_plane: ControlPlane) -> str:
    """etcd's client URL, from its command line (the harness does not publish it)."""
    argv = Path(f"/proc/{control_plane.component_pids()['etcd']}/cmdline").read_bytes().decode().split("\0")
    return next(arg.partition("=")[2] for arg in argv if arg.startswith("--listen-client-urls="))


def etcd(url: str, operation: str, key: str, value: dict[str, Any] | None = None) -> None:
    """A put or delete through etcd's JSON gateway: a change no API server hears of."""
    body = {"key": base64.b64encode(key.encode()).decode()}
    if value is not None:
        body["value"] = base64.b64encode(json.dumps(value).encode()).decode()
    request = urllib.request.Request(f"{url}/v3/kv/{operation}", json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_the_watch_survives_an_api_server_restart_and_ends_as_the_server_has_it(control_plane, namespace, kube,
                                                                               cache, recorder):
    for name in ("a", "b", "c"):
        control_plane.kubectl("create", "configmap", name, "--from-literal=v=1", "-n", namespace)
    control_plane.kubectl("label", "configmap", "a", "b", "c", "test=restart", "-n", namespace)

    def values() -> dict[str, str]:
        return {obj["metadata"]["name"]: obj["data"]["v"]
                for obj in cache.list("v1", "ConfigMap", namespace=namespace, label_selector="test=restart")}

    assert values() == {"a": "1", "b": "1", "c": "1"}
    stored_a = control_plane.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/a")
    stored_a["metadata"].pop("resourceVersion")
    served: list[dict[str, Any] | None] = []
    failures: list[BaseException] = []

    def while_down() -> None:
        """Once the cache has lost its watch: read through it, and change objects behind the API server's back."""
        try:
            wait_until(lambda: not cache.stats().synced, timeout=30, interval=0.02,
                       message="the cache did not notice the API server going")
            served.append(cache.get(configmap(namespace, "a")))
            etcd(etcd_url(control_plane), "put", f"/registry/configmaps/{namespace}/a",
                 {**stored_a, "data": {"v": "2"}})
            etcd(etcd_url(control_plane), "deleterange", f"/registry/configmaps/{namespace}/b")
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            failures.append(exc)

    meanwhile = threading.Thread(target=while_down)
    meanwhile.start()
    # on the test's own thread: the new API server dies with the thread that started it (the harness's rule)
    control_plane.restart_apiserver()
    meanwhile.join(timeout=60)
    assert not meanwhile.is_alive() and not failures, failures
    assert served[0] is not None and served[0]["data"] == {"v": "1"}, "reads are served while disconnected"

    control_plane.kubectl("patch", "configmap", "c", "-n", namespace, "-p", '{"data":{"v":"2"}}')
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "labels": {"test": "restart"}},
        "data": {"v": "1"}}))

    wait_until(lambda: values() == {"a": "2", "c": "2", "d": "1"}, timeout=30, interval=0.05,
               message="the cache did not converge after the restart")
    wait_until(lambda: cache.stats().synced, timeout=10, message="the cache did not resume watching")
    assert cache.stats().restarts >= 1
    live = {obj["metadata"]["name"]: obj["metadata"]["resourceVersion"]
            for obj in kube.list("v1", "ConfigMap", namespace=namespace)}  # kube-root-ca.crt too
    cached = {obj["metadata"]["name"]: obj["metadata"]["resourceVersion"]
              for obj in cache.list("v1", "ConfigMap", namespace=namespace)}
    assert cached == live, "exactly the server's objects, at the server's versions"
    assert recorder.of("ConfigMap", "a") == [False] and recorder.of("ConfigMap", "b") == [True]
    assert recorder.of("ConfigMap", "c") == [False] and recorder.of("ConfigMap", "d") == [False]
