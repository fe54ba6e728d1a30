"""The embedded local cluster: a ``Cluster`` kept in one SQLite file, for the demo and offline use.

It behaves like an API server where gitapply can tell: objects get a uid, a resourceVersion, a
creationTimestamp and (with a spec) a generation bumped on spec changes; patches are applied with the same
merge engine (strategic merge patch with the bundled schema for built-in kinds, JSON merge patch for custom
resources); server-side dry-run computes without storing; namespaced objects need their namespace; the
immutable fields gitapply users meet most (workload selectors, a Job's template, a Service's clusterIP)
are refused with 422 as the server refuses them; deleting a namespace deletes what is in it; a CRD makes
its kind served. Quantities are stored in canonical form and every write is recorded in ``managedFields``
(the manager named at construction, operation ``Update``, the time, the fields it changed). Server-side
apply follows the v1.20 server's structured merge (``engine.serverapply``): ``Apply`` entries own exactly the
applied fields, other owners' changed fields conflict unless forced, what an applier dropped is removed unless
someone else owns it, an apply that changes nothing stores nothing, and the validations such a merge walks
into are repeated (``cluster.validation``); custom resources merge by their CRD's schema. There are no
controllers: a workload is stored as fully rolled out, and nothing keeps
revision history (``gitapply history`` needs a real cluster). Defaults the API server would add are not
added, so a live object here is the applied configuration plus metadata.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

from .. import bundled
from ..engine import serverapply
from ..engine.normalize import SERVER_OWNED_METADATA, by_type, secret_string_data
from ..engine.ownership import Author, record_update
from ..errors import ConflictingWriteError, InvalidObjectError, NotFoundError, UnknownKindError
from ..merge import MergeError, Node, apply_patch
from ..model import ObjectKey, PatchType
from . import customkinds, validation
from .base import DEFAULT_FIELD_MANAGER, Propagation, Resource

CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "PriorityClass", "IngressClass", "RuntimeClass", "APIService", "CSIDriver", "CSINode",
    "VolumeAttachment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "CertificateSigningRequest", "PodSecurityPolicy", "ComponentStatus",
})
IMMUTABLE = {
    "Deployment": ("spec", "selector"), "StatefulSet": ("spec", "selector"), "DaemonSet": ("spec", "selector"),
    "ReplicaSet": ("spec", "selector"), "Job": ("spec", "template"), "Service": ("spec", "clusterIP"),
}
Objects = list[dict[str, Any]]  # spelled once here: inside the class ``list`` is the method
_SCHEMA = """CREATE TABLE IF NOT EXISTS objects (
    grp TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (grp, kind, namespace, name));
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), rv INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES (1, 0);"""


class LocalCluster:
    """A cluster in a SQLite file (``path``), created on first use with the ``default`` namespace; writes
    are recorded in ``managedFields`` under ``field_manager``, as the API server records them."""

    def __init__(self, path: str | Path, *, field_manager: str = DEFAULT_FIELD_MANAGER) -> None:
        self.path = Path(path)
        self.field_manager = field_manager
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._in_transaction = False
        self._schema = bundled.schema()
        self._version = "v{}.{}.0-gitapply-local".format(*bundled.nearest_version(None))
        self.requests = 0
        with self._lock:
            self._db.executescript(_SCHEMA)
        if self.get(ObjectKey("", "v1", "Namespace", "", "default")) is None:
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})

    # -- discovery ------------------------------------------------------------------------------------------

    def server_version(self) -> str:
        return self._version

    def default_namespace(self) -> str:
        return "default"

    def prefetch(self, api_versions: Iterable[str] = ()) -> None:
        """Nothing to fetch: everything is on local disk."""

    def resource(self, api_version: str, kind: str) -> Resource:
        if self._schema.for_kind(api_version, kind) is not None:
            return Resource(api_version, kind, kind.lower() + "s", kind not in CLUSTER_SCOPED)
        crd = self._defining_crd(api_version, kind)
        if crd is None:
            raise UnknownKindError(f"{api_version}/{kind}", f"unknown kind {kind} in {api_version}: the local "
                                                            "cluster serves the built-in kinds and its CRDs' kinds")
        spec = crd["spec"]
        return Resource(api_version, kind, spec["names"]["plural"], spec.get("scope", "Namespaced") == "Namespaced")

    def _defining_crd(self, api_version: str, kind: str) -> dict[str, Any] | None:
        group, _, version = api_version.rpartition("/")
        for crd in self._rows("apiextensions.k8s.io", "CustomResourceDefinition", None):
            spec = crd.get("spec") or {}
            versions = {v.get("name") for v in spec.get("versions") or ()}
            if spec.get("group") == group and version in versions and spec.get("names", {}).get("kind") == kind:
                return crd
        return None

    def patch_node(self, api_version: str, kind: str) -> Node | None:
        return self._schema.for_kind(api_version, kind)

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        self.requests += 1
        with self._lock:
            row = self._db.execute("SELECT body FROM objects WHERE grp=? AND kind=? AND namespace=? AND name=?",
                                   key.identity).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, api_version: str, kind: str, *, namespace: str = "",
             label_selector: str = "") -> Objects:
        self.requests += 1
        self.resource(api_version, kind)
        wanted = _parse_selector(label_selector)
        return [obj for obj in self._rows(api_version.rpartition("/")[0], kind, namespace or None)
                if _matches(obj, wanted)]

    def _rows(self, group: str, kind: str, namespace: str | None) -> Objects:
        query, args = "SELECT body FROM objects WHERE grp=? AND kind=?", [group, kind]
        if namespace is not None:
            query, args = query + " AND namespace=?", [*args, namespace]
        with self._lock:
            return [json.loads(row[0]) for row in self._db.execute(query + " ORDER BY namespace, name", args)]

    # -- writes ---------------------------------------------------------------------------------------------

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        key = ObjectKey.of(obj)
        resource = self.resource(key.api_version, key.kind)
        with self._transaction():
            if self.get(key) is not None:
                raise ConflictingWriteError(str(key), "already exists; it was created concurrently, re-run")
            if resource.namespaced and self.get(ObjectKey("", "v1", "Namespace", "", key.namespace)) is None:
                raise NotFoundError(str(key), f'not found (namespaces "{key.namespace}" not found)')
            stored = copy.deepcopy(obj)
            metadata = stored.setdefault("metadata", {})
            metadata.update(uid=str(uuid.uuid4()), creationTimestamp=_now())
            if "spec" in stored:
                metadata["generation"] = 1
            return self._store(key, self._as_stored(None, stored), dry_run)

    def patch(self, key: ObjectKey, patch: dict[str, Any], patch_type: PatchType, *,
              dry_run: bool = False) -> dict[str, Any]:
        with self._transaction():
            live = self.get(key)
            if live is None:
                raise NotFoundError(str(key), "not found")
            metadata = patch.get("metadata")
            sent: dict[str, Any] = metadata if isinstance(metadata, dict) else {}
            _check_version(key, live, sent.get("resourceVersion"))
            node = self.patch_node(key.api_version, key.kind) if patch_type is PatchType.STRATEGIC else None
            try:
                result = apply_patch(live, patch, node)
            except MergeError as err:
                raise InvalidObjectError(str(key), f"bad request: {err}") from err
            stored = self._as_stored(live, _updated(key, live, result))
            if isinstance(sent.get("managedFields"), list) and sent["managedFields"]:
                # a write that sets managedFields itself is taken as it is, as the API server takes it (how
                # ownership is handed over: client-go's csaupgrade)
                stored["metadata"]["managedFields"] = sent["managedFields"]
            return self._store(key, stored, dry_run)

    def apply(self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply as the v1.20 server does it (``engine.serverapply``): the object merged and
        pruned by field ownership, conflicts refused unless forced, recorded as an ``Apply`` entry; an apply
        that changes neither the object nor its record stores nothing (no new resourceVersion)."""
        key = ObjectKey.of(obj)
        resource = self.resource(key.api_version, key.kind)
        with self._transaction():
            live = self.get(key)
            if live is None and resource.namespaced and \
                    self.get(ObjectKey("", "v1", "Namespace", "", key.namespace)) is None:
                raise NotFoundError(str(key), f'not found (namespaces "{key.namespace}" not found)')
            node, custom = self._apply_schema(key)
            applied = serverapply.apply(live, copy.deepcopy(obj), node, manager=self.field_manager, force=force,
                                        now=_now(), typed=custom is None)
            _validate(key, applied.obj, custom)
            stored = self._applied_as_stored(key, live, applied)
            if live is not None and _bare(stored) == _bare(live):
                self.requests += 1
                return live
            return self._store(key, stored, dry_run)

    def _apply_schema(self, key: ObjectKey) -> tuple[Node | None, dict[str, Any] | None]:
        """The node server-side apply merges ``key``'s kind by; for a custom resource, also its CRD's schema."""
        node = self._schema.for_kind(key.api_version, key.kind)
        crd = self._defining_crd(key.api_version, key.kind) if node is None else None
        if crd is None:
            return node, None
        schema = customkinds.crd_schema(crd, key.api_version.rpartition("/")[2])
        return customkinds.node(schema), schema

    def _applied_as_stored(self, key: ObjectKey, live: dict[str, Any] | None,
                           applied: serverapply.Applied) -> dict[str, Any]:
        """What the server stores for an apply: as for any write (identity, generation, immutable fields,
        canonical quantities, ``stringData``, status), with the apply's own ``managedFields``."""
        node = self._schema.for_kind(key.api_version, key.kind)
        stored = secret_string_data(by_type(applied.obj, node))
        if live is None:
            stored = {**stored, "metadata": {**stored.get("metadata", {}), "uid": str(uuid.uuid4()),
                                             "creationTimestamp": _now()}}
            if "spec" in stored:
                stored["metadata"]["generation"] = 1
        else:
            stored = _updated(key, live, {**stored, "metadata": dict(stored.get("metadata", {}))})
        stored = _rolled_out(stored)
        stored["metadata"].pop("managedFields", None)
        if applied.managed_fields:
            stored["metadata"]["managedFields"] = applied.managed_fields
        return stored

    def replace(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        key = ObjectKey.of(obj)
        self.resource(key.api_version, key.kind)
        with self._transaction():
            live = self.get(key)
            if live is None:
                raise NotFoundError(str(key), "not found")
            _check_version(key, live, (obj.get("metadata") or {}).get("resourceVersion"))
            return self._store(key, self._as_stored(live, _updated(key, live, copy.deepcopy(obj))), dry_run)

    def delete(self, key: ObjectKey, *, propagation: Propagation = Propagation.BACKGROUND,
               dry_run: bool = False) -> None:
        if dry_run:
            return
        with self._transaction():
            self._db.execute("DELETE FROM objects WHERE grp=? AND kind=? AND namespace=? AND name=?",
                             key.identity)
            if key.kind == "Namespace" and not key.group:
                self._db.execute("DELETE FROM objects WHERE namespace=?", (key.name,))

    def _as_stored(self, live: dict[str, Any] | None, written: dict[str, Any]) -> dict[str, Any]:
        """What the server stores for a write: quantities canonical, ``stringData`` merged into ``data``,
        status as the (absent) controllers would leave it, and the write recorded in ``managedFields``."""
        key = ObjectKey.of(written)
        node = self._schema.for_kind(key.api_version, key.kind)
        stored = _rolled_out(secret_string_data(by_type(written, node)))
        managed = (live or {}).get("metadata", {}).get("managedFields")
        stored["metadata"]["managedFields"] = record_update(
            managed, _owned_part(live) if live else None, _owned_part(stored), node, Author(self.field_manager, "Update", "", _now()))
        if not stored["metadata"]["managedFields"]:
            del stored["metadata"]["managedFields"]
        return stored

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write as one SQLite transaction, begun before its reads: processes sharing the file (two
        controllers contending for one Lease) see each other's writes whole, and a create or a replace that
        lost a race fails with a conflict, as on an API server. Nested writes join the outer transaction."""
        with self._lock:
            if self._in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._in_transaction = False

    def _store(self, key: ObjectKey, obj: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        self.requests += 1
        if dry_run:
            return obj
        rv = self._db.execute("UPDATE counter SET rv = rv + 1 WHERE id = 1 RETURNING rv").fetchone()[0]
        obj["metadata"]["resourceVersion"] = str(rv)
        self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
                         (*key.identity, json.dumps(obj)))
        return obj


def _check_version(key: ObjectKey, live: dict[str, Any], expected: Any) -> None:
    """A write naming a resourceVersion is refused unless it is still the stored one (optimistic concurrency)."""
    if expected and expected != live["metadata"].get("resourceVersion"):
        raise ConflictingWriteError(str(key), "changed while being written (the object has been modified; "
                                              "apply your changes to the latest version); re-run to retry")


def _bare(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without its resourceVersion, its managedFields in any order: two forms that differ only there
    store the same."""
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    if "managedFields" in metadata:
        metadata["managedFields"] = sorted(metadata["managedFields"], key=lambda e: json.dumps(e, sort_keys=True))
    return {**obj, "metadata": metadata}


def _validate(key: ObjectKey, obj: dict[str, Any], custom: dict[str, Any] | None) -> None:
    """The server's validations an apply walks into (``cluster.validation``): a custom resource's nulls
    against its CRD's ``schema``, a volume left with two sources."""
    problems = list(validation.null_problems(obj, custom)) if custom is not None else validation.volume_problems(obj)
    if problems:
        raise InvalidObjectError(str(key), validation.rejected(key.kind, key.group, key.name, problems))


def _owned_part(obj: dict[str, Any]) -> dict[str, Any]:
    """The part of an object managers can own: no status, no metadata the server keeps for itself, and not
    the object's identity (``apiVersion``, ``kind``, name, namespace), which the server records for no one."""
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items()
                if k not in SERVER_OWNED_METADATA and k not in ("name", "namespace")}
    return {**{k: v for k, v in obj.items() if k not in ("status", "apiVersion", "kind")}, "metadata": metadata}


