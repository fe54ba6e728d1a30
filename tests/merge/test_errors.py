"""Errors of the merge engine are typed, and name the place in the object where they arose."""

from __future__ import annotations

from typing import Any

import pytest

from gitapply import bundled
from gitapply.merge import (
    BadPatchError,
    ConflictError,
    MergeError,
    MissingMergeKeyError,
    PreconditionError,
    apply_patch,
    three_way_patch,
    two_way_patch,
)

SCHEMA = bundled.schema()
DEPLOYMENT = SCHEMA.for_kind("apps/v1", "Deployment")
POD = SCHEMA.for_kind("v1", "Pod")


def deployment(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


@pytest.mark.parametrize(
    "error", [BadPatchError, ConflictError, MissingMergeKeyError, PreconditionError], ids=lambda error: error.__name__
)
def test_every_error_is_a_merge_error_and_a_value_error(error: type) -> None:
    assert issubclass(error, MergeError) and issubclass(error, ValueError)


def test_a_container_without_its_merge_key_is_named_by_its_index() -> None:
    modified = deployment({"name": "web", "image": "nginx:1.27"}, {"image": "envoy:1.30"})
    with pytest.raises(MissingMergeKeyError) as caught:
        three_way_patch(deployment({"name": "web"}), modified, deployment({"name": "web"}), DEPLOYMENT)
    assert caught.value.where == "spec.template.spec.containers[1]"
    assert str(caught.value).startswith("spec.template.spec.containers[1]: ")
    assert "'name'" in caught.value.message


def test_a_live_env_var_without_its_merge_key_is_named_inside_its_container() -> None:
    current = deployment({"name": "web", "env": [{"name": "A", "value": "1"}, {"value": "orphan"}]})
    modified = deployment({"name": "web", "env": [{"name": "A", "value": "2"}]})
    with pytest.raises(MissingMergeKeyError) as caught:
        three_way_patch(None, modified, current, DEPLOYMENT)
    assert caught.value.where == "spec.template.spec.containers[name=web].env[1]"


def test_two_way_patch_names_the_item_without_its_merge_key() -> None:
    with pytest.raises(MissingMergeKeyError) as caught:
        two_way_patch(deployment({"name": "web"}), deployment({"image": "nginx"}), DEPLOYMENT)
    assert caught.value.where == "spec.template.spec.containers[0]"


def test_a_patch_item_without_its_merge_key_is_refused_at_its_list() -> None:
    with pytest.raises(MissingMergeKeyError) as caught:
        apply_patch(deployment({"name": "web"}), deployment({"image": "nginx"}), DEPLOYMENT)
    assert caught.value.where == "spec.template.spec.containers"


def test_a_delete_directive_without_its_merge_key_is_refused() -> None:
    with pytest.raises(MissingMergeKeyError) as caught:
        apply_patch(deployment({"name": "web"}), deployment({"$patch": "delete"}), DEPLOYMENT)
    assert caught.value.where == "spec.template.spec.containers"


def test_an_unknown_directive_is_refused_with_its_path() -> None:
    patch = {"spec": {"template": {"spec": {"securityContext": {"$patch": "remove"}}}}}
    current = {"spec": {"template": {"spec": {"securityContext": {"runAsUser": 1000}}}}}
    with pytest.raises(BadPatchError) as caught:
        apply_patch(current, patch, DEPLOYMENT)
    assert caught.value.where == "spec.template.spec.securityContext"
    assert "'$patch: remove'" in caught.value.message


def test_an_unknown_directive_in_a_nested_list_item_names_the_item() -> None:
    current = deployment({"name": "web", "env": [{"name": "A", "value": "1"}]})
    patch = deployment({"name": "web", "env": [{"name": "A", "$patch": "drop"}]})
    with pytest.raises(BadPatchError) as caught:
        apply_patch(current, patch, DEPLOYMENT)
    assert caught.value.where == "spec.template.spec.containers[name=web].env"


@pytest.mark.parametrize(
    ("patch", "where", "message"),
    [
        ({"metadata": {"$setElementOrder/finalizers": "a"}}, "metadata.finalizers", "must be a list"),
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, "spec.strategy", "must be a list"),
        (
            {"spec": {"template": {"metadata": {"finalizers": [["a"]]}}}},
            "spec.template.metadata.finalizers",
            "lists of lists",
        ),
        ({"metadata": {"finalizers": [1]}}, "metadata.finalizers", "different types"),
    ],
    ids=["order list not a list", "retainKeys not a list", "list of lists", "mixed item types"],
)
def test_a_malformed_patch_is_refused_with_its_path(patch: dict, where: str, message: str) -> None:
    current = {"metadata": {"finalizers": ["example.com/a"]}, "spec": {"strategy": {"type": "Recreate"}}}
    with pytest.raises(BadPatchError) as caught:
        apply_patch(current, patch, DEPLOYMENT)
    assert caught.value.where == where
    assert message in caught.value.message


def test_a_conflict_names_every_conflicting_path() -> None:
    original = {"metadata": {"labels": {"tier": "frontend"}}, "spec": {"replicas": 3}}
    modified = {"metadata": {"labels": {"tier": "web"}}, "spec": {"replicas": 4}}
    current = {"metadata": {"labels": {"tier": "backend"}}, "spec": {"replicas": 5}}
    with pytest.raises(ConflictError) as caught:
        three_way_patch(original, modified, current, DEPLOYMENT, overwrite=False)
    assert sorted(caught.value.paths) == ["metadata.labels.tier", "spec.replicas"]
    assert "overwrite" in caught.value.message


@pytest.mark.parametrize(
    ("modified", "where"),
    [
        ({"apiVersion": "shop.example.com/v2", "kind": "Database", "metadata": {"name": "orders"}}, "apiVersion"),
        ({"apiVersion": "shop.example.com/v1", "kind": "Cache", "metadata": {"name": "orders"}}, "kind"),
        ({"apiVersion": "shop.example.com/v1", "kind": "Database", "metadata": {"name": "carts"}}, "metadata.name"),
    ],
    ids=["apiVersion", "kind", "name"],
)
def test_a_json_merge_patch_may_not_change_the_objects_identity(modified: dict, where: str) -> None:
    original = {"apiVersion": "shop.example.com/v1", "kind": "Database", "metadata": {"name": "orders"}}
    with pytest.raises(PreconditionError) as two_way:
        two_way_patch(original, modified, None)
    with pytest.raises(PreconditionError) as three_way:
        three_way_patch(original, modified, original, None)
    assert two_way.value.where == three_way.value.where == where


def test_json_merge_patch_with_overwrite_false_refuses_a_change_the_live_object_made() -> None:
    """An extension: kubectl ignores --overwrite=false for JSON merge patches (see docs/merge.md)."""
    original = {"spec": {"size": "10Gi"}}
    modified = {"spec": {"size": "20Gi"}}
    current = {"spec": {"size": "15Gi"}}
    assert three_way_patch(original, modified, current, None) == {"spec": {"size": "20Gi"}}
    with pytest.raises(ConflictError) as caught:
        three_way_patch(original, modified, current, None, overwrite=False)
    assert caught.value.paths == ["spec.size"]


def test_the_path_of_an_error_at_the_root_reads_root() -> None:
    with pytest.raises(BadPatchError) as caught:
        apply_patch({"spec": {}}, {"$patch": "merge"}, POD)
    assert caught.value.where == "<root>"
    assert str(caught.value).startswith("<root>: ")
