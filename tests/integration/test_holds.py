"""Holds against the real control plane, with `gitapply reconcile --interval 2` running on a repository of
several commits: a rollback by commit (`apply --rev GOOD --hold`) or by workload revision (`rollback`) stays
while git stays, a new commit or `release` ends it; a held app's drift is still reported and `apply` refuses it;
two replicas with leader election honour the same hold across a take-over."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.gitrepo import commit_all, git
from tests.integration.cli_helpers import deployment_yaml, gitapply, live

INTERVAL = 2.0
GOOD, BAD, FIX = "nginx:1.19", "nginx:1.20", "nginx:1.21"


def commit(repo: Path, image: str) -> str:
    (repo / "web.yaml").write_text(deployment_yaml(replicas=1, image=image))
    return commit_all(repo, image)


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Loop:
    """A `gitapply reconcile` process on ``repo`` (app ``app``), its metrics on a port of its own."""

    def __init__(self, control_plane, namespace: str, repo: Path, app: str, *extra: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gitapply", "reconcile", str(repo), "-n", namespace, "--app", app,
             "--inventory-namespace", namespace, "--interval", str(INTERVAL), "--kubeconfig",
             control_plane.kubeconfig, "--metrics-addr", f"127.0.0.1:{self.port}", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def metric(self, series: str) -> float:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2).read().decode()
        except OSError:
            return -1.0
        found = re.findall(rf"^{re.escape(series)} (\S+)$", text, re.M)
        return float(found[0]) if found else -1.0

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def eventually(check, timeout: float = 30.0, what: str = "") -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"not in time: {what}"
        time.sleep(0.2)
    return time.monotonic() - start


def stays(check, seconds: float) -> None:
    """``check`` holds at every look for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check()
        time.sleep(0.2)


def image(control_plane, namespace) -> str | None:
    obj = live(control_plane, namespace, "deployment/web")
    return obj["spec"]["template"]["spec"]["containers"][0]["image"] if obj else None


def app_events(control_plane, namespace: str, app: str, reason: str) -> list[str]:
    found = json.loads(control_plane.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e["message"] for e in found if e.get("reason") == reason
            and e["involvedObject"]["name"] == f"gitapply-inventory-{app}"]


def hold_record(control_plane, namespace: str, app: str) -> dict | None:
    inventory = live(control_plane, namespace, f"configmap/gitapply-inventory-{app}") or {}
    text = (inventory.get("metadata", {}).get("annotations") or {}).get("gitapply.io/hold")
    return json.loads(text) if text else None


