"""Server-side apply in the embedded local cluster, without a real one: the rules ``engine.serverapply`` states,
each proved on ``LocalCluster.apply`` (``tests/integration/test_local_ssa_parity.py`` proves them against the
v1.20.2 API server)."""

from __future__ import annotations

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.engine.fieldtypes import fields_v1, path_text, paths_of
from gitapply.errors import FieldConflictError, InvalidObjectError, NotFoundError
from gitapply.model import ObjectKey, PatchType

WEB = ObjectKey("apps", "v1", "Deployment", "default", "web")
SETTINGS = ObjectKey("", "v1", "ConfigMap", "default", "settings")
GROUP = "example.com"
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": f"gadgets.{GROUP}"},
       "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": {
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "items": {"type": "array", "x-kubernetes-list-type": "map",
                                  "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "properties": {
                                      "name": {"type": "string"}, "value": {"type": "string"}}}},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}}}]}}


def deployment(*containers, **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {**spec, "selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}}, "spec": {"containers": list(containers)}}}}


def containers_only(*containers):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"template": {"spec": {"containers": list(containers)}}}}


def configmap(data=None, labels=None):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}}
    if labels is not None:
        obj["metadata"]["labels"] = labels
    if data is not None:
        obj["data"] = data
    return obj


def gadget(**spec):
    return {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": "thing", "namespace": "default"},
            "spec": spec}


WEB_1, SIDE = {"name": "web", "image": "nginx:1"}, {"name": "side", "image": "busybox:1"}


@pytest.fixture
def db(tmp_path):
    return tmp_path / "cluster.db"


def as_(db, manager):
    return LocalCluster(db, field_manager=manager)


def entries(obj):
    """``managedFields`` as {(manager, operation): set of field paths as the server writes them}."""
    return {(e["manager"], e["operation"]): {path_text(p) for p in paths_of(e["fieldsV1"])}
            for e in obj["metadata"].get("managedFields", ())}


def names(obj):
    return [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]]


# -- rule 1: the applied fields become the applier's Apply entry -------------------------------------------

def test_the_appliers_entry_is_exactly_the_applied_fields_without_the_objects_identity(db):
    body = deployment(WEB_1)
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    stored = as_(db, "alice").apply(body)
    assert entries(stored) == {("alice", "Apply"): {
        ".spec.selector", ".spec.template.metadata.labels.app", '.spec.template.spec.containers[name="web"]',
        '.spec.template.spec.containers[name="web"].image', '.spec.template.spec.containers[name="web"].name',
        '.spec.template.spec.volumes[name="scratch"]', '.spec.template.spec.volumes[name="scratch"].name'}}, \
        "the selector is atomic; an empty emptyDir owns nothing; name and namespace are nobody's"
    entry = stored["metadata"]["managedFields"][0]
    assert (entry["operation"], entry["apiVersion"], entry["fieldsType"]) == ("Apply", "apps/v1", "FieldsV1")


def test_a_new_apply_replaces_the_appliers_previous_entry(db):
    as_(db, "alice").apply(configmap({"a": "1", "b": "2"}))
    stored = as_(db, "alice").apply(configmap({"a": "1"}))
    assert entries(stored) == {("alice", "Apply"): {".data.a"}}


def test_the_same_managers_update_entry_is_another_manager(db):
    as_(db, "alice").apply(configmap({"a": "1"}))
    as_(db, "alice").patch(SETTINGS, {"data": {"b": "1"}}, PatchType.STRATEGIC)
    with pytest.raises(FieldConflictError) as caught:
        as_(db, "alice").apply(configmap({"a": "1", "b": "2"}))
    assert caught.value.conflicts == (("alice", ".data.b"),)


# -- rule 2: the merge --------------------------------------------------------------------------------------

def test_keyed_items_keep_their_live_order_and_new_ones_follow(db):
    as_(db, "alice").apply(deployment(WEB_1, SIDE))
    stored = as_(db, "bob").apply(containers_only({"name": "x", "image": "x:1"}, WEB_1))
    assert names(stored) == ["web", "side", "x"]
    version = stored["metadata"]["resourceVersion"]
    reordered = as_(db, "alice").apply(deployment(SIDE, WEB_1))
    assert names(reordered) == ["web", "side", "x"] and reordered["metadata"]["resourceVersion"] == version


def test_atomic_lists_are_replaced_whole_and_owned_as_one(db):
    as_(db, "alice").apply(deployment({**WEB_1, "args": ["--a", "--b"]}))
    stored = as_(db, "alice").apply(deployment({**WEB_1, "args": ["--c"]}))
    assert stored["spec"]["template"]["spec"]["containers"][0]["args"] == ["--c"]
    assert '.spec.template.spec.containers[name="web"].args' in entries(stored)[("alice", "Apply")]


