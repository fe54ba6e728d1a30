"""The controller against the real control plane: two replicas on one app, one writer; kill -9 of the
leader and the other takes over within the lease duration and reverts the next out-of-band change;
SIGTERM hands over at once."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.integration.cli_helpers import deployment_yaml, live, write

LEASE, DEADLINE, RETRY = 3.0, 2.0, 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(control_plane, namespace, folder, name):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gitapply", "reconcile", str(folder), "-n", namespace, "--app", "ha",
         "--inventory-namespace", namespace, "--interval", "1", "--kubeconfig", control_plane.kubeconfig,
         "--leader-elect", "--lease-namespace", namespace, "--identity", name, "--lease-duration", str(LEASE),
         "--renew-deadline", str(DEADLINE), "--retry-period", str(RETRY), "--metrics-addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, port


def metric(port: int, name: str) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return -1.0
    return sum(float(value) for value in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def holder(control_plane, namespace) -> str:
    lease = live(control_plane, namespace, "lease/gitapply-ha")
    return (lease or {}).get("spec", {}).get("holderIdentity") or ""


def image(control_plane, namespace) -> str | None:
    obj = live(control_plane, namespace, "deployment/web")
    return obj["spec"]["template"]["spec"]["containers"][0]["image"] if obj else None


def eventually(check, timeout: float = 30.0) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "not in time"
        time.sleep(0.1)
    return time.monotonic() - start


def test_one_writer_of_two_and_kill_9_hands_over_within_the_lease(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"web.yaml": deployment_yaml(replicas=1)})
    replicas = {name: start(control_plane, namespace, folder, name) for name in ("a", "b")}
    try:
        eventually(lambda: holder(control_plane, namespace) in replicas)
        eventually(lambda: image(control_plane, namespace) == "nginx:1.19")
        leader = holder(control_plane, namespace)
        follower = next(name for name in replicas if name != leader)
        control_plane.kubectl("set", "image", "deployment/web", "web=evil:1", "-n", namespace)
        eventually(lambda: image(control_plane, namespace) == "nginx:1.19")
        assert metric(replicas[leader][1], "gitapply_writes_total") >= 2
        assert metric(replicas[follower][1], "gitapply_writes_total") == 0, "the follower wrote"
        assert metric(replicas[follower][1], "gitapply_leader") == 0
        replicas[leader][0].kill()
        killed = time.monotonic()
        eventually(lambda: metric(replicas[follower][1], "gitapply_leader") == 1)
        took_over = time.monotonic() - killed
        print(f"take-over after kill -9: {took_over:.1f} s (lease {LEASE:g} s, retry {RETRY:g} s)")
        assert took_over <= LEASE + 2 * RETRY + 1.0
        control_plane.kubectl("set", "image", "deployment/web", "web=evil:2", "-n", namespace)
        eventually(lambda: image(control_plane, namespace) == "nginx:1.19")
        assert metric(replicas[follower][1], "gitapply_writes_total") >= 1
        assert holder(control_plane, namespace) == follower
    finally:
        for process, _ in replicas.values():
            process.kill()
            process.wait()


def test_sigterm_releases_the_lease_and_the_follower_takes_over_at_once(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"web.yaml": deployment_yaml(replicas=1)})
    replicas = {name: start(control_plane, namespace, folder, name) for name in ("a", "b")}
    try:
        eventually(lambda: holder(control_plane, namespace) in replicas)
        leader = holder(control_plane, namespace)
        follower = next(name for name in replicas if name != leader)
        eventually(lambda: metric(replicas[follower][1], "gitapply_passes_total") >= 1)
        replicas[leader][0].send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        eventually(lambda: metric(replicas[follower][1], "gitapply_leader") == 1)
        took_over = time.monotonic() - stopped
        print(f"take-over after SIGTERM: {took_over:.1f} s (interval 1 s, retry {RETRY:g} s)")
        assert took_over < 1.0 + 2 * RETRY + 0.5, "within a pass"
        assert replicas[leader][0].wait(timeout=30) == 0
    finally:
        for process, _ in replicas.values():
            process.kill()
            process.wait()


def probe(port: int, path: str) -> int:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return -1


def test_metrics_show_the_drift_then_its_heal_and_readyz_follows_git(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"web.yaml": deployment_yaml(replicas=1)})
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gitapply", "reconcile", str(folder), "-n", namespace, "--app", "watched",
         "--inventory-namespace", namespace, "--interval", "2", "--kubeconfig", control_plane.kubeconfig,
         "--metrics-addr", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    drifted = 'gitapply_objects{app="watched",state="drifted"}'
    try:
        eventually(lambda: metric(port, 'gitapply_objects{app="watched",state="in-sync"}') == 1)
        assert probe(port, "/healthz") == 200 and probe(port, "/readyz") == 200
        control_plane.kubectl("set", "image", "deployment/web", "web=evil:1", "-n", namespace)
        eventually(lambda: metric(port, drifted) == 1)
        assert metric(port, 'gitapply_drifted_fields{app="watched",manager="kubectl-set"}') >= 1
        eventually(lambda: metric(port, drifted) == 0)
        assert image(control_plane, namespace) == "nginx:1.19"
        folder.rename(tmp_path / "gone")
        eventually(lambda: probe(port, "/readyz") == 503)
        assert probe(port, "/healthz") == 200
        (tmp_path / "gone").rename(folder)
        eventually(lambda: probe(port, "/readyz") == 200)
    finally:
        process.kill()
        process.wait()


def test_two_apps_in_one_process_a_broken_one_does_not_stop_the_other(control_plane, namespace, tmp_path):
    good = write(tmp_path / "good", {"web.yaml": deployment_yaml(replicas=1)})
    bad = write(tmp_path / "bad", {"web.yaml": deployment_yaml(replicas=1).replace("replicas: 1", "replicas: [")})
    apps = tmp_path / "apps.yaml"
    apps.write_text(f"apps:\n  - name: good\n    repository: {good}\n    namespace: {namespace}\n"
                    f"    inventoryNamespace: {namespace}\n    interval: 1\n"
                    f"  - name: bad\n    repository: {bad}\n    namespace: {namespace}\n"
                    f"    inventoryNamespace: {namespace}\n    interval: 1\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gitapply", "reconcile", "--apps", str(apps), "--kubeconfig", control_plane.kubeconfig,
         "--metrics-addr", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: image(control_plane, namespace) == "nginx:1.19")
        eventually(lambda: metric(port, 'gitapply_errors_total{app="bad",reason="source"}') >= 1)
        write(good, {"web.yaml": deployment_yaml(replicas=1, image="nginx:1.20")})
        eventually(lambda: image(control_plane, namespace) == "nginx:1.20")
        assert metric(port, 'gitapply_passes_total{app="good",result="ok"}') >= 2
    finally:
        process.kill()
        process.wait()


def read_only_kubeconfig(control_plane, namespace, tmp_path) -> str:
    """A kubeconfig for a ServiceAccount bound to deploy/'s read-only drift role plus events create."""
    import json
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2] / "deploy"
    roles = [doc for path in (root / "rbac.yaml", root / "reconcile" / "detect-only" / "rbac.yaml")
             for doc in yaml.safe_load_all(path.read_text()) if doc and doc["kind"] == "ClusterRole"]
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(roles))
    token = control_plane.service_account_token(namespace, "watcher")
    for role in ("gitapply-drift-read", "gitapply-events"):
        control_plane.kubectl("create", "clusterrolebinding", f"{namespace}-{role}", f"--clusterrole={role}",
                              f"--serviceaccount={namespace}:watcher")
    config = json.loads(Path(control_plane.kubeconfig).read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    path = tmp_path / "watcher.kubeconfig"
    path.write_text(json.dumps(config))
    return str(path)


def test_detect_only_under_the_read_only_role_writes_nothing_and_emits_a_drifted_event(control_plane, namespace,
                                                                                       tmp_path):
    from tests.integration.cli_helpers import gitapply

    folder = write(tmp_path / "app", {"web.yaml": deployment_yaml(replicas=1)})
    assert gitapply("apply", str(folder), "-n", namespace, "--app", "watched", "--inventory-namespace", namespace,
                    kubeconfig=control_plane.kubeconfig).returncode == 0
    control_plane.kubectl("set", "image", "deployment/web", "web=evil:1", "-n", namespace)
    kubeconfig = read_only_kubeconfig(control_plane, namespace, tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gitapply", "reconcile", str(folder), "-n", namespace, "--app", "watched",
         "--inventory-namespace", namespace, "--interval", "1", "--kubeconfig", kubeconfig, "--detect-only",
         "--metrics-addr", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def drifted_events() -> list[str]:
        import json

        found = control_plane.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
        return [e["message"] for e in json.loads(found)["items"] if e.get("reason") == "Drifted"]

    try:
        eventually(lambda: bool(drifted_events()))
        assert "kubectl-set" in drifted_events()[0] and "image" in drifted_events()[0]
        eventually(lambda: metric(port, 'gitapply_passes_total{app="watched",result="ok"}') >= 2)
        assert image(control_plane, namespace) == "evil:1", "detect-only wrote"
        assert metric(port, "gitapply_writes_total") == 0
        assert metric(port, 'gitapply_errors_total{app="watched",reason="cluster"}') == 0
    finally:
        process.kill()
        process.wait()
