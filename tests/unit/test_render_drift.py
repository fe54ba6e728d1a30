"""Rendering a drift report: golden JSON, JUnit and Prometheus output, escaping, the table (Secret masking:
``test_render_secrets``)."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from gitapply.engine.drift import DriftReport, FieldDrift, FieldState, ObjectDrift, ObjectState
from gitapply.engine.ownership import Author
from gitapply.model import ObjectKey, Origin
from gitapply.render.drift import (
    checked_at_iso,
    drift_json,
    drift_junit,
    drift_prometheus,
    drift_summary,
    drift_table,
    short,
    wrap_path,
)
from gitapply.render.prometheus import escape_label_value

DATA = Path(__file__).parent / "data"
CHECKED_AT = 1714564800.0  # 2024-05-01T12:00:00Z
WEB = ObjectKey("apps", "v1", "Deployment", "shop", "web")
DB = ObjectKey("", "v1", "Secret", "shop", "db")
CFG = ObjectKey("", "v1", "ConfigMap", "shop", "cfg")
SVC = ObjectKey("", "v1", "Service", "shop", "web")
OLD = ObjectKey("", "v1", "ConfigMap", "shop", "old")
HPA_REASON = "owned by autoscaling/HorizontalPodAutoscaler/shop/web"
SET_IMAGE = Author("kubectl-set", "Update", "", "2024-05-01T11:48:00Z")  # 12 minutes before the check


def report(*objects: ObjectDrift, app: str = "shop", revision: str | None = "0123456789abcdef") -> DriftReport:
    return DriftReport(app, revision, CHECKED_AT, tuple(objects))


def drifted_web() -> ObjectDrift:
    return ObjectDrift(WEB, ObjectState.DRIFTED, (
        FieldDrift("spec.template.spec.containers[0].image", FieldState.DRIFT, "shop:1.2", "shop:1.2", "shop:1.3",
                   changed_by=SET_IMAGE),
        FieldDrift("spec.replicas", FieldState.IGNORED, 3, 3, 7, HPA_REASON),
    ), Origin("apps/shop/web.yaml", 0, 1))


def pending_secret() -> ObjectDrift:
    return ObjectDrift(DB, ObjectState.PENDING, (
        FieldDrift("data.password", FieldState.PENDING, "bmV3", "b2xk", "b2xk"),
        FieldDrift("stringData.token", FieldState.PENDING, "t0ken", None, None),
    ), Origin("apps/shop/db.yaml", 0, 1))


def mixed() -> DriftReport:
    return report(drifted_web(), pending_secret(),
                  ObjectDrift(CFG, ObjectState.MISSING, origin=Origin("apps/shop/cfg.yaml", 0, 1)),
                  ObjectDrift(OLD, ObjectState.DELETED),
                  ObjectDrift(SVC, ObjectState.IN_SYNC, origin=Origin("apps/shop/svc.yaml", 0, 1)))


def render_table(value: DriftReport, width: int = 120, **options) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(drift_table(value, width=width, **options))
    return console.file.getvalue()


# --- summary and values -----------------------------------------------------------------------------------

def test_summary_counts_every_state_including_zeros():
    assert drift_summary(mixed()) == "5 objects: 1 in sync, 1 pending, 1 drifted, 1 missing, 1 deleted, 0 dropped"
    assert drift_summary(report()) == "0 objects: 0 in sync, 0 pending, 0 drifted, 0 missing, 0 deleted, 0 dropped"


def test_summary_says_object_in_the_singular_for_one():
    assert drift_summary(report(ObjectDrift(SVC, ObjectState.IN_SYNC))).startswith("1 object: ")


def test_short_values_keep_json_types_apart_and_mark_absence():
    assert short(3) == "3"
    assert short("3") == '"3"'
    assert short(None) == "-"
    assert short({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_short_values_are_cut_with_an_ellipsis():
    assert short("x" * 40, width=10) == '"xxxxxxxx…'
    assert len(short("x" * 40, width=10)) == 10


def test_checked_at_is_iso_8601_utc():
    assert checked_at_iso(report()) == "2024-05-01T12:00:00Z"


# --- JSON -------------------------------------------------------------------------------------------------------

def test_json_report_golden():
    assert drift_json(mixed()) == {
        "app": "shop",
        "revision": "0123456789abcdef",
        "hold": None,
        "checkedAt": "2024-05-01T12:00:00Z",
        "summary": {"in-sync": 1, "pending": 1, "drifted": 1, "missing": 1, "deleted": 1, "dropped": 0},
        "objects": [
            {"key": "apps/Deployment/shop/web", "state": "drifted", "source": "apps/shop/web.yaml:1",
             "provenance": "managedFields", "fields": [
                {"path": "spec.template.spec.containers[0].image", "state": "drift", "git": "shop:1.2",
                 "lastApplied": "shop:1.2", "live": "shop:1.3", "reason": "",
                 "changedBy": {"manager": "kubectl-set", "operation": "Update", "time": "2024-05-01T11:48:00Z"}},
                {"path": "spec.replicas", "state": "ignored", "git": 3, "lastApplied": 3, "live": 7,
                 "reason": HPA_REASON, "changedBy": None},
            ]},
            {"key": "Secret/shop/db", "state": "pending", "source": "apps/shop/db.yaml:1",
             "provenance": "managedFields", "fields": [
                {"path": "data.password", "state": "pending", "git": "***", "lastApplied": "***", "live": "***",
                 "reason": "", "changedBy": None},
                {"path": "stringData.token", "state": "pending", "git": "***", "lastApplied": None, "live": None,
                 "reason": "", "changedBy": None},
            ]},
            {"key": "ConfigMap/shop/cfg", "state": "missing", "source": "apps/shop/cfg.yaml:1",
             "provenance": "managedFields", "fields": []},
            {"key": "ConfigMap/shop/old", "state": "deleted", "source": None, "provenance": "managedFields",
             "fields": []},
            {"key": "Service/shop/web", "state": "in-sync", "source": "apps/shop/svc.yaml:1",
             "provenance": "managedFields", "fields": []},
        ],
    }


def test_json_report_is_serialisable_and_holds_no_secret_value():
    text = json.dumps(drift_json(mixed()))
    assert "bmV3" not in text and "b2xk" not in text and "t0ken" not in text


def test_json_report_of_files_has_a_null_revision():
    assert drift_json(report(revision=None))["revision"] is None


# --- JUnit ------------------------------------------------------------------------------------------------------

JUNIT_GOLDEN = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="gitapply drift shop" tests="5" failures="4" errors="0" skipped="0" time="0" \
timestamp="2024-05-01T12:00:00">
  <properties>
    <property name="app" value="shop" />
    <property name="revision" value="0123456789abcdef" />
  </properties>
  <testcase classname="shop" name="apps/Deployment/shop/web" time="0">
    <failure type="drift" message="drifted: spec.template.spec.containers[0].image (drift)">\
spec.template.spec.containers[0].image: drift; git "shop:1.2", last applied "shop:1.2", live "shop:1.3"; \
changed by kubectl-set (Update, 2024-05-01T11:48:00Z)
spec.replicas: ignored; git 3, last applied 3, live 7 (owned by autoscaling/HorizontalPodAutoscaler/shop/web)
defined in apps/shop/web.yaml:1</failure>
  </testcase>
  <testcase classname="shop" name="Secret/shop/db" time="0">
    <failure type="pending" message="pending: data.password (pending), stringData.token (pending)">\
data.password: pending; git ***, last applied ***, live ***
stringData.token: pending; git ***, last applied -, live -
defined in apps/shop/db.yaml:1</failure>
  </testcase>
  <testcase classname="shop" name="ConfigMap/shop/cfg" time="0">
    <failure type="pending" message="missing: in git, not in the cluster">defined in apps/shop/cfg.yaml:1</failure>
  </testcase>
  <testcase classname="shop" name="ConfigMap/shop/old" time="0">
    <failure type="drift" message="deleted: applied by gitapply, then deleted out of band" />
  </testcase>
  <testcase classname="shop" name="Service/shop/web" time="0" />
</testsuite>
"""


