"""Patch metadata read from real definitions (both schema sources) and from a small hand-written OpenAPI v2 doc."""

from __future__ import annotations

from typing import Any

import pytest

from gitapply.merge import FieldMeta, Schema, three_way_patch
from gitapply.merge.schema import parse_strategy


def field(schema: Schema, definition: str, *path: str) -> FieldMeta:
    node = schema.definition(definition)
    assert node is not None, definition
    meta = FieldMeta(node=node)
    for key in path:
        assert meta.node is not None, f"{definition}: {key} has no node"
        meta = meta.node.field(key)
    return meta


@pytest.mark.parametrize(
    ("definition", "path", "strategy", "retain_keys", "merge_key"),
    [
        ("io.k8s.api.core.v1.PodSpec", ["containers"], "merge", False, "name"),
        ("io.k8s.api.core.v1.PodSpec", ["initContainers"], "merge", False, "name"),
        ("io.k8s.api.core.v1.PodSpec", ["volumes"], "merge", True, "name"),
        ("io.k8s.api.core.v1.PodSpec", ["tolerations"], "", False, ""),
        ("io.k8s.api.core.v1.Container", ["ports"], "merge", False, "containerPort"),
        ("io.k8s.api.core.v1.Container", ["env"], "merge", False, "name"),
        ("io.k8s.api.core.v1.Container", ["volumeMounts"], "merge", False, "mountPath"),
        ("io.k8s.api.core.v1.Container", ["args"], "", False, ""),
        ("io.k8s.api.apps.v1.DeploymentSpec", ["strategy"], "", True, ""),
        ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", ["finalizers"], "merge", False, ""),
        ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", ["ownerReferences"], "merge", False, "uid"),
        ("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", ["selector"], "replace", False, ""),
        ("io.k8s.api.core.v1.ServiceSpec", ["ports"], "merge", False, "port"),
        ("io.k8s.api.apps.v1.Deployment", ["spec", "template", "spec", "containers"], "merge", False, "name"),
    ],
    ids=lambda value: ".".join(value) if isinstance(value, list) else str(value),
)
def test_real_definitions_give_their_patch_strategy_and_merge_key(
    schema: Schema, definition: str, path: list[str], strategy: str, retain_keys: bool, merge_key: str
) -> None:
    meta = field(schema, definition, *path)
    assert (meta.strategy, meta.retain_keys, meta.merge_key) == (strategy, retain_keys, merge_key)


def test_a_merge_list_of_maps_describes_its_items(schema: Schema) -> None:
    containers = field(schema, "io.k8s.api.core.v1.PodSpec", "containers")
    assert containers.node is not None
    assert containers.node.field("env").merge_key == "name"


def test_a_list_of_scalars_and_a_scalar_have_no_node(schema: Schema) -> None:
    assert field(schema, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers").node is None
    assert field(schema, "io.k8s.api.apps.v1.DeploymentSpec", "replicas").node is None


def test_a_map_field_describes_its_values_and_has_no_metadata(schema: Schema) -> None:
    labels = field(schema, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "labels")
    assert (labels.strategy, labels.merge_key) == ("", "")
    assert labels.node is not None
    assert labels.node.field("app.kubernetes.io/name") == FieldMeta()


def test_a_field_the_schema_does_not_know_has_no_metadata(schema: Schema) -> None:
    assert field(schema, "io.k8s.api.core.v1.PodSpec", "noSuchField") == FieldMeta()


@pytest.mark.parametrize(
    ("api_version", "kind", "definition"),
    [
        ("v1", "Pod", "io.k8s.api.core.v1.Pod"),
        ("v1", "Service", "io.k8s.api.core.v1.Service"),
        ("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment"),
        ("policy/v1", "PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudget"),
        ("batch/v1", "CronJob", "io.k8s.api.batch.v1.CronJob"),
    ],
)
def test_for_kind_finds_built_in_kinds(schema: Schema, api_version: str, kind: str, definition: str) -> None:
    node = schema.for_kind(api_version, kind)
    assert node is not None and node.name == definition


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("shop.example.com/v1", "Database"), ("v1", "Deployment"), ("apps/v1", "NoSuchKind")],
)
def test_for_kind_is_none_for_unknown_kinds(schema: Schema, api_version: str, kind: str) -> None:
    assert schema.for_kind(api_version, kind) is None


def test_definition_is_none_for_an_unknown_name(schema: Schema) -> None:
    assert schema.definition("io.k8s.api.core.v1.NoSuchThing") is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("", ("", False)), ("merge", ("merge", False)), ("replace", ("replace", False)),
     ("retainKeys", ("", True)), ("merge,retainKeys", ("merge", True)), ("retainKeys,merge", ("merge", True))],
)
def test_patch_strategy_text_is_split_as_apimachinery_does(text: str, parsed: tuple[str, bool]) -> None:
    assert parse_strategy(text) == parsed


