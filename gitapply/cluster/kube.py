"""The real cluster backend: a Kubernetes API server over HTTP, its answers as plain dicts.

Start-up matters as much as throughput (``gitapply diff`` is run by hand dozens of times a day), so the
official ``kubernetes`` client, whose import alone costs 0.25–0.45 s, is off the common path: the kubeconfig
is read by ``cluster.kubeconfig`` and requests go through ``cluster.transport`` (``http.client``). Only a user with
an exec or auth-provider plugin, or a pod's in-cluster service account, loads ``cluster.official``.
Responses are decoded with ``json.loads`` into plain dicts, never into the generated models (FACTS).

Errors from the API are mapped to gitapply's own, each naming the object and saying what to do; transient
failures (timeouts, connection resets, 429, 5xx) are retried with exponential backoff; a server whose
certificate does not verify is not retried (it will not verify the next time either). A WATCH (``watch``,
streamed by ``cluster.watch``) is never retried here: the watch cache resumes, relists and backs off.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import urlencode
from typing import Any


from .. import __version__
from ..cache import cache_root, store
from ..errors import ConnectionFailedError, NotFoundError, UnknownKindError
from ..merge import Node, Schema
from ..model import ObjectKey, PatchType
from . import kubeconfig
from .apierrors import api_error
from .base import DEFAULT_FIELD_MANAGER, Propagation, Resource
from .transport import DirectTransport, Transport, Untrusted
from .watch import WatchEvent, open_watch, typed as _typed

_TRANSIENT_STATUS = {429, 500, 502, 503, 504}
_BUILTIN_DEFINITION_PREFIXES = (
    "io.k8s.api.",
    "io.k8s.apimachinery.",
    "io.k8s.kube-aggregator.",
    "io.k8s.apiextensions-apiserver.",
)
_PAGE_SIZE = 500
Query = list[tuple[str, str]]  # spelled here: inside the class ``list`` is the method
Objects = list[dict[str, Any]]


def _quietly(job: Callable[[], object]) -> None:
    """Run a prefetch; a failure is left for the lookup that needs the answer to meet and report."""
    try:
        job()
    except Exception:  # noqa: BLE001 - asked again, and reported, where it is needed
        pass


class KubeCluster:
    """A Kubernetes API server reached through a kubeconfig context or the in-cluster service account."""

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        retries: int = 5,
        pool_size: int = 16,
        timeout: float = 30.0,
        field_manager: str = DEFAULT_FIELD_MANAGER,
    ) -> None:
        self._transport, self._namespace = connect(kubeconfig, context, pool_size=pool_size)
        self._server = self._transport.server
        self._retries = retries
        self._timeout = timeout
        self.field_manager = field_manager
        self._user_agent = f"gitapply/{__version__}"
        self._lock = threading.Lock()
        self._discovery_lock = threading.Lock()  # held only to read or record, never during a request
        self._resources: dict[str, dict[str, Resource]] = {}
        self._fetching: dict[str, threading.Lock] = {}  # per group-version: one request, others wait for it
        self._version_lock = threading.Lock()
        self._version: str | None = None
        self._schema_lock = threading.Lock()
        self._schema: Schema | None = None
        self._prefetched = False
        self._answered = False  # has the server ever answered? Until then a refused connection is not retried
        self._gone = False  # did a request spend its retries since it last answered? Then neither is
        self.requests = 0

    # -- plumbing -------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        subject: str = "",
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One API request with retries for transient failures; the decoded JSON response."""
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if body is not None:
            headers["Content-Type"] = content_type
        delay = 0.2
        for attempt in range(self._retries + 1):
            with self._lock:
                self.requests += 1
            try:
                status, reason, data, response_headers = self._send(method, path, query, headers, body)
            except Untrusted as exc:
                raise ConnectionFailedError(
                    "", f"the TLS connection to {self._server} failed ({exc}); check the kubeconfig "
                    "cluster's certificate-authority and server name",
                ) from exc
            except OSError as exc:
                # a server that never answered is most likely the wrong address or down: say so at once, as
                # kubectl does, instead of after 6 s of retries; one that answered before may be restarting,
                # unless a request has already spent its retries on it since it last answered
                refused = ConnectionRefusedError in (type(exc), type(exc.__cause__))
                if attempt == self._retries or (refused and (not self._answered or self._gone)):
                    self._gone = self._answered
                    raise ConnectionFailedError(
                        "", f"cannot reach the API server at {self._server} ({exc}); check the kubeconfig "
                        "context and that the server is up",
                    ) from exc
            else:
                self._answered, self._gone = True, False
                if 200 <= status < 300:
                    return json.loads(data) if data else None
                if status not in _TRANSIENT_STATUS or attempt == self._retries:
                    raise api_error(status, reason, data, subject or path)
                delay = _retry_after(response_headers, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    @property
    def server(self) -> str:
        """The API server's base URL."""
        return self._server

    @property
    def insecure(self) -> bool:
        """Whether the server's certificate goes unverified (``insecure-skip-tls-verify``)."""
        return self._transport.insecure

    def _send(self, method: str, path: str, query: list[tuple[str, str]] | None, headers: dict[str, str],
              body: Any) -> tuple[int, str, bytes, Any]:
        """One request on the pooled connection; the body is encoded and the answer decoded here, skipping
        any generic serialisation, which costs more CPU than the request itself."""
        url = self._server + path + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        return self._transport.send(method, url, data, headers, self._timeout)

    # -- discovery ------------------------------------------------------------------------------------------

    def server_version(self) -> str:
        with self._version_lock:
            if self._version is None:
                self._version = self.request("GET", "/version")["gitVersion"]
            return self._version

    def default_namespace(self) -> str:
        return self._namespace

    def resource(self, api_version: str, kind: str) -> Resource:
        resources = self._group_version(api_version)
        found = resources.get(kind) if resources else None
        if found is None and resources is not None:
            # a CRD applied since the group-version was read (a second kind in a group already served) is
            # served now: read the group-version again, once, before calling the kind unknown
            with self._discovery_lock:
                self._resources.pop(api_version, None)
            resources = self._group_version(api_version)
            found = resources.get(kind) if resources else None
        if found is None:
            offered = self._versions_offering(kind)
            hint = f"the server offers it as {', '.join(offered)}" if offered else "the server has no such kind; is its CRD installed?"
            raise UnknownKindError(f"{api_version}/{kind}", f"unknown kind {kind} in {api_version}: {hint}")
        return found

    def prefetch(self, api_versions: Iterable[str] = ()) -> None:
        """Fetch in daemon threads, each request beside the others and beside the caller's own work (a small
        app's diff otherwise waits for /version, the patch metadata and each group-version in turn)."""
        jobs: list[Callable[[], object]] = []
        with self._discovery_lock:
            if not self._prefetched:
                self._prefetched = True
                jobs.append(self.schema)
            jobs += [functools.partial(self._group_version, version) for version in sorted(set(api_versions))
                     if version not in self._resources]
        for job in jobs:
            threading.Thread(target=_quietly, args=(job,), daemon=True).start()

    def _group_version(self, api_version: str) -> dict[str, Resource] | None:
        with self._discovery_lock:
            if api_version in self._resources:
                return self._resources[api_version]
            fetching = self._fetching.setdefault(api_version, threading.Lock())
        with fetching:
            with self._discovery_lock:
                if api_version in self._resources:  # fetched while this thread waited
                    return self._resources[api_version]
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            try:
                listing = self.request("GET", path, subject=api_version)
            except NotFoundError:
                return None  # not cached: a CRD applied a moment later serves it
            resources = {
                item["kind"]: Resource(api_version, item["kind"], item["name"], item["namespaced"],
                                       frozenset(item.get("verbs", ())))
                for item in listing.get("resources", ())
                if "/" not in item["name"]
            }
            with self._discovery_lock:
                self._resources[api_version] = resources
            return resources

    def _versions_offering(self, kind: str) -> list[str]:
        """Every apiVersion serving ``kind`` (a full discovery; only on the error path)."""
        versions = list(self.request("GET", "/api").get("versions", ()))
        for group in self.request("GET", "/apis").get("groups", ()):
            versions += [version["groupVersion"] for version in group.get("versions", ())]
        return [version for version in versions if kind in (self._group_version(version) or {})]

    def patch_node(self, api_version: str, kind: str) -> Node | None:
        node = self.schema().for_kind(api_version, kind)
        if node is None or not node.name.startswith(_BUILTIN_DEFINITION_PREFIXES):
            return None  # custom resources get JSON merge patch, as kubectl gives them
        return node

    def schema(self) -> Schema:
        """Patch metadata from the server's ``/openapi/v2``, cached on disk per server and version."""
        with self._schema_lock:
            if self._schema is None:
                self._schema = Schema.from_openapi(self._openapi_document())
            return self._schema

    def _openapi_document(self) -> dict[str, Any]:
        """The built-in kinds' definitions of ``/openapi/v2``, cached per server version.

        Only built-in definitions give patch metadata (custom resources get JSON merge patch), and they are
        the same on every server of one version, so the cache is keyed by version alone and keeps just
        them, without descriptions: a tenth of the size, read in a few milliseconds."""
        path = cache_root() / "openapi" / f"builtin-{self.server_version()}.json"
        if path.is_file():
            try:
                return json.loads(path.read_bytes())
            except ValueError:
                path.unlink(missing_ok=True)
        document = _builtin_definitions(self.request("GET", "/openapi/v2"))
        store(path, json.dumps(document, separators=(",", ":")).encode())
        return document

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        resource = self.resource(key.api_version, key.kind)
        try:
            obj = self.request("GET", resource.path(key.namespace, key.name), subject=str(key))
        except NotFoundError:
            return None
        return _typed(obj, key.api_version, key.kind)

    def list(
        self, api_version: str, kind: str, *, namespace: str = "", label_selector: str = ""
    ) -> list[dict[str, Any]]:
        return self._pages(api_version, kind, namespace, label_selector)[0]

    def list_versioned(self, api_version: str, kind: str, *,
                       namespace: str = "") -> tuple[Objects, str]:
        """Every object of a kind and the collection's resourceVersion, from which a ``watch`` starts."""
        return self._pages(api_version, kind, namespace, "")

    def watch(self, api_version: str, kind: str, *, namespace: str = "", resource_version: str,
              timeout_seconds: int) -> Iterator[WatchEvent]:
        """The kind's changes after ``resource_version`` until the server ends the stream (``cluster.watch``)."""
        resource = self.resource(api_version, kind)
        with self._lock:
            self.requests += 1
        return open_watch(self._transport, resource, namespace, user_agent=self._user_agent, timeout=self._timeout,
                          resource_version=resource_version, timeout_seconds=timeout_seconds)

    def _pages(self, api_version: str, kind: str, namespace: str,
               label_selector: str) -> tuple[Objects, str]:
        """A paginated LIST; every page is read at the first one's resourceVersion, which is returned."""
        resource = self.resource(api_version, kind)
        path = resource.path(namespace)
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = [("limit", str(_PAGE_SIZE))]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = self.request("GET", path, subject=f"{api_version}/{kind}", query=query)
            items += (_typed(item, api_version, kind) for item in page.get("items") or ())
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") or ""
            if not token:
                return items, str(metadata.get("resourceVersion") or "")

    # -- writes ---------------------------------------------------------------------------------------------

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        key = ObjectKey.of(obj)
        resource = self.resource(key.api_version, key.kind)
        created = self.request("POST", resource.path(key.namespace), subject=str(key), body=obj,
                               query=self._write_query(dry_run))
        return _typed(created, key.api_version, key.kind)

    def patch(
        self, key: ObjectKey, patch: dict[str, Any], patch_type: PatchType, *, dry_run: bool = False
    ) -> dict[str, Any]:
        resource = self.resource(key.api_version, key.kind)
        patched = self.request("PATCH", resource.path(key.namespace, key.name), subject=str(key), body=patch,
                               content_type=str(patch_type), query=self._write_query(dry_run))
        return _typed(patched, key.api_version, key.kind)

    def apply(self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        key = ObjectKey.of(obj)
        resource = self.resource(key.api_version, key.kind)
        query = self._write_query(dry_run) + ([("force", "true")] if force else [])
        # JSON is YAML: the apply content type takes the object as it is
        applied = self.request("PATCH", resource.path(key.namespace, key.name), subject=str(key), body=obj,
                               content_type=str(PatchType.APPLY), query=query)
        return _typed(applied, key.api_version, key.kind)

    def replace(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        key = ObjectKey.of(obj)
        resource = self.resource(key.api_version, key.kind)
        replaced = self.request("PUT", resource.path(key.namespace, key.name), subject=str(key), body=obj,
                                query=self._write_query(dry_run))
        return _typed(replaced, key.api_version, key.kind)

    def _write_query(self, dry_run: bool) -> Query:
        """Every create and patch names its field manager, so that ``metadata.managedFields`` says which
        fields gitapply set (without one the server records the User-Agent's product)."""
        return [("fieldManager", self.field_manager), *_dry_run(dry_run)]

    def delete(
        self, key: ObjectKey, *, propagation: Propagation = Propagation.BACKGROUND, dry_run: bool = False
    ) -> None:
        resource = self.resource(key.api_version, key.kind)
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions",
                                   "propagationPolicy": str(propagation)}
        if dry_run:
            options["dryRun"] = ["All"]
        try:
            self.request("DELETE", resource.path(key.namespace, key.name), subject=str(key), body=options)
        except NotFoundError:
            return


def _builtin_definitions(document: dict[str, Any]) -> dict[str, Any]:
    definitions = document.get("definitions") or {}
    return {"definitions": {name: _without_descriptions(schema) for name, schema in definitions.items()
                            if name.startswith(_BUILTIN_DEFINITION_PREFIXES)}}


def _without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_descriptions(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_without_descriptions(item) for item in value]
    return value


def connect(flag: str | None, context: str | None, *, pool_size: int = 16) -> tuple[Transport, str]:
    """The transport for a kubeconfig (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``) or, with none
    of them, the in-cluster service account; and the default namespace.

    The official client is imported only for what needs it: a credential plugin, or in-cluster."""
    files = kubeconfig.kubeconfig_files(flag)
    if not files and not flag and os.environ.get("KUBERNETES_SERVICE_HOST"):
        from . import official

        return official.in_cluster(pool_size=pool_size)
    access = kubeconfig.load(files, context)
    if access.plugin or access.proxy_url.startswith("socks"):
        from . import official

        return official.from_kubeconfig(files, context, pool_size=pool_size), access.namespace
    return DirectTransport(access, pool_size=pool_size), access.namespace


def _dry_run(dry_run: bool) -> list[tuple[str, str]]:
    return [("dryRun", "All")] if dry_run else []


def _retry_after(headers: Any, default: float) -> float:
    try:
        return min(float((headers or {}).get("Retry-After", default)), 10.0)
    except ValueError:
        return default
