"""Revision history, rollback to a workload revision, and automatic rollback of a failed rollout, against the
real control plane (the node simulator never readies pods whose image says ``bad``)."""

from __future__ import annotations

import json

import pytest

from tests.integration.cli_helpers import gitapply, live, write

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def deployment(image: str) -> str:
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
            "  progressDeadlineSeconds: 8\n  selector:\n    matchLabels: {app: web}\n  template:\n"
            "    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n"
            f"        image: {image}\n")


@pytest.fixture
def app(control_plane, namespace, tmp_path):
    folder = tmp_path / "app"

    def run(command: str, *args: str, image: str | None = None):
        if image is not None:
            write(folder, {"web.yaml": deployment(image)})
        target = [str(folder)] if command in ("apply", "diff", "drift") else []
        # the inventory (and a rollback's hold on the app) in the test's namespace, gone with it
        inventory = ["--inventory-namespace", namespace] if command != "history" else []
        return gitapply(command, *target, *args, "-n", namespace, *inventory, kubeconfig=control_plane.kubeconfig)
    return run


def image(control_plane, namespace) -> str:
    return live(control_plane, namespace, "deployment/web")["spec"]["template"]["spec"]["containers"][0]["image"]


def test_apply_wait_reports_a_healthy_rollout(app):
    result = app("apply", "--wait", "--timeout", "60", image="nginx:1.19")
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/web: ready" in result.stderr


def test_a_failed_rollout_is_rolled_back_to_the_last_good_configuration(app, control_plane, namespace):
    assert app("apply", "--wait", "--timeout", "60", image="nginx:1.19").returncode == 0
    result = app("apply", "--wait", "--timeout", "60", "--rollback-on-failure", image="nginx:bad")
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "rollout failed" in result.stderr
    assert "rolled back to its previous configuration" in result.stdout
    assert image(control_plane, namespace) == "nginx:1.19"
    record = json.loads(live(control_plane, namespace, "deployment/web")["metadata"]["annotations"][LAST_APPLIED])
    assert record["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.19"
    assert app("diff").returncode == 1, "git still holds the bad image: the next apply would roll forward"


def test_without_rollback_a_failed_rollout_exits_4_and_stays(app, control_plane, namespace):
    assert app("apply", image="nginx:1.19").returncode == 0
    result = app("apply", "--wait", "--timeout", "60", image="nginx:bad")
    assert result.returncode == 4 and "rollout failed" in result.stderr
    assert image(control_plane, namespace) == "nginx:bad"


def test_history_lists_revisions_and_rollback_restores_the_previous_one(app, control_plane, namespace):
    for tag in ("1.19", "1.20", "1.21"):
        assert app("apply", "--wait", "--timeout", "60", image=f"nginx:{tag}").returncode == 0
    listed = json.loads(app("history", "deployment/web", "-o", "json").stdout)
    assert [(r["revision"], r["images"], r["current"]) for r in listed] == [
        (1, ["nginx:1.19"], False), (2, ["nginx:1.20"], False), (3, ["nginx:1.21"], True)]
    result = app("rollback", "deployment/web", "--wait", "--timeout", "60")
    assert result.returncode == 0, result.stderr
    assert "rolled back to revision 2 (nginx:1.20)" in result.stdout
    assert "app is held by" in result.stdout, "the app that applied it is held (docs/rollback.md)"
    assert image(control_plane, namespace) == "nginx:1.20"
    assert app("rollback", "deployment/web", "--to-revision", "1").returncode == 0
    assert image(control_plane, namespace) == "nginx:1.19"


def test_rollback_to_a_revision_that_does_not_exist_says_which_exist(app):
    assert app("apply", image="nginx:1.19").returncode == 0
    result = app("rollback", "deployment/web", "--to-revision", "9")
    assert result.returncode == 2 and "no revision 9" in result.stderr and "kept are 1" in result.stderr


def test_history_of_a_missing_workload_is_a_clear_error(app):
    result = app("history", "deployment/nope")
    assert result.returncode == 3 and "not found" in result.stderr
    assert app("history", "service/web").returncode == 2


def statefulset(image: str) -> str:
    return ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  replicas: 1\n"
            "  serviceName: db\n  selector:\n    matchLabels: {app: db}\n  template:\n"
            "    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n      - name: db\n"
            f"        image: {image}\n")


def test_a_statefulset_rolls_back_through_its_controller_revisions(control_plane, namespace, tmp_path):
    folder = tmp_path / "db"
    for tag in ("13", "14"):
        write(folder, {"db.yaml": statefulset(f"postgres:{tag}")})
        result = gitapply("apply", str(folder), "-n", namespace, "--wait", "--timeout", "60",
                          "--inventory-namespace", namespace, kubeconfig=control_plane.kubeconfig)
        assert result.returncode == 0, result.stderr
    listed = json.loads(gitapply("history", "sts/db", "-n", namespace, "-o", "json",
                                 kubeconfig=control_plane.kubeconfig).stdout)
    assert [(r["revision"], r["images"], r["current"]) for r in listed] == [
        (1, ["postgres:13"], False), (2, ["postgres:14"], True)]
    back = gitapply("rollback", "statefulset/db", "-n", namespace, "--inventory-namespace", namespace,
                    kubeconfig=control_plane.kubeconfig)
    assert back.returncode == 0 and "rolled back to revision 1" in back.stdout
    spec = live(control_plane, namespace, "statefulset/db")["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "postgres:13"


def test_a_daemonset_rolls_back_through_its_controller_revisions(control_plane, namespace, tmp_path):
    folder = tmp_path / "agent"
    manifest = ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n"
                "    matchLabels: {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n"
                "    spec:\n      containers:\n      - name: agent\n        image: fluent/fluent-bit:{tag}\n")
    for tag in ("2.0", "2.1"):
        write(folder, {"agent.yaml": manifest.replace("{tag}", tag)})
        result = gitapply("apply", str(folder), "-n", namespace, "--inventory-namespace", namespace,
                          kubeconfig=control_plane.kubeconfig)
        assert result.returncode == 0, result.stderr
    listed = json.loads(gitapply("history", "ds/agent", "-n", namespace, "-o", "json",
                                 kubeconfig=control_plane.kubeconfig).stdout)
    assert [(r["revision"], r["images"]) for r in listed] == [(1, ["fluent/fluent-bit:2.0"]),
                                                             (2, ["fluent/fluent-bit:2.1"])]
    assert listed[-1]["current"]
    back = gitapply("rollback", "daemonset/agent", "-n", namespace, "--inventory-namespace", namespace,
                    kubeconfig=control_plane.kubeconfig)
    assert back.returncode == 0 and "rolled back to revision 1" in back.stdout
    spec = live(control_plane, namespace, "daemonset/agent")["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "fluent/fluent-bit:2.0"
