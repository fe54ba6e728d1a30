"""Fixtures of the merge tests: the two schema sources every table case runs against.

apimachinery checks its strategic merge patch against two sources of patch metadata; so do we:

- ``bundled``: ``gitapply.bundled.schema()``, kubernetes-validate's strict JSON Schema definitions (``$defs``,
  refs ``#/$defs/<name>``);
- ``openapi``: ``Schema.from_openapi(doc)``, the lax flavour of the same definitions (no
  ``additionalProperties: false``), read here and rewritten as a server's OpenAPI v2 document
  (``definitions``, refs ``#/definitions/<name>``), the shape ``/openapi/v2`` serves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from gitapply import bundled
from gitapply.merge import Schema

SCHEMA_SOURCES = ("bundled", "openapi")


def bundled_definitions() -> dict[str, Any]:
    """The lax ``$defs`` of the newest Kubernetes version kubernetes-validate bundles."""
    major, minor = bundled.versions()[-1]
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    with (root / f"v{major}.{minor}.0-local" / "_definitions.json").open("rb") as handle:
        return json.load(handle)["$defs"]


def _rewrite_ref(ref: str) -> str:
    return "#/definitions/" + ref.removeprefix("#/$defs/")


def _rewrite_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _rewrite_ref(item) if key == "$ref" and isinstance(item, str) else _rewrite_refs(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_refs(item) for item in value]
    return value


def as_openapi_v2(definitions: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema ``$defs`` as an OpenAPI v2 document, refs rewritten to ``#/definitions/``."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": {},
        "definitions": _rewrite_refs(definitions),
    }


@pytest.fixture(scope="session")
def openapi_document() -> dict[str, Any]:
    return as_openapi_v2(bundled_definitions())


@pytest.fixture(scope="session")
def bundled_schema() -> Schema:
    return bundled.schema()


@pytest.fixture(scope="session")
def openapi_schema(openapi_document: dict[str, Any]) -> Schema:
    return Schema.from_openapi(openapi_document)


@pytest.fixture(scope="session", params=SCHEMA_SOURCES)
def schema(request: pytest.FixtureRequest) -> Schema:
    """Each schema source in turn."""
    return request.getfixturevalue(f"{request.param}_schema")