@pytest.mark.parametrize("text", ["merge,replace", "bogus", "merge,retainKeys,replace"])
def test_an_unexpected_patch_strategy_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="unexpected patch strategy"):
        parse_strategy(text)


TINY_OPENAPI: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "tiny", "version": "v1"},
    "paths": {},
    "definitions": {
        "example.v1.Shop": {
            "type": "object",
            "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Shop"}],
            "properties": {
                "spec": {"$ref": "#/definitions/example.v1.ShopSpec"},
                "alias": {"$ref": "#/definitions/example.v1.SpecAlias"},
            },
        },
        "example.v1.SpecAlias": {"$ref": "#/definitions/example.v1.ShopSpec"},
        "example.v1.ShopSpec": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {"$ref": "#/definitions/example.v1.Item"},
                    "x-kubernetes-patch-strategy": "merge",
                    "x-kubernetes-patch-merge-key": "sku",
                },
                "byAisle": {"type": "object", "additionalProperties": {"$ref": "#/definitions/example.v1.Item"}},
                "payment": {
                    "allOf": [{"$ref": "#/definitions/example.v1.Payment"}],
                    "x-kubernetes-patch-strategy": "retainKeys",
                },
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"},
                "lost": {"$ref": "#/definitions/example.v1.Missing"},
                "loop": {"$ref": "#/definitions/example.v1.LoopA"},
            },
        },
        "example.v1.Item": {
            "type": "object",
            "properties": {
                "sku": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"},
            },
        },
        "example.v1.Payment": {
            "type": "object",
            "properties": {
                "card": {"type": "string"},
                "cash": {"type": "object"},
                "cards": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"number": {"type": "string"}}},
                    "x-kubernetes-patch-strategy": "merge",
                    "x-kubernetes-patch-merge-key": "number",
                },
            },
        },
        "example.v1.LoopA": {"$ref": "#/definitions/example.v1.LoopB"},
        "example.v1.LoopB": {"$ref": "#/definitions/example.v1.LoopA"},
    },
}


@pytest.fixture()
def tiny() -> Schema:
    return Schema.from_openapi(TINY_OPENAPI)


def test_from_openapi_follows_refs_to_a_merge_list(tiny: Schema) -> None:
    items = field(tiny, "example.v1.Shop", "spec", "items")
    assert (items.strategy, items.merge_key) == ("merge", "sku")
    assert items.node is not None and items.node.name == "example.v1.Item"
    assert items.node.field("labels").strategy == "merge"


def test_from_openapi_follows_a_chain_of_refs(tiny: Schema) -> None:
    assert field(tiny, "example.v1.Shop", "alias", "items").merge_key == "sku"


def test_from_openapi_reads_additional_properties_as_a_map_of_values(tiny: Schema) -> None:
    aisle = field(tiny, "example.v1.Shop", "spec", "byAisle", "aisle-7")
    assert aisle.node is not None
    assert aisle.node.field("labels").strategy == "merge"


def test_from_openapi_reads_a_ref_wrapped_in_all_of(tiny: Schema) -> None:
    payment = field(tiny, "example.v1.Shop", "spec", "payment")
    assert payment.retain_keys
    assert payment.node is not None
    assert payment.node.field("cards").merge_key == "number"


def test_from_openapi_indexes_kinds(tiny: Schema) -> None:
    node = tiny.for_kind("example.com/v1", "Shop")
    assert node is not None and node.name == "example.v1.Shop"


def test_from_openapi_gives_no_node_for_a_dangling_ref(tiny: Schema) -> None:
    assert field(tiny, "example.v1.ShopSpec", "lost").node is None


def test_from_openapi_reports_a_ref_cycle(tiny: Schema) -> None:
    with pytest.raises(ValueError, match="cycle"):
        field(tiny, "example.v1.ShopSpec", "loop")


def test_from_openapi_refuses_a_document_without_definitions() -> None:
    with pytest.raises(ValueError, match="definitions"):
        Schema.from_openapi({"openapi": "3.0.0", "components": {}})


def test_a_hand_written_schema_drives_the_merge(tiny: Schema) -> None:
    node = tiny.for_kind("example.com/v1", "Shop")
    original = {"spec": {"items": [{"sku": "a1"}, {"sku": "b2"}], "payment": {"card": "visa"}}}
    modified = {"spec": {"items": [{"sku": "a1", "labels": ["new"]}], "payment": {"cash": {}}}}
    current = {"spec": {"items": [{"sku": "a1"}, {"sku": "b2"}, {"sku": "c3"}], "payment": {"card": "visa"}}}
    assert three_way_patch(original, modified, current, node) == {
        "spec": {
            "$setElementOrder/items": [{"sku": "a1"}],
            "items": [{"sku": "a1", "labels": ["new"]}, {"sku": "b2", "$patch": "delete"}],
            "payment": {"$retainKeys": ["cash"], "card": None, "cash": {}},
        }
    }
