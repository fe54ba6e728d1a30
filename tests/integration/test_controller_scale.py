"""The controller at scale, against the real control plane with a proxy counting its requests: idle apps cost
(almost) no requests, an out-of-band change is put back within seconds whatever the interval, replicas share
apps with one writer each and take over a dead one's, and a signed push webhook triggers a pass at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.gitrepo import commit_all, git
from tests.harness.countproxy import CountingProxy
from tests.integration.test_controller import eventually, free_port, metric

LEASE, DEADLINE, RETRY = 3.0, 2.0, 0.5


def repository(tmp_path: Path, apps: dict[str, dict[str, str]]) -> Path:
    """A git repository with a folder per app (``apps/<name>/<file>``), committed."""
    root = tmp_path / "repo"
    for app, files in apps.items():
        for name, text in files.items():
            (root / "apps" / app).mkdir(parents=True, exist_ok=True)
            (root / "apps" / app / name).write_text(text)
    git(root, "init", "-q")
    commit_all(root, "apps")
    return root


def configmap(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"


def deployment(image: str = "nginx:1.19") -> str:
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n"
            "    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n"
            f"      containers:\n      - name: web\n        image: {image}\n")


def apps_file(tmp_path: Path, root: Path, namespaces: dict[str, str], interval: float) -> Path:
    lines = ["apps:"]
    for app, namespace in namespaces.items():
        lines += [f"  - name: {app}", f"    repository: {root}", f"    path: apps/{app}",
                  f"    namespace: {namespace}", f"    inventoryNamespace: {namespace}", f"    interval: {interval}",
                  "    prune: true"]
    path = tmp_path / "apps.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def reconcile(kubeconfig: str, apps: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gitapply", "reconcile", "--apps", str(apps), "--kubeconfig",
                                kubeconfig, "--metrics-addr", f"127.0.0.1:{port}", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, port


def stopped(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def passes(port: int, app: str) -> float:
    return metric(port, f'gitapply_passes_total{{app="{app}",result="ok"}}')


def image_of(control_plane, namespace: str) -> str:
    obj = control_plane.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def set_image(control_plane, namespace: str, image: str) -> None:
    control_plane.request("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/web",
                          {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}},
                          content_type="application/strategic-merge-patch+json")


@pytest.fixture
def namespaces(control_plane):
    made: list[str] = []

    def make(count: int, prefix: str) -> list[str]:
        made.extend(control_plane.new_namespace(prefix) for _ in range(count))
        return made[-count:]

    yield make
    for name in made:
        control_plane.delete_namespace(name)


def test_twenty_idle_apps_send_almost_no_requests_and_a_change_is_put_back_within_3_s(control_plane, namespaces,
                                                                                     tmp_path):
    spaces = dict(zip([f"app{i}" for i in range(20)], namespaces(20, "scale")))
    files = {app: {**{f"cm{j}.yaml": configmap(f"cm{j}") for j in range(10)}, "web.yaml": deployment()}
             for app in spaces}
    root = repository(tmp_path, files)
    apps = apps_file(tmp_path, root, spaces, interval=60)
    with CountingProxy(control_plane) as proxy:
        process, port = reconcile(proxy.kubeconfig(tmp_path / "kubeconfig"), apps)
        try:
            eventually(lambda: all(passes(port, app) >= 1 for app in spaces), timeout=180)
            time.sleep(2)  # the first passes' own writes come back through the watch: let those passes end
            before, first_passes = proxy.snapshot(), sum(passes(port, app) for app in spaces)
            time.sleep(65)  # longer than the interval: every app's resync pass falls in the window
            idle = proxy.requests_since(before)
            resyncs = sum(passes(port, app) for app in spaces) - first_passes
            assert resyncs >= 20, f"only {resyncs} passes in 65 s with a 60 s interval"
            assert idle.requests <= 5, f"{idle.requests} requests in 65 s idle: {proxy.log()[-20:]}"

            namespace = spaces["app7"]
            set_image(control_plane, namespace, "evil:1")
            took = eventually(lambda: image_of(control_plane, namespace) == "nginx:1.19", timeout=10)
            assert took <= 3.0, f"put back after {took:.1f} s"
            assert metric(port, "gitapply_cache_objects") >= 220
        finally:
            stopped(process)


def test_three_replicas_share_thirty_apps_one_writer_each_and_take_over_a_killed_one(control_plane, namespaces,
                                                                                    tmp_path):
    (lease_space,) = namespaces(1, "shard-leases")
    spaces = dict(zip([f"s{i}" for i in range(30)], namespaces(30, "shard")))
    root = repository(tmp_path, {app: {"settings.yaml": configmap("settings")} for app in spaces})
    apps = apps_file(tmp_path, root, spaces, interval=60)
    replicas = [reconcile(control_plane.kubeconfig, apps, "--leader-elect", "--shard", "--lease-namespace",
                          lease_space, "--identity", f"replica-{n}", "--lease-duration", str(LEASE),
                          "--renew-deadline", str(DEADLINE), "--retry-period", str(RETRY)) for n in range(3)]

    def writers(ports: list[int]) -> dict[str, float]:
        """How many replicas write each app (``gitapply_leader``), one /metrics read per replica."""
        counts = dict.fromkeys(spaces, 0.0)
        for port in ports:
            for app, value in leading(port).items():
                counts[app] += value
        return counts

    def leases() -> int:
        return len(control_plane.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{lease_space}/leases")
                   ["items"])

    try:
        ports = [port for _, port in replicas]
        eventually(lambda: set(writers(ports).values()) == {1.0}, timeout=120)
        assert all(0 < metric(port, "gitapply_shard_apps_assigned") < 30 for port in ports)
        assert all(metric(port, "gitapply_shard_members") == 3 for port in ports)
        assert leases() <= 4
        eventually(lambda: all(live_value(control_plane, ns) == "1" for ns in spaces.values()), timeout=120)

        victim, victim_port = replicas[0]
        theirs = [app for app, value in leading(victim_port).items() if value == 1]
        assert theirs
        victim.kill()
        victim.wait()
        survivors = ports[1:]
        took = eventually(lambda: set(writers(survivors).values()) == {1.0}, timeout=30)
        print(f"apps of the killed replica written by the others {took:.1f} s after kill -9 (lease {LEASE:g} s)")
        assert took <= LEASE + 2 * RETRY + 1.5, f"apps moved {took:.1f} s after kill -9"
        namespace = spaces[theirs[0]]
        control_plane.request("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/settings",
                              {"data": {"value": "changed"}}, content_type="application/merge-patch+json")
        eventually(lambda: live_value(control_plane, namespace) == "1", timeout=10)
        assert leases() <= 4
    finally:
        for process, _ in replicas:
            stopped(process)


def leading(port: int) -> dict[str, float]:
    """``gitapply_leader`` by app, from one read of a replica's /metrics."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:  # not serving yet
        return {}
    return {app: float(value) for app, value in re.findall(r'^gitapply_leader\{app="([^"]+)"\} (\S+)$', text, re.M)}


