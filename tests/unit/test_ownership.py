"""Field ownership from managedFields, and drift classified by it, without a cluster.

The managedFields below are shaped as the v1.20.2 server writes them (measured: see FACTS), built with the
embedded cluster's own record keeping where a whole object is needed."""

from __future__ import annotations

import copy

from gitapply import bundled
from gitapply.engine.drift import FieldState, classify_fields
from gitapply.engine.heal import heal_patch
from gitapply.engine.lastapplied import annotated
from gitapply.engine.ownership import Author, changed_fields, ownership, owners, record_update
from gitapply.merge import apply_patch

NODE = bundled.schema().for_kind("apps/v1", "Deployment")
MANAGERS = bundled.rules().managers.with_own("gitapply")
APPLY = Author("gitapply", "Update", "", "2024-05-01T11:00:00Z")


def web(**container):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.19", **container}]}}}}


def written(before, after, author, node=NODE):
    """``after`` as stored when ``author`` wrote it over ``before``, with managedFields kept as the server does."""
    result = copy.deepcopy(after)
    managed = (before or {}).get("metadata", {}).get("managedFields")
    strip = lambda obj: {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
    result["metadata"]["managedFields"] = record_update(managed, strip(before) if before else None, strip(after),
                                                        node, author)
    return result


def applied(desired, defaults=None):
    """The live object after gitapply created ``desired``; ``defaults`` are container fields the server
    filled in during that write (owned by the writer, as measured)."""
    live = annotated(desired)
    live = copy.deepcopy(live)
    live["spec"]["template"]["spec"]["containers"][0].update(defaults or {})
    return written(None, live, APPLY)


CONTAINER = ("spec", "template", "spec", "containers", ("name", "web"))


# --- reading ownership -------------------------------------------------------------------------------------

def test_every_field_of_a_created_object_belongs_to_its_writer():
    live = applied(web())
    record = ownership(live)
    assert owners(record, (*CONTAINER, "image"), live) == (APPLY,)
    assert owners(record, ("metadata", "labels", "app"), live) == (APPLY,)


def test_a_field_nobody_set_has_no_owner():
    live = applied(web())
    live["spec"]["template"]["metadata"]["labels"]["controller-uid"] = "abc"  # the server's own, on a Job
    assert owners(ownership(live), ("spec", "template", "metadata", "labels", "controller-uid"), live) == ()


def test_an_item_keyed_by_two_fields_is_found_by_the_values_of_the_live_item():
    live = applied(web(ports=[{"containerPort": 80}]))
    live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"
    fields = live["metadata"]["managedFields"][0]["fieldsV1"]
    ports = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']["f:ports"]
    assert list(ports) == ['k:{"containerPort":80,"protocol":"TCP"}'], "named by both keys, as the server does"
    path = (*CONTAINER, "ports", ("containerPort", 80), "containerPort")
    assert owners(ownership(live), path, live) == (APPLY,)


def test_an_atomic_value_is_owned_as_one():
    live = applied(web(args=["--port", "80"]))
    assert owners(ownership(live), (*CONTAINER, "args"), live) == (APPLY,)


def test_a_write_takes_the_fields_it_changed_from_their_owner():
    live = applied(web())
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:1"
    edit = Author("kubectl-edit", "Update", "", "2024-05-01T11:50:00Z")
    after = written(live, edited, edit)
    record = ownership(after)
    assert owners(record, (*CONTAINER, "image"), after) == (edit,)
    assert owners(record, ("spec", "replicas"), after) == (APPLY,)


def test_a_field_removed_by_a_write_leaves_its_owner():
    live = applied(web(args=["--x"]))
    trimmed = copy.deepcopy(live)
    del trimmed["spec"]["template"]["spec"]["containers"][0]["args"]
    after = written(live, trimmed, Author("kubectl-edit"))
    assert owners(ownership(after), (*CONTAINER, "args"), after) == ()
    assert [entry["manager"] for entry in after["metadata"]["managedFields"]] == ["gitapply"]


def test_a_write_that_changes_nothing_records_nothing_for_its_writer():
    live = applied(web())
    after = written(live, copy.deepcopy(live), Author("kubectl-patch"))
    assert [entry["manager"] for entry in after["metadata"]["managedFields"]] == ["gitapply"]


def test_changed_fields_name_only_what_differs():
    before, after = web(), web(image="nginx:1.20")
    assert changed_fields(before, after, NODE) == {
        "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {"f:image": {}}}}}}}


def test_an_object_without_managed_fields_has_no_record():
    assert ownership(web()) is None


# --- drift by ownership ------------------------------------------------------------------------------------

def fields(desired, live):
    return {(item.path, item.state): item for item in classify_fields(desired, live, NODE, (), MANAGERS)}


def test_defaults_the_server_set_in_gitapplys_write_are_not_drift():
    desired = web(env=[{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
    live = applied(desired, {"terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"})
    live["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] = "v1"
    live = written(None, live, APPLY)
    assert fields(desired, live) == {}


def test_a_field_added_by_another_manager_is_unmanaged_and_names_it():
    desired = web()
    live = applied(desired)
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    edit = Author("kubectl-set", "Update", "", "2024-05-01T11:50:00Z")
    found = fields(desired, written(live, edited, edit))
    item = found[("spec.template.spec.containers[name=web].resources.limits.cpu", FieldState.UNMANAGED)]
    assert item.changed_by == edit and len(found) == 1


def test_a_label_key_with_dots_is_addressed_whole():
    desired = web()
    live = applied(desired)
    labelled = copy.deepcopy(live)
    labelled["metadata"]["labels"]["app.kubernetes.io/part-of"] = "shop"
    found = fields(desired, written(live, labelled, Author("kubectl-label")))
    assert set(found) == {("metadata.labels[app.kubernetes.io/part-of]", FieldState.UNMANAGED)}


def test_a_controller_field_git_does_not_set_is_not_drift():
    desired = web()
    live = applied(desired)
    annotated_live = copy.deepcopy(live)
    annotated_live["metadata"].setdefault("annotations", {})["mesh.example/injected"] = "true"
    assert fields(desired, written(live, annotated_live, Author("kube-controller-manager"))) == {}


def test_a_managed_field_changed_through_scale_is_drift_by_an_unknown_writer():
    desired = web()
    live = applied(desired)
    live["spec"]["replicas"] = 7  # the scale subresource leaves ownership as it was
    item = fields(desired, live)[("spec.replicas", FieldState.DRIFT)]
    assert item.changed_by is None and item.live == 7


def test_a_managed_field_changed_by_another_manager_is_drift_by_it():
    desired = web()
    live = applied(desired)
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:1"
    found = fields(desired, written(live, edited, Author("kubectl-set", time="2024-05-01T11:50:00Z")))
    assert found[("spec.template.spec.containers[name=web].image", FieldState.DRIFT)].changed_by.manager == \
        "kubectl-set"


def test_a_quantity_written_another_way_is_not_drift():
    desired = web(resources={"requests": {"cpu": "0.5", "memory": "1024Mi"}})
    live = applied(desired)
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] = {"cpu": "500m", "memory": "1Gi"}
    assert fields(desired, live) == {}


def test_a_zero_value_the_server_omitted_is_not_drift():
    desired = web()
    desired["spec"]["minReadySeconds"] = 0
    live = applied(desired)
    del live["spec"]["minReadySeconds"]
    assert fields(desired, live) == {}


def test_healing_removes_what_another_manager_added_and_nothing_else():
    desired = web()
    live = applied(desired, {"imagePullPolicy": "IfNotPresent"})
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "DEBUG", "value": "1"}]
    edited["metadata"]["labels"]["app.kubernetes.io/part-of"] = "shop"
    edited = written(live, edited, Author("kubectl-edit"))
    drifts = classify_fields(desired, edited, NODE, (), MANAGERS)
    healed = apply_patch(edited, heal_patch(drifts, edited, [desired], NODE), NODE)
    container = healed["spec"]["template"]["spec"]["containers"][0]
    assert not container.get("env") and container["imagePullPolicy"] == "IfNotPresent"
    assert healed["metadata"]["labels"] == {"app": "web"}


def test_an_edit_that_rewrote_the_record_is_drift_by_the_editor_not_pending():
    desired = web()
    live = applied(desired)
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.21"
    edited_record = copy.deepcopy(desired)
    edited_record["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.21"
    edited["metadata"]["annotations"] = annotated(edited_record)["metadata"]["annotations"]  # as kubectl edit does
    found = fields(desired, written(live, edited, Author("kubectl-edit")))
    item = found[("spec.template.spec.containers[name=web].image", FieldState.DRIFT)]
    assert item.changed_by.manager == "kubectl-edit" and len(found) == 1


def test_a_commit_not_applied_yet_is_pending_even_after_an_edit_elsewhere():
    desired = web(image="nginx:1.22")
    live = applied(web())
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 4
    record = copy.deepcopy(web())
    record["spec"]["replicas"] = 4
    edited["metadata"]["annotations"] = annotated(record)["metadata"]["annotations"]
    found = fields(desired, written(live, edited, Author("kubectl-edit")))
    assert set(found) == {("spec.template.spec.containers[name=web].image", FieldState.PENDING),
                          ("spec.replicas", FieldState.DRIFT)}