def test_a_custom_resource_merges_by_its_crd_schema(db):
    as_(db, "setup").create(CRD)
    alice = dict(items=[{"name": "a", "value": "1"}], tags=["t1", "t2"], free={"m": {"k": "v"}})
    as_(db, "alice").apply(gadget(**alice))
    stored = as_(db, "bob").apply(gadget(items=[{"name": "b", "value": "2"}]))
    assert [i["name"] for i in stored["spec"]["items"]] == ["a", "b"], "a keyed list merges"
    stored = as_(db, "alice").apply(gadget(**{**alice, "tags": ["t3"]}))
    assert stored["spec"]["tags"] == ["t3"], "a list without a list type is atomic"
    assert entries(stored)[("alice", "Apply")] == {'.spec.items[name="a"]', '.spec.items[name="a"].name',
                                                    '.spec.items[name="a"].value', ".spec.tags", ".spec.free.m"}, \
        "an unknown field kept by x-kubernetes-preserve-unknown-fields is owned whole"


# -- rule 3: removal ----------------------------------------------------------------------------------------

def test_a_dropped_field_goes_unless_another_manager_owns_it(db):
    as_(db, "alice").apply(configmap({"a": "1", "b": "2", "c": "3"}))
    as_(db, "bob").apply(configmap({"b": "2"}))
    as_(db, "carol").patch(SETTINGS, {"data": {"c": "4"}}, PatchType.STRATEGIC)
    stored = as_(db, "alice").apply(configmap({}))
    assert stored["data"] == {"b": "2", "c": "4"}, "a: alice's alone; b: bob's too; c: carol took it"
    assert entries(stored) == {("bob", "Apply"): {".data.b"}, ("carol", "Update"): {".data.c"}}


def test_a_dropped_item_goes_whole_with_fields_an_updater_set_in_it(db):
    as_(db, "alice").apply(deployment(WEB_1, SIDE))
    as_(db, "carol").patch(WEB, {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "busybox:2"}]}}}}, PatchType.STRATEGIC)
    stored = as_(db, "alice").apply(deployment(WEB_1))
    assert names(stored) == ["web"]
    assert ("carol", "Update") not in entries(stored)


def test_a_map_emptied_by_removal_is_omitted_on_a_built_in_kind(db):
    as_(db, "alice").apply(configmap({"a": "1"}, labels={"team": "x"}))
    stored = as_(db, "alice").apply(configmap())
    assert "data" not in stored and "labels" not in stored["metadata"]
    assert "managedFields" not in stored["metadata"]


def test_a_map_emptied_by_removal_is_null_and_refused_on_a_custom_resource(db):
    as_(db, "setup").create(CRD)
    as_(db, "alice").apply(gadget(labels={"x": "1"}, tags=["t"]))
    with pytest.raises(InvalidObjectError, match=r"\(fields: spec.labels\).*must be of type object"):
        as_(db, "alice").apply(gadget(tags=["t"]))


# -- rule 4: conflicts ----------------------------------------------------------------------------------------

def test_another_managers_field_with_another_value_is_a_conflict_naming_it(db):
    as_(db, "alice").apply(deployment(WEB_1))
    as_(db, "bob").apply(containers_only(WEB_1))
    before = as_(db, "alice").get(WEB)
    with pytest.raises(FieldConflictError) as caught:
        as_(db, "alice").apply(deployment({"name": "web", "image": "nginx:2"}))
    field = '.spec.template.spec.containers[name="web"].image'
    assert caught.value.conflicts == (("bob", field),)
    assert str(caught.value) == f"apps/Deployment/default/web: fields owned by other managers: {field} (held by bob)"
    assert as_(db, "alice").get(WEB) == before


def test_the_same_value_is_shared_without_conflict(db):
    as_(db, "alice").apply(configmap({"a": "1"}))
    stored = as_(db, "bob").apply(configmap({"a": "1"}))
    assert entries(stored) == {("alice", "Apply"): {".data.a"}, ("bob", "Apply"): {".data.a"}}


def test_force_takes_the_field_from_every_other_owner(db):
    as_(db, "alice").apply(configmap({"a": "1", "b": "1"}))
    as_(db, "carol").patch(SETTINGS, {"data": {"a": "2"}}, PatchType.STRATEGIC)
    stored = as_(db, "bob").apply(configmap({"a": "3", "b": "3"}), force=True)
    assert stored["data"] == {"a": "3", "b": "3"}
    assert entries(stored) == {("bob", "Apply"): {".data.a", ".data.b"}}


# -- rule 5: creation and what every write does ----------------------------------------------------------------

def test_an_apply_creates_with_identity_in_an_existing_namespace_only(db):
    stored = as_(db, "alice").apply(deployment(WEB_1))
    metadata = stored["metadata"]
    assert metadata["uid"] and metadata["creationTimestamp"] and metadata["generation"] == 1
    assert metadata["resourceVersion"]
    with pytest.raises(NotFoundError, match='namespaces "shop" not found'):
        as_(db, "alice").apply({**configmap(), "metadata": {"name": "settings", "namespace": "shop"}})


