"""What drift and diff say is what apply does (issue 19), against the real control plane: an object git dropped
is seen, one app does not take another's objects silently, what apply refuses diff refuses too, and the false
drift real manifests showed is gone."""

from __future__ import annotations

import json

import pytest

from tests.integration.cli_helpers import gitapply, live, write

ONE = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {k: '1'}\n"
TWO = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\ndata: {k: '2'}\n"


def run(control_plane, namespace: str, *args: str, app: str | None = "shop"):
    named = ("--app", app) if app else ()
    return gitapply(*args, "-n", namespace, *named, "--inventory-namespace", namespace,
                    kubeconfig=control_plane.kubeconfig)


def test_an_object_git_dropped_is_seen_by_drift_and_diff_without_prune(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"one.yaml": ONE, "two.yaml": TWO})
    assert run(control_plane, namespace, "apply", str(folder)).returncode == 0
    (folder / "two.yaml").unlink()
    assert run(control_plane, namespace, "apply", str(folder)).returncode == 0  # no --prune: two stays
    drift = run(control_plane, namespace, "drift", str(folder), "--fail-on", "pending", "-o", "json")
    assert drift.returncode == 1
    states = {o["key"]: o["state"] for o in json.loads(drift.stdout)["objects"]}
    assert states[f"ConfigMap/{namespace}/two"] == "dropped"
    diff = run(control_plane, namespace, "diff", str(folder))
    assert diff.returncode == 0 and "1 to prune with --prune" in diff.stdout
    assert run(control_plane, namespace, "apply", str(folder), "--prune").returncode == 0
    assert live(control_plane, namespace, "configmap/two") is None
    assert run(control_plane, namespace, "drift", str(folder)).returncode == 0


def test_an_app_does_not_take_another_apps_objects_unless_asked(control_plane, namespace, tmp_path):
    ops = tmp_path / "ops"
    write(ops / "apps", {"one.yaml": ONE})
    assert run(control_plane, namespace, "apply", str(ops), app=None).returncode == 0  # app "ops"
    single = str(ops / "apps" / "one.yaml")
    write(ops / "apps", {"one.yaml": ONE.replace("'1'", "'2'")})
    for command in ("diff", "apply"):
        refused = run(control_plane, namespace, command, single, app=None)  # app "apps", by its folder
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"ConfigMap/{namespace}/one: belongs to app ops" in refused.stderr and "--adopt" in refused.stderr
    assert live(control_plane, namespace, "configmap/one")["data"] == {"k": "1"}, "nothing was written"
    assert run(control_plane, namespace, "apply", single, "--app", "ops", app=None).returncode == 0
    adopted = run(control_plane, namespace, "apply", single, "--adopt", app=None)
    assert adopted.returncode == 0, adopted.stderr
    assert live(control_plane, namespace, "configmap/one")["metadata"]["labels"]["gitapply.io/app"] == "apps"


def test_a_missing_inventory_namespace_writes_nothing(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"one.yaml": ONE})
    for command in ("diff", "apply"):
        done = gitapply(command, str(folder), "-n", namespace, "--app", "shop", "--inventory-namespace", "nope",
                        kubeconfig=control_plane.kubeconfig)
        assert done.returncode == 2 and "the inventory namespace 'nope' does not exist" in done.stderr
    assert live(control_plane, namespace, "configmap/one") is None


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.19}]}
"""


def test_diff_refuses_what_apply_refuses_and_shows_the_replace_it_is_allowed(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"web.yaml": DEPLOYMENT})
    assert run(control_plane, namespace, "apply", str(folder)).returncode == 0
    write(folder, {"web.yaml": DEPLOYMENT.replace("{app: web}", "{app: web2}")})
    diff, apply = (run(control_plane, namespace, command, str(folder)) for command in ("diff", "apply"))
    assert diff.returncode == apply.returncode == 2
    assert "field is immutable" in diff.stderr and "--force-replace" in diff.stderr
    replace = run(control_plane, namespace, "diff", str(folder), "--force-replace", "-o", "json")
    assert replace.returncode == 1
    assert [o["action"] for o in json.loads(replace.stdout)["objects"]] == ["replace"]


def test_diff_refuses_an_object_in_a_namespace_that_does_not_exist(control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"one.yaml": ONE.replace("name: one}", "name: one, namespace: nowhere}")})
    diff = run(control_plane, namespace, "diff", str(folder))
    assert diff.returncode == 2 and "nowhere" in diff.stderr


FALSE_DRIFT = {
    "data null": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: empty}\ndata: null\n",
    "zero value in replaced list items": (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n"
        "subjects:\n- {kind: ServiceAccount, name: default, namespace: default, apiGroup: ''}\n"),
}


@pytest.mark.parametrize("method", ["client-side", "server-side"])
@pytest.mark.parametrize("case", list(FALSE_DRIFT))
def test_what_the_server_does_not_store_is_no_drift(case, method, control_plane, namespace, tmp_path):
    folder = write(tmp_path / "app", {"x.yaml": FALSE_DRIFT[case]})
    flags = ("--server-side",) if method == "server-side" else ()
    assert run(control_plane, namespace, "apply", str(folder), *flags).returncode == 0
    drift = run(control_plane, namespace, "drift", str(folder), *flags)
    assert drift.returncode == 0, drift.stdout
