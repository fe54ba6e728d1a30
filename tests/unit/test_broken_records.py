"""A record gitapply reads back from the cluster that someone broke by hand — an object's last-applied
annotation, the app's inventory — is that object's problem, told as such: every command names it, says how to
repair it, exits 2 (bad input, nothing written), and the reconcile loop counts a failed pass instead of losing
the app's thread. Run as a user runs it: the ``gitapply`` process, on the embedded local cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.controller.metrics import Metrics
from gitapply.controller.runner import AppRunner
from gitapply.engine.lastapplied import LAST_APPLIED
from gitapply.model import ObjectKey, PatchType
from gitapply.ops.prepare import Request
from gitapply.session import AppSpec

SETTINGS = ObjectKey("", "v1", "ConfigMap", "default", "settings")
INVENTORY = ObjectKey("", "v1", "ConfigMap", "default", "gitapply-inventory-shop")


def gitapply(db, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "gitapply", "--local", str(db), *args], capture_output=True,
                          text=True, env=env, timeout=120)


def write_app(folder, level: str) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "settings.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: {level}\n")
    return str(folder)


@pytest.fixture
def applied(tmp_path):
    """An app ``shop`` applied once, then changed in git (so the record must be read to plan)."""
    db = tmp_path / "cluster.db"
    source = write_app(tmp_path / "shop", "info")
    assert gitapply(db, "apply", source).returncode == 0
    write_app(tmp_path / "shop", "debug")
    return db, source


BREAKAGES = {
    "last-applied not JSON": (SETTINGS, {"metadata": {"annotations": {LAST_APPLIED: '{"apiVersion": "v1", '}}},
                              "ConfigMap/default/settings: its kubectl.kubernetes.io/last-applied-configuration "
                              "annotation is not valid JSON"),
    "last-applied not an object": (SETTINGS, {"metadata": {"annotations": {LAST_APPLIED: "[1, 2]"}}},
                                   "annotation does not hold a JSON object"),
    "inventory not JSON": (INVENTORY, {"data": {"objects": "[[\"\", \"v1\""}},
                           "ConfigMap/default/gitapply-inventory-shop: the inventory of app shop is not valid JSON"),
    "inventory of the wrong shape": (INVENTORY, {"data": {"objects": '[{"name": "settings"}]'}},
                                     "is not a list of [group, version, kind, namespace, name]"),
}


REFUSED = [(command, breakage) for command in ("diff", "apply", "drift") for breakage in BREAKAGES
           if not (command == "drift" and "last-applied" in breakage)]  # drift reports those as drift (below)


@pytest.mark.parametrize("command, breakage", REFUSED)
def test_a_broken_record_names_the_object_and_exits_2_writing_nothing(applied, breakage, command):
    db, source = applied
    key, patch, said = BREAKAGES[breakage]
    LocalCluster(db).patch(key, patch, PatchType.MERGE)
    before = LocalCluster(db).get(SETTINGS)
    done = gitapply(db, command, source)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
    assert "kubectl " in done.stderr, "the message says how to repair the record"
    assert "Traceback" not in done.stderr + done.stdout and "bug in gitapply" not in done.stderr
    assert LocalCluster(db).get(SETTINGS) == before, "nothing was written"


def test_drift_reports_a_broken_annotation_as_that_objects_drift_and_checks_the_others(applied, tmp_path):
    db, source = applied
    other = tmp_path / "shop" / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  a: '1'\n")
    assert gitapply(db, "apply", source).returncode == 0
    write_app(tmp_path / "shop", "trace")
    LocalCluster(db).patch(SETTINGS, {"metadata": {"annotations": {LAST_APPLIED: "{"}}}, PatchType.MERGE)
    done = gitapply(db, "drift", source, "-o", "json")
    assert done.returncode == 1, done.stderr
    objects = {o["key"]: o for o in json.loads(done.stdout)["objects"]}
    (field,) = objects["ConfigMap/default/settings"]["fields"]
    assert field["state"] == "drift" and "kubectl annotate configmap settings" in field["reason"]
    assert objects["ConfigMap/default/other"]["state"] == "in-sync"


def test_reconcile_counts_a_pass_on_a_broken_record_as_failed_and_exits_1(applied):
    db, source = applied
    LocalCluster(db).patch(SETTINGS, {"metadata": {"annotations": {LAST_APPLIED: "{"}}}, PatchType.MERGE)
    done = gitapply(db, "reconcile", source, "--app", "shop", "--passes", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ConfigMap/default/settings: its kubectl.kubernetes.io/last-applied-configuration" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def runner(db, source) -> AppRunner:
    return AppRunner("shop", AppSpec(Request(path=source, app="shop")), LocalCluster(db), Metrics(),
                     lambda: True)


def test_a_pass_on_a_broken_inventory_is_a_failed_pass_in_the_metrics(applied):
    db, source = applied
    LocalCluster(db).patch(INVENTORY, {"data": {"objects": "nope"}}, PatchType.MERGE)
    shop = runner(db, source)
    outcome = shop.run_pass(1)
    assert not outcome.ok and "gitapply-inventory-shop" in outcome.problems[0]
    metrics = shop.metrics.text().decode()
    assert 'gitapply_passes_total{app="shop",result="failed"} 1.0' in metrics


def test_a_bug_fails_the_pass_not_the_apps_thread(applied, monkeypatch):
    db, source = applied
    shop = runner(db, source)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(shop.session, "read", broken)
    first = shop.run_pass(1)
    assert not first.ok and "ZeroDivisionError: simulated bug" in first.problems[0]
    assert 'gitapply_errors_total{app="shop",reason="internal"} 1.0' in shop.metrics.text().decode()
    monkeypatch.undo()
    assert shop.run_pass(2).ok, "the next pass runs as usual"


def test_every_broken_record_is_named_in_one_run_and_the_others_are_planned(tmp_path):
    db = tmp_path / "cluster.db"
    folder = tmp_path / "shop"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
                                             "data:\n  level: info\n")
    assert gitapply(db, "apply", str(folder)).returncode == 0
    for name in ("a", "b", "c"):
        (folder / f"{name}.yaml").write_text((folder / f"{name}.yaml").read_text().replace("info", "debug"))
    for name in ("a", "c"):
        LocalCluster(db).patch(ObjectKey("", "v1", "ConfigMap", "default", name),
                               {"metadata": {"annotations": {LAST_APPLIED: "{"}}}, PatchType.MERGE)
    done = gitapply(db, "diff", str(folder))
    assert done.returncode == 2
    assert "ConfigMap/default/a: its" in done.stderr and "ConfigMap/default/c: its" in done.stderr
    assert "Traceback" not in done.stderr
