"""Secret values never leave gitapply: the one masking rule every output applies (the per-object diff, the
JSON report of a plan and its patches, every drift format).

The rule, for an object of kind ``Secret``:

* each value under ``data`` or ``stringData`` shows as ``***``, and so does the last-applied record, wherever
  it sits (it repeats them);
* key names stay, and an absent value (``None``) stays absent, so a reader can still tell that a key was
  added, removed or changed without learning what it holds;
* where two versions are shown side by side (a diff), a value that differs from the other side's is marked
  ``*** (before)`` / ``*** (after)``, so a diff tells *that* a secret changed.

Other kinds pass unchanged: a ConfigMap's ``data`` is not secret. Pure; values are never mutated.
"""

from __future__ import annotations

import re
from typing import Any

from ..engine.lastapplied import LAST_APPLIED

MASK = "***"
SECRET_FIELDS = ("data", "stringData")
_ROOT_PATHS = ("", "<object>")  # the whole object: the drift engine names it "" or "<object>"
_HEAD = re.compile(r"[./\[]")


def masked(kind: str | None, value: Any, path: str = "", *, beside: Any = None, mark: str = "") -> Any:
    """``value``, found at ``path`` in an object of ``kind``, as an output may show it.

    ``path`` is a dotted path (``data.password``, ``data[password]``), a JSON pointer (``/data/password``), or
    "" for the whole object. ``beside`` is the other side of a diff (``{}`` where there is none: every value
    is then marked), against which a changed value is marked ``*** (mark)``; without it nothing is marked."""
    if kind != "Secret" or value is None:
        return value
    if _HEAD.split(path.lstrip("/"), maxsplit=1)[0] in SECRET_FIELDS or LAST_APPLIED in path:
        return MASK
    if path in _ROOT_PATHS and isinstance(value, dict):
        value = {name: _masked_values(part, _other(beside, name), beside is not None, mark)
                 if name in SECRET_FIELDS else part for name, part in value.items()}
    return _without_last_applied(value)


def _other(beside: Any, name: str) -> dict[str, Any]:
    other = beside.get(name) if isinstance(beside, dict) else None
    return other if isinstance(other, dict) else {}


def _masked_values(values: Any, other: dict[str, Any], marked: bool, mark: str) -> Any:
    """A ``data`` map with its key names and masked values; a malformed one (not a map) is one mask."""
    if values is None:
        return None
    if not isinstance(values, dict):
        return MASK
    changed = f"{MASK} ({mark})"
    return {name: changed if marked and other.get(name) != value else MASK for name, value in values.items()}


def _without_last_applied(value: Any) -> Any:
    """The last-applied record masked wherever it sits in a value."""
    if isinstance(value, dict):
        return {name: MASK if name == LAST_APPLIED else _without_last_applied(part) for name, part in value.items()}
    if isinstance(value, list):
        return [_without_last_applied(part) for part in value]
    return value
