"""The HPA hand-off of ``spec.replicas``, against the real control plane with its HPA controller running.

First the pitfall is reproduced with kubectl (a Deployment scaled to 7 drops to 1 when ``replicas`` leaves
the manifest while the last-applied annotation still holds it); then gitapply keeps 7, whether the HPA
arrives in the same commit, arrived earlier, or ``replicas`` is removed before any HPA exists. The HPA
controller really acts here: with no metrics it still enforces ``minReplicas``.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.cli_helpers import gitapply, live, write

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def deployment(replicas: int | None) -> str:
    lines = "" if replicas is None else f"  replicas: {replicas}\n"
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n" + lines +
            "  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n"
            "    spec:\n      containers:\n      - name: web\n        image: nginx:1.19\n")


def hpa(min_replicas: int, api_version: str = "autoscaling/v2beta2") -> str:
    return (f"apiVersion: {api_version}\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n"
            f"  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n"
            f"  minReplicas: {min_replicas}\n  maxReplicas: 10\n")


@pytest.fixture
def apply(control_plane, namespace, tmp_path):
    """Apply a set of files as the next 'commit' of the app; returns the completed process."""
    folder = tmp_path / "app"

    def run(files: dict[str, str], *extra: str):
        for old in folder.glob("*.yaml") if folder.exists() else ():
            old.unlink()
        write(folder, files)
        result = gitapply("apply", str(folder), "-n", namespace, "--app", "hpa", "--inventory-namespace",
                          namespace, *extra, kubeconfig=control_plane.kubeconfig)
        assert result.returncode == 0, result.stderr
        return result
    return run


def replicas(control_plane, namespace: str) -> int:
    return live(control_plane, namespace, "deployment/web")["spec"]["replicas"]


def recorded(control_plane, namespace: str) -> dict:
    return json.loads(live(control_plane, namespace, "deployment/web")["metadata"]["annotations"][LAST_APPLIED])


def wait_for_replicas(control_plane, namespace: str, wanted: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while replicas(control_plane, namespace) != wanted:
        assert time.monotonic() < deadline, f"replicas never became {wanted}"
        time.sleep(0.5)


def test_kubectl_apply_drops_a_scaled_deployment_to_one_replica(control_plane, namespace, tmp_path):
    """The pitfall, reproduced with the oracle: this is what gitapply must not do."""
    folder = write(tmp_path / "kubectl", {"web.yaml": deployment(3)})
    control_plane.kubectl("apply", "-n", namespace, "-f", str(folder / "web.yaml"))
    control_plane.kubectl("scale", "deployment/web", "--replicas=7", "-n", namespace)
    write(folder, {"web.yaml": deployment(None)})
    control_plane.kubectl("apply", "-n", namespace, "-f", str(folder / "web.yaml"))
    assert replicas(control_plane, namespace) == 1


def test_replicas_removed_with_the_hpa_in_the_same_commit_keeps_the_scale(control_plane, namespace, apply):
    apply({"web.yaml": deployment(3)})
    control_plane.kubectl("scale", "deployment/web", "--replicas=7", "-n", namespace)
    apply({"web.yaml": deployment(None), "hpa.yaml": hpa(7)})
    assert replicas(control_plane, namespace) == 7
    assert "replicas" not in recorded(control_plane, namespace)["spec"]


def test_an_earlier_hpa_owns_replicas_and_gitapply_never_fights_it(control_plane, namespace, apply):
    apply({"web.yaml": deployment(3), "hpa.yaml": hpa(7)})
    wait_for_replicas(control_plane, namespace, 7)
    changed = apply({"web.yaml": deployment(4), "hpa.yaml": hpa(7)})
    assert "deployment.apps/web" in changed.stdout and replicas(control_plane, namespace) == 7
    apply({"web.yaml": deployment(None), "hpa.yaml": hpa(7)})
    assert replicas(control_plane, namespace) == 7
    assert "replicas" not in recorded(control_plane, namespace)["spec"]


def test_replicas_removed_before_any_hpa_keeps_the_live_value(control_plane, namespace, apply):
    apply({"web.yaml": deployment(3)})
    control_plane.kubectl("scale", "deployment/web", "--replicas=7", "-n", namespace)
    apply({"web.yaml": deployment(None)})
    assert replicas(control_plane, namespace) == 7
    assert "replicas" not in recorded(control_plane, namespace)["spec"]
    apply({"web.yaml": deployment(None), "hpa.yaml": hpa(7, "autoscaling/v1")})
    assert replicas(control_plane, namespace) == 7


def test_removing_the_hpa_returns_replicas_to_git(control_plane, namespace, apply):
    apply({"web.yaml": deployment(None), "hpa.yaml": hpa(7, "autoscaling/v2beta1")})
    wait_for_replicas(control_plane, namespace, 7)
    apply({"web.yaml": deployment(4)}, "--prune", "--force-prune")
    assert live(control_plane, namespace, "hpa/web") is None
    assert replicas(control_plane, namespace) == 4
    assert recorded(control_plane, namespace)["spec"]["replicas"] == 4


def test_removing_the_hpa_with_no_replicas_in_git_keeps_the_live_value(control_plane, namespace, apply):
    apply({"web.yaml": deployment(None), "hpa.yaml": hpa(7)})
    wait_for_replicas(control_plane, namespace, 7)
    apply({"web.yaml": deployment(None)}, "--prune", "--force-prune")
    assert live(control_plane, namespace, "hpa/web") is None
    assert replicas(control_plane, namespace) == 7
