"""``ObjectKey.identity``: which object a key names, whatever version it is served at."""

from __future__ import annotations

from gitapply.model import ObjectKey


def test_the_same_object_at_two_versions_has_one_identity():
    v1 = ObjectKey("autoscaling", "v1", "HorizontalPodAutoscaler", "shop", "web")
    v2 = ObjectKey("autoscaling", "v2", "HorizontalPodAutoscaler", "shop", "web")
    assert v1 != v2 and v1.identity == v2.identity == ("autoscaling", "HorizontalPodAutoscaler", "shop", "web")


def test_group_kind_namespace_and_name_each_tell_objects_apart():
    key = ObjectKey("apps", "v1", "Deployment", "shop", "web")
    for other in (ObjectKey("extensions", "v1", "Deployment", "shop", "web"),
                  ObjectKey("apps", "v1", "StatefulSet", "shop", "web"),
                  ObjectKey("apps", "v1", "Deployment", "other", "web"),
                  ObjectKey("apps", "v1", "Deployment", "shop", "api")):
        assert key.identity != other.identity
