"""What ships inside the installed packages, read from disk once per process: kubernetes-validate's OpenAPI
definitions and gitapply's own field rules (``defaults.yaml``, beside this module).

The one reader of both, so that ``merge/`` and ``engine/`` read no files: they receive what is read here as
values (``Schema`` over parsed definitions, ``BuiltinRules``).

- **Definitions**: kubernetes-validate bundles, per Kubernetes minor version, one JSON Schema document of
  every built-in type (``kubernetes-json-schema/v1.NN.0-local-strict/_definitions.json``, ``$defs``). The
  strict flavour serves both validation (``source.validate``, which needs its ``additionalProperties:
  false``) and patch metadata (``merge.Schema``, which reads no ``additionalProperties`` that is not a
  schema), so a command reads one 1 MB file, not two: the lax flavour differs from it only in those
  ``false`` values. The package is located without being imported (importing it costs ~120 ms).
- **Field rules**: ``defaults.yaml``, parsed by ``engine.rules.parse_builtin_rules``; read with a plain
  path, since importing ``importlib.resources`` would cost 5 ms of every command's start-up.

Every reader is cached for the life of the process: ``diff`` runs many times a day, the controller for days.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Mapping

from .engine.rules import BuiltinRules, parse_builtin_rules
from .merge import Schema

RULES_FILE = Path(__file__).with_name("defaults.yaml")


@functools.lru_cache(maxsize=1)
def rules() -> BuiltinRules:
    """The field rules gitapply ships: hand-offs, keep-live-when-removed fields, field managers."""
    import yaml  # here, not at import: a command that needs no rules pays nothing for it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader: 1 ms, not 12, per command
    return parse_builtin_rules(yaml.load(RULES_FILE.read_text(), Loader=loader))


def schema(version: str | None = None) -> Schema:
    """Patch metadata of the bundled Kubernetes version nearest to ``version`` (the newest for None); the same
    ``Schema`` for the same version, so its resolved nodes are shared by every caller."""
    return _schema(nearest_version(version))


@functools.lru_cache(maxsize=4)
def _schema(version: tuple[int, int]) -> Schema:
    return Schema.from_defs(definitions(version))


@functools.lru_cache(maxsize=4)
def definitions(version: tuple[int, int]) -> Mapping[str, Any]:
    """The ``$defs`` bundled for a Kubernetes (major, minor) version, by definition name. Shared: never mutate."""
    with definitions_file(version).open("rb") as handle:
        found: Mapping[str, Any] = json.load(handle)["$defs"]
    return found


def definitions_file(version: tuple[int, int]) -> Path:
    """The bundled file of a Kubernetes version's definitions (``source.validate`` keys its cache on it)."""
    return _root() / f"v{version[0]}.{version[1]}.0-local-strict" / "_definitions.json"


@functools.lru_cache(maxsize=1)
def versions() -> tuple[tuple[int, int], ...]:
    """The Kubernetes (major, minor) versions whose definitions are bundled, oldest first."""
    found = set()
    for entry in _root().iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
        if match and (entry / "_definitions.json").is_file():
            found.add((int(match[1]), int(match[2])))
    return tuple(sorted(found))


def nearest_version(version: str | None) -> tuple[int, int]:
    """The bundled version closest to ``version`` (``"1.30"``, ``"v1.20.2"``; ties go to the newer one);
    the newest for None. Raises ValueError for text that is not a version, RuntimeError when none is bundled."""
    available = versions()
    if not available:
        raise RuntimeError(f"no bundled OpenAPI definitions found under {_root()}")
    if version is None:
        return available[-1]
    match = re.match(r"v?(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r} (expected e.g. '1.30')")
    wanted = (int(match[1]), int(match[2]))
    return min(available, key=lambda v: (abs((v[0] - wanted[0]) * 1000 + v[1] - wanted[1]), -v[1]))


@functools.lru_cache(maxsize=1)
def _root() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("kubernetes-validate is not installed; it carries the bundled OpenAPI definitions")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
