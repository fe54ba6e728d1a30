"""Custom resources in the embedded local cluster: their CRD's schema, as the API server uses it.

Server-side apply merges a custom resource by its CRD's structural schema (``x-kubernetes-list-type`` and
keys, ``x-kubernetes-map-type``, ``x-kubernetes-preserve-unknown-fields``) with ``metadata`` typed as
``ObjectMeta``; ``node`` gives that schema as a ``merge.Node``, ``crd_schema`` the schema itself (which
``cluster.validation`` checks nulls against).
"""

from __future__ import annotations

from typing import Any, Mapping

from .. import bundled
from ..merge import Node, Schema

_ROOT = "gitapply.local.CustomResource"
_OBJECT_META = "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def crd_schema(crd: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` the CRD gives ``version`` (``spec.versions[].schema``, or the v1beta1
    ``spec.validation``); a schema keeping any field when it gives none."""
    spec = crd.get("spec") or {}
    for served in spec.get("versions") or ():
        if served.get("name") == version and (served.get("schema") or {}).get("openAPIV3Schema"):
            return dict(served["schema"]["openAPIV3Schema"])
    return dict((spec.get("validation") or {}).get("openAPIV3Schema") or _OPEN)


def node(schema: Mapping[str, Any]) -> Node:
    """The node of a custom resource whose CRD gives ``schema``, beside the bundled built-in definitions."""
    root = {**schema, "properties": {**(schema.get("properties") or {}), "metadata": {"$ref": _OBJECT_META}}}
    definitions = {**bundled.definitions(bundled.nearest_version(None)), _ROOT: root}
    found = Schema.from_defs(definitions).definition(_ROOT)
    assert found is not None
    return found
