"""Reading live state: the app's own objects by label, the rest looked up one by one or by kind."""

from __future__ import annotations

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.cluster.snapshot import list_in, read_live
from gitapply.errors import ForbiddenError
from gitapply.model import ObjectKey


def configmap(name, app=None):
    labels = {"gitapply.io/app": app} if app else {}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default",
                                                                 "labels": labels}}


def key(name):
    return ObjectKey("", "v1", "ConfigMap", "default", name)


@pytest.fixture
def cluster(tmp_path):
    cluster = LocalCluster(tmp_path / "db")
    cluster.create(configmap("ours", "shop"))
    cluster.create(configmap("adopted"))
    for index in range(30):
        cluster.create(configmap(f"other-{index}", "elsewhere"))
    return cluster


def test_a_small_apps_objects_are_read_one_by_one_whatever_the_cluster_holds(cluster):
    """A LIST makes the server read the whole kind, label selector or not: for a few objects, GETs."""
    cluster.requests = 0
    live = read_live(cluster, [key("ours"), key("adopted"), key("absent")], owner_selector="gitapply.io/app=shop",
                     inventory=[key("ours"), key("pruned-long-ago")])
    assert set(live) == {key("ours"), key("adopted")}
    assert cluster.requests == 4, "one GET per object of git or of the inventory, no LIST"


def test_a_larger_apps_objects_come_from_one_list_and_strays_from_single_reads(cluster):
    cluster.requests = 0
    live = read_live(cluster, [key("ours"), key("adopted"), key("absent")], owner_selector="gitapply.io/app=shop",
                     get_limit=2)
    assert set(live) == {key("ours"), key("adopted")}
    assert cluster.requests == 1 + 2, "one LIST of the app's objects, then one GET per object not found"


def test_many_strays_are_read_with_one_list_of_the_kind(cluster):
    wanted = [key(f"other-{index}") for index in range(30)]
    cluster.requests = 0
    live = read_live(cluster, wanted, owner_selector="gitapply.io/app=shop", get_limit=16)
    assert set(wanted) <= set(live) and key("ours") in live, "the app's own objects come too (for prune)"
    assert cluster.requests == 2


class NamespacedOnly(LocalCluster):
    """A user whose Roles are namespaced: a LIST across namespaces is forbidden, one in a namespace is not."""

    def list(self, api_version, kind, *, namespace="", label_selector=""):
        if not namespace:
            raise ForbiddenError(f"{api_version}/{kind}", "not allowed (cannot list at the cluster scope)")
        return super().list(api_version, kind, namespace=namespace, label_selector=label_selector)


def test_a_forbidden_cluster_wide_list_is_made_in_each_namespace_of_the_app(tmp_path):
    cluster = NamespacedOnly(tmp_path / "db")
    cluster.create(configmap("ours", "shop"))
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}})
    cluster.create({**configmap("pruned-later", "shop"), "metadata": {"name": "pruned-later", "namespace": "old",
                                                                      "labels": {"gitapply.io/app": "shop"}}})
    live = read_live(cluster, [key("ours")], owner_selector="gitapply.io/app=shop", namespaces={"old", ""},
                     get_limit=0)
    assert set(live) == {key("ours"), ObjectKey("", "v1", "ConfigMap", "old", "pruned-later")}


def test_a_forbidden_list_with_no_namespace_to_try_is_still_an_error(tmp_path):
    cluster = NamespacedOnly(tmp_path / "db")
    with pytest.raises(ForbiddenError, match="v1/Namespace"):
        list_in(cluster, "v1", "Namespace")


class Recording(LocalCluster):
    """Records where each LIST was made ("" for across namespaces)."""

    def list(self, api_version, kind, *, namespace="", label_selector=""):
        self.lists = [*getattr(self, "lists", []), (kind, namespace, label_selector)]
        return super().list(api_version, kind, namespace=namespace, label_selector=label_selector)


def test_many_new_objects_are_sought_in_their_namespaces_not_across_a_shared_cluster(tmp_path):
    """A first apply of 20 objects into `shop` must not read every ConfigMap of every other team."""
    cluster = Recording(tmp_path / "db")
    for name in ("shop", "busy"):
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    cluster.create({**configmap("adopted"), "metadata": {"name": "adopted", "namespace": "shop"}})
    wanted = [ObjectKey("", "v1", "ConfigMap", "shop", f"new-{index}") for index in range(19)]
    wanted.append(ObjectKey("", "v1", "ConfigMap", "shop", "adopted"))
    cluster.lists = []
    live = read_live(cluster, wanted, owner_selector="gitapply.io/app=shop", get_limit=16)
    assert set(live) == {ObjectKey("", "v1", "ConfigMap", "shop", "adopted")}
    assert cluster.lists == [("ConfigMap", "", "gitapply.io/app=shop"), ("ConfigMap", "shop", "")]


def test_many_cluster_scoped_objects_are_sought_with_one_list_of_the_kind(tmp_path):
    cluster = Recording(tmp_path / "db")
    wanted = [ObjectKey("", "v1", "Namespace", "", f"team-{index}") for index in range(20)]
    cluster.lists = []
    read_live(cluster, wanted, owner_selector="gitapply.io/app=shop", get_limit=16)
    assert cluster.lists == [("Namespace", "", "gitapply.io/app=shop"), ("Namespace", "", "")]
