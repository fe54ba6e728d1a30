"""Server-side apply decided without I/O (``engine.serverside``): which method, what is sent, what is taken
over before the apply, and when nothing needs sending. The same rules are proved against the real server in
tests/integration/test_server_side.py; these cases pin each rule down where it lives."""

from __future__ import annotations

import json

import pytest

from gitapply import bundled
from gitapply.engine.lastapplied import LAST_APPLIED
from gitapply.engine.objectplan import Bookkeeping
from gitapply.engine.serverside import (APPLIED_ANNOTATION, METHOD_ANNOTATION, TOO_LARGE, applied_record,
                                        defaults_in_the_way, holds, method_of, method_problem, ownership,
                                        plan_server_side, with_protocol_defaults)
from gitapply.model import Action, ApplyMethod, PatchType

MARKS = Bookkeeping(labels={"gitapply.io/app": "shop"}, annotations={"gitapply.io/commit": "c2"})
DEPLOYMENT_NODE = bundled.schema().for_kind("apps/v1", "Deployment")


def configmap(data: dict, annotations: dict | None = None) -> dict:
    metadata: dict = {"name": "settings", "namespace": "shop"}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def entry(manager: str, operation: str, fields: dict, api_version: str = "v1") -> dict:
    return {"manager": manager, "operation": operation, "apiVersion": api_version, "time": "2026-12-07T10:00:00Z",
            "fieldsType": "FieldsV1", "fieldsV1": fields}


def live(obj: dict, *entries: dict, **metadata) -> dict:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "7", "managedFields": list(entries),
                                **metadata}}


def test_the_objects_annotation_wins_over_the_apps_method():
    asked = configmap({}, {METHOD_ANNOTATION: "server-side"})
    assert method_of(asked, ApplyMethod.CLIENT_SIDE) == (ApplyMethod.SERVER_SIDE, f"{METHOD_ANNOTATION}: server-side")
    assert method_of(configmap({}), ApplyMethod.SERVER_SIDE) == (ApplyMethod.SERVER_SIDE, "")
    assert method_problem(configmap({}, {METHOD_ANNOTATION: "serverside"})) is not None


def test_ports_get_the_protocol_the_server_would_default_and_nothing_else_changes():
    service = {"kind": "Service", "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}}
    assert with_protocol_defaults(service)["spec"]["ports"] == [{"port": 80, "protocol": "TCP"},
                                                               {"port": 53, "protocol": "UDP"}]
    pod_template = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
        {"name": "web", "ports": [{"containerPort": 8080}]}]}}}}
    container = with_protocol_defaults(pod_template)["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    policy = {"kind": "NetworkPolicy", "spec": {"ingress": [{"ports": [{"port": 443}]}]}}
    assert with_protocol_defaults(policy)["spec"]["ingress"][0]["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_client_side_apply_entries_are_taken_over_and_strangers_are_not():
    record_owner = entry("kubectl-client-side-apply", "Update", {
        "f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:annotations": {f"f:{LAST_APPLIED}": {}}}})
    stranger = entry("kubectl-edit", "Update", {"f:data": {"f:c": {}}})
    rewritten = ownership(live(configmap({"a": "1", "b": "2", "c": "3"}), record_owner, stranger),
                          configmap({"a": "1"}), "gitapply")
    assert rewritten is not None
    mine = next(e for e in rewritten if e["manager"] == "gitapply")
    assert (mine["operation"], mine["fieldsV1"]) == ("Apply", record_owner["fieldsV1"])
    assert stranger in rewritten and record_owner not in rewritten


def test_an_update_entry_that_does_not_own_the_record_is_not_client_side_apply():
    labels_only = entry("gitapply", "Update", {"f:metadata": {"f:labels": {"f:team": {}}}})
    assert ownership(live(configmap({}), labels_only), configmap({}), "gitapply") is None


def test_entries_of_another_api_version_are_not_merged():
    old = entry("kubectl-client-side-apply", "Update",
                {"f:metadata": {"f:annotations": {f"f:{LAST_APPLIED}": {}}}}, api_version="v1beta1")
    assert ownership(live(configmap({}), old), configmap({}), "gitapply") is None


def test_adopted_appliers_are_merged_kubectl_by_default():
    by_kubectl = entry("kubectl", "Apply", {"f:data": {"f:a": {}}})
    by_flux = entry("kustomize-controller", "Apply", {"f:data": {"f:b": {}}})
    current = live(configmap({"a": "1", "b": "2"}), by_kubectl, by_flux)
    (mine,) = [e for e in ownership(current, configmap({}), "gitapply") or () if e["manager"] == "gitapply"]
    assert mine["fieldsV1"] == {"f:data": {"f:a": {}}}
    adopted = ownership(current, configmap({}), "gitapply", adopt=["kustomize-controller"]) or ()
    assert [e["manager"] for e in adopted] == ["gitapply"]
    assert adopted[0]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}


def test_a_field_handed_over_leaves_gitapplys_entry_so_the_apply_keeps_its_value():
    mine = entry("gitapply", "Apply", {"f:spec": {"f:replicas": {}, "f:paused": {}}}, "apps/v1")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {}}
    rewritten = ownership(live(deployment, mine), deployment, "gitapply", release=["/spec/replicas"])
    assert rewritten is not None and rewritten[0]["fieldsV1"] == {"f:spec": {"f:paused": {}}}


