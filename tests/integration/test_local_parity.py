"""The embedded local cluster behaves like the real one: the same session of gitapply commands, run once
against the real control plane and once against a local cluster, reports the same actions, the same diffs,
the same drift and the same exit codes.

The story runs once with client-side apply and once with server-side apply. Out-of-band edits are made with
kubectl on the real cluster and through the ``Cluster`` interface on the local one. Server defaults are not compared (the local cluster adds none); what users see of them is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.model import ObjectKey, PatchType
from tests.integration.cli_helpers import deployment_yaml, gitapply, write

WEB = deployment_yaml(container_extra="        ports: [{containerPort: 80}]\n"
                                      "        env: [{name: MODE, value: blue}]\n")
FILES = {
    "web.yaml": WEB,
    "settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {level: info, region: eu}\n",
    "creds.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2}\n",
    "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                "spec: {selector: {app: web}, ports: [{port: 80}]}\n",
}
IMAGE_PATCH = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "evil:1"}]}}}}
LABEL_PATCH = {"metadata": {"labels": {"team": "checkout"}}}


def session(folder: Path, run: Callable[..., Any], edit: Callable[[], None]) -> list[Any]:
    """The same story on any cluster; returns what a user would have seen at each step."""
    seen: list[Any] = []

    def step(*args: str) -> Any:
        result = run(*args)
        seen.append((args[0], result.returncode, _outcome(args, result.stdout)))
        return result

    write(folder, FILES)
    step("apply", str(folder), "--prune")
    step("apply", str(folder), "--prune")
    write(folder, {"web.yaml": WEB.replace("nginx:1.19", "nginx:1.20"),
                   "settings.yaml": FILES["settings.yaml"].replace(", region: eu", "")})
    step("diff", str(folder), "-o", "json")
    step("apply", str(folder), "--prune")
    edit()
    step("drift", str(folder), "-o", "json")
    (folder / "creds.yaml").unlink()
    step("apply", str(folder), "--prune")
    write(folder, {"web.yaml": WEB.replace("{app: web}", "{app: web2}")})
    step("apply", str(folder))
    return seen


def _outcome(args: tuple[str, ...], stdout: str) -> Any:
    if "json" in args:
        report = json.loads(stdout)
        objects = report["objects"]
        if args[0] == "drift":
            return sorted((o["key"], o["state"], [(f["path"], f["state"], (f["changedBy"] or {}).get("manager"))
                                                  for f in o["fields"]]) for o in objects)
        return sorted((o["object"], o["action"], o["changedPaths"]) for o in objects)
    return sorted(line for line in stdout.splitlines() if re.search(r" (created|configured|unchanged|pruned)$", line))


@pytest.mark.parametrize("method", ["client-side", "server-side"])
def test_the_local_cluster_tells_the_same_story_as_the_real_one(method, control_plane, namespace, tmp_path):
    common = ("-n", namespace, "--app", "parity", "--inventory-namespace", namespace,
              *(["--server-side"] if method == "server-side" else []))

    def real(*args: str) -> Any:
        return gitapply(*args, *common, kubeconfig=control_plane.kubeconfig)

    def real_edit() -> None:
        control_plane.kubectl("patch", "deployment/web", "-n", namespace, "-p", json.dumps(IMAGE_PATCH))
        control_plane.kubectl("label", "deployment/web", "-n", namespace, "team=checkout")

    database = tmp_path / "local" / "cluster.db"
    local_cluster = LocalCluster(database)
    local_cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    def local(*args: str) -> Any:
        return gitapply(*args, *common, local=str(database))

    def local_edit() -> None:
        web = ObjectKey("apps", "v1", "Deployment", namespace, "web")
        LocalCluster(database, field_manager="kubectl-patch").patch(web, IMAGE_PATCH, PatchType.STRATEGIC)
        LocalCluster(database, field_manager="kubectl-label").patch(web, LABEL_PATCH, PatchType.STRATEGIC)

    on_real = session(tmp_path / "real", real, real_edit)
    on_local = session(tmp_path / "local-src", local, local_edit)
    assert on_local == on_real
    drift = next(outcome for command, _, outcome in on_real if command == "drift")
    web = next(fields for key, _, fields in drift if key.endswith("Deployment/" + namespace + "/web"))
    assert ("metadata.labels.team", "unmanaged", "kubectl-label") in web, "who changed what is part of the story"
    assert [code for _, code, _ in on_real] == [0, 0, 1, 0, 1, 0, 2], "the story itself is the expected one"

