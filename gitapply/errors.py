"""One exception tree for gitapply. Every message starts with what it is about — an object
(``apps/Deployment/shop/web:``) or a file and line (``deploy/web.yaml:12:``) — and then says what to do.

The merge engine keeps its own errors (``gitapply.merge.errors``) because it imports nothing from the rest of
gitapply; the layers above wrap them with the object they concern.
"""

from __future__ import annotations


class GitapplyError(Exception):
    """Base of every error gitapply reports to a user. ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, subject: str, message: str) -> None:
        super().__init__(f"{subject}: {message}" if subject else message)
        self.subject = subject
        self.message = message


class SourceError(GitapplyError):
    """Desired state could not be read or is invalid (YAML syntax, missing fields, duplicates, schema)."""


class SourceUnreachableError(SourceError):
    """The desired state's location is not there or cannot be fetched (a missing path, a failed clone), as
    opposed to one that was read and found invalid: the controller's readiness tells the two apart."""


class RecordError(GitapplyError):
    """A record gitapply reads back from the cluster — an object's last-applied annotation, an app's
    inventory ConfigMap — is not what an apply wrote (edited by hand, truncated). The subject names the object;
    the message says how to repair it. Nothing is written: exit 2, as for bad input."""


class PlanError(GitapplyError):
    """The change to one object cannot be computed (its live form and git's cannot be merged); the subject
    names the object and the message the field."""


class PruneGuardError(GitapplyError):
    """Pruning would remove too much of the app; the message says how much and what flag allows it."""


class ClusterError(GitapplyError):
    """The cluster refused or failed a request; the subject names the object."""

    exit_code = 3


class NotFoundError(ClusterError):
    """The object (or its kind) does not exist on the server."""


class ConflictingWriteError(ClusterError):
    """The object kept changing under us (HTTP 409) after retries."""


class FieldConflictError(ConflictingWriteError):
    """A server-side apply without force was refused: fields it sets are owned by other managers with other
    values. ``conflicts`` holds each ``(manager, field path)`` the server named."""

    def __init__(self, subject: str, message: str, conflicts: tuple[tuple[str, str], ...]) -> None:
        super().__init__(subject, message)
        self.conflicts = conflicts


class UnknownKindError(ClusterError):
    """The server does not serve this apiVersion/kind."""


class InvalidObjectError(ClusterError):
    """The server rejected the object (HTTP 422), e.g. a change to an immutable field (``immutable``: one of the
    server's causes says so; ``--force-replace`` can then delete and recreate the object)."""

    def __init__(self, subject: str, message: str, *, immutable: bool = False) -> None:
        super().__init__(subject, message)
        self.immutable = immutable


class ConnectionFailedError(ClusterError):
    """The API server could not be reached or authenticated against."""


class ForbiddenError(ConnectionFailedError):
    """RBAC refused the request (HTTP 403): the credentials work, this verb on this resource is not allowed."""


class NotLeadingError(GitapplyError):
    """A controller's write was not sent: this replica does not (or no longer) hold the app's Lease, or it is
    stopping."""
