"""The counting proxy the controller benchmark measures with: it counts a client's requests by API verb, relays
a watch's events as they happen (not when the watch ends), and closes open watches when it stops."""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.harness import ApiClient, ControlPlane, wait_until
from tests.harness.countproxy import CountingProxy, verb


@pytest.mark.parametrize(("method", "target", "expected"), [
    ("GET", "/api/v1/namespaces", "LIST"),
    ("GET", "/api/v1/namespaces/shop", "GET"),
    ("GET", "/api/v1/namespaces/shop/configmaps?labelSelector=a%3Db", "LIST"),
    ("GET", "/apis/apps/v1/namespaces/shop/deployments/web", "GET"),
    ("GET", "/apis/apps/v1/namespaces/shop/deployments/web/scale", "GET"),
    ("GET", "/apis/autoscaling/v1/horizontalpodautoscalers", "LIST"),
    ("GET", "/api/v1/namespaces/shop/configmaps?watch=1&resourceVersion=5", "WATCH"),
    ("GET", "/api/v1/watch/namespaces/shop/configmaps", "WATCH"),
    ("GET", "/apis/apps/v1", "GET"),
    ("GET", "/version", "GET"),
    ("PATCH", "/api/v1/namespaces/shop/configmaps/a?dryRun=All", "PATCH"),
])
def test_verb_names_a_collection_get_list_and_a_watch_watch(method: str, target: str, expected: str) -> None:
    assert verb(method, target) == expected


def test_counts_each_request_by_verb_and_writes_without_dry_runs(control_plane: ControlPlane, namespace: str,
                                                                tmp_path: Path) -> None:
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    with CountingProxy(control_plane) as proxy:
        client = ApiClient(proxy.server, control_plane.token, control_plane.ca_file)
        before = proxy.snapshot()
        client.get(f"/api/v1/namespaces/{namespace}")
        client.get(configmaps)
        client.create(configmaps, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
        client.merge_patch(f"{configmaps}/a?dryRun=All", {"data": {"k": "dry"}})
        client.merge_patch(f"{configmaps}/a", {"data": {"k": "v"}})
        client.delete(f"{configmaps}/a")
        client.close()
        counted = proxy.requests_since(before)
        assert counted.by_verb == {"GET": 1, "LIST": 1, "POST": 1, "PATCH": 2, "DELETE": 1}, proxy.log()
        assert (counted.requests, counted.writes, counted.watches, counted.open_watches) == (6, 3, 0, 0)

        # the kubeconfig it writes sends a client through it
        control_plane.kubectl("--kubeconfig", proxy.kubeconfig(tmp_path / "kubeconfig"), "get", "configmaps",
                              "-n", namespace)
        assert any(kind == "LIST" and target.startswith(configmaps) for _, kind, target in proxy.log())


@contextmanager
def watch(proxy: CountingProxy, plane: ControlPlane, path: str) -> Iterator[http.client.HTTPResponse]:
    """An open watch through the proxy, with a read timeout short enough that a stuck relay fails the test."""
    context = ssl.create_default_context(cafile=plane.ca_file)
    connection = http.client.HTTPSConnection("127.0.0.1", int(proxy.server.rsplit(":", 1)[1]), context=context,
                                             timeout=10)
    try:
        connection.request("GET", f"{path}?watch=1", headers={"Authorization": f"Bearer {plane.token}"})
        response = connection.getresponse()
        assert response.status == 200 and response.chunked
        yield response
    finally:
        connection.close()


def test_a_watch_through_the_proxy_delivers_an_event_within_a_second(control_plane: ControlPlane,
                                                                     namespace: str) -> None:
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    with CountingProxy(control_plane) as proxy, watch(proxy, control_plane, configmaps) as events:
        counted = proxy.snapshot()
        assert (counted.watches, counted.open_watches, counted.requests) == (1, 1, 0)
        control_plane.request("POST", configmaps, {"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": "streamed"}})
        created = time.monotonic()
        while b'"name":"streamed"' not in (line := events.readline()):
            assert line, "the watch ended without the event"
        assert time.monotonic() - created < 1.0


def test_leaving_the_proxy_closes_an_open_watch(control_plane: ControlPlane, namespace: str) -> None:
    proxy = CountingProxy(control_plane)
    with proxy, watch(proxy, control_plane, f"/api/v1/namespaces/{namespace}/configmaps") as events:
        wait_until(lambda: proxy.snapshot().open_watches == 1, timeout=5, message="the watch did not open")
        proxy.stop()
        start = time.monotonic()
        try:
            while events.readline():  # the initial events, then the end of the stream
                pass
        except (http.client.IncompleteRead, OSError):
            pass  # a cut mid-stream is a close too
        assert time.monotonic() - start < 5.0
    wait_until(lambda: proxy.snapshot().open_watches == 0, timeout=5, message="the upstream watch stayed open")
