"""Kustomize overlays, piped manifests and Helm charts, against the real control plane.

The oracle for what an overlay means is ``kubectl kustomize DIR | kubectl apply -f -`` (Kustomize from the
machine's kubectl 1.32, apply from the v1.20.2 kubectl built with the control plane). The test data in
``data/kustomize`` is a base and two overlays (``namePrefix``, ``namespace``, labels, a strategic-merge patch,
JSON 6902 patches, a ``configMapGenerator`` with its hash suffix, ``images:``); each test copies it and points
the overlays' ``namespace:`` at its own namespace.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import commit_all, git
from tests.integration.cli_helpers import live
from tests.integration.test_differential import normalised, wait_settled

DATA = Path(__file__).parent / "data" / "kustomize"
GITAPPLY_MARKS = ("gitapply.io/app", "gitapply.io/commit")


def run(*args: str, kubeconfig: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``gitapply ARGS --kubeconfig …`` with ``stdin`` as its standard input."""
    return subprocess.run([sys.executable, "-m", "gitapply", *args, "--kubeconfig", kubeconfig], input=stdin,
                          capture_output=True, text=True, timeout=180)


def copy_data(target: Path, namespace: str) -> Path:
    """The base and overlays, copied to ``target`` with every overlay in ``namespace``."""
    shutil.copytree(DATA, target)
    for kustomization in target.glob("overlays/*/kustomization.yaml"):
        kustomization.write_text(kustomization.read_text().replace("namespace: shop", f"namespace: {namespace}"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def objects(control_plane, namespace: str) -> dict[str, dict[str, Any]]:
    """The Deployments, Services and ConfigMaps in ``namespace`` by kind/name, gitapply's inventory left out."""
    listed = json.loads(control_plane.kubectl("get", "deployments,services,configmaps", "-n", namespace,
                                              "-o", "json").stdout)["items"]
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in listed
            if not o["metadata"]["name"].startswith(("gitapply-inventory-", "kube-root-ca"))}


def comparable(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """As the differential tests compare, without gitapply's own label and annotation (kubectl has none)."""
    metadata = obj["metadata"]
    for field in ("labels", "annotations"):
        values = {k: v for k, v in (metadata.get(field) or {}).items() if k not in GITAPPLY_MARKS}
        metadata.pop(field, None)
        if values:
            metadata[field] = values
    return normalised(obj, namespace)


def settled(control_plane, namespace: str) -> dict[str, dict[str, Any]]:
    found = objects(control_plane, namespace)
    for name, obj in found.items():
        if obj["kind"] == "Deployment":
            found[name] = wait_settled(lambda: live(control_plane, namespace, name.lower()) or {})
    return {name: comparable(obj, namespace) for name, obj in found.items()}


def image(control_plane, namespace: str, name: str = "deployment/prod-web") -> str:
    return (live(control_plane, namespace, name) or {})["spec"]["template"]["spec"]["containers"][0]["image"]


@pytest.fixture
def repo(tmp_path, namespace) -> Path:
    """The test data as a git repository, overlays pointed at the test's namespace, one commit."""
    root = copy_data(tmp_path / "repo", namespace)
    git(root, "init", "-q")
    commit_all(root, "shop: base, prod and staging")
    return root


@pytest.mark.parametrize("overlay", ["prod", "staging"])
def test_apply_of_an_overlay_leaves_what_kubectl_kustomize_and_kubectl_apply_leave(overlay, control_plane,
                                                                                   tmp_path):
    ns_kubectl, ns_gitapply = control_plane.new_namespace("kz-kubectl"), control_plane.new_namespace("kz-gitapply")
    by_kubectl = copy_data(tmp_path / "kubectl", ns_kubectl) / "overlays" / overlay
    rendered = subprocess.run(["kubectl", "kustomize", str(by_kubectl)], check=True, capture_output=True,
                              text=True).stdout
    control_plane.kubectl("apply", "-f", "-", input=rendered)
    by_gitapply = copy_data(tmp_path / "gitapply", ns_gitapply) / "overlays" / overlay
    args = ("--app", f"shop-{overlay}", "--inventory-namespace", ns_gitapply)
    result = run("apply", str(by_gitapply), *args, kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 0, result.stderr

    expected, got = settled(control_plane, ns_kubectl), settled(control_plane, ns_gitapply)
    assert sorted(got) == sorted(expected) and len(got) == 3
    assert got == expected
    again = run("diff", str(by_gitapply), *args, kubeconfig=control_plane.kubeconfig)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 to create, 0 to change, 0 to prune, 3 unchanged" in again.stdout


def test_a_committed_overlay_change_shows_in_diff_at_that_revision(repo, control_plane, namespace):
    args = ("--path", "overlays/prod", "--app", "shop", "--inventory-namespace", namespace)
    assert run("apply", str(repo), *args, kubeconfig=control_plane.kubeconfig).returncode == 0
    edit(repo / "overlays/prod/kustomization.yaml", 'newTag: "1.21"', 'newTag: "1.22"')
    uncommitted = run("diff", str(repo), *args, kubeconfig=control_plane.kubeconfig)
    assert uncommitted.returncode == 0, "only commits are read: the work tree's edit is not in HEAD"
    commit_all(repo, "prod: nginx 1.22")
    result = run("diff", str(repo), *args, "--rev", "HEAD", kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 1, result.stderr
    assert "-        image: nginx:1.21" in result.stdout and "+        image: nginx:1.22" in result.stdout
    assert "0 to create, 1 to change, 0 to prune, 2 unchanged" in result.stdout
    assert run("diff", str(repo), *args, "--rev", "HEAD~1", kubeconfig=control_plane.kubeconfig).returncode == 0


def test_rollback_by_commit_of_a_kustomize_app(repo, control_plane, namespace):
    args = ("--path", "overlays/prod", "--app", "shop", "--inventory-namespace", namespace)
    good = git(repo, "rev-parse", "HEAD")
    edit(repo / "overlays/prod/kustomization.yaml", 'newTag: "1.21"', 'newTag: "1.22"')
    commit_all(repo, "prod: nginx 1.22")
    assert run("apply", str(repo), *args, kubeconfig=control_plane.kubeconfig).returncode == 0
    assert image(control_plane, namespace) == "nginx:1.22"

    result = run("apply", str(repo), *args, "--rev", good, kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert image(control_plane, namespace) == "nginx:1.21"
    annotations = live(control_plane, namespace, "deployment/prod-web")["metadata"]["annotations"]
    assert annotations["gitapply.io/commit"] == good
    assert run("diff", str(repo), *args, "--rev", good, kubeconfig=control_plane.kubeconfig).returncode == 0


def test_a_generator_hash_change_prunes_the_old_configmap_only_with_prune(repo, control_plane, namespace):
    args = ("--path", "overlays/prod", "--app", "shop", "--inventory-namespace", namespace)
    assert run("apply", str(repo), *args, kubeconfig=control_plane.kubeconfig).returncode == 0
    (old,) = [name for name in objects(control_plane, namespace) if name.startswith("ConfigMap/prod-web-settings")]
    edit(repo / "overlays/prod/kustomization.yaml", "LOG_LEVEL=warn", "LOG_LEVEL=error")
    commit_all(repo, "prod: log errors only")

    assert run("apply", str(repo), *args, kubeconfig=control_plane.kubeconfig).returncode == 0
    settings = sorted(n for n in objects(control_plane, namespace) if n.startswith("ConfigMap/prod-web-settings"))
    assert len(settings) == 2 and old in settings, "without --prune the old ConfigMap stays"
    (new,) = [name for name in settings if name != old]
    env_from = live(control_plane, namespace, "deployment/prod-web")["spec"]["template"]["spec"]["containers"][0]
    assert env_from["envFrom"][0]["configMapRef"]["name"] == new.split("/")[1]

    result = run("apply", str(repo), *args, "--prune", kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert f"configmap/{old.split('/')[1]} -n {namespace} pruned" in result.stdout
    settings = sorted(n for n in objects(control_plane, namespace) if n.startswith("ConfigMap/prod-web-settings"))
    assert settings == [new]


def test_drift_of_a_kustomize_app_is_seen_on_the_rendered_objects(repo, control_plane, namespace):
    args = ("--path", "overlays/staging", "--app", "shop", "--inventory-namespace", namespace)
    assert run("apply", str(repo), *args, kubeconfig=control_plane.kubeconfig).returncode == 0
    assert run("drift", str(repo), *args, kubeconfig=control_plane.kubeconfig).returncode == 0
    control_plane.kubectl("set", "image", "deployment/staging-web", "web=nginx:1.25", "-n", namespace)
    result = run("drift", str(repo), *args, "-o", "json", kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 1, result.stderr
    assert "staging-web" in result.stdout and "nginx:1.25" in result.stdout


@pytest.mark.parametrize("kustomization, message", [
    ("resources: [../../base, missing.yaml]\n", "kustomize failed"),
    ("resources:\n- ../../base\n- https://github.com/example/shop//base?ref=v1\n", "remote base"),
    ("resources: []\n", "renders no objects"),
])
def test_a_broken_overlay_exits_2_and_writes_nothing(kustomization, message, control_plane, namespace, tmp_path):
    overlay = copy_data(tmp_path / "data", namespace) / "overlays" / "prod"
    (overlay / "kustomization.yaml").write_text(f"namespace: {namespace}\n{kustomization}")
    result = run("apply", str(overlay), "--app", "shop", "--inventory-namespace", namespace, "--prune",
                 "--force-prune", kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{overlay / 'kustomization.yaml'}: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert objects(control_plane, namespace) == {}
    assert live(control_plane, namespace, "configmap/gitapply-inventory-shop") is None


def test_manifests_piped_in_apply_and_diff_with_app(control_plane, namespace, tmp_path):
    overlay = copy_data(tmp_path / "data", namespace) / "overlays" / "staging"
    rendered = subprocess.run(["kubectl", "kustomize", str(overlay)], check=True, capture_output=True,
                              text=True).stdout
    args = ("--app", "piped", "--inventory-namespace", namespace)
    result = run("apply", "-", *args, kubeconfig=control_plane.kubeconfig, stdin=rendered)
    assert result.returncode == 0, result.stderr
    assert live(control_plane, namespace, "deployment/staging-web")["metadata"]["labels"]["gitapply.io/app"] == \
        "piped"
    assert run("diff", "-", *args, kubeconfig=control_plane.kubeconfig, stdin=rendered).returncode == 0
    changed = rendered.replace("LOG_LEVEL: debug", "LOG_LEVEL: info")
    assert run("diff", "-", *args, kubeconfig=control_plane.kubeconfig, stdin=changed).returncode == 1


def test_manifests_piped_in_without_app_exit_2_and_write_nothing(control_plane, namespace, tmp_path):
    overlay = copy_data(tmp_path / "data", namespace) / "overlays" / "staging"
    rendered = subprocess.run(["kubectl", "kustomize", str(overlay)], check=True, capture_output=True,
                              text=True).stdout
    result = run("apply", "-", "--inventory-namespace", namespace, kubeconfig=control_plane.kubeconfig,
                 stdin=rendered)
    assert result.returncode == 2 and "--app" in result.stderr and "standard input" in result.stderr
    assert objects(control_plane, namespace) == {}
    empty = run("apply", "-", "--app", "x", kubeconfig=control_plane.kubeconfig, stdin="")
    assert empty.returncode == 2 and "holds no objects" in empty.stderr


def test_a_helm_chart_is_refused_with_the_command_to_pipe_it(control_plane, namespace, tmp_path):
    chart = tmp_path / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                                 "  name: {{ .Release.Name }}\n")
    result = run("apply", str(chart), "-n", namespace, kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "helm template NAME" in result.stderr and "| gitapply apply - --app NAME" in result.stderr
    assert objects(control_plane, namespace) == {}


def test_reconcile_renders_the_overlay_on_every_pass(repo, control_plane, namespace):
    args = ("--path", "overlays/staging", "--app", "shop", "--inventory-namespace", namespace)
    result = run("reconcile", str(repo), *args, "--passes", "2", "--interval", "0.2",
                 kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pass 2 at" in result.stdout and "0 changed, ok" in result.stdout.splitlines()[-1]
    assert image(control_plane, namespace, "deployment/staging-web") == "nginx:1.19"
    refused = run("reconcile", "-", "--app", "x", "--passes", "1", kubeconfig=control_plane.kubeconfig)
    assert refused.returncode == 2 and "standard input only once" in refused.stderr