def live_value(control_plane, namespace: str) -> str | None:
    try:
        return control_plane.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/settings")["data"]["value"]
    except Exception:  # noqa: BLE001 - not created yet
        return None


def post(port: int, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/hooks/git", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def test_a_signed_push_webhook_triggers_a_pass_at_once_and_a_bad_signature_nothing(control_plane, namespaces,
                                                                                  tmp_path, monkeypatch):
    (namespace,) = namespaces(1, "webhook")
    root = repository(tmp_path, {"hooked": {"settings.yaml": configmap("settings", "1")}})
    apps = apps_file(tmp_path, root, {"hooked": namespace}, interval=600)
    secret = "s3cret"
    monkeypatch.setenv("GITAPPLY_WEBHOOK_SECRET", secret)
    hook_port = free_port()
    process, port = reconcile(control_plane.kubeconfig, apps, "--webhook-addr", f"127.0.0.1:{hook_port}")
    try:
        eventually(lambda: live_value(control_plane, namespace) == "1", timeout=60)
        (root / "apps" / "hooked" / "settings.yaml").write_text(configmap("settings", "2"))
        commit_all(root, "two")
        body = json.dumps({"ref": "refs/heads/master", "repository": {"clone_url": str(root)}}).encode()
        wrong = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
        assert post(hook_port, body, {"X-Hub-Signature-256": wrong, "X-GitHub-Event": "push"}) == 401
        assert post(hook_port, body, {"X-GitHub-Event": "push"}) == 401
        time.sleep(3)
        assert live_value(control_plane, namespace) == "1", "an unsigned push triggered a pass"
        right = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert post(hook_port, body, {"X-Hub-Signature-256": right, "X-GitHub-Event": "push"}) == 202
        took = eventually(lambda: live_value(control_plane, namespace) == "2", timeout=10)
        assert took <= 3.0, f"applied {took:.1f} s after the push"
    finally:
        stopped(process)
