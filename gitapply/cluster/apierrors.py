"""The API server's refusals (a ``Status`` body and an HTTP code) as gitapply's own errors: one place maps
them, so every backend caller gets the same ``NotFoundError``, ``ConflictingWriteError``,
``FieldConflictError`` (a server-side apply's conflicts, each field with its manager), ``InvalidObjectError``
(with whether a field is immutable), ``ForbiddenError``…"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import (ClusterError, ConflictingWriteError, ConnectionFailedError, FieldConflictError, ForbiddenError,
                      InvalidObjectError, NotFoundError)


def _status_body(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        return {"message": data[:500].decode("utf-8", "replace")}
    return body if isinstance(body, dict) else {}


_CONFLICT_MANAGER = re.compile(r'conflict with "([^"]*)"')


def _field_conflicts(status: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """``(manager, field)`` for each field a server-side apply conflicted on (the 409's causes)."""
    found = []
    for cause in (status.get("details") or {}).get("causes") or ():
        if cause.get("reason") == "FieldManagerConflict":
            manager = _CONFLICT_MANAGER.search(cause.get("message") or "")
            found.append((manager.group(1) if manager else "another manager", str(cause.get("field") or "")))
    return tuple(found)


def api_error(code: int, http_reason: str, data: bytes, subject: str) -> ClusterError:
    """gitapply's error for an API server's refusal, from its Status body: the subject names the object, the
    message says what to do."""
    status = _status_body(data)
    message = status.get("message") or http_reason or "request failed"
    reason = status.get("reason", "")
    if code == 404:
        return NotFoundError(subject, f"not found ({message})")
    if code == 409:
        conflicts = _field_conflicts(status)
        if conflicts:
            named = "; ".join(f"{field} (held by {manager})" for manager, field in conflicts)
            return FieldConflictError(subject, f"fields owned by other managers: {named}", conflicts)
        if reason == "AlreadyExists":
            return ConflictingWriteError(subject, f"already exists ({message}); it was created concurrently, re-run")
        return ConflictingWriteError(subject, f"changed while being written ({message}); re-run to retry")
    if code == 422 or reason == "Invalid":
        causes = (status.get("details") or {}).get("causes") or ()
        fields = ", ".join(sorted({cause.get("field", "") for cause in causes if cause.get("field")}))
        where = f" (fields: {fields})" if fields else ""
        # the server has no reason code of its own for an immutable field; each cause's message says it
        immutable = any("field is immutable" in (cause.get("message") or "") for cause in causes) or \
            (not causes and "field is immutable" in message)
        return InvalidObjectError(subject, f"the server rejected the object{where}: {message}", immutable=immutable)
    if code in (401, 403):
        error = ForbiddenError if code == 403 else ConnectionFailedError
        return error(subject, f"not allowed ({message}); check the credentials and RBAC of the kubeconfig user")
    if code == 400:
        return InvalidObjectError(subject, f"bad request: {message}")
    return ClusterError(subject, f"the API server answered {code} {http_reason}: {message}")