def test_junit_golden():
    assert drift_junit(mixed()) == JUNIT_GOLDEN


def test_junit_counts_match_the_testcases():
    suite = ET.fromstring(drift_junit(mixed()))
    cases = suite.findall("testcase")
    assert suite.tag == "testsuite"
    assert int(suite.get("tests")) == len(cases) == 5
    assert int(suite.get("failures")) == sum(1 for case in cases if case.find("failure") is not None) == 4
    assert (suite.get("errors"), suite.get("skipped")) == ("0", "0")


def test_junit_tells_drift_from_pending_by_failure_type():
    suite = ET.fromstring(drift_junit(mixed()))
    types = {case.get("name"): (case.find("failure").get("type") if case.find("failure") is not None else None)
             for case in suite.iter("testcase")}
    assert types == {"apps/Deployment/shop/web": "drift", "ConfigMap/shop/old": "drift",
                     "Secret/shop/db": "pending", "ConfigMap/shop/cfg": "pending", "Service/shop/web": None}


def test_junit_of_an_in_sync_app_has_no_failures():
    suite = ET.fromstring(drift_junit(report(ObjectDrift(SVC, ObjectState.IN_SYNC))))
    assert suite.get("failures") == "0" and suite.find(".//failure") is None


def test_junit_escapes_markup_and_control_characters():
    item = ObjectDrift(CFG, ObjectState.DRIFTED, (
        FieldDrift('data.a<b>&"c"\x1b', FieldState.DRIFT, "x", "x", "\x1b[31m</failure>]]>"),))
    text = drift_junit(report(item, app='sh"op<&>\x07'))
    suite = ET.fromstring(text)  # raises if the XML were not well formed
    failure = suite.find("testcase/failure")
    assert suite.get("name") == 'gitapply drift sh"op<&>\\x07'
    assert failure.get("message") == 'drifted: data.a<b>&"c"\\x1b (drift)'
    assert 'live "\\u001b[31m</failure>]]' in failure.text
    assert "\x1b" not in text and "\x07" not in text