def test_a_dry_run_apply_stores_nothing(db):
    answer = as_(db, "alice").apply(configmap({"a": "1"}), dry_run=True)
    assert answer["data"] == {"a": "1"} and as_(db, "alice").get(SETTINGS) is None


def test_generation_follows_the_spec_and_immutable_fields_are_refused(db):
    as_(db, "alice").apply(deployment(WEB_1))
    assert as_(db, "alice").apply(deployment({"name": "web", "image": "nginx:2"}))["metadata"]["generation"] == 2
    labelled = {**deployment({"name": "web", "image": "nginx:2"})}
    labelled["metadata"] = {**labelled["metadata"], "labels": {"team": "x"}}
    assert as_(db, "alice").apply(labelled)["metadata"]["generation"] == 2
    changed = deployment({"name": "web", "image": "nginx:2"})
    changed["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(InvalidObjectError, match="immutable"):
        as_(db, "alice").apply(changed)


def test_quantities_and_secret_string_data_are_stored_as_the_server_stores_them(db):
    stored = as_(db, "alice").apply(deployment({**WEB_1, "resources": {"limits": {"cpu": "0.5"}}}))
    assert stored["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "500m"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"},
              "stringData": {"password": "x"}}
    stored = as_(db, "alice").apply(secret)
    assert stored["data"] == {"password": "eA=="} and "stringData" not in stored
    assert entries(stored) == {("alice", "Apply"): {".stringData.password"}}


def test_managed_fields_in_the_applied_body_are_refused(db):
    body = configmap({"a": "1"})
    body["metadata"]["managedFields"] = []
    with pytest.raises(InvalidObjectError, match="managedFields must be nil"):
        as_(db, "alice").apply(body)


def test_ports_are_keyed_by_port_and_the_protocol_the_server_defaults(db):
    stored = as_(db, "alice").apply(deployment({**WEB_1, "ports": [{"containerPort": 80}]}))
    assert '.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]' in \
        entries(stored)[("alice", "Apply")]


# -- rule 6: a no-op stores nothing -----------------------------------------------------------------------------

def test_an_apply_that_changes_nothing_keeps_the_resource_version(db):
    first = as_(db, "alice").apply(configmap({"a": "1"}))
    again = as_(db, "alice").apply(configmap({"a": "1"}))
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert as_(db, "alice").get(SETTINGS) == first


def test_an_apply_repeated_after_another_managers_update_stores_nothing(db):
    as_(db, "alice").apply(configmap({"a": "1"}))
    updated = as_(db, "carol").patch(SETTINGS, {"data": {"b": "1"}}, PatchType.STRATEGIC)
    again = as_(db, "alice").apply(configmap({"a": "1"}))
    assert again["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]


def test_an_apply_that_changes_only_the_record_stores_a_new_version(db):
    first = as_(db, "alice").apply(configmap({"a": "1"}))
    shared = as_(db, "bob").apply(configmap({"a": "1"}))
    assert shared["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    assert shared["data"] == first["data"]


# -- rule 7: an Update after an Apply ---------------------------------------------------------------------------

def test_an_update_takes_what_it_changed_from_the_apply_entry_and_nothing_else(db):
    as_(db, "alice").apply(deployment({**WEB_1, "ports": [{"containerPort": 80}]}))
    stored = as_(db, "carol").patch(WEB, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:2"}]}}}}, PatchType.STRATEGIC)
    alice = entries(stored)[("alice", "Apply")]
    assert '.spec.template.spec.containers[name="web"].image' not in alice
    assert '.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]' in alice, \
        "the port's item is named alike by the Apply and the Update records"
    assert entries(stored)[("carol", "Update")] == {'.spec.template.spec.containers[name="web"].image'}


# -- the field paths -------------------------------------------------------------------------------------------

def test_fields_v1_and_paths_convert_both_ways():
    tree = {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}},
                       "f:finalizers": {'v:"a"': {}}, "f:selector": {}}}
    paths = paths_of(tree)
    assert fields_v1(paths) == tree
    assert sorted(path_text(p) for p in paths) == [
        '.spec.finalizers[="a"]', '.spec.ports[port=80,protocol="TCP"]', '.spec.ports[port=80,protocol="TCP"].port',
        ".spec.selector"]


# -- what the server's validation then refuses, and fields owned though never stored ------------------------------

def test_a_volume_switched_to_another_source_keeps_the_old_one_and_is_refused(db):
    body = deployment(WEB_1)
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    as_(db, "alice").apply(body)
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "scratch", "configMap": {"name": "settings"}}]
    with pytest.raises(InvalidObjectError, match=r"volumes\[0\]\.configMap: Forbidden: may not specify more than 1"):
        as_(db, "alice").apply(body)


def test_a_field_owned_but_never_stored_still_conflicts(db):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"}}
    as_(db, "alice").apply({**secret, "stringData": {"password": "x"}})
    with pytest.raises(FieldConflictError) as caught:
        as_(db, "bob").apply({**secret, "stringData": {"password": "y"}})
    assert caught.value.conflicts == (("alice", ".stringData.password"),)
