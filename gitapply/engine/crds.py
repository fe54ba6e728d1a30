"""Kinds that a desired state defines itself, through its CustomResourceDefinitions.

Such kinds are not served yet when the plan is made: their objects cannot be discovered, listed or dry-run
before the CRD is applied, and they are custom resources (JSON merge patch).
"""

from __future__ import annotations

from typing import Any, Iterable


def kinds_defined_by(objects: Iterable[dict[str, Any] | None]) -> dict[tuple[str, str], bool]:
    """(apiVersion, kind) → namespaced, for every version of every CRD among ``objects``."""
    defined: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if not obj or obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        kind = str((spec.get("names") or {}).get("kind", ""))
        for version in spec.get("versions") or [{"name": spec.get("version", "")}]:
            defined[(f"{spec.get('group', '')}/{version.get('name', '')}", kind)] = \
                spec.get("scope", "Namespaced") == "Namespaced"
    return defined
