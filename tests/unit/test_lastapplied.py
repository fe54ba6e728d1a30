"""The last-applied annotation is written byte for byte as kubectl writes it."""

from __future__ import annotations

import json

from gitapply.engine.lastapplied import LAST_APPLIED, annotated, go_json, last_applied


def test_go_json_sorts_keys_without_spaces_and_ends_with_a_newline():
    assert go_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == '{"a":{"c":null,"d":[1,2]},"b":1}\n'


def test_go_json_escapes_html_characters_like_go():
    assert go_json({"cmd": "a<b && c>d"}) == '{"cmd":"a\\u003cb \\u0026\\u0026 c\\u003ed"}\n'


def test_go_json_keeps_non_ascii_text_as_utf8():
    assert go_json({"greeting": "grüß dich"}) == '{"greeting":"grüß dich"}\n'


def test_annotation_records_the_object_with_an_empty_annotations_map():
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}
    sent = annotated(desired)
    record = sent["metadata"]["annotations"][LAST_APPLIED]
    assert record == ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":{},'
                      '"name":"x","namespace":"default"}}\n')
    assert "annotations" not in desired["metadata"], "the desired object is not mutated"


def test_annotation_never_records_itself():
    desired = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "x", "annotations": {"team": "a", LAST_APPLIED: "stale"}}}
    record = json.loads(annotated(desired)["metadata"]["annotations"][LAST_APPLIED])
    assert record["metadata"]["annotations"] == {"team": "a"}


def test_last_applied_reads_the_recorded_configuration_or_none():
    live = annotated({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}})
    assert last_applied(live)["data"] == {"k": "v"}
    assert last_applied({"metadata": {"name": "x"}}) is None
    assert last_applied(None) is None
