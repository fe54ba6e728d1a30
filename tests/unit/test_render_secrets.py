"""Secret masking, one rule for every output: the drift formats, the per-object diff and the JSON report's patch."""

from __future__ import annotations

import copy

import pytest

from gitapply.engine.lastapplied import LAST_APPLIED
from gitapply.model import Action, Change, ObjectKey, PatchType, Plan
from gitapply.render.diff import masked as diff_masked, unified
from gitapply.render.report import json_report
from gitapply.render.secrets import masked

DB = ObjectKey("", "v1", "Secret", "shop", "db")


def secret(data: dict[str, str], **metadata: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop", **metadata},
            "type": "Opaque", "data": data}


@pytest.mark.parametrize("path", ["data.password", "data", "stringData.token", "/data/password",
                                  "data[password]", f"metadata.annotations.{LAST_APPLIED}"])
def test_secret_values_are_masked(path):
    assert masked("Secret", "c2VjcmV0", path) == "***"


def test_an_absent_secret_value_stays_absent_so_added_keys_show():
    assert masked("Secret", None, "data.password") is None


def test_a_whole_secret_as_one_value_keeps_key_names_but_not_values():
    whole = {"kind": "Secret", "type": "Opaque", "data": {"user": "YWRtaW4=", "password": "c2VjcmV0"},
             "stringData": {"token": "t0ken"},
             "metadata": {"name": "db", "annotations": {LAST_APPLIED: '{"data":{"password":"c2VjcmV0"}}'}}}
    before = copy.deepcopy(whole)
    assert masked("Secret", whole) == {
        "kind": "Secret", "type": "Opaque", "data": {"user": "***", "password": "***"},
        "stringData": {"token": "***"}, "metadata": {"name": "db", "annotations": {LAST_APPLIED: "***"}}}
    assert whole == before, "masking must not mutate the values it is given"


def test_a_malformed_data_field_is_masked_whole_and_a_null_one_stays_null():
    assert masked("Secret", {"data": "c2VjcmV0", "stringData": None}) == {"data": "***", "stringData": None}


def test_other_secret_fields_and_other_kinds_are_shown():
    assert masked("Secret", "Opaque", "type") == "Opaque"
    assert masked("Secret", "x", "metadata.labels.data") == "x"
    assert masked("ConfigMap", "plain", "data.password") == "plain"
    config = {"kind": "ConfigMap", "data": {"password": "plain"}, "metadata": {"annotations": {LAST_APPLIED: "{}"}}}
    assert masked("ConfigMap", config) is config


def test_a_diff_marks_the_values_that_changed_on_each_side():
    live, git = secret({"same": "YQ==", "changed": "b2xk", "removed": "eA=="}), \
        secret({"same": "YQ==", "changed": "bmV3", "added": "eQ=="})
    before, after = diff_masked(live, git)
    assert before["data"] == {"same": "***", "changed": "*** (before)", "removed": "*** (before)"}
    assert after["data"] == {"same": "***", "changed": "*** (after)", "added": "*** (after)"}


def test_a_created_or_pruned_secret_has_every_value_marked():
    assert diff_masked(None, secret({"a": "YQ=="}))[1]["data"] == {"a": "*** (after)"}
    assert diff_masked(secret({"a": "YQ=="}), None)[0]["data"] == {"a": "*** (before)"}


def test_the_unified_diff_shows_that_a_secret_changed_but_not_its_values():
    change = Change(DB, Action.PATCH, None, secret({"password": "b2xk"}), {}, PatchType.STRATEGIC,
                    secret({"password": "bmV3"}))
    text = unified(change)
    assert "-  password: '*** (before)'" in text and "+  password: '*** (after)'" in text
    assert "b2xk" not in text and "bmV3" not in text


def test_the_json_report_masks_the_patch_and_the_record_it_carries():
    patch = {"data": {"password": "bmV3"}, "metadata": {"annotations": {LAST_APPLIED: '{"data":{"password":"bmV3"}}',
                                                                        "team": "shop"}}}
    live, predicted = secret({"password": "b2xk"}), secret({"password": "bmV3"})
    (entry,) = json_report(Plan((Change(DB, Action.PATCH, None, live, patch, PatchType.STRATEGIC, predicted),)))[
        "objects"]
    assert entry["patch"] == {"data": {"password": "***"}, "metadata": {"annotations": {LAST_APPLIED: "***",
                                                                                          "team": "shop"}}}
    assert entry["changedPaths"] == ["data.password"]