# --- Prometheus ---------------------------------------------------------------------------------------------

PROMETHEUS_GOLDEN = """\
# HELP gitapply_objects Objects checked for drift, by state.
# TYPE gitapply_objects gauge
gitapply_objects{app="shop",state="in-sync"} 1
gitapply_objects{app="shop",state="pending"} 1
gitapply_objects{app="shop",state="drifted"} 1
gitapply_objects{app="shop",state="missing"} 1
gitapply_objects{app="shop",state="deleted"} 1
gitapply_objects{app="shop",state="dropped"} 0
# HELP gitapply_drift_fields Differing fields that are not ignored, by state.
# TYPE gitapply_drift_fields gauge
gitapply_drift_fields{app="shop",state="pending"} 2
gitapply_drift_fields{app="shop",state="drift"} 1
gitapply_drift_fields{app="shop",state="unmanaged"} 0
# HELP gitapply_drifted_fields Fields changed in the cluster (drift and unmanaged), by the manager that changed them (unknown: none recorded).
# TYPE gitapply_drifted_fields gauge
gitapply_drifted_fields{app="shop",manager="kubectl-set"} 1
# HELP gitapply_last_check_timestamp_seconds When the drift check ran, in seconds since the Unix epoch.
# TYPE gitapply_last_check_timestamp_seconds gauge
gitapply_last_check_timestamp_seconds{app="shop"} 1714564800
# HELP gitapply_revision_info The git revision the cluster was checked against; always 1.
# TYPE gitapply_revision_info gauge
gitapply_revision_info{app="shop",revision="0123456789abcdef"} 1
"""

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A strict reader of the text format as node-exporter reads it: HELP and TYPE before each family's
    samples, labels quoted and escaped, no timestamps, a newline at the end."""
    assert text.endswith("\n")
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    declared: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            kind, name = line.split(" ")[1:3]
            assert kind in ("HELP", "TYPE"), line
            declared.setdefault(name, set()).add(kind)
            families.setdefault(name, [])
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        name, labels, value = match.groups()
        assert declared.get(name) == {"HELP", "TYPE"}, f"{name} sampled before its HELP and TYPE"
        parsed = {key: re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group()], raw) for key, raw in _LABEL.findall(labels)}
        families[name].append((parsed, float(value)))
    return families


def test_prometheus_golden():
    assert drift_prometheus(mixed()) == PROMETHEUS_GOLDEN


def test_prometheus_output_parses_and_counts_ignore_ignored_fields():
    families = parse_exposition(drift_prometheus(mixed()))
    fields = {labels["state"]: value for labels, value in families["gitapply_drift_fields"]}
    assert fields == {"pending": 2, "drift": 1, "unmanaged": 0}


def test_prometheus_has_every_family_and_state_when_nothing_was_checked():
    families = parse_exposition(drift_prometheus(report(revision=None)))
    assert set(families) == {"gitapply_objects", "gitapply_drift_fields", "gitapply_drifted_fields",
                             "gitapply_last_check_timestamp_seconds", "gitapply_revision_info"}
    assert families["gitapply_drifted_fields"] == [], "a manager's series exists only while it changed fields"
    assert [labels["state"] for labels, _ in families["gitapply_objects"]] == [
        "in-sync", "pending", "drifted", "missing", "deleted", "dropped"]
    assert all(value == 0 for _, value in families["gitapply_objects"] + families["gitapply_drift_fields"])
    assert families["gitapply_revision_info"] == [({"app": "shop", "revision": ""}, 1.0)]


def test_prometheus_escapes_label_values_and_they_read_back_unchanged():
    app = 'we\\ird "app"\nname'
    families = parse_exposition(drift_prometheus(report(app=app, revision='rev"1')))
    assert {labels["app"] for family in families.values() for labels, _ in family} == {app}
    assert families["gitapply_revision_info"][0][0]["revision"] == 'rev"1'


def test_label_escaping_follows_the_exposition_format():
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_prometheus_keeps_a_fractional_check_time():
    text = drift_prometheus(DriftReport("shop", None, 1714564800.25))
    assert 'gitapply_last_check_timestamp_seconds{app="shop"} 1714564800.25\n' in text


# --- table ------------------------------------------------------------------------------------------------------

def test_table_lists_objects_not_in_sync_only():
    text = render_table(mixed())
    for shown in ("apps/Deployment/shop/web", "Secret/shop/db", "ConfigMap/shop/cfg", "ConfigMap/shop/old"):
        assert shown in text
    assert "Service/shop/web" not in text


def test_table_shows_in_sync_objects_when_asked():
    assert "Service/shop/web" in render_table(mixed(), show_in_sync=True)


def test_table_shows_field_states_three_values_and_the_owner_reason():
    text = render_table(report(drifted_web()))
    image_row = next(line for line in text.splitlines() if "containers[0].image" in line)
    assert re.search(r'│ drift\s+│ "shop:1\.2"\s+│ "shop:1\.2"\s+│ "shop:1\.3"\s+│', image_row)
    replicas_row = next(line for line in text.splitlines() if "spec.replicas" in line)
    assert re.search(r"│ ignored\s+│ 3\s+│ 3\s+│ 7\s+│", replicas_row)
    assert "HorizontalPodAutoscaler/shop/web" in text
    assert "drift of shop @ 0123456789ab" in text
    assert "apps/shop/web.yaml:1" in text


def test_table_says_who_changed_a_field_and_when():
    text = render_table(report(drifted_web()))
    assert "by kubectl-set, 12 min ago" in text


def test_table_says_when_the_author_of_a_drift_is_unknown():
    scaled = ObjectDrift(WEB, ObjectState.DRIFTED, (FieldDrift("spec.replicas", FieldState.DRIFT, 3, 3, 7),))
    assert "by an unknown writer" in render_table(report(scaled))


def test_table_says_when_the_server_kept_no_ownership():
    scaled = ObjectDrift(WEB, ObjectState.DRIFTED, (FieldDrift("spec.replicas", FieldState.DRIFT, 3, 3, 7),),
                         provenance=False)
    text = render_table(report(scaled))
    assert "no managedFields" in text and "unknown writer" not in text


def test_table_says_why_a_whole_object_differs():
    text = render_table(mixed())
    assert "in git, not in the cluster" in text
    assert "applied by gitapply, then deleted out of band" in text


def test_table_never_shows_secret_values():
    text = render_table(report(pending_secret()))
    assert "bmV3" not in text and "b2xk" not in text and "t0ken" not in text
    assert "***" in text


def test_table_prints_values_that_look_like_markup_literally():
    item = ObjectDrift(CFG, ObjectState.DRIFTED, (FieldDrift("data.x", FieldState.DRIFT, "[b]", "[b]", "[red]"),))
    text = render_table(report(item, app="[bold]shop"))
    assert '"[red]"' in text and "[bold]shop" in text


def test_table_of_an_in_sync_app_has_no_object_rows():
    text = render_table(report(ObjectDrift(SVC, ObjectState.IN_SYNC)))
    assert "Service/shop/web" not in text and "object / field" in text


def long_paths() -> DriftReport:
    return report(ObjectDrift(WEB, ObjectState.DRIFTED, (
        FieldDrift("spec.template.spec.containers[name=web].env[name=DB_URL].valueFrom.secretKeyRef.key",
                   FieldState.DRIFT, "url", "url", "dsn", changed_by=SET_IMAGE),
        FieldDrift("spec.template.spec.containers[name=web].image", FieldState.DRIFT, "shop:1.2", "shop:1.2",
                   "shop:1.3", changed_by=SET_IMAGE),
        FieldDrift("spec.replicas", FieldState.IGNORED, 3, 3, 7, HPA_REASON),
    ), Origin("apps/shop/web.yaml", 0, 1)), pending_secret())


@pytest.mark.parametrize("width", [80, 120])
def test_table_golden_at_terminal_widths(width):
    assert render_table(long_paths(), width=width) == (DATA / f"drift_table_{width}.txt").read_text()


@pytest.mark.parametrize("width", [80, 100, 120])
def test_table_fits_the_width_and_breaks_paths_only_at_boundaries(width):
    text = render_table(long_paths(), width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    cells = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    pieces = [cell for cell in cells if cell and not cell.startswith(("apps/", "by ", "owned", "Secret"))]
    joined = "".join(pieces)
    for path in ("spec.template.spec.containers[name=web].env[name=DB_URL].valueFrom.secretKeyRef.key",
                 "spec.template.spec.containers[name=web].image"):
        assert path in joined, "the path reads whole when its lines are put together"
    assert "HorizontalPodAutoscaler/" in text, "a word longer than the indented column gives up its indent"


@pytest.mark.parametrize("width", [10, 20, 36])
def test_paths_are_wrapped_only_at_dots_slashes_and_before_brackets(width):
    path = "spec.template.spec.containers[name=web].env[name=DB_URL].valueFrom.secretKeyRef.key"
    lines = wrap_path(path, width)
    assert "".join(lines) == path
    for line, following in zip(lines, lines[1:]):
        assert line.endswith(".") or following.startswith("["), (line, following)
        assert len(line) <= width or "." not in line[:-1] and "[" not in line[1:]


def test_an_object_git_dropped_is_a_pending_failure_that_says_prune_deletes_it():
    dropped = report(ObjectDrift(OLD, ObjectState.DROPPED))
    assert dropped.has_pending and not dropped.has_drift
    (case,) = ET.fromstring(drift_junit(dropped)).iter("testcase")
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "pending" and "apply --prune" in failure.get("message", "")
    assert "gone from git" in render_table(dropped)
