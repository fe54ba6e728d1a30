"""Deciding create / patch / unchanged for one object, as kubectl apply would."""

from __future__ import annotations

import copy

import pytest

from gitapply import bundled
from gitapply.engine.lastapplied import LAST_APPLIED, annotated
from gitapply.engine.objectplan import Bookkeeping, plan_object
from gitapply.errors import RecordError
from gitapply.merge import apply_patch
from gitapply.model import Action, PatchType

SCHEMA = bundled.schema()
CM_NODE = SCHEMA.for_kind("v1", "ConfigMap")


def configmap(data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"},
            "data": data}


def live_from(desired):
    obj = annotated(desired)
    obj["metadata"] = {**obj["metadata"], "uid": "1", "resourceVersion": "7"}
    return obj


def test_a_missing_object_is_created_with_its_annotation():
    plan = plan_object(configmap({"a": "1"}), None, CM_NODE)
    assert plan.action is Action.CREATE
    assert LAST_APPLIED in plan.body["metadata"]["annotations"]


def test_the_same_configuration_is_unchanged():
    desired = configmap({"a": "1"})
    assert plan_object(desired, live_from(desired), CM_NODE).action is Action.UNCHANGED


def test_a_removed_key_is_patched_away_and_the_annotation_updated():
    live = live_from(configmap({"a": "1", "b": "2"}))
    plan = plan_object(configmap({"a": "1"}), live, CM_NODE)
    assert plan.action is Action.PATCH and plan.patch_type is PatchType.STRATEGIC
    assert plan.body["data"] == {"b": None}
    assert plan.predicted["data"] == {"a": "1"}
    assert plan.predicted == apply_patch(live, plan.body, CM_NODE)


def test_a_field_with_replace_strategy_alone_does_not_make_a_change():
    node = SCHEMA.for_kind("policy/v1", "PodDisruptionBudget")
    desired = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "pdb", "namespace": "default"},
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    plan = plan_object(desired, live_from(desired), node)
    assert plan.action is Action.UNCHANGED


def test_kinds_without_patch_metadata_get_a_json_merge_patch():
    desired = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    live = live_from(desired)
    plan = plan_object({**desired, "spec": {"size": 2}}, live, None)
    assert plan.patch_type is PatchType.MERGE and plan.body["spec"] == {"size": 2}


@pytest.mark.parametrize("record", ["[1, 2]", '{"apiVersion": "v1", "kind": '])
def test_a_broken_annotation_is_an_error_naming_the_object_and_the_repair(record):
    live = live_from(configmap({"a": "1"}))
    live["metadata"]["annotations"] = {LAST_APPLIED: record}
    with pytest.raises(RecordError, match="^ConfigMap/default/cfg: its kubectl.kubernetes.io/last-applied") as err:
        plan_object(configmap({"a": "2"}), live, CM_NODE)
    assert "kubectl annotate configmap cfg -n default kubectl.kubernetes.io/last-applied-configuration-" in str(
        err.value)
    assert err.value.exit_code == 2


def test_bookkeeping_is_sent_but_kept_out_of_the_last_applied_record():
    marks = Bookkeeping(labels={"gitapply.io/app": "shop"}, annotations={"gitapply.io/commit": "abc"})
    created = plan_object(configmap({"a": "1"}), None, CM_NODE, bookkeeping=marks)
    assert created.body["metadata"]["labels"] == {"gitapply.io/app": "shop"}
    assert created.body["metadata"]["annotations"]["gitapply.io/commit"] == "abc"
    assert "gitapply.io" not in created.body["metadata"]["annotations"][LAST_APPLIED]
    changed = plan_object(configmap({"a": "2"}), live_from(configmap({"a": "1"})), CM_NODE, bookkeeping=marks)
    assert changed.body["metadata"]["labels"] == {"gitapply.io/app": "shop"}
    assert changed.body["metadata"]["annotations"]["gitapply.io/commit"] == "abc"


def test_an_object_git_did_not_change_keeps_its_commit_and_only_gains_the_app_label():
    marks = Bookkeeping(labels={"gitapply.io/app": "shop"}, annotations={"gitapply.io/commit": "new"})
    live = live_from(configmap({"a": "1"}))
    adopted = plan_object(configmap({"a": "1"}), live, CM_NODE, bookkeeping=marks)
    assert adopted.action is Action.PATCH
    assert adopted.body == {"metadata": {"labels": {"gitapply.io/app": "shop"}}}
    settled = plan_object(configmap({"a": "1"}), adopted.predicted, CM_NODE, bookkeeping=marks)
    assert settled.action is Action.UNCHANGED