def test_the_record_of_a_server_side_applied_object_is_the_part_its_appliers_own():
    current = live(configmap({"a": "1", "b": "2"}), entry("gitapply", "Apply", {"f:data": {"f:a": {}}}),
                   entry("kubectl-edit", "Update", {"f:data": {"f:b": {}}}))
    assert applied_record(current, {"gitapply"}) == {
        "apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"},
        "metadata": {"name": "settings", "namespace": "shop"}}
    assert applied_record(current, {"helm"}) is None
    with_annotation = live(configmap({}, {LAST_APPLIED: "{}"}), entry("gitapply", "Apply", {"f:data": {}}))
    assert applied_record(with_annotation, {"gitapply"}) is None, "the annotation is the record where there is one"


def test_keyed_items_hold_wherever_they_are_and_zero_values_the_server_omits_hold():
    sent = {"spec": {"minReadySeconds": 0, "template": {"spec": {"containers": [
        {"name": "b", "image": "b:1"}, {"name": "a", "image": "a:1"}]}}}}
    have = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:1", "imagePullPolicy": "IfNotPresent"}, {"name": "b", "image": "b:1"},
        {"name": "injected", "image": "sidecar:1"}]}}}}
    assert holds(sent, have, DEPLOYMENT_NODE)
    changed = json.loads(json.dumps(sent).replace("a:1", "a:2"))
    assert not holds(changed, have, DEPLOYMENT_NODE)


def test_an_atomic_list_with_server_defaults_holds_only_while_git_is_unchanged():
    sent = {"spec": {"limits": [{"type": "Container", "default": {"cpu": "200m"}}]}}
    have = {"spec": {"limits": [{"type": "Container", "default": {"cpu": "200m"}, "defaultRequest": {"cpu": "200m"}}]}}
    assert not holds(sent, have, None)
    assert holds(sent, have, None, atomic_defaults=True)


def test_an_unchanged_object_needs_no_request_and_a_changed_one_is_an_apply():
    applied = plan_server_side(configmap({"a": "1"}), None, None, manager="gitapply", bookkeeping=MARKS)
    assert (applied.action, applied.patch_type) == (Action.CREATE, PatchType.APPLY)
    digest = applied.body["metadata"]["annotations"][APPLIED_ANNOTATION]
    stored = live(applied.body, entry("gitapply", "Apply", {
        "f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:gitapply.io/app": {}}, "f:annotations": {
            "f:gitapply.io/commit": {}, f"f:{APPLIED_ANNOTATION}": {}}}}))
    again = plan_server_side(configmap({"a": "1"}), stored, None, manager="gitapply",
                             bookkeeping=Bookkeeping(MARKS.labels, {"gitapply.io/commit": "c3"}))
    assert again.action is Action.UNCHANGED, "a new commit that left the object as it was is no change"
    assert again.body["metadata"]["annotations"] == {"gitapply.io/commit": "c2", APPLIED_ANNOTATION: digest}
    dropped = plan_server_side(configmap({}), stored, None, manager="gitapply", bookkeeping=MARKS)
    assert dropped.action is Action.PATCH and dropped.server_side.removes == {"f:data": {"f:a": {}}}
    assert "a" not in (dropped.predicted.get("data") or {})


def test_the_reason_for_server_side_is_kept_on_the_change():
    change = plan_server_side(configmap({"a": "1"}), None, None, manager="gitapply", bookkeeping=MARKS,
                              reason=TOO_LARGE)
    assert change.server_side.reason == TOO_LARGE


@pytest.mark.parametrize("case", ["recreate", "volume"])
def test_defaults_in_the_way_of_gits_object_are_removed_first(case):
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web"}]}}
    if case == "recreate":
        body = {"kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}, "template": template}}
        have = {"kind": "Deployment", "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {
            "maxSurge": "25%"}}, "template": template}}
        assert defaults_in_the_way(body, have) == {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}
    else:
        with_volume = {**template, "spec": {**template["spec"], "volumes": [{"name": "d", "configMap": {"name": "c"}}]}}
        had_volume = {**template, "spec": {**template["spec"], "volumes": [{"name": "d", "emptyDir": {}}]}}
        body = {"kind": "Deployment", "spec": {"template": with_volume}}
        have = {"kind": "Deployment", "spec": {"template": had_volume}}
        assert defaults_in_the_way(body, have) == {"spec": {"template": {"spec": {"volumes": [
            {"name": "d", "emptyDir": None, "configMap": {"name": "c"}}]}}}}
    assert defaults_in_the_way(body, body) is None


def test_gitapply_yaml_chooses_server_side_for_the_repository_and_the_command_line_wins(tmp_path):
    from gitapply.cluster.local import LocalCluster
    from gitapply.session import AppSession, AppSpec, Request

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\n")
    (tmp_path / "app" / ".gitapply.yaml").write_text("applyMethod: server-side\n")
    cluster = LocalCluster(tmp_path / "db")

    def method(asked: ApplyMethod | None) -> bool:
        spec = AppSpec(Request(path=str(tmp_path / "app"), app="a", method=asked))
        (change,) = AppSession(cluster, spec).read().plan.changes
        return change.server_side is not None

    assert method(None) and not method(ApplyMethod.CLIENT_SIDE)
    (tmp_path / "app" / ".gitapply.yaml").write_text("applyMethod: sideways\n")
    from gitapply.errors import SourceError
    with pytest.raises(SourceError, match="applyMethod must be server-side or client-side"):
        method(None)
