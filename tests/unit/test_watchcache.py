"""The watch cache without a server: an in-memory ``Watchable`` cluster (``FakeServer``) whose writes reach open
watches as events, and whose LISTs and WATCHes can be made to fail, stall or be refused; then the streaming
watch itself (``cluster.watch`` over ``DirectTransport``) against a scripted HTTP server on loopback."""

from __future__ import annotations

import copy
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gitapply.cluster import informer
from gitapply.cluster.base import Propagation, Resource
from gitapply.cluster.kube import KubeCluster
from gitapply.cluster.snapshot import list_in
from gitapply.cluster.transport import Unreachable
from gitapply.cluster.watch import WatchEvent, WatchExpiredError, WatchStream
from gitapply.cluster.watchcache import Timing, WatchCache, matches, parse_selector
from gitapply.errors import ClusterError, ConnectionFailedError, ForbiddenError
from gitapply.model import ObjectKey, PatchType

T = TypeVar("T")
WATCHABLE = frozenset({"get", "list", "watch", "create", "patch", "update", "delete"})
RESOURCES = {
    "ConfigMap": Resource("v1", "ConfigMap", "configmaps", True, WATCHABLE),
    "Namespace": Resource("v1", "Namespace", "namespaces", False, WATCHABLE),
    "ComponentStatus": Resource("v1", "ComponentStatus", "componentstatuses", False, frozenset({"get", "list"})),
}
FAST = Timing(backoff=0.001, backoff_max=0.004, watch_seconds=(0, 0))  # every stream's end is on time
_END = object()


def eventually(probe: Callable[[], T], timeout: float = 3.0) -> T:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, "the cache did not get there in time"
        time.sleep(0.002)
    return result


