"""The embedded local cluster's own contract: identity metadata, patches through the merge engine,
dry-run, namespaces, immutable fields, CRDs, persistence in its file."""

from __future__ import annotations

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.errors import InvalidObjectError, NotFoundError, UnknownKindError
from gitapply.model import ObjectKey, PatchType

WEB = ObjectKey("apps", "v1", "Deployment", "default", "web")


def deployment(image="nginx:1.19", app="web"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": app}}, "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "web", "image": image}, {"name": "log", "image": "busybox"}]}}}}


@pytest.fixture
def cluster(tmp_path):
    return LocalCluster(tmp_path / "cluster.db")


def test_created_objects_get_identity_and_a_rolled_out_status(cluster):
    stored = cluster.create(deployment())
    metadata = stored["metadata"]
    assert metadata["uid"] and metadata["resourceVersion"] and metadata["generation"] == 1
    assert stored["status"]["observedGeneration"] == 1
    assert cluster.get(WEB) == stored


def test_a_strategic_patch_merges_lists_by_key_and_bumps_generation(cluster):
    cluster.create(deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.20"}]}}}}
    patched = cluster.patch(WEB, patch, PatchType.STRATEGIC)
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:1.20"), ("log", "busybox")]
    assert patched["metadata"]["generation"] == 2


def test_dry_run_changes_nothing(cluster):
    cluster.create(deployment())
    before = cluster.get(WEB)
    cluster.patch(WEB, {"metadata": {"labels": {"x": "y"}}}, PatchType.STRATEGIC, dry_run=True)
    cluster.create({**deployment(), "metadata": {"name": "other", "namespace": "default"}}, dry_run=True)
    assert cluster.get(WEB) == before
    assert cluster.get(ObjectKey("apps", "v1", "Deployment", "default", "other")) is None


def test_a_namespaced_object_needs_its_namespace(cluster):
    with pytest.raises(NotFoundError, match='namespaces "shop" not found'):
        cluster.create({**deployment(), "metadata": {"name": "web", "namespace": "shop"}})


def test_a_selector_is_immutable_as_on_the_api_server(cluster):
    cluster.create(deployment())
    with pytest.raises(InvalidObjectError, match="spec.selector.*immutable"):
        cluster.patch(WEB, {"spec": {"selector": {"matchLabels": {"app": "web2"}}}}, PatchType.STRATEGIC)


def test_a_crd_makes_its_kind_served(cluster):
    with pytest.raises(UnknownKindError):
        cluster.resource("example.com/v1", "Widget")
    cluster.create({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": "widgets.example.com"},
                    "spec": {"group": "example.com", "scope": "Cluster",
                             "names": {"plural": "widgets", "kind": "Widget"}, "versions": [{"name": "v1"}]}})
    assert cluster.resource("example.com/v1", "Widget").namespaced is False
    assert cluster.patch_node("example.com/v1", "Widget") is None, "custom resources get JSON merge patch"


def test_deleting_a_namespace_deletes_what_it_holds(cluster):
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}})
    cluster.delete(ObjectKey("", "v1", "Namespace", "", "shop"))
    assert cluster.list("v1", "ConfigMap", namespace="shop") == []


def test_lists_filter_by_label_and_the_state_survives_a_restart(cluster, tmp_path):
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default", "labels": {"t": "x"}}})
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}})
    reopened = LocalCluster(tmp_path / "cluster.db")
    assert [o["metadata"]["name"] for o in reopened.list("v1", "ConfigMap", label_selector="t=x")] == ["a"]
    assert [o["metadata"]["name"] for o in reopened.list("v1", "ConfigMap", label_selector="t")] == ["a"]


def test_a_secret_is_stored_as_the_api_server_stores_it(cluster):
    stored = cluster.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
                             "stringData": {"password": "hunter2"}})
    assert stored["data"] == {"password": "aHVudGVyMg=="} and "stringData" not in stored