def _updated(key: ObjectKey, live: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as an update of ``live``: immutable fields checked, the server's identity fields kept, the
    generation bumped when the spec changed."""
    _check_immutable(key, live, result)
    result["metadata"] = {**result.get("metadata", {}),
                          **{k: live["metadata"][k] for k in ("uid", "creationTimestamp", "generation")
                             if k in live["metadata"]}}
    if "spec" in result and result.get("spec") != live.get("spec"):
        result["metadata"]["generation"] = live["metadata"].get("generation", 0) + 1
    return result


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_immutable(key: ObjectKey, live: dict[str, Any], result: dict[str, Any]) -> None:
    path = IMMUTABLE.get(key.kind)
    if path is None:
        return
    before: Any = live
    after: Any = result
    for part in path:
        before, after = (before or {}).get(part), (after or {}).get(part)
    if before is not None and before != after:
        field = ".".join(path)
        raise InvalidObjectError(str(key), f"the server rejected the object (fields: {field}): {key.kind} "
                                           f"{key.name!r} is invalid: {field}: Invalid value: field is immutable",
                                   immutable=True)


def _rolled_out(obj: dict[str, Any]) -> dict[str, Any]:
    """No controllers run here: a workload is recorded as fully rolled out at once."""
    kind = obj.get("kind")
    spec, generation = obj.get("spec") or {}, obj.get("metadata", {}).get("generation", 0)
    replicas = spec.get("replicas", 1)
    if kind == "Deployment":
        obj["status"] = {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                         "readyReplicas": replicas, "availableReplicas": replicas}
    elif kind == "StatefulSet":
        obj["status"] = {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                         "readyReplicas": replicas, "currentRevision": "local", "updateRevision": "local"}
    elif kind == "DaemonSet":
        obj["status"] = {"observedGeneration": generation, "desiredNumberScheduled": 1,
                         "updatedNumberScheduled": 1, "numberAvailable": 1}
    elif kind == "CustomResourceDefinition":
        obj["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
    return obj


def _parse_selector(text: str) -> list[tuple[str, str | None]]:
    terms: list[tuple[str, str | None]] = []
    for term in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = term.partition("=")
        terms.append((name.strip().rstrip("!"), value.strip().lstrip("=") if sep else None))
    return terms


def _matches(obj: dict[str, Any], terms: list[tuple[str, str | None]]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(name in labels if value is None else labels.get(name) == value for name, value in terms)