def test_apply_rev_good_hold_stays_until_a_new_commit_and_drift_is_still_reported(control_plane, namespace, repo):
    good = commit(repo, GOOD)
    bad = commit(repo, BAD)
    loop = Loop(control_plane, namespace, repo, "held")
    run = lambda *args: gitapply(*args, "-n", namespace, "--app", "held",  # noqa: E731
                                 "--inventory-namespace", namespace, kubeconfig=control_plane.kubeconfig)
    held = 'gitapply_app_held{app="held"}'
    try:
        eventually(lambda: image(control_plane, namespace) == BAD, what="the loop applies HEAD")
        result = run("apply", str(repo), "--rev", good, "--hold", "--reason", "1.20 crashes")
        assert result.returncode == 0, result.stderr
        assert "held is held by admin" in result.stdout and f"until HEAD moves past {bad[:12]}" in result.stdout
        assert hold_record(control_plane, namespace, "held")["commit"] == bad, "where git is, not what was applied"
        eventually(lambda: loop.metric(held) == 1, what="the held metric")
        stays(lambda: image(control_plane, namespace) == GOOD, 3 * INTERVAL + 0.5)
        assert "1.20 crashes" in app_events(control_plane, namespace, "held", "Held")[0]

        control_plane.kubectl("set", "image", "deployment/web", "web=evil:1", "-n", namespace)
        eventually(lambda: loop.metric('gitapply_objects{app="held",state="drifted"}') == 1, what="drift reported")

        def drifted_event() -> bool:  # sent in the pass that counted the drift, just after
            found = json.loads(control_plane.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
            return any(e["reason"] == "Drifted" and "kubectl-set" in e["message"] for e in found)
        eventually(drifted_event, what="a Drifted event")
        assert image(control_plane, namespace) == "evil:1", "a held app's drift is reported, not reverted"
        version = live(control_plane, namespace, "deployment/web")["metadata"]["resourceVersion"]
        refused = run("apply", str(repo))
        assert refused.returncode == 2 and "the app held is held" in refused.stderr, refused.stderr
        assert live(control_plane, namespace, "deployment/web")["metadata"]["resourceVersion"] == version

        commit(repo, FIX)
        took = eventually(lambda: image(control_plane, namespace) == FIX, what="the new commit is applied")
        print(f"a new commit ended the hold and was applied after {took:.1f} s (interval {INTERVAL:g} s)")
        assert loop.metric(held) == 0 and hold_record(control_plane, namespace, "held") is None
        assert "moved from" in app_events(control_plane, namespace, "held", "Released")[0]
    finally:
        loop.stop()


def test_rollback_holds_the_app_and_release_brings_git_back_at_the_next_pass(control_plane, namespace, repo):
    commit(repo, GOOD)
    loop = Loop(control_plane, namespace, repo, "rolled")
    try:
        eventually(lambda: image(control_plane, namespace) == GOOD, what="first apply")
        eventually(lambda: (live(control_plane, namespace, "deployment/web") or {}).get("status", {})
                   .get("updatedReplicas") == 1, what="first rollout")
        head = commit(repo, BAD)
        eventually(lambda: image(control_plane, namespace) == BAD, what="the bad commit is applied")
        # no --inventory-namespace: the app's inventory is found by its label in the test's namespace
        result = gitapply("rollback", "deployment/web", "-n", namespace, kubeconfig=control_plane.kubeconfig)
        assert result.returncode == 0, result.stderr
        assert "rolled back to revision 1" in result.stdout and "rolled is held by admin" in result.stdout
        eventually(lambda: (hold_record(control_plane, namespace, "rolled") or {}).get("commit") == head,
                   what="the loop records the commit it reads")
        stays(lambda: image(control_plane, namespace) == GOOD, 3 * INTERVAL + 0.5)
        assert loop.metric('gitapply_app_held{app="rolled"}') == 1

        released = gitapply("release", "rolled", "--inventory-namespace", namespace,
                            kubeconfig=control_plane.kubeconfig)
        assert released.returncode == 0 and "rolled released" in released.stdout
        took = eventually(lambda: image(control_plane, namespace) == BAD, timeout=3 * INTERVAL + 5,
                          what="the next pass applies git")
        print(f"after release, git's state was back in {took:.1f} s (interval {INTERVAL:g} s)")
        assert "was released" in app_events(control_plane, namespace, "rolled", "Released")[0]
    finally:
        loop.stop()


def test_apply_release_applies_a_held_app_and_ends_the_hold(control_plane, namespace, repo):
    commit(repo, GOOD)
    run = lambda *args: gitapply(*args, "-n", namespace, "--app", "manual", "--inventory-namespace",  # noqa: E731
                                 namespace, kubeconfig=control_plane.kubeconfig)
    assert run("apply", str(repo)).returncode == 0
    assert gitapply("hold", "manual", "--until-release", "--inventory-namespace", namespace,
                    kubeconfig=control_plane.kubeconfig).returncode == 0
    commit(repo, BAD)
    assert run("apply", str(repo)).returncode == 2, "--until-release: a new commit does not end it"
    assert image(control_plane, namespace) == GOOD
    drift = gitapply("drift", str(repo), "-n", namespace, "--app", "manual", "--inventory-namespace", namespace,
                     "-o", "json", kubeconfig=control_plane.kubeconfig)
    assert drift.returncode == 1 and json.loads(drift.stdout)["hold"]["untilRelease"] is True
    result = run("apply", str(repo), "--release")
    assert result.returncode == 0 and "manual released" in result.stdout, result.stderr
    assert image(control_plane, namespace) == BAD and hold_record(control_plane, namespace, "manual") is None


LEASE, DEADLINE, RETRY = 3.0, 2.0, 0.5


def test_two_replicas_honour_the_same_hold_across_a_take_over(control_plane, namespace, repo):
    good = commit(repo, GOOD)
    commit(repo, BAD)
    election = ["--leader-elect", "--lease-namespace", namespace, "--lease-duration", str(LEASE),
                "--renew-deadline", str(DEADLINE), "--retry-period", str(RETRY)]
    replicas = {name: Loop(control_plane, namespace, repo, "ha", *election, "--identity", name) for name in "ab"}
    held = 'gitapply_app_held{app="ha"}'

    def holder() -> str:
        return ((live(control_plane, namespace, "lease/gitapply-ha") or {}).get("spec") or {}).get("holderIdentity", "")

    try:
        eventually(lambda: holder() in replicas and image(control_plane, namespace) == BAD, what="a leader applies")
        result = gitapply("apply", str(repo), "--rev", good, "--hold", "-n", namespace, "--app", "ha",
                          "--inventory-namespace", namespace, kubeconfig=control_plane.kubeconfig)
        assert result.returncode == 0, result.stderr
        eventually(lambda: all(loop.metric(held) == 1 for loop in replicas.values()), what="both see the hold")
        leader = holder()
        follower = next(name for name in replicas if name != leader)
        replicas[leader].process.kill()
        eventually(lambda: replicas[follower].metric('gitapply_leader{app="ha"}') == 1, what="take-over")
        stays(lambda: image(control_plane, namespace) == GOOD, 3 * INTERVAL + 0.5)
        assert replicas[follower].metric(held) == 1
        commit(repo, FIX)
        eventually(lambda: image(control_plane, namespace) == FIX, what="the new leader ends the hold")
        assert replicas[follower].metric(held) == 0
    finally:
        for loop in replicas.values():
            loop.stop()
