"""``gitapply diff`` and ``gitapply apply`` end to end, through the command line, against the real control plane.

Each test works in its own namespace, with the app's inventory kept there too, and checks what a user sees:
the output, the exit code, and what the cluster holds afterwards (or that nothing was written).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_helpers import deployment_yaml, gitapply, live, write

DEPLOYMENT = deployment_yaml()
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  level: info
"""
SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
"""


@pytest.fixture
def run(control_plane, namespace):
    def invoke(command: str, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return gitapply(command, str(path), "-n", namespace, "--app", "shop", "--inventory-namespace", namespace,
                        *extra, kubeconfig=control_plane.kubeconfig)
    return invoke


def test_diff_of_new_objects_shows_them_and_exits_1(tmp_path, run):
    source = write(tmp_path / "app", {"web.yaml": DEPLOYMENT, "cm.yaml": CONFIGMAP})
    result = run("diff", source, "--no-color")
    assert result.returncode == 1, result.stderr
    assert "+  name: web" in result.stdout and "+    level: info" not in result.stdout
    assert "+  level: info" in result.stdout
    assert "2 to create, 0 to change, 0 to prune, 0 unchanged" in result.stdout


def test_apply_creates_then_reports_unchanged_and_diff_exits_0(tmp_path, run, control_plane, namespace):
    source = write(tmp_path / "app", {"web.yaml": DEPLOYMENT, "cm.yaml": CONFIGMAP})
    first = run("apply", source)
    assert first.returncode == 0, first.stderr
    assert f"deployment.apps/web -n {namespace} created" in first.stdout
    assert f"configmap/settings -n {namespace} created" in first.stdout
    second = run("apply", source)
    assert second.returncode == 0 and f"deployment.apps/web -n {namespace} unchanged" in second.stdout
    assert run("diff", source).returncode == 0
    deployed = live(control_plane, namespace, "deployment/web")
    assert deployed["metadata"]["labels"]["gitapply.io/app"] == "shop"


def test_diff_shows_a_changed_field_and_json_names_its_path(tmp_path, run):
    source = write(tmp_path / "app", {"web.yaml": DEPLOYMENT})
    assert run("apply", source).returncode == 0
    write(source, {"web.yaml": DEPLOYMENT.replace("nginx:1.19", "nginx:1.20")})
    text = run("diff", source, "--no-color")
    assert text.returncode == 1
    assert "-      - image: nginx:1.19" in text.stdout and "+      - image: nginx:1.20" in text.stdout
    report = json.loads(run("diff", source, "-o", "json").stdout)
    (entry,) = [o for o in report["objects"] if o["object"].endswith("/web")]
    assert entry["action"] == "patch"
    assert entry["changedPaths"] == ["spec.template.spec.containers[0].image"]


def test_secret_values_never_appear_in_a_diff(tmp_path, run):
    source = write(tmp_path / "app", {"secret.yaml": SECRET})
    assert run("apply", source).returncode == 0
    assert run("diff", source).returncode == 0, "stringData is compared as the server stores it"
    write(source, {"secret.yaml": SECRET.replace("hunter2", "swordfish")})
    result = run("diff", source, "--no-color")
    assert result.returncode == 1
    assert "hunter2" not in result.stdout and "swordfish" not in result.stdout
    assert "*** (before)" in result.stdout and "*** (after)" in result.stdout
    assert "swordfish" not in run("diff", source, "-o", "json").stdout


def test_dry_run_writes_nothing(tmp_path, run, control_plane, namespace):
    source = write(tmp_path / "app", {"cm.yaml": CONFIGMAP})
    result = run("apply", source, "--dry-run")
    assert result.returncode == 0 and "created (dry run)" in result.stdout
    assert live(control_plane, namespace, "configmap/settings") is None


def test_prune_deletes_what_git_dropped_but_never_foreign_objects(tmp_path, run, control_plane, namespace):
    files = {f"cm{i}.yaml": CONFIGMAP.replace("name: settings", f"name: cm{i}") for i in range(4)}
    source = write(tmp_path / "app", files)
    assert run("apply", source, "--prune").returncode == 0
    control_plane.kubectl("create", "configmap", "foreign", "-n", namespace, "--from-literal=a=b")
    (source / "cm3.yaml").unlink()
    result = run("apply", source, "--prune")
    assert result.returncode == 0, result.stderr
    assert f"configmap/cm3 -n {namespace} pruned" in result.stdout
    assert live(control_plane, namespace, "configmap/cm3") is None
    assert live(control_plane, namespace, "configmap/foreign") is not None


def test_prune_guard_refuses_to_delete_most_of_the_app(tmp_path, run, control_plane, namespace):
    files = {f"cm{i}.yaml": CONFIGMAP.replace("name: settings", f"name: cm{i}") for i in range(4)}
    source = write(tmp_path / "app", files)
    assert run("apply", source, "--prune").returncode == 0
    for name in ("cm1.yaml", "cm2.yaml", "cm3.yaml"):
        (source / name).unlink()
    refused = run("apply", source, "--prune")
    assert refused.returncode == 2 and "--force-prune" in refused.stderr
    assert live(control_plane, namespace, "configmap/cm3") is not None, "nothing was deleted"
    forced = run("apply", source, "--prune", "--force-prune")
    assert forced.returncode == 0 and live(control_plane, namespace, "configmap/cm3") is None


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_apply_an_older_commit_without_touching_the_work_tree(tmp_path, run, control_plane, namespace):
    repo = write(tmp_path / "repo", {"cm.yaml": CONFIGMAP})
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "v1", "--allow-empty")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "info")
    old = git(repo, "rev-parse", "HEAD")
    write(repo, {"cm.yaml": CONFIGMAP.replace("info", "debug")})
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "debug")
    write(repo, {"cm.yaml": CONFIGMAP.replace("info", "uncommitted")})
    assert run("apply", repo).returncode == 0
    assert live(control_plane, namespace, "configmap/settings")["data"]["level"] == "debug"
    result = run("apply", repo, "--rev", old)
    assert result.returncode == 0, result.stderr
    applied = live(control_plane, namespace, "configmap/settings")
    assert applied["data"]["level"] == "info"
    assert applied["metadata"]["annotations"]["gitapply.io/commit"] == old
    assert "uncommitted" in (repo / "cm.yaml").read_text(), "the work tree is untouched"


@pytest.mark.parametrize("files, expected", [
    ({"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n"}, "bad.yaml:"),
    ({"a.yaml": CONFIGMAP, "b.yaml": CONFIGMAP}, "defined twice"),
    ({"w.yaml": "apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g}\n"}, "Gizmo"),
    ({"w.yaml": DEPLOYMENT.replace("image: nginx", "imagee: nginx")}, "imagee"),
    ({"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, namespace: other}\n"}, "cluster-scoped"),
], ids=["broken yaml", "duplicate object", "unknown kind", "unknown field", "namespace on cluster-scoped kind"])
def test_bad_input_is_reported_with_exit_2_and_nothing_is_written(tmp_path, run, control_plane, namespace,
                                                                  files, expected):
    source = write(tmp_path / "app", {"good.yaml": CONFIGMAP.replace("settings", "innocent"), **files})
    for command in ("diff", "apply"):
        result = run(command, source)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert expected in result.stderr
    assert live(control_plane, namespace, "configmap/innocent") is None


def test_immutable_field_is_refused_naming_the_field_then_replaced_on_request(tmp_path, run, control_plane,
                                                                             namespace):
    source = write(tmp_path / "app", {"web.yaml": DEPLOYMENT, "cm.yaml": CONFIGMAP})
    assert run("apply", source).returncode == 0
    changed = DEPLOYMENT.replace("{app: web}", "{app: web2}")
    write(source, {"web.yaml": changed, "cm.yaml": CONFIGMAP.replace("info", "debug")})
    refused = run("apply", source)
    assert refused.returncode == 2
    assert "spec.selector" in refused.stderr and "--force-replace" in refused.stderr
    assert live(control_plane, namespace, "configmap/settings")["data"]["level"] == "info", "nothing written"
    replaced = run("apply", source, "--force-replace")
    assert replaced.returncode == 0, replaced.stderr
    assert f"deployment.apps/web -n {namespace} replaced" in replaced.stdout
    assert live(control_plane, namespace, "deployment/web")["spec"]["selector"]["matchLabels"] == {"app": "web2"}


def test_an_object_too_large_that_insists_on_client_side_apply_is_refused_before_anything_is_written(
        tmp_path, run, control_plane, namespace):
    big = CONFIGMAP.replace("level: info", "blob: " + "x" * 300_000).replace(
        "  name: settings\n", "  name: settings\n  annotations: {gitapply.io/apply-method: client-side}\n")
    source = write(tmp_path / "app", {"big.yaml": big, "small.yaml": CONFIGMAP.replace("settings", "small")})
    result = run("apply", source)
    assert result.returncode == 2
    assert "ConfigMap" in result.stderr and "262144" in result.stderr and "remove that annotation" in result.stderr
    assert "big.yaml:1" in result.stderr, "the refusal names the file and line, as validation errors do"
    assert live(control_plane, namespace, "configmap/small") is None
    write(tmp_path / "app", {"big.yaml": CONFIGMAP.replace("level: info", "blob: " + "x" * 300_000)})
    result = run("apply", source)
    assert result.returncode == 0 and "configmap/settings" in result.stdout
    assert "(server-side: too large for client-side apply)" in result.stdout


def test_server_dry_run_diff_shows_the_servers_defaults(tmp_path, run, control_plane, namespace):
    source = write(tmp_path / "app", {"web.yaml": DEPLOYMENT})
    local = run("diff", source, "--no-color")
    server = run("diff", source, "--no-color", "--server-dry-run")
    assert local.returncode == server.returncode == 1
    assert "progressDeadlineSeconds: 600" in server.stdout and "progressDeadlineSeconds" not in local.stdout
    assert live(control_plane, namespace, "deployment/web") is None, "a dry-run writes nothing"


def test_an_object_dropped_from_git_without_prune_is_still_pruned_later(tmp_path, run, control_plane, namespace):
    files = {f"cm{i}.yaml": CONFIGMAP.replace("name: settings", f"name: cm{i}") for i in range(3)}
    source = write(tmp_path / "app", files)
    assert run("apply", source).returncode == 0
    (source / "cm2.yaml").unlink()
    assert run("apply", source).returncode == 0
    assert live(control_plane, namespace, "configmap/cm2") is not None, "without --prune nothing is deleted"
    result = run("apply", source, "--prune")
    assert result.returncode == 0 and f"configmap/cm2 -n {namespace} pruned" in result.stdout


def test_selector_limits_apply_to_labelled_objects(tmp_path, run, control_plane, namespace):
    labelled = CONFIGMAP.replace("name: settings", "name: picked\n  labels: {tier: web}")
    source = write(tmp_path / "app", {"picked.yaml": labelled, "other.yaml": CONFIGMAP})
    result = run("apply", source, "-l", "tier=web")
    assert result.returncode == 0, result.stderr
    assert live(control_plane, namespace, "configmap/picked") is not None
    assert live(control_plane, namespace, "configmap/settings") is None
    assert run("apply", source, "-l", "tier").returncode == 2, "a malformed selector is a usage error"


def test_without_preflight_a_refused_object_stops_the_apply_part_way(tmp_path, run, control_plane, namespace):
    """The trade --no-preflight makes, shown: the object before the refused one is written (exit 1)."""
    source = write(tmp_path / "app", {"web.yaml": DEPLOYMENT, "cm.yaml": CONFIGMAP})
    assert run("apply", source).returncode == 0
    write(source, {"web.yaml": DEPLOYMENT.replace("{app: web}", "{app: web2}"),
                   "cm.yaml": CONFIGMAP.replace("info", "debug")})
    result = run("apply", source, "--no-preflight")
    assert result.returncode == 1 and "spec.selector" in result.stderr
    assert live(control_plane, namespace, "configmap/settings")["data"]["level"] == "debug"


def test_prune_with_a_selector_never_touches_objects_outside_it(tmp_path, run, control_plane, namespace):
    web = CONFIGMAP.replace("name: settings", "name: web-cm\n  labels: {tier: web}")
    db = CONFIGMAP.replace("name: settings", "name: db-cm\n  labels: {tier: db}")
    source = write(tmp_path / "app", {"web.yaml": web, "db.yaml": db, "keep.yaml": CONFIGMAP})
    assert run("apply", source).returncode == 0
    (source / "db.yaml").unlink()
    result = run("apply", source, "-l", "tier=web", "--prune", "--force-prune")
    assert result.returncode == 0, result.stderr
    assert "pruned" not in result.stdout, "db-cm is outside the selector; the rest of git is still wanted"
    assert live(control_plane, namespace, "configmap/db-cm") is not None
    assert live(control_plane, namespace, "configmap/settings") is not None
    pruned = run("apply", source, "--prune")
    assert f"configmap/db-cm -n {namespace} pruned" in pruned.stdout


def test_a_crd_and_its_custom_resources_apply_in_one_go(tmp_path, run, control_plane, namespace):
    group = f"{namespace}.example.com"
    crd = f"""\
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: gadgets.{group}
    spec:
      group: {group}
      scope: Namespaced
      names: {{plural: gadgets, singular: gadget, kind: Gadget}}
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
    """
    gadget = f"apiVersion: {group}/v1\nkind: Gadget\nmetadata: {{name: g1}}\nspec: {{size: 3}}\n"
    source = write(tmp_path / "app", {"crd.yaml": crd, "gadget.yaml": gadget})
    result = run("apply", source)
    assert result.returncode == 0, result.stderr
    assert f"gadget.{group}/g1 -n {namespace} created" in result.stdout
    assert live(control_plane, namespace, f"gadgets.{group}/g1")["spec"] == {"size": 3}
    assert run("diff", source).returncode == 0
    control_plane.kubectl("delete", "crd", f"gadgets.{group}")
