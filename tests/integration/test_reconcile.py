"""The reconcile loop against the real control plane: it reverts an out-of-band change, survives a broken
commit without touching the cluster, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.integration.cli_helpers import deployment_yaml, live, write

WEB = deployment_yaml(replicas=1)


def image(control_plane, namespace) -> str | None:
    obj = live(control_plane, namespace, "deployment/web")
    return obj["spec"]["template"]["spec"]["containers"][0]["image"] if obj else None


def eventually(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the reconcile loop did not converge in time"
        time.sleep(0.3)


def test_reconcile_keeps_the_cluster_converged_and_stops_on_sigterm(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"web.yaml": WEB})
    process = subprocess.Popen(
        [sys.executable, "-m", "gitapply", "reconcile", str(folder), "-n", namespace, "--app", "loop",
         "--inventory-namespace", namespace, "--interval", "1", "--kubeconfig", control_plane.kubeconfig],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: image(control_plane, namespace) == "nginx:1.19")
        control_plane.kubectl("set", "image", "deployment/web", "web=evil:1", "-n", namespace)
        eventually(lambda: image(control_plane, namespace) == "nginx:1.19")
        write(folder, {"web.yaml": WEB.replace("nginx:1.19", "nginx:1.20").replace("replicas: 1", "replicas: [")})
        time.sleep(2.5)
        assert image(control_plane, namespace) == "nginx:1.19", "a broken commit changes nothing"
        write(folder, {"web.yaml": WEB.replace("nginx:1.19", "nginx:1.20")})
        eventually(lambda: image(control_plane, namespace) == "nginx:1.20")
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "pass 1" in stdout and "problem(s)" in stdout and "web.yaml" in stderr
