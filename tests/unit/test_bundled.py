"""The data that ships inside the packages, read by gitapply.bundled alone: kubernetes-validate's definitions
(one flavour serves validation and patch metadata) and gitapply's field rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitapply import bundled
from gitapply.engine.rules import FieldManagers, Handoff, parse_builtin_rules


def test_the_newest_version_is_the_default() -> None:
    assert bundled.nearest_version(None) == bundled.versions()[-1]


def test_an_older_version_gets_the_oldest_bundled_and_its_schema_is_shared() -> None:
    oldest = bundled.versions()[0]
    assert oldest > (1, 20), "kubernetes-validate bundles 1.20 itself; pick an older version for this test"
    assert bundled.nearest_version("1.20") == oldest
    assert bundled.schema("1.20") is bundled.schema(f"{oldest[0]}.{oldest[1]}")
    assert bundled.schema("1.20").for_kind("apps/v1", "Deployment") is not None


@pytest.mark.parametrize("text", ["v{major}.{minor}.2", "{major}.{minor}", "{major}.{minor}.0-gke.1"])
def test_patch_and_build_versions_pick_their_minor(text: str) -> None:
    major, minor = bundled.versions()[-1]
    assert bundled.nearest_version(text.format(major=major, minor=minor)) == (major, minor)


def test_text_that_is_no_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes version"):
        bundled.nearest_version("latest")


def test_the_schema_reads_the_same_definitions_validation_does() -> None:
    newest = bundled.versions()[-1]
    node = bundled.schema().for_kind("apps/v1", "Deployment")
    assert node is not None and node.name in bundled.definitions(newest)
    assert bundled.definitions(newest) is bundled.definitions(newest)


def _without_closed_objects(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_closed_objects(v) for k, v in value.items() if (k, v) != ("additionalProperties", False)}
    if isinstance(value, list):
        return [_without_closed_objects(item) for item in value]
    return value


def test_the_strict_flavour_differs_from_the_lax_one_only_in_closed_objects() -> None:
    """Why one file serves both readers: the patch metadata ignores ``additionalProperties: false``."""
    newest = bundled.versions()[-1]
    lax = bundled.definitions_file(newest).parent.with_name(f"v{newest[0]}.{newest[1]}.0-local") / "_definitions.json"
    assert _without_closed_objects(json.loads(lax.read_bytes())["$defs"]) == \
        _without_closed_objects(dict(bundled.definitions(newest)))


def test_the_shipped_rules_hand_replicas_to_an_hpa_and_name_the_managers() -> None:
    rules = bundled.rules()
    assert rules is bundled.rules()
    assert Handoff("autoscaling", "HorizontalPodAutoscaler", "/spec/scaleTargetRef", ("/spec/replicas",)) \
        in rules.handoffs
    assert ("apps", "Deployment", "/spec/replicas") in rules.keep_when_removed
    assert {"gitapply", "kubectl"} <= rules.managers.lineage and "kube-controller-manager" in rules.managers.system


def test_rules_are_parsed_from_a_document_without_reading_a_file() -> None:
    parsed = parse_builtin_rules({"keepLiveWhenRemoved": [{"kinds": ["ReplicationController"],
                                                           "jsonPointers": ["/spec/replicas"]}],
                                  "fieldManagers": {"applyLineage": ["argocd"]}})
    assert parsed.handoffs == ()
    assert parsed.keep_when_removed == (("", "ReplicationController", "/spec/replicas"),)
    assert parsed.managers == FieldManagers(frozenset({"argocd"}), frozenset())
    assert FieldManagers() == FieldManagers(frozenset(), frozenset()), "the engine's default knows no manager"
