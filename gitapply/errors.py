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


class ClusterError(GitapplyError):
    """The cluster refused or failed a request; the subject names the object."""

    exit_code = 3


class NotFoundError(ClusterError):
    """The object (or its kind) does not exist on the server."""


class ConflictingWriteError(ClusterError):
    """The object kept changing under us (HTTP 409) after retries."""


class UnknownKindError(ClusterError):
    """The server does not serve this apiVersion/kind."""


class InvalidObjectError(ClusterError):
    """The server rejected the object (HTTP 422), e.g. a change to an immutable field."""


class ConnectionFailedError(ClusterError):
    """The API server could not be reached or authenticated against."""


class ForbiddenError(ConnectionFailedError):
    """RBAC refused the request (HTTP 403): the credentials work, this verb on this resource is not allowed."""
