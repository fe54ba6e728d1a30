"""The nouns shared by every layer: which object (``ObjectKey``), where it came from (``Origin``),
what is done to it (``Action``) and how it is patched (``PatchType``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """What gitapply does to one object."""

    CREATE = "create"
    PATCH = "patch"
    UNCHANGED = "unchanged"
    PRUNE = "prune"
    REPLACE = "replace"


class PatchType(StrEnum):
    """The patch formats the API server accepts, by content type."""

    STRATEGIC = "application/strategic-merge-patch+json"
    MERGE = "application/merge-patch+json"
    APPLY = "application/apply-patch+yaml"
    """Server-side apply: the body is the applied configuration, the server merges it and keeps ownership."""


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """Identifies one Kubernetes object. ``namespace`` is "" for cluster-scoped objects."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: dict[str, Any], namespace: str = "") -> "ObjectKey":
        """The key of an object dict; ``namespace`` fills in when the object has none."""
        api_version = obj.get("apiVersion")
        group, _, version = (api_version if isinstance(api_version, str) else "").rpartition("/")
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):  # malformed input is reported by validation, not here
            metadata = {}
        return cls(group, version, _text(obj.get("kind")), _text(metadata.get("namespace")) or namespace,
                   _text(metadata.get("name")))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """``(group, kind, namespace, name)``: which object this is, whatever version it is served at. The
        API server stores one object under every version of its group (``apps/v1`` and ``apps/v1beta2``
        name the same Deployment), so sameness of objects is compared on this, never on the whole key."""
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        """``apps/Deployment/shop/web``, ``Namespace/shop``: the prefix of every message about the object."""
        parts = [f"{self.group}/{self.kind}" if self.group else self.kind]
        if self.namespace:
            parts.append(self.namespace)
        parts.append(self.name)
        return "/".join(parts)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a desired object was read: file (relative to the source root), document index, first line."""

    path: str
    document: int = 0
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True, slots=True)
class Manifest:
    """A desired object and where it came from. ``obj`` is treated as immutable."""

    obj: dict[str, Any]
    origin: Origin
    key: ObjectKey = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # computed once: planning asks every manifest for its key many times
        object.__setattr__(self, "key", ObjectKey.of(self.obj))


class ApplyMethod(StrEnum):
    """How an object is written. Client-side apply keeps the last-applied record in an annotation and sends a
    three-way patch, as ``kubectl apply`` does; server-side apply sends the configuration and the server keeps
    the record (``managedFields``), as ``kubectl apply --server-side`` does."""

    CLIENT_SIDE = "client-side"
    SERVER_SIDE = "server-side"


@dataclass(frozen=True, slots=True)
class ServerSide:
    """How one object is applied server-side: ``reason`` says why when the app applies client-side (its
    annotation asked, or it is too large for the last-applied record); ``ownership`` the ``managedFields`` to
    install first (taking over from client-side apply or from another applier, or handing a field over to the
    HPA), under the precondition ``resource_version``; ``forced`` each field taken from another manager, as
    ``(manager, field path)``; ``removes`` the fields (a ``managedFields`` field set) that were applied before
    and git no longer has, which the apply removes; ``clears`` a strategic merge patch sent first, removing
    what the server keeps in the way of git's object (``engine.serverside.defaults_in_the_way``)."""

    reason: str = ""
    ownership: tuple[dict[str, Any], ...] | None = None
    resource_version: str = ""
    forced: tuple[tuple[str, str], ...] = ()
    removes: dict[str, Any] = field(default_factory=dict)
    clears: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What happens to one object. ``body`` is the create body, the patch, or (server-side) the applied
    configuration; ``predicted`` the live object after the change (None when pruned); ``desired`` what git says
    (None when pruned); ``server_side`` set when the object is applied server-side."""

    key: ObjectKey
    action: Action
    desired: dict[str, Any] | None
    live: dict[str, Any] | None
    body: dict[str, Any] | None = None
    patch_type: PatchType | None = None
    predicted: dict[str, Any] | None = None
    origin: Origin | None = None
    server_side: ServerSide | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Every change, in the order they are to be made; ``unpruned`` the objects the app applied that git no
    longer has, left in place because the plan was made without prune (``--prune`` would delete them);
    ``refused`` the objects that could not be planned (a broken record), each said: such a plan is not written."""

    changes: tuple[Change, ...]
    unpruned: tuple[ObjectKey, ...] = ()
    refused: tuple[Failure, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)

    @property
    def has_changes(self) -> bool:
        return any(change.action is not Action.UNCHANGED for change in self.changes)


class FailureKind(StrEnum):
    """Why a planned write was not made: a closed vocabulary that exit codes, metrics and output rest on."""

    REFUSED = "refused"
    """The server refused this object (validation, admission, RBAC on its kind); the other writes go on."""
    IMMUTABLE = "immutable"
    """The server refused a change to an immutable field (``--force-replace`` deletes and recreates)."""
    OVERSIZED = "oversized"
    """Too large for the last-applied record (the API's 256 KiB annotation limit); never sent."""
    UNREACHABLE = "unreachable"
    """The server stopped answering or refused the credentials: not this object's fault, and the same for every
    write after it."""
    INVENTORY = "inventory"
    """Not an object's write: the app's inventory could not be recorded after the writes."""
    NOT_LEADING = "not-leading"
    """A controller replica that lost its Lease (or is stopping) skipped the write; the leader makes it."""
    HELD = "held"
    """The app is held (``gitapply hold``, ``apply --hold``, ``rollback``): no write is made until it is released
    or git moves past the commit it was held at."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A change that was not made, and why; ``message`` names the object and says what to do."""

    key: ObjectKey
    action: Action
    message: str
    kind: FailureKind = FailureKind.REFUSED

    @property
    def cluster_failed(self) -> bool:
        """The cluster's fault, not the object's: running the same apply again finishes the job."""
        return self.kind in (FailureKind.UNREACHABLE, FailureKind.INVENTORY)