LIMITRANGE_NODE = SCHEMA.for_kind("v1", "LimitRange")


def limitrange(limit):
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr", "namespace": "default"},
            "spec": {"limits": [limit]}}


def test_defaults_the_server_adds_inside_a_list_replaced_whole_are_not_a_change():
    desired = limitrange({"type": "Container", "default": {"cpu": "200m"}})
    live = live_from(desired)
    live["spec"] = {"limits": [{"type": "Container", "default": {"cpu": "200m"}, "defaultRequest": {"cpu": "200m"}}]}
    assert plan_object(desired, live, LIMITRANGE_NODE).action is Action.UNCHANGED


def test_a_field_removed_from_git_inside_a_list_replaced_whole_is_a_change():
    before = limitrange({"type": "Container", "default": {"cpu": "200m"}, "defaultRequest": {"cpu": "100m"}})
    live = live_from(before)
    after = limitrange({"type": "Container", "default": {"cpu": "200m"}})
    plan = plan_object(after, live, LIMITRANGE_NODE)
    assert plan.action is Action.PATCH
    assert "defaultRequest" not in plan.predicted["spec"]["limits"][0]


def test_a_null_creation_timestamp_from_a_generated_manifest_is_not_a_change():
    desired = configmap({"a": "1"})
    desired["metadata"]["creationTimestamp"] = None
    live = live_from(desired)
    live["metadata"]["creationTimestamp"] = "2026-11-23T10:00:00Z"
    plan = plan_object(desired, live, CM_NODE)
    assert plan.action is Action.UNCHANGED, "kubectl sends creationTimestamp: null each time; the server ignores it"


# --- what the server stores differently from what it was sent -------------------------------------------------

DEPLOY_NODE = SCHEMA.for_kind("apps/v1", "Deployment")


def stored(desired):
    """A live object sharing nothing with ``desired``, so that the tests can change it."""
    return copy.deepcopy(live_from(desired))
NETPOL_NODE = SCHEMA.for_kind("networking.k8s.io/v1", "NetworkPolicy")


def deployment(resources, **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx", "resources": resources}]}}}}


def test_quantities_the_server_stored_canonically_are_unchanged():
    desired = deployment({"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "2000m"}})
    live = stored(desired)
    live["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2"}}
    assert plan_object(desired, live, DEPLOY_NODE).action is Action.UNCHANGED


def test_a_quantity_that_really_changed_is_patched_in_canonical_form():
    desired = deployment({"requests": {"cpu": "0.75"}})
    live = stored(deployment({"requests": {"cpu": "0.5"}}))
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "500m"
    change = plan_object(desired, live, DEPLOY_NODE)
    assert change.action is Action.PATCH
    container = change.body["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "750m"}}


def test_a_zero_value_the_server_omitted_is_unchanged_whichever_path_the_plan_takes():
    desired = deployment({}, minReadySeconds=0)
    live = stored(desired)
    del live["spec"]["minReadySeconds"]
    assert plan_object(desired, live, DEPLOY_NODE).action is Action.UNCHANGED
    changed_elsewhere = {**desired, "metadata": {**desired["metadata"], "labels": {"tier": "web"}}}
    change = plan_object(changed_elsewhere, live, DEPLOY_NODE)
    assert change.action is Action.PATCH and "minReadySeconds" not in change.body.get("spec", {})


def test_defaults_inside_nested_lists_replaced_whole_are_unchanged():
    desired = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "web", "namespace": "default"},
               "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}, {"port": 443}]}]}}
    live = stored(desired)
    live["spec"]["ingress"][0]["ports"] = [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
    live["spec"]["policyTypes"] = ["Ingress"]
    assert plan_object(desired, live, NETPOL_NODE).action is Action.UNCHANGED


def test_git_dropping_its_last_label_keeps_gitapplys_own():
    marks = Bookkeeping(labels={"gitapply.io/app": "shop"})
    labelled = {**configmap({"a": "1"}), "metadata": {"name": "cfg", "namespace": "default", "labels": {"tier": "x"}}}
    live = stored(labelled)
    live["metadata"]["labels"] = {"tier": "x", "gitapply.io/app": "shop"}
    change = plan_object(configmap({"a": "1"}), live, CM_NODE, bookkeeping=marks)
    assert change.action is Action.PATCH
    assert change.predicted["metadata"]["labels"] == {"gitapply.io/app": "shop"}
    after = apply_patch(live, change.body, CM_NODE)
    assert after["metadata"]["labels"] == {"gitapply.io/app": "shop"}
    assert plan_object(configmap({"a": "1"}), after, CM_NODE, bookkeeping=marks).action is Action.UNCHANGED
