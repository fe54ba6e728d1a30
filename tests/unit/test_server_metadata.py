"""The metadata manifests do not own, listed once (``engine.normalize``) and cut into the parts each use needs:
what every write moves, what the server owns, what the system (server and controllers) writes."""

from __future__ import annotations

from gitapply.engine.drift import comparable
from gitapply.engine.normalize import (SERVER_OWNED_METADATA, SYSTEM_WRITTEN_METADATA, WRITE_BOOKKEEPING,
                                       keep_server_owned, same_stored)
from gitapply.render.diff import shown

SYSTEM = {"uid": "u-1", "resourceVersion": "7", "generation": 2, "creationTimestamp": "2024-05-01T12:00:00Z",
          "managedFields": [{"manager": "kubectl"}], "selfLink": "/api/v1/namespaces/shop/configmaps/cfg",
          "deletionTimestamp": "2024-05-01T13:00:00Z", "deletionGracePeriodSeconds": 30,
          "ownerReferences": [{"kind": "App", "name": "shop", "uid": "u-0"}], "finalizers": ["example.com/keep"]}


def config(**metadata: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"},
            "metadata": {"name": "cfg", "namespace": "shop", **metadata}}


def test_each_part_contains_the_one_before_and_no_field_is_listed_twice():
    assert set(WRITE_BOOKKEEPING) < set(SERVER_OWNED_METADATA) < set(SYSTEM_WRITTEN_METADATA)
    assert len(set(SYSTEM_WRITTEN_METADATA)) == len(SYSTEM_WRITTEN_METADATA)
    assert set(SYSTEM_WRITTEN_METADATA) == set(SYSTEM)


def test_drift_compares_none_of_what_the_system_writes():
    assert comparable(config(**SYSTEM))["metadata"] == {"name": "cfg", "namespace": "shop"}


def test_the_diff_leaves_out_what_the_server_owns_and_shows_what_controllers_write():
    metadata = shown(config(**SYSTEM))["metadata"]
    assert set(metadata) == {"name", "namespace", "ownerReferences", "finalizers"}


def test_a_prediction_keeps_the_server_owned_metadata_of_the_live_object():
    predicted = keep_server_owned(config(creationTimestamp=None), config(**SYSTEM))
    assert {key: predicted["metadata"][key] for key in SERVER_OWNED_METADATA} == {
        key: SYSTEM[key] for key in SERVER_OWNED_METADATA}
    assert "ownerReferences" not in predicted["metadata"]


def test_a_dry_run_answer_differing_only_in_write_bookkeeping_stores_nothing_new():
    live = config(uid="u-1", resourceVersion="7", generation=2, managedFields=[])
    assert same_stored(config(uid="u-1", resourceVersion="8", generation=3, managedFields=[{"m": 1}]), live, None)
    assert not same_stored(config(uid="u-2", resourceVersion="7", generation=2, managedFields=[]), live, None)
