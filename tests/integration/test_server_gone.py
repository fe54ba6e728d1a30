"""The API server dies in the middle of an apply: one clear account, exit 3, no hang, and the next apply of the
same commit finishes the job, with prune knowing every object."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.harness.cutproxy import CuttingProxy

from .cli_helpers import gitapply

OBJECTS = 40
APP = "gone"


def configmaps(folder: Path, namespace: str, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"c{index:02}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{index:02}\n  namespace: {namespace}\n"
            f"data:\n  n: '{index}'\n")
    return folder


def labelled(control_plane: Any, namespace: str) -> set[str]:
    found = control_plane.request("GET", f"/api/v1/namespaces/{namespace}/configmaps"
                                         f"?labelSelector=gitapply.io/app%3D{APP}")
    return {item["metadata"]["name"] for item in found["items"]}


def recorded(control_plane: Any) -> set[str]:
    inventory = control_plane.request("GET", f"/api/v1/namespaces/default/configmaps/gitapply-inventory-{APP}")
    return {entry[4] for entry in json.loads(inventory["data"]["objects"])}


def test_a_server_that_dies_mid_apply_is_told_in_a_few_lines_and_the_next_apply_finishes(control_plane, tmp_path):
    namespace = control_plane.new_namespace("gone")
    source = configmaps(tmp_path / APP, namespace, OBJECTS)
    with CuttingProxy(control_plane, writes=10) as proxy:
        began = time.monotonic()
        cut = gitapply("apply", str(source), kubeconfig=proxy.kubeconfig(tmp_path / "via-proxy"))
        seconds = time.monotonic() - began
    assert proxy.cut.is_set(), "the proxy never cut: the apply sent fewer writes than expected"
    assert cut.returncode == 3, cut.stdout + cut.stderr
    assert "Traceback" not in cut.stdout + cut.stderr
    errors = [line for line in cut.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, cut.stderr  # the writes not made, and the inventory not recorded: not 30 lines
    assert "objects were not written" in errors[0] and "run apply again" in errors[0]
    assert "cannot reach the API server at https://127.0.0.1" in errors[0]
    assert "inventory" in errors[1] and "apply of this same commit" in errors[1]
    assert "prune does not know of the 10 objects this apply wrote" in errors[1]
    # no write is sent once the server is gone: one round of retries, not one per remaining object
    assert seconds < 20, f"the apply took {seconds:.0f} s to give up"
    written = labelled(control_plane, namespace)
    assert len(written) == 10, "the proxy lets exactly 10 writes through"
    assert {line.split()[0].removeprefix("configmap/") for line in cut.stdout.splitlines()
            if line.endswith(" created")} == written, "each object written, and only those, is said created"

    again = gitapply("apply", str(source), kubeconfig=control_plane.kubeconfig)  # then diff, which must exit 0
    assert again.returncode == 0, again.stdout + again.stderr
    assert labelled(control_plane, namespace) == recorded(control_plane) & labelled(control_plane, namespace)
    assert len(labelled(control_plane, namespace)) == OBJECTS
    assert {f"c{index:02}" for index in range(OBJECTS)} <= recorded(control_plane)


def test_a_create_whose_answer_is_lost_is_retried_and_the_apply_converges(control_plane, tmp_path):
    """The server made the write but its answer never came back: the retry finds the object already there
    (409 AlreadyExists), plans again from what the server holds, and the apply ends as if nothing happened."""
    namespace = control_plane.new_namespace("lost")
    source = configmaps(tmp_path / "lost", namespace, 5)
    with CuttingProxy(control_plane, lose_answer=3) as proxy:
        result = gitapply("apply", str(source), kubeconfig=proxy.kubeconfig(tmp_path / "via-proxy"))
    assert proxy.lost == 1, "the proxy lost no answer: the scenario did not happen"
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    outcomes = [line.split()[-1] for line in result.stdout.splitlines() if line.startswith("configmap/")]
    assert len(outcomes) == 5 and set(outcomes) <= {"created", "unchanged"}, result.stdout  # one per object
    found = control_plane.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")
    assert sorted(item["metadata"]["name"] for item in found["items"] if item["metadata"]["name"].startswith("c")) \
        == [f"c{index:02}" for index in range(5)]
