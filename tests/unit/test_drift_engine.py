"""Drift classification and field rules, without a cluster."""

from __future__ import annotations

import copy

import pytest

from gitapply import bundled
from gitapply.engine.drift import FieldState, ObjectState, classify, classify_fields
from gitapply.engine.heal import heal_patch
from gitapply.engine.lastapplied import annotated
from gitapply.engine.rules import RulesError, parse_ignore_rules, resolve
from gitapply.merge import apply_patch
from gitapply.model import Manifest, ObjectKey, Origin

NODE = bundled.schema().for_kind("apps/v1", "Deployment")


def web(image="nginx:1.19", replicas=2, env=None):
    container = {"name": "web", "image": image}
    if env is not None:
        container["env"] = env
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "annotations": {"organization": "sales"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}}


def applied(obj):
    """The live object right after an apply: annotated, with defaults and status the server adds."""
    live = annotated(obj)
    live = copy.deepcopy(live)
    live["metadata"].update(uid="1", resourceVersion="9", generation=1)
    live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
    live["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
    live["status"] = {"replicas": 2}
    return live


def states(fields):
    return [(f.path, f.state) for f in fields]


def test_server_defaults_and_status_are_not_differences():
    assert classify_fields(web(), applied(web()), NODE) == ()


def test_git_ahead_of_the_last_apply_is_pending():
    found = classify_fields(web(image="nginx:1.20"), applied(web()), NODE)
    assert states(found) == [("spec.template.spec.containers[name=web].image", FieldState.PENDING)]
    assert (found[0].git, found[0].last_applied, found[0].live) == ("nginx:1.20", "nginx:1.19", "nginx:1.19")


def test_a_live_change_to_a_managed_field_is_drift():
    live = applied(web())
    live["spec"]["replicas"] = 5
    assert states(classify_fields(web(), live, NODE)) == [("spec.replicas", FieldState.DRIFT)]


def test_a_field_changed_in_git_and_in_the_cluster_is_both_pending_and_drift():
    live = applied(web())
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:1"
    found = states(classify_fields(web(image="nginx:1.20"), live, NODE))
    path = "spec.template.spec.containers[name=web].image"
    assert found == [(path, FieldState.DRIFT), (path, FieldState.PENDING)]


def test_an_added_env_var_is_unmanaged_and_heal_deletes_the_item():
    desired = web(env=[{"name": "A", "value": "1"}])
    live = applied(desired)
    live["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "EVIL", "value": "x"})
    found = classify_fields(desired, live, NODE)
    assert states(found) == [("spec.template.spec.containers[name=web].env[name=EVIL]", FieldState.UNMANAGED)]
    healed = apply_patch(live, heal_patch(found, live, [desired], NODE), NODE)
    assert healed["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


def test_a_field_owned_by_an_hpa_is_ignored_with_its_owner():
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web-hpa", "namespace": "shop"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}
    rules = resolve([], [hpa], builtin=bundled.rules())
    live = applied(web())
    live["spec"]["replicas"] = 9
    key = ObjectKey("apps", "v1", "Deployment", "shop", "web")
    (field,) = classify_fields(web(), live, NODE, rules.left_alone(key))
    assert field.state is FieldState.IGNORED and "HorizontalPodAutoscaler/shop/web-hpa" in field.reason


def test_objects_missing_or_deleted_are_told_apart_by_the_inventory():
    gone = Manifest(web(), Origin("web.yaml", 0, 1))
    other = Manifest({**web(), "metadata": {**web()["metadata"], "name": "api"}}, Origin("api.yaml", 0, 1))
    report = classify([gone, other], {}, lambda api, kind: NODE, resolve([], [], builtin=bundled.rules()), app="shop", revision=None,
                      inventory=[gone.key])
    assert [item.state for item in report.objects] == [ObjectState.DELETED, ObjectState.MISSING]
    assert report.has_drift and report.has_pending


def test_ignore_rules_are_parsed_and_malformed_ones_say_where():
    (rule,) = parse_ignore_rules({"ignore": [{"kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]})
    assert rule.matches(ObjectKey("apps", "v1", "Deployment", "shop", "web"))
    assert not rule.matches(ObjectKey("", "v1", "Service", "shop", "web"))
    with pytest.raises(RulesError, match=r"ignore\[0\]"):
        parse_ignore_rules({"ignore": [{"kind": "Deployment", "jsonPointers": ["spec/replicas"]}]})
    with pytest.raises(RulesError, match="jsonPointers"):
        parse_ignore_rules({"ignore": [{"kind": "Deployment"}]})


def test_a_defaulted_field_inside_a_keyed_item_is_not_drift():
    desired = web()
    desired["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    live = applied(desired)
    live["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
    assert classify_fields(desired, live, NODE) == ()


def test_a_field_removed_from_git_inside_a_list_replaced_whole_is_pending():
    desired = web()
    desired["spec"]["template"]["spec"]["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    live = applied(desired)
    git = copy.deepcopy(desired)
    git["spec"]["template"]["spec"]["tolerations"] = [{"key": "gpu"}]
    assert states(classify_fields(git, live, NODE)) == [("spec.template.spec.tolerations", FieldState.PENDING)]
