"""Holds without a cluster: the record and the rules (``engine.holds``), their reads and writes on the embedded
cluster (``ops.holds``, ``session.holds``), the session's refusal, the controller's pass on a held app, the
command line (``--local``), the drift report and who is recorded."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gitapply.cluster.identity import acting_user
from gitapply.cluster.local import LocalCluster
from gitapply.controller.metrics import Metrics
from gitapply.controller.runner import AppRunner
from gitapply.engine.drift import DriftReport
from gitapply.engine.holds import (HOLD_ANNOTATION, Hold, HoldState, HoldStatus, format_hold, judge, parse_hold,
                                   pinned)
from gitapply.errors import RecordError
from gitapply.model import FailureKind, ObjectKey, PatchType
from gitapply.ops.holds import HoldError, change_hold, read_hold
from gitapply.ops.inventory import write_inventory
from gitapply.ops.prepare import Request
from gitapply.render.drift import drift_json, drift_junit
from gitapply.render.holds import hold_line
from gitapply.session import AppSession, AppSpec
from gitapply.session.holds import AppHolds, new_hold
from tests.gitrepo import commit_all, git
from tests.unit.clirun import invoke

INVENTORY = ObjectKey("", "v1", "ConfigMap", "default", "gitapply-inventory-shop")
SETTINGS = ObjectKey("", "v1", "ConfigMap", "default", "settings")
A, B = "a" * 40, "b" * 40
HOLD = Hold(by="admin (alice@laptop)", at="2026-12-08T03:12:09Z", reason="bad image", rev="HEAD", commit=A)


# --- the rules ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("hold", "rev", "commit", "state"), [
    (None, None, A, HoldState.NONE),
    (HOLD, None, A, HoldState.HELD),                                          # git has not moved
    (HOLD, "HEAD", B, HoldState.ENDED),                                       # a fix landed
    (Hold("x", "t", until_release=True, rev="HEAD", commit=A), None, B, HoldState.HELD),  # --until-release
    (HOLD, None, None, HoldState.HELD),                                       # a directory: no commit to move
    (Hold("x", "t"), None, A, HoldState.UNPINNED),                            # `gitapply hold`: none recorded yet
    (HOLD, "main", B, HoldState.UNPINNED),                                    # recorded for another rev
])
def test_judge_follows_the_rules_of_the_module_docstring(hold, rev, commit, state):
    status = judge(hold, rev, commit)
    assert status.state is state
    assert status.holds is (state in (HoldState.HELD, HoldState.UNPINNED))


def test_an_unpinned_hold_takes_the_readers_rev_and_commit_and_then_holds_until_it_moves():
    status = judge(Hold("x", "t"), "main", A)
    recorded = pinned(status)
    assert recorded == Hold("x", "t", rev="main", commit=A)
    assert judge(recorded, "main", A).state is HoldState.HELD and judge(recorded, "main", B).state is HoldState.ENDED
    assert pinned(judge(HOLD, None, A)) is None, "a pinned hold is not pinned again"


def test_the_record_round_trips_and_a_broken_one_names_the_configmap_and_the_fix():
    assert parse_hold(format_hold(HOLD), INVENTORY) == HOLD
    for text in ("{", "[]", '{"by": "x"}', '{"by": "x", "at": "t", "untilRelease": "yes"}'):
        with pytest.raises(RecordError) as caught:
            parse_hold(text, INVENTORY)
        message = str(caught.value)
        assert message.startswith(str(INVENTORY)) and f"{HOLD_ANNOTATION}-" in message and "-n default" in message


def test_the_hold_line_says_who_when_why_and_how_it_ends():
    line = hold_line(judge(HOLD, None, A))
    assert line == ("by admin (alice@laptop) since 2026-12-08T03:12:09Z, 'bad image'; until HEAD moves past "
                    "aaaaaaaaaaaa, or released")
    assert "HEAD is at bbbbbbbbbbbb now" in hold_line(judge(HOLD, None, B))
    assert "until released" == hold_line(judge(Hold("x", "t", until_release=True), None, A)).split("; ")[1]


# --- on the inventory ---------------------------------------------------------------------------------------

@pytest.fixture
def cluster(tmp_path) -> LocalCluster:
    return LocalCluster(tmp_path / "cluster.db")


def test_a_hold_survives_the_inventory_writes_of_an_apply(cluster):
    write_inventory(cluster, "shop", "default", [SETTINGS])
    AppHolds(cluster, "shop", "default").hold(HOLD)
    write_inventory(cluster, "shop", "default", [])
    assert read_hold(cluster, "shop", "default") == HOLD
    assert json.loads(cluster.get(INVENTORY)["data"]["objects"]) == []


def test_holding_an_app_without_an_inventory_says_which_namespace_was_looked_in(cluster):
    with pytest.raises(HoldError, match="no inventory in namespace 'default'.*--inventory-namespace"):
        AppHolds(cluster, "shop", "default").hold(HOLD)
    AppHolds(cluster, "shop", "default").hold(HOLD, create=True)  # apply --hold of a first apply
    assert read_hold(cluster, "shop", "default") == HOLD


def test_a_conditional_release_leaves_a_hold_set_again_meanwhile(cluster):
    holds = AppHolds(cluster, "shop", "default")
    holds.hold(HOLD, create=True)
    again = Hold("bob", "2026-12-08T03:20:00Z")
    holds.hold(again)
    assert holds.release(HOLD) is None and holds.read() == again
    assert holds.release() == again and holds.read() is None


def test_a_write_from_a_stale_read_is_retried_on_the_fresh_one(cluster):
    AppHolds(cluster, "shop", "default").hold(HOLD, create=True)
    calls = []

    def change(current):
        calls.append(current)
        if len(calls) == 1:  # another writer comes in between this read and the write
            cluster.patch(INVENTORY, {"metadata": {"labels": {"touched": "yes"}}}, PatchType.MERGE)
        return None

    assert change_hold(cluster, "shop", "default", change) == HOLD
    assert len(calls) == 2 and read_hold(cluster, "shop", "default") is None


def test_a_workloads_app_is_found_in_the_one_namespace_holding_its_inventory(cluster):
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}})
    write_inventory(cluster, "shop", "ops", [SETTINGS])
    assert AppHolds.of_workload_app(cluster, "shop", "default").namespace == "ops"
    with pytest.raises(HoldError, match="--no-hold"):
        AppHolds.of_workload_app(cluster, "other", "default")


# --- the session and the controller, on a repository --------------------------------------------------------

def commit(repo: Path, level: str) -> str:
    (repo / "settings.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
                                        f"  namespace: default\ndata:\n  level: {level}\n")
    return commit_all(repo, level)


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    return root


def level(cluster: LocalCluster) -> str | None:
    found = cluster.get(SETTINGS)
    return found["data"]["level"] if found else None


def test_a_held_apps_plan_is_refused_naming_the_hold_unless_overridden(cluster, repo):
    commit(repo, "good")
    session = AppSession(cluster, AppSpec(Request(path=str(repo), app="shop")))
    session.apply(session.plan())
    bad = commit(repo, "bad")
    AppHolds(cluster, "shop", "default").hold(Hold("admin", "t", reason="bad", rev="HEAD", commit=bad))
    (refusal,) = session.plan().refusals
    assert refusal.kind is FailureKind.HELD and "the app shop is held" in refusal.message
    assert "'bad'" in refusal.message and "gitapply release shop" in refusal.message
    assert session.plan(override_hold=True).refusals == []
    commit(repo, "fixed")
    assert session.plan().refusals == [], "git moved past the hold: it no longer refuses"


def test_apply_hold_records_where_head_is_not_the_rev_it_applies(cluster, repo):
    good = commit(repo, "good")
    bad = commit(repo, "bad")
    session = AppSession(cluster, AppSpec(Request(path=str(repo), rev=good, app="shop")))
    placed = session.hold(session.read(), by="admin", reason="rollback")
    assert (placed.rev, placed.commit) == ("HEAD", bad)


def runner(cluster: LocalCluster, repo: Path, *, leading: bool = True) -> AppRunner:
    return AppRunner("shop", AppSpec(Request(path=str(repo), app="shop")), cluster, Metrics(), lambda: leading)


def events(cluster: LocalCluster, reason: str) -> list[dict]:
    return [e for e in cluster.list("v1", "Event") if e["reason"] == reason]


def held_metric(loop: AppRunner) -> str:
    return next(line for line in loop.metrics.text().decode().splitlines()
                if line.startswith('gitapply_app_held{app="shop"}'))


def test_the_loop_leaves_a_held_app_alone_and_applies_once_git_moves(cluster, repo):
    commit(repo, "good")
    loop = runner(cluster, repo)
    assert loop.run_pass(1).changed == 1
    AppHolds(cluster, "shop", "default").hold(new_hold("admin", reason="bad level"))  # `gitapply hold shop`
    commit(repo, "bad")
    for number in (2, 3, 4):
        outcome = loop.run_pass(number)
        assert outcome.ok and outcome.held and outcome.changed == 0 and level(cluster) == "good"
    assert held_metric(loop).endswith(" 1.0")
    (held,) = events(cluster, "Held")
    assert held["involvedObject"]["name"] == INVENTORY.name and "uid" in held["involvedObject"]
    assert "by admin" in held["message"] and "'bad level'" in held["message"]
    assert read_hold(cluster, "shop", "default").commit == git(repo, "rev-parse", "HEAD"), "the loop recorded it"
    commit(repo, "fixed")
    outcome = loop.run_pass(5)
    assert not outcome.held and outcome.changed == 1 and level(cluster) == "fixed"
    assert read_hold(cluster, "shop", "default") is None and held_metric(loop).endswith(" 0.0")
    (released,) = events(cluster, "Released")
    assert "moved from" in released["message"]


def test_a_follower_reports_the_hold_and_neither_records_nor_ends_it(cluster, repo):
    commit(repo, "good")
    runner(cluster, repo).run_pass(1)
    AppHolds(cluster, "shop", "default").hold(new_hold("admin"))
    follower = runner(cluster, repo, leading=False)
    assert follower.run_pass(1).held and held_metric(follower).endswith(" 1.0")
    assert read_hold(cluster, "shop", "default").commit == "" and events(cluster, "Held") == []


def test_an_until_release_hold_outlasts_git_and_a_release_lets_the_next_pass_apply(cluster, repo):
    commit(repo, "good")
    loop = runner(cluster, repo)
    loop.run_pass(1)
    AppHolds(cluster, "shop", "default").hold(new_hold("admin", until_release=True))
    commit(repo, "later")
    assert loop.run_pass(2).held and level(cluster) == "good"
    AppHolds(cluster, "shop", "default").release()
    assert not loop.run_pass(3).held and level(cluster) == "later"
    assert "was released" in events(cluster, "Released")[0]["message"]


# --- the command line ---------------------------------------------------------------------------------------

def cli(db: Path, *args: str):
    return invoke(["--local", str(db), *args])


def test_the_3am_procedure_on_the_command_line(tmp_path, repo):
    db = tmp_path / "cluster.db"
    commit(repo, "good")
    commit(repo, "bad")
    assert cli(db, "apply", str(repo), "--app", "shop").exit_code == 0
    held = cli(db, "apply", str(repo), "--app", "shop", "--rev", "HEAD~1", "--hold", "--reason", "bad level")
    assert held.exit_code == 0 and "shop is held by" in held.output and "'bad level'" in held.output
    refused = cli(db, "apply", str(repo), "--app", "shop")
    assert refused.exit_code == 2 and "the app shop is held" in refused.output
    assert "nothing was applied" in refused.output
    report = json.loads(cli(db, "drift", str(repo), "--app", "shop", "-o", "json").output)
    assert report["hold"]["reason"] == "bad level" and report["hold"]["ended"] is False
    assert "shop is held by" in cli(db, "drift", str(repo), "--app", "shop").output
    commit(repo, "fixed")
    ended = cli(db, "apply", str(repo), "--app", "shop")
    assert ended.exit_code == 0 and "the hold ended, HEAD moved from" in ended.output
    assert level(LocalCluster(db)) == "fixed"


def test_hold_and_release_commands(tmp_path, repo):
    db = tmp_path / "cluster.db"
    commit(repo, "good")
    assert cli(db, "hold", "shop").exit_code == 2, "no such app"
    assert cli(db, "hold", "Shop!").exit_code == 2
    cli(db, "apply", str(repo), "--app", "shop")
    held = cli(db, "hold", "shop", "--reason", "freeze", "--until-release")
    assert held.exit_code == 0 and "until released" in held.output and "gitapply release shop" in held.output
    assert "that hold is replaced" in cli(db, "hold", "shop").output
    assert cli(db, "apply", str(repo), "--app", "shop", "--release").exit_code == 0
    assert read_hold(LocalCluster(db), "shop", "default") is None
    assert cli(db, "release", "shop").output.strip() == "shop was not held"
    assert cli(db, "release", "nosuch").exit_code == 2, "a typo is not 'not held'"
    assert cli(db, "apply", str(repo), "--app", "shop", "--hold", "--release").exit_code == 2


# --- the drift report and who is recorded ---------------------------------------------------------------------

def test_drift_json_and_junit_carry_the_hold():
    report = DriftReport("shop", A, 0.0, ())
    status = HoldStatus(HOLD, HoldState.HELD, "HEAD", A)
    assert drift_json(report)["hold"] is None
    assert drift_json(report, hold=status)["hold"]["commit"] == A
    junit = drift_junit(report, hold=status)
    assert '<property name="held" value="true" />' in junit and 'name="hold.by" value="admin (alice@laptop)"' in junit


def kubeconfig(tmp_path: Path, user: dict) -> str:
    path = tmp_path / "config"
    path.write_text(json.dumps({"current-context": "c", "clusters": [{"name": "c", "cluster": {"server": "https://x"}}],
                                "users": [{"name": "admin", "user": user}],
                                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "admin"}}]}))
    return str(path)


def test_who_is_the_service_account_of_a_token_else_the_kubeconfig_user(tmp_path):
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "system:serviceaccount:ops:deployer"}).encode()).decode()
    token = f"e30.{claims.rstrip('=')}.signature"
    assert acting_user(kubeconfig(tmp_path, {"token": token})).startswith("system:serviceaccount:ops:deployer (")
    assert acting_user(kubeconfig(tmp_path, {"token": "opaque"})).startswith("admin (")
    assert "@" in acting_user(local=True)