def configmap(name: str, namespace: str = "shop", labels: dict[str, str] | None = None,
              **data: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def key(name: str, namespace: str = "shop", kind: str = "ConfigMap") -> ObjectKey:
    return ObjectKey("", "v1", kind, namespace, name)


class FakeStream:
    """A watch stream fed by the test; ``close`` is thread-safe, as ``cluster.watch.WatchStream``'s is."""

    def __init__(self, kind: str, namespace: str) -> None:
        self.kind, self.namespace = kind, namespace
        self.closed = False
        self._queue: queue.Queue[Any] = queue.Queue()

    def __iter__(self) -> FakeStream:
        return self

    def __next__(self) -> WatchEvent:
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def push(self, event: WatchEvent) -> None:
        self._queue.put(event)

    def end(self) -> None:
        self._queue.put(_END)

    def fail(self, exc: BaseException) -> None:
        self._queue.put(exc)

    def close(self) -> None:
        self.closed = True
        self._queue.put(_END)


class FakeServer:
    """A ``Cluster`` and ``Watchable`` in memory. Writes bump the resourceVersion and reach the open watches of
    their kind as events (or wait in ``held`` while it is a list); ``fail_list``/``fail_watch`` are raised by
    the next LISTs/WATCHes; kinds in ``forbidden`` may not be listed across namespaces; ``list_gate`` stalls
    LISTs until set; ``stale`` is the answer of the next LIST, taken before a write. Reads that reach it (not
    the cache) are recorded in ``reads``; a watch replays nothing: it sees only what is sent while it is open."""

    field_manager = "gitapply"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rv = 100
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.streams: list[FakeStream] = []
        self.lists: list[tuple[str, str]] = []
        self.watched_from: list[str] = []
        self.timeouts: list[int] = []
        self.reads: list[tuple[str, Any]] = []
        self.fail_list: list[Exception] = []
        self.fail_watch: list[Exception] = []
        self.forbidden: set[str] = set()
        self.list_gate: threading.Event | None = None
        self.stale: tuple[list[dict[str, Any]], str] | None = None
        self.held: list[tuple[str, str, WatchEvent]] | None = None

    # -- the server's side, for tests ----------------------------------------------------------------------

    def store(self, obj: dict[str, Any], *, notify: bool = True) -> dict[str, Any]:
        with self.lock:
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            ident = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            kind = "MODIFIED" if ident in self.objects else "ADDED"
            self.objects[ident] = obj
        if notify:
            self.send(kind, obj)
        return copy.deepcopy(obj)

    def remove(self, ident: ObjectKey, *, notify: bool = True) -> None:
        with self.lock:
            self.rv += 1
            obj = self.objects.pop((ident.kind, ident.namespace, ident.name))
            obj["metadata"]["resourceVersion"] = str(self.rv)
        if notify:
            self.send("DELETED", obj)

    def send(self, kind: str, obj: dict[str, Any]) -> None:
        event = WatchEvent(kind, copy.deepcopy(obj))
        if self.held is not None:
            self.held.append((obj["kind"], obj["metadata"].get("namespace", ""), event))
            return
        for stream in self.open_streams(obj["kind"], obj["metadata"].get("namespace", "")):
            stream.push(event)

    def release(self) -> None:
        held, self.held = self.held or [], None
        for kind, namespace, event in held:
            for stream in self.open_streams(kind, namespace):
                stream.push(event)

    def open_streams(self, kind: str, namespace: str) -> list[FakeStream]:
        with self.lock:
            return [s for s in self.streams if s.kind == kind and not s.closed and s.namespace in ("", namespace)]

    def stream(self, index: int = -1, count: int = 1) -> FakeStream:
        """The ``index``-th watch opened, once ``count`` have been."""
        eventually(lambda: len(self.streams) >= count)
        return self.streams[index]

    # -- Watchable -------------------------------------------------------------------------------------------

    def list_versioned(self, api_version: str, kind: str, *, namespace: str = "") -> tuple[list[dict], str]:
        self.lists.append((kind, namespace))
        if self.list_gate is not None:
            self.list_gate.wait()
        if self.fail_list:
            raise self.fail_list.pop(0)
        if kind in self.forbidden and not namespace:
            raise ForbiddenError(f"v1/{kind}", "not allowed (cannot list across namespaces)")
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        with self.lock:
            items = [copy.deepcopy(obj) for (k, ns, _), obj in sorted(self.objects.items())
                     if k == kind and namespace in ("", ns)]
            return items, str(self.rv)

    def watch(self, api_version: str, kind: str, *, namespace: str = "", resource_version: str,
              timeout_seconds: int) -> Iterator[WatchEvent]:
        self.timeouts.append(timeout_seconds)
        self.watched_from.append(resource_version)
        if self.fail_watch:
            raise self.fail_watch.pop(0)
        stream = FakeStream(kind, namespace)
        with self.lock:
            self.streams.append(stream)
        return stream

    # -- Cluster ---------------------------------------------------------------------------------------------

    def server_version(self) -> str:
        return "v1.20.2"

    def default_namespace(self) -> str:
        return "default"

    def resource(self, api_version: str, kind: str) -> Resource:
        return RESOURCES[kind]

    def prefetch(self, api_versions: Iterable[str] = ()) -> None:
        pass

    def patch_node(self, api_version: str, kind: str) -> None:
        return None

    def get(self, ident: ObjectKey) -> dict[str, Any] | None:
        self.reads.append(("get", ident))
        with self.lock:
            found = self.objects.get((ident.kind, ident.namespace, ident.name))
            return copy.deepcopy(found) if found else None

    def list(self, api_version: str, kind: str, *, namespace: str = "", label_selector: str = "") -> list[dict]:
        self.reads.append(("list", (kind, namespace, label_selector)))
        return [obj for obj in self.list_versioned(api_version, kind, namespace=namespace)[0]]

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        return copy.deepcopy(obj) if dry_run else self.store(obj)

    def patch(self, ident: ObjectKey, patch: dict[str, Any], patch_type: PatchType, *,
              dry_run: bool = False) -> dict[str, Any]:
        with self.lock:
            obj = copy.deepcopy(self.objects[(ident.kind, ident.namespace, ident.name)])
        obj["data"] = {**obj.get("data", {}), **patch.get("data", {})}
        return obj if dry_run else self.store(obj)

    def apply(self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        return self.create(obj, dry_run=dry_run)

    def replace(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        return self.create(obj, dry_run=dry_run)

    def delete(self, ident: ObjectKey, *, propagation: Propagation = Propagation.BACKGROUND,
               dry_run: bool = False) -> None:
        if not dry_run:
            self.remove(ident)


@pytest.fixture
def server() -> FakeServer:
    fake = FakeServer()
    fake.store(configmap("web", labels={"app": "web", "tier": "front"}, color="blue"))
    fake.store(configmap("db", labels={"app": "db"}, color="green"))
    fake.store(configmap("api", namespace="other", labels={"app": "api"}))
    return fake


@pytest.fixture
def changes() -> list[tuple[str, bool]]:
    return []


@pytest.fixture
def cache(server: FakeServer, changes: list[tuple[str, bool]]) -> Iterator[WatchCache]:
    watch_cache = WatchCache(server, on_change=lambda obj, deleted: changes.append((obj["metadata"]["name"], deleted)),
                             timing=FAST)
    yield watch_cache
    watch_cache.close()


def settle(server: FakeServer, cache: WatchCache, marker: str = "marker") -> None:
    """Events are applied in order on one thread: once a later marker is in, every earlier event is too."""
    server.store(configmap(marker, namespace="zz"))
    eventually(lambda: cache.get(key(marker, "zz")) is not None)


# -- reads -----------------------------------------------------------------------------------------------------

def test_the_first_read_of_a_kind_lists_it_once_and_later_reads_ask_the_server_nothing(server, cache):
    assert cache.get(key("web"))["data"] == {"color": "blue"}
    assert cache.get(key("gone")) is None
    assert [o["metadata"]["name"] for o in cache.list("v1", "ConfigMap")] == ["api", "db", "web"]
    assert [o["metadata"]["name"] for o in cache.list("v1", "ConfigMap", namespace="shop")] == ["db", "web"]
    assert server.lists == [("ConfigMap", "")] and server.reads == []
    assert cache.watched() == [("v1", "ConfigMap", "")]
    assert cache.stats().objects == 3 and cache.stats().kinds == 1 and cache.stats().synced


def test_every_read_is_a_private_copy(cache):
    cache.get(key("web"))["data"]["color"] = "red"
    cache.list("v1", "ConfigMap")[0]["metadata"]["name"] = "changed"
    assert cache.get(key("web"))["data"] == {"color": "blue"}
    assert {o["metadata"]["name"] for o in cache.list("v1", "ConfigMap")} == {"api", "db", "web"}


def test_objects_are_typed_and_cluster_scoped_kinds_are_read_by_name(server, cache):
    server.store({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    namespace = cache.get(key("shop", namespace="", kind="Namespace"))
    assert namespace["kind"] == "Namespace" and namespace["apiVersion"] == "v1"
    assert [o["metadata"]["name"] for o in cache.list("v1", "Namespace", namespace="ignored")] == ["shop"]


@pytest.mark.parametrize(("selector", "expected"), [
    ("", ["db", "web"]),
    ("app=web", ["web"]),
    ("app==web", ["web"]),
    ("app!=web", ["db"]),
    ("tier", ["web"]),
    ("!tier", ["db"]),
    ("app, !tier", ["db"]),
    ("app in (web)", "upstream"),
    ("app=web,tier=front", ["web"]),
    ("tier!=back", ["db", "web"]),
])
def test_equality_selectors_are_answered_from_the_cache_and_others_by_the_server(server, cache, selector, expected):
    found = [o["metadata"]["name"] for o in cache.list("v1", "ConfigMap", namespace="shop", label_selector=selector)]
    if expected == "upstream":
        assert server.reads == [("list", ("ConfigMap", "shop", selector))]
    else:
        assert found == expected and server.reads == []


@pytest.mark.parametrize("selector", ["a=b=c", "a,,b", "=x", "a=(b)", "a notin (b)", "a=b c"])
def test_selectors_that_are_not_plain_equality_do_not_parse(selector):
    assert parse_selector(selector) is None


def test_a_label_absent_satisfies_not_equals_as_on_the_server():
    assert matches({}, parse_selector("app!=web") or [])
    assert not matches({}, parse_selector("app=") or [])
    assert matches({"app": ""}, parse_selector("app=") or [])


def test_kinds_that_cannot_be_watched_and_clusters_that_cannot_watch_are_read_from_the_server(server, cache):
    cache.list("v1", "ComponentStatus")
    assert server.reads == [("list", ("ComponentStatus", "", ""))] and cache.watched() == []

    class Plain:  # a Cluster without list_versioned/watch (a wrapper, the local cluster)
        field_manager = "gitapply"

        def resource(self, api_version: str, kind: str) -> Resource:
            return RESOURCES[kind]

        def get(self, ident: ObjectKey) -> dict[str, Any]:
            return {"read": "upstream"}

    assert WatchCache(Plain()).get(key("web")) == {"read": "upstream"}


# -- the first LIST ----------------------------------------------------------------------------------------------

def test_a_first_list_that_takes_too_long_fails_naming_the_kind_and_the_next_read_waits_again(server):
    server.list_gate = threading.Event()
    cache = WatchCache(server, sync_timeout=0.05, timing=FAST)
    try:
        with pytest.raises(ConnectionFailedError, match=r"^ConfigMap: the watch cache's first LIST did not finish "
                                                         r"within 0.05 s; check that the API server is up"):
            cache.get(key("web"))
        server.list_gate.set()
        assert cache.get(key("web")) is not None and server.lists == [("ConfigMap", "")]
    finally:
        cache.close()


def test_a_failed_first_list_is_raised_and_the_next_read_lists_again(server, cache):
    server.fail_list.append(ClusterError("ConfigMap", "the API server answered 500"))
    with pytest.raises(ClusterError, match="500"):
        cache.get(key("web"))
    assert cache.watched() == []
    assert cache.get(key("web")) is not None and len(server.lists) == 2


def test_where_listing_across_namespaces_is_forbidden_each_namespace_is_watched_on_its_own(server, cache):
    server.forbidden.add("ConfigMap")
    for _ in range(3):
        with pytest.raises(ForbiddenError):
            cache.list("v1", "ConfigMap")
    assert [o["metadata"]["name"] for o in cache.list("v1", "ConfigMap", namespace="shop")] == ["db", "web"]
    assert cache.get(key("api", "other")) is not None
    assert sorted(o["metadata"]["name"] for o in list_in(cache, "v1", "ConfigMap", namespaces=["shop", "other"])) == \
        ["api", "db", "web"]
    assert server.lists.count(("ConfigMap", "")) == 1, "the refusal is remembered, not asked again per read"
    assert cache.watched() == [("v1", "ConfigMap", "other"), ("v1", "ConfigMap", "shop")]
    server.store(configmap("new"))
    assert eventually(lambda: cache.get(key("new")))


def test_where_watching_is_forbidden_the_kind_is_read_from_the_server_so_no_pass_acts_on_a_stale_copy(server,
                                                                                                  cache):
    server.fail_watch.append(ForbiddenError("v1/ConfigMap", "not allowed (cannot watch)"))
    assert cache.get(key("web"))["data"] == {"color": "blue"}  # from the LIST
    server.store(configmap("web", color="green"))
    assert eventually(lambda: cache.get(key("web"))["data"] == {"color": "green"})
    assert ("get", key("web")) in server.reads, "read from the server once the watch was refused"
    assert cache.watched() == [] and server.lists == [("ConfigMap", "")], "no informer, no LIST per read"


# -- watching ----------------------------------------------------------------------------------------------------

def test_events_change_the_cache_and_call_on_change_but_the_first_list_does_not(server, cache, changes):
    cache.get(key("web"))
    server.stream()
    server.store(configmap("new", color="red"))
    server.store(configmap("web", labels={"app": "web"}, color="black"))
    server.remove(key("db"))
    eventually(lambda: cache.get(key("db")) is None)
    assert cache.get(key("new"))["data"] == {"color": "red"}
    assert cache.get(key("web"))["data"] == {"color": "black"}
    assert changes == [("new", False), ("web", False), ("db", True)]


def test_a_change_of_status_or_bookkeeping_only_calls_nothing(server, cache, changes):
    cache.get(key("web"))
    server.stream()
    web = server.get(key("web"))
    web["status"] = {"phase": "Ready"}
    web["metadata"].update(generation=7, managedFields=[{"manager": "kube-controller-manager"}])
    server.store(web)
    settle(server, cache)
    assert cache.get(key("web"))["status"] == {"phase": "Ready"}, "kept whole, status and managedFields too"
    assert cache.get(key("web"))["metadata"]["managedFields"] == [{"manager": "kube-controller-manager"}]
    assert changes == [("marker", False)]


def test_a_bookmark_moves_the_resume_point_and_a_stream_ended_on_time_is_not_a_restart(server, cache):
    cache.get(key("web"))
    server.stream().push(WatchEvent("BOOKMARK", {"kind": "ConfigMap", "metadata": {"resourceVersion": "500"}}))
    server.stream().end()
    server.stream(count=2)
    assert server.watched_from == ["103", "500"]
    assert cache.stats().restarts == 0


def test_a_stream_that_ends_before_its_time_lost_its_connection_and_is_a_restart(server):
    cache = WatchCache(server, timing=Timing(backoff=0.001, watch_seconds=(300, 300)))
    try:
        cache.get(key("web"))
        server.store(configmap("new"))
        eventually(lambda: cache.get(key("new")))
        server.stream().end()
        server.stream(count=2)
        assert server.watched_from == ["103", "104"] and cache.stats().restarts == 1
    finally:
        cache.close()


def test_a_410_lists_again_and_the_cache_becomes_exactly_the_list(server, cache, changes):
    cache.get(key("web"))
    stream = server.stream()
    server.store(configmap("web", labels={"app": "web"}, color="black"), notify=False)
    server.store(configmap("new"), notify=False)
    server.remove(key("db"), notify=False)
    stream.fail(WatchExpiredError("ConfigMap", "the watch expired"))
    eventually(lambda: len(server.lists) == 2)
    eventually(lambda: cache.get(key("db")) is None)
    assert sorted(o["metadata"]["name"] for o in cache.list("v1", "ConfigMap")) == ["api", "new", "web"]
    assert cache.get(key("web"))["data"] == {"color": "black"}
    assert sorted(changes) == [("db", True), ("new", False), ("web", False)]
    server.stream(count=2)
    assert server.watched_from[-1] == "106" and cache.stats().restarts == 1


def test_failures_back_off_exponentially_and_resume_from_the_last_version_seen(server, monkeypatch):
    delays: list[float] = []
    monkeypatch.setattr(informer, "_jittered", lambda delay: delays.append(delay) or 0.0)
    server.fail_watch += [ConnectionFailedError("", "connection refused")] * 8
    cache = WatchCache(server)
    try:
        cache.get(key("web"))
        stream = server.stream()
        assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
        server.store(configmap("web", color="black"))
        eventually(lambda: cache.get(key("web"))["data"] == {"color": "black"})
        stream.fail(ConnectionFailedError("", "connection reset"))
        server.stream(count=2)
        assert delays[8:] == [0.5], "a working watch that breaks starts the backoff afresh"
        assert server.watched_from == ["103"] * 9 + ["104"]
        assert cache.stats().restarts == 9
        assert all(300 <= seconds <= 600 for seconds in server.timeouts) and len(set(server.timeouts)) > 1
    finally:
        cache.close()


def test_reads_are_served_while_disconnected_and_close_interrupts_the_backoff(server):
    cache = WatchCache(server, timing=Timing(backoff=60.0, backoff_max=60.0))
    cache.get(key("web"))
    server.fail_watch.append(ConnectionFailedError("", "connection refused"))
    server.stream().fail(ConnectionFailedError("", "connection reset"))
    eventually(lambda: not cache.stats().synced)
    assert cache.get(key("web"))["data"] == {"color": "blue"} and cache.stats().restarts == 1
    began = time.monotonic()
    cache.close()
    assert time.monotonic() - began < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("watch-")]


def test_close_ends_every_informer_promptly_and_later_reads_go_to_the_server(server, cache):
    cache.get(key("web"))
    cache.get(key("shop", namespace="", kind="Namespace"))
    server.stream(count=2)
    began = time.monotonic()
    cache.close()
    assert time.monotonic() - began < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("watch-")]
    assert all(stream.closed for stream in server.streams)
    cache.get(key("web"))
    assert server.reads == [("get", key("web"))] and cache.watched() == []


def test_a_failing_on_change_is_logged_and_the_watch_goes_on(server, caplog):
    def explode(obj: dict[str, Any], deleted: bool) -> None:
        raise RuntimeError("boom")

    cache = WatchCache(server, on_change=explode, timing=FAST)
    try:
        cache.get(key("web"))
        server.stream()
        with caplog.at_level(logging.ERROR):
            server.store(configmap("one"))
            server.store(configmap("two"))
            eventually(lambda: cache.get(key("two")))
        assert "on_change failed for shop/one" in caplog.text
    finally:
        cache.close()


# -- writes ------------------------------------------------------------------------------------------------------

def test_a_pass_reads_its_own_writes_and_their_events_call_nothing(server, cache, changes):
    cache.get(key("web"))
    server.stream()
    server.held = []
    cache.create(configmap("new", color="red"))
    cache.patch(key("web"), {"data": {"color": "black"}}, PatchType.MERGE)
    cache.apply(configmap("db", labels={"app": "db"}, color="white"))
    assert cache.get(key("new"))["data"] == {"color": "red"}
    assert cache.get(key("web"))["data"] == {"color": "black"}
    assert cache.get(key("db"))["data"] == {"color": "white"}
    server.release()
    settle(server, cache)
    assert changes == [("marker", False)]


def test_an_older_event_does_not_undo_a_newer_write(server, cache, changes):
    cache.get(key("web"))
    server.stream()
    server.held = []
    server.store(configmap("web", labels={"app": "web"}, color="red"))  # someone else's, its event late
    cache.replace(configmap("web", labels={"app": "web"}, color="black"))
    server.release()
    settle(server, cache)
    assert cache.get(key("web"))["data"] == {"color": "black"}
    assert changes == [("marker", False)]


def test_a_list_taken_before_a_write_keeps_the_newer_written_object(server, cache, changes):
    cache.get(key("web"))
    stream = server.stream()
    server.stale = server.list_versioned("v1", "ConfigMap")
    server.held = []
    cache.create(configmap("new"))
    stream.fail(WatchExpiredError("ConfigMap", "the watch expired"))
    server.stream(count=2)  # listed again, and watching: the fake replays nothing to a later watch
    server.release()
    settle(server, cache)
    assert cache.get(key("new")) is not None and changes == [("marker", False)]


def test_dry_runs_and_deletes_leave_the_cache_to_the_watch(server, cache, changes):
    cache.get(key("web"))
    server.stream()
    server.held = []
    cache.create(configmap("new"), dry_run=True)
    cache.delete(key("web"))
    assert cache.get(key("new")) is None and cache.get(key("web")) is not None
    server.release()
    eventually(lambda: cache.get(key("web")) is None)
    assert changes == [("web", True)]


# -- the streaming watch over HTTP ----------------------------------------------------------------------------

class FakeLines:
    """A ``transport.Stream`` answering with fixed lines (or an error status)."""

    def __init__(self, lines: list[bytes], status: int = 200, body: bytes = b"") -> None:
        self.status, self.reason, self._lines, self._body = status, "", lines, body
        self.closed = False

    def read(self) -> bytes:
        return self._body

    def lines(self) -> Generator[bytes, None, None]:
        for line in self._lines:
            if line == b"BREAK":
                raise Unreachable("connection reset by peer")
            yield line

    def close(self) -> None:
        self.closed = True


DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments", True, WATCHABLE)


def event(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def test_a_watch_stream_yields_typed_events_and_raises_its_errors_naming_the_kind():
    lines = [event("ADDED", {"metadata": {"name": "web"}}), b"\n",
             event("BOOKMARK", {"metadata": {"resourceVersion": "9"}}),
             event("ERROR", {"kind": "Status", "code": 410, "message": "too old resource version"})]
    stream = WatchStream(FakeLines(lines), DEPLOYMENTS, server="https://k")
    assert next(stream) == WatchEvent("ADDED", {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "metadata": {"name": "web"}})
    assert next(stream).type == "BOOKMARK"
    with pytest.raises(WatchExpiredError, match="^apps/Deployment: the watch expired"):
        next(stream)
    forbidden = WatchStream(FakeLines([event("ERROR", {"code": 403, "message": "no"})]), DEPLOYMENTS,
                            server="https://k")
    with pytest.raises(ForbiddenError, match="^apps/Deployment: not allowed"):
        next(forbidden)
    broken = WatchStream(FakeLines([b"BREAK"]), DEPLOYMENTS, server="https://k")
    with pytest.raises(ConnectionFailedError, match="^apps/Deployment: the watch on https://k failed"):
        next(broken)


@pytest.fixture
def watch_server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Discovery, a two-page ConfigMap LIST, and a WATCH that sends two events then holds the stream open."""
    state: dict[str, Any] = {"paths": [], "release": threading.Event()}
    discovery = {"resources": [{"name": "configmaps", "namespaced": True, "kind": "ConfigMap",
                                "verbs": ["list", "watch"]}]}
    pages = {"": {"items": [{"metadata": {"name": "a"}}], "metadata": {"continue": "next", "resourceVersion": "41"}},
             "next": {"items": [{"metadata": {"name": "b"}}], "metadata": {"resourceVersion": "41"}}}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            state["paths"].append(self.path)
            if "watch=1" in self.path:
                return self._stream()
            token = self.path.partition("continue=")[2]
            body = json.dumps(discovery if self.path == "/api/v1" else pages[token]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for name in ("a", "b"):
                line = event("MODIFIED", {"metadata": {"name": name, "resourceVersion": "42"}})
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            state["release"].wait(10)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{httpd.server_port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    state["kubeconfig"] = str(kubeconfig)
    yield state
    state["release"].set()
    httpd.shutdown()


def test_kube_lists_with_the_collections_version_and_streams_events_as_they_come(watch_server):
    cluster = KubeCluster(kubeconfig=watch_server["kubeconfig"])
    items, version = cluster.list_versioned("v1", "ConfigMap")
    assert [(o["kind"], o["metadata"]["name"]) for o in items] == [("ConfigMap", "a"), ("ConfigMap", "b")]
    assert version == "41"
    stream = cluster.watch("v1", "ConfigMap", resource_version="41", timeout_seconds=300)
    assert watch_server["paths"][-1] == ("/api/v1/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=41"
                                         "&timeoutSeconds=300")
    assert [next(stream).object["metadata"]["name"] for _ in range(2)] == ["a", "b"], "before the stream ends"
    threading.Timer(0.2, stream.close).start()
    began = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - began < 2.0, "close from another thread ends a blocked read at once"


def test_the_official_clients_transport_streams_and_closes_the_same_way(watch_server):
    import kubernetes.client

    from gitapply.cluster.official import OfficialTransport
    from gitapply.cluster.watch import open_watch

    configuration = kubernetes.client.Configuration()
    configuration.host = json.loads(Path(watch_server["kubeconfig"]).read_text())["clusters"][0]["cluster"]["server"]
    transport = OfficialTransport(configuration, pool_size=2)
    stream = open_watch(transport, RESOURCES["ConfigMap"], "", user_agent="test", timeout=5, resource_version="41",
                        timeout_seconds=300)
    assert [next(stream).object["metadata"]["name"] for _ in range(2)] == ["a", "b"], "before the stream ends"
    threading.Timer(0.2, stream.close).start()
    began = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - began < 2.0
