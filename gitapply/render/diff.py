"""The per-object diff users read: live object against predicted object, as unified YAML.

Noise the server manages is left out (``normalize.SERVER_OWNED_METADATA``, status, the last-applied record), and
Secret values are never shown: each becomes ``***``, marked ``(before)`` / ``(after)`` where it changed, so a
diff tells *that* a secret changed without telling its value (``secrets``).
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from ..engine.lastapplied import LAST_APPLIED
from ..engine.normalize import SERVER_OWNED_METADATA
from ..model import Action, Change
from . import secrets

_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def shown(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The object as a diff shows it: without server-managed noise and the last-applied record."""
    if obj is None:
        return None
    result = {key: value for key, value in obj.items() if key != "status"}
    metadata = {key: value for key, value in (obj.get("metadata") or {}).items() if key not in SERVER_OWNED_METADATA}
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    result["metadata"] = metadata
    return result


def masked(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[dict | None, dict | None]:
    """Both sides of a diff with Secret values masked (``secrets.masked``), marked where they changed."""
    kind = (after or before or {}).get("kind")
    return (secrets.masked(kind, before, beside=after or {}, mark="before"),
            secrets.masked(kind, after, beside=before or {}, mark="after"))


def to_yaml(obj: dict[str, Any] | None) -> list[str]:
    if obj is None:
        return []
    return yaml.dump(obj, Dumper=_SafeDumper, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


def unified(change: Change) -> str:
    """The unified diff for one change ("" when unchanged)."""
    if change.action is Action.UNCHANGED:
        return ""
    after = None if change.action is Action.PRUNE else change.predicted
    before, after = masked(shown(change.live), shown(after))
    name = str(change.key)
    lines = difflib.unified_diff(to_yaml(before), to_yaml(after), fromfile=f"live/{name}", tofile=f"git/{name}")
    return "".join(lines)


def changed_paths(before: Any, after: Any, path: str = "") -> list[str]:
    """Dotted paths (``spec.template.spec.containers[0].image``) where two objects differ."""
    if type(before) is dict and type(after) is dict:
        found: list[str] = []
        for key in sorted(before.keys() | after.keys()):
            child = f"{path}.{key}" if path else key
            if key not in before or key not in after:
                found.append(child)
            else:
                found += changed_paths(before[key], after[key], child)
        return found
    if type(before) is list and type(after) is list and len(before) == len(after):
        found = []
        for index, (one, other) in enumerate(zip(before, after)):
            found += changed_paths(one, other, f"{path}[{index}]")
        return found
    return [] if type(before) is type(after) and before == after else [path or "<object>"]
