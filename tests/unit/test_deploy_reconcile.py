"""deploy/reconcile: the reconcile loop in the cluster, as one writer that stops cleanly."""

from __future__ import annotations

from pathlib import Path

import yaml

from gitapply.source import read

RECONCILE = Path(__file__).resolve().parents[2] / "deploy" / "reconcile"


def objects(folder: Path = RECONCILE) -> list[dict]:
    """The objects of a deploy folder's manifests (its kustomization aside)."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def test_the_manifests_pass_gitapplys_own_validation():
    assert read(str(RECONCILE)).problems == ()


def test_two_replicas_with_one_writer_probes_and_metrics():
    (deployment,) = [o for o in objects() if o["kind"] == "Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 60, "SIGTERM lets the write in flight finish"
    (box,) = pod["containers"]
    args = box["args"]
    assert args[0] == "reconcile" and "--leader-elect" in args
    port = args[args.index("--metrics-addr") + 1].rpartition(":")[2]
    assert [p["containerPort"] for p in box["ports"] if p["name"] == "metrics"] == [int(port)]
    assert box["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert box["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_lease_permissions_are_get_create_update_on_leases_only():
    (role,) = [o for o in objects() if o["kind"] == "Role"]
    assert role["rules"] == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                              "verbs": ["get", "create", "update"]}]
    (binding,) = [o for o in objects() if o["kind"] == "RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == "gitapply-reconcile"


def test_its_role_can_write_but_only_the_kinds_it_names():
    (role,) = [o for o in objects() if o["kind"] == "ClusterRole"]
    resources = [r for rule in role["rules"] for r in rule.get("resources", [])]
    assert "*" not in resources and not any("/" in r for r in resources)
    assert any("patch" in rule.get("verbs", []) for rule in role["rules"])


DETECT = RECONCILE / "detect-only"


def detect_objects() -> list[dict]:
    return objects(DETECT)


def test_the_detect_only_variant_is_valid_and_reads_only():
    assert read(str(DETECT)).problems == ()
    (deployment,) = [o for o in detect_objects() if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "--detect-only" in args and "--prune" not in args
    bindings = [o for o in detect_objects() if o["kind"] == "ClusterRoleBinding"]
    assert {b["roleRef"]["name"] for b in bindings} == {"gitapply-drift-read", "gitapply-events"}
    assert all(b["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"],
                                  "namespace": "gitapply"}] for b in bindings)
    (events,) = [o for o in detect_objects() if o["kind"] == "ClusterRole"]
    assert events["rules"] == [{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]


SHARDED = RECONCILE / "sharded"


def sharded_objects() -> list[dict]:
    return objects(SHARDED)


def test_the_sharded_variant_runs_three_replicas_sharing_the_apps_file_with_a_signed_webhook():
    assert read(str(SHARDED)).problems == ()
    (deployment,) = [o for o in sharded_objects() if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    args = pod["containers"][0]["args"]
    assert {"--apps", "--leader-elect", "--shard", "--webhook-addr", "--webhook-secret-file"} <= set(args)
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert args[args.index("--apps") + 1].startswith(next(p for p, n in mounts.items() if n == "apps"))
    assert args[args.index("--webhook-secret-file") + 1].startswith(
        next(p for p, n in mounts.items() if n == "webhook-secret"))
    (apps,) = [o for o in sharded_objects() if o["kind"] == "ConfigMap"]
    from gitapply.controller.apps import AppEntry, parse_apps

    assert len(parse_apps(apps["data"]["apps.yaml"], "apps.yaml", AppEntry(name="", repository=""))) >= 2


def test_the_sharded_replicas_watch_what_they_read_and_manage_only_their_membership_leases():
    (role,) = [o for o in sharded_objects() if o["kind"] == "ClusterRole"]
    assert all("watch" in rule["verbs"] for rule in role["rules"] if "list" in rule.get("verbs", []))
    (members,) = [o for o in sharded_objects() if o["kind"] == "Role"]
    assert members["rules"] == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                                 "verbs": ["get", "list", "create", "update", "delete"]}]
    (deployment,) = [o for o in sharded_objects() if o["kind"] == "Deployment"]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    for binding in [o for o in sharded_objects() if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "gitapply"}]
