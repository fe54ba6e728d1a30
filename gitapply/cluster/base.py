"""The ``Cluster`` protocol: the narrow interface through which gitapply reads and writes live state.

Two backends: ``cluster.kube.KubeCluster``, a real API server over gitapply's own HTTP layer
(``cluster.transport``, with the kubeconfig read by ``cluster.kubeconfig``; the official client is loaded only
for exec and auth-provider plugins and in-cluster credentials, ``cluster.official``), and the embedded local
cluster (``cluster.local``, SQLite). Wrappers implement it too (``controller.guard.GuardedCluster`` guards the
writes; ``cluster.watchcache.WatchCache`` answers reads from watched memory, for the controller). Objects are plain JSON dicts. The protocol offers single GETs and paginated LISTs; choosing between
them is ``cluster.snapshot``'s job: a small app is read one GET per object, a larger one by one LIST per kind
with the app's label selector (then per namespace for what that did not find), so that comparing thousands of
objects costs a handful of requests. Errors are gitapply's own (``gitapply.errors``), each naming the object it
is about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from ..merge import Node
from ..model import ObjectKey, PatchType

# The name under which gitapply's writes are recorded in ``metadata.managedFields``.
DEFAULT_FIELD_MANAGER = "gitapply"


class Propagation(StrEnum):
    """What happens to an object's dependents when it is deleted."""

    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


@dataclass(frozen=True, slots=True)
class Resource:
    """Discovery's answer for one apiVersion/kind: the REST resource name and whether it is namespaced."""

    api_version: str
    kind: str
    name: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()

    def path(self, namespace: str = "", name: str = "") -> str:
        """The REST path of the collection (or of one object when ``name`` is given)."""
        group, _, version = self.api_version.rpartition("/")
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.name}"
        return f"{base}/{name}" if name else base


class Cluster(Protocol):
    """Live state: discovery, reads, writes, server-side dry-run, patch metadata."""

    field_manager: str
    """The manager gitapply's writes are recorded under in ``metadata.managedFields``."""

    def server_version(self) -> str:
        """The server's git version, e.g. ``v1.20.2``."""
        ...

    def default_namespace(self) -> str:
        """The namespace of the current context (``default`` when it names none)."""
        ...

    def resource(self, api_version: str, kind: str) -> Resource:
        """Discovery for one kind; raises ``UnknownKindError`` naming what the server does offer."""
        ...

    def prefetch(self, api_versions: Iterable[str] = ()) -> None:
        """A hint, returning at once: start fetching in the background what planning will ask for (the
        server's version and patch metadata, and these group-versions' discovery). Lookups made meanwhile
        wait for those answers instead of asking again, and report any failure themselves."""
        ...

    def patch_node(self, api_version: str, kind: str) -> Node | None:
        """Patch metadata for a built-in kind (strategic merge patch); None means JSON merge patch."""
        ...

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        ...

    def list(
        self, api_version: str, kind: str, *, namespace: str = "", label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """All objects of a kind (in one namespace, or all when ""), matching the selector; paginated."""
        ...

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create an object; returns what the server stored."""
        ...

    def patch(
        self, key: ObjectKey, patch: dict[str, Any], patch_type: PatchType, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Patch an object; returns what the server stored."""
        ...

    def apply(self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of ``obj`` (operation ``Apply`` under ``field_manager``); creates it when absent.
        The manager then owns exactly the fields of ``obj``: those it applied before and ``obj`` no longer has
        are removed unless another manager owns them. A field another manager owns with another value is a
        conflict (``FieldConflictError`` naming each field and manager) unless ``force`` takes it over."""
        ...

    def replace(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Replace an object whole (PUT); its ``metadata.resourceVersion`` must still be the stored one, or
        ``ConflictingWriteError`` is raised (optimistic concurrency: the controller's Lease relies on it)."""
        ...

    def delete(
        self, key: ObjectKey, *, propagation: Propagation = Propagation.BACKGROUND, dry_run: bool = False
    ) -> None:
        """Delete an object (absent objects are not an error)."""
        ...

