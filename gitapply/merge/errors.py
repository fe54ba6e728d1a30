"""Errors of the merge engine.

Every error carries the path in the object where it happened (``spec.template.spec.containers[name=web]``),
so that a caller can name the object and the field. The path is collected while the error travels up the
recursion (``MergeError.at``), which costs nothing when no error is raised.
"""

from __future__ import annotations


class MergeError(ValueError):
    """A patch could not be created or applied; ``path`` says where in the object."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def at(self, segment: str) -> "MergeError":
        """Prefix the path with an enclosing field or list item; returns self for ``raise err.at(key)``."""
        self.path = (segment, *self.path)
        return self

    @property
    def where(self) -> str:
        """The path as one dotted string, ``<root>`` for the object itself."""
        if not self.path:
            return "<root>"
        text = ""
        for segment in self.path:
            text += segment if segment.startswith("[") or not text else "." + segment
        return text

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConflictError(MergeError):
    """``current`` changed a field that the patch changes too (``overwrite=False``)."""

    def __init__(self, paths: list[str]) -> None:
        listed = ", ".join(paths)
        super().__init__(
            f"the live object changed {listed} since the last apply, and the new configuration changes "
            "it too; re-run with overwrite to let the configuration win, or update the configuration"
        )
        self.paths = paths


class MissingMergeKeyError(MergeError):
    """An item of a list merged by key lacks its merge key."""


class BadPatchError(MergeError):
    """A patch is malformed: an unknown ``$patch`` directive, a bad ``$retainKeys`` or order list."""


class PreconditionError(MergeError):
    """A JSON merge patch would change ``apiVersion``, ``kind`` or ``metadata.name``."""
