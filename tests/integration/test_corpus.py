"""Eight public projects' manifests (../shared/corpus, 128 objects: read from there, never copied into this
repository), each applied by gitapply, then by kubectl over it, then moved to server-side apply: after each
step ``diff`` exits 0 and ``drift`` reports every object in sync. A reported difference is a real one, on
manifests nobody wrote for gitapply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.cli_helpers import gitapply

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"  # shared/ beside the checkout, as in CI
APPS = ("argo-workflows", "descheduler", "fluentd", "ingress-nginx", "microservices-demo", "podinfo",
        "postgres-operator", "zookeeper")


def test_the_corpus_is_the_eight_apps():
    """Named here, so that a missing corpus fails every app's test instead of leaving none to run."""
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(APPS)


def documents(app: str) -> list[dict]:
    found = []
    for path in sorted((CORPUS / app).glob("*.y*ml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def kubectl_apply(control_plane, app: str, namespace: str) -> None:
    """kubectl (v1.20.2) applies what gitapply applied: objects that name their namespace as they are, the
    others into the app's namespace (kubectl refuses ``-n`` for an object naming another)."""
    docs = documents(app)
    named = [d for d in docs if (d.get("metadata") or {}).get("namespace")]
    unnamed = [d for d in docs if not (d.get("metadata") or {}).get("namespace")]
    for group, extra in ((named, []), (unnamed, ["-n", namespace])):
        if group:
            listed = {"apiVersion": "v1", "kind": "List", "items": group}  # JSON: no YAML dialect between us
            control_plane.kubectl("apply", *extra, "-f", "-", input=json.dumps(listed))


@pytest.mark.parametrize("app", APPS)
def test_a_public_app_is_in_sync_after_gitapply_after_kubectl_and_after_server_side(app, control_plane, tmp_path):
    namespace = control_plane.new_namespace(f"corpus-{app}")
    common = ("-n", namespace, "--app", app, "--inventory-namespace", namespace)
    source = str(CORPUS / app)

    def in_sync(*extra: str) -> None:
        drift = gitapply("drift", source, *common, *extra, kubeconfig=control_plane.kubeconfig)
        assert drift.returncode == 0, drift.stdout + drift.stderr

    applied = gitapply("apply", source, *common, kubeconfig=control_plane.kubeconfig)  # then diff exits 0
    assert applied.returncode == 0, applied.stderr
    in_sync()
    kubectl_apply(control_plane, app, namespace)
    diff = gitapply("diff", source, *common, kubeconfig=control_plane.kubeconfig)
    assert diff.returncode == 0, diff.stdout
    in_sync()
    applied = gitapply("apply", source, *common, "--server-side", kubeconfig=control_plane.kubeconfig)
    assert applied.returncode == 0, applied.stderr
    in_sync("--server-side")
