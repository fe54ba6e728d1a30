"""deploy/reconcile: the reconcile loop in the cluster, as one writer that stops cleanly."""

from __future__ import annotations

from pathlib import Path

import yaml

from gitapply.source import read

RECONCILE = Path(__file__).resolve().parents[2] / "deploy" / "reconcile"


def objects() -> list[dict]:
    found = []
    for path in sorted(RECONCILE.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def test_the_manifests_pass_gitapplys_own_validation():
    assert read(str(RECONCILE)).problems == ()


def test_one_reconciler_at_a_time_and_a_pass_is_allowed_to_finish():
    (deployment,) = [o for o in objects() if o["kind"] == "Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert pod["containers"][0]["args"][0] == "reconcile"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_its_role_can_write_but_only_the_kinds_it_names():
    (role,) = [o for o in objects() if o["kind"] == "ClusterRole"]
    resources = [r for rule in role["rules"] for r in rule.get("resources", [])]
    assert "*" not in resources and not any("/" in r for r in resources)
    assert any("patch" in rule.get("verbs", []) for rule in role["rules"])
