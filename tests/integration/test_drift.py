"""``gitapply drift`` against the real control plane: each out-of-band change gets its exact classification,
report and exit code, and the drift check never writes to the cluster."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest

from tests.integration.cli_helpers import deployment_yaml, gitapply, live, write

WEB = deployment_yaml(metadata_extra="  annotations: {organization: sales}\n")
SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  level: info
"""
HPA = """\
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
"""


@pytest.fixture
def app(control_plane, namespace, tmp_path):
    """An app applied from a folder; ``app.drift(*flags)`` runs the check and returns (exit code, JSON)."""
    class App:
        folder = write(tmp_path / "app", {"web.yaml": WEB, "settings.yaml": SETTINGS})

        def apply(self) -> None:
            result = gitapply("apply", str(self.folder), *self.common(), kubeconfig=control_plane.kubeconfig)
            assert result.returncode == 0, result.stderr

        def drift(self, *flags: str) -> tuple[int, dict]:
            result = gitapply("drift", str(self.folder), *self.common(), "-o", "json", *flags,
                              kubeconfig=control_plane.kubeconfig)
            assert result.returncode in (0, 1), result.stderr
            return result.returncode, json.loads(result.stdout)

        def common(self) -> list[str]:
            return ["-n", namespace, "--app", "drifty", "--inventory-namespace", namespace]

        def kubectl(self, *args: str) -> None:
            control_plane.kubectl(*args, "-n", namespace)

    instance = App()
    instance.apply()
    return instance


def fields(report: dict, suffix: str) -> list[tuple[str, str]]:
    (entry,) = [o for o in report["objects"] if o["key"].endswith(suffix)]
    return [(f["path"], f["state"]) for f in entry["fields"]]


def state(report: dict, suffix: str) -> str:
    (entry,) = [o for o in report["objects"] if o["key"].endswith(suffix)]
    return entry["state"]


def test_in_sync_exits_0(app):
    code, report = app.drift()
    assert code == 0 and report["summary"]["in-sync"] == 2


def test_a_change_in_git_is_pending(app):
    write(app.folder, {"web.yaml": WEB.replace("sales", "marketing")})
    code, report = app.drift()
    assert code == 1 and state(report, "/web") == "pending"
    assert fields(report, "/web") == [("metadata.annotations.organization", "pending")]
    assert app.drift("--fail-on", "drift")[0] == 0, "pending alone is not drift"


def test_kubectl_set_image_is_drift(app):
    app.kubectl("set", "image", "deployment/web", "web=evil:latest")
    code, report = app.drift("--fail-on", "drift")
    assert code == 1 and state(report, "/web") == "drifted"
    assert fields(report, "/web") == [("spec.template.spec.containers[name=web].image", "drift")]


def test_limits_added_by_hand_are_an_unmanaged_addition_and_heal_removes_them(app, control_plane, namespace):
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web",
                                                            "resources": {"limits": {"cpu": "500m"}}}]}}}}
    app.kubectl("patch", "deployment/web", "-p", json.dumps(patch))
    code, report = app.drift()
    assert code == 1
    assert fields(report, "/web") == [("spec.template.spec.containers[name=web].resources.limits.cpu", "unmanaged")]
    app.apply()
    assert fields(app.drift()[1], "/web"), "a plain apply, like kubectl apply, leaves it in place"
    healed = gitapply("apply", str(app.folder), *app.common(), "--heal-unmanaged", kubeconfig=control_plane.kubeconfig)
    assert healed.returncode == 0, healed.stderr
    container = live(control_plane, namespace, "deployment/web")["spec"]["template"]["spec"]["containers"][0]
    assert "limits" not in container.get("resources", {})
    assert app.drift()[0] == 0


def test_kubectl_scale_without_an_hpa_is_drift(app):
    app.kubectl("scale", "deployment/web", "--replicas=5")
    code, report = app.drift()
    assert code == 1 and fields(report, "/web") == [("spec.replicas", "drift")]


def test_kubectl_scale_under_an_hpa_is_ignored_and_names_the_owner(app):
    write(app.folder, {"hpa.yaml": HPA})
    app.apply()
    app.kubectl("scale", "deployment/web", "--replicas=5")
    code, report = app.drift()
    (entry,) = [o for o in report["objects"] if o["key"].startswith("apps/Deployment/")]
    assert code == 0, report
    ignored = [f for f in entry["fields"] if f["path"] == "spec.replicas"]
    assert all(f["state"] == "ignored" and "HorizontalPodAutoscaler" in f["reason"] for f in ignored)


def test_an_object_deleted_out_of_band_is_reported_deleted(app):
    app.kubectl("delete", "configmap", "settings")
    code, report = app.drift()
    assert code == 1 and state(report, "/settings") == "deleted"


def test_an_object_never_applied_is_missing(app):
    write(app.folder, {"extra.yaml": SETTINGS.replace("settings", "extra")})
    code, report = app.drift()
    assert code == 1 and state(report, "/extra") == "missing"


def test_an_ignore_rule_hides_a_field_from_drift_and_apply_never_writes_it(app, control_plane, namespace):
    write(app.folder, {".gitapply.yaml": "ignore:\n  - kind: ConfigMap\n    name: settings\n"
                                         "    jsonPointers: [/data/level]\n"})
    app.kubectl("patch", "configmap/settings", "-p", json.dumps({"data": {"level": "debug"}}))
    code, report = app.drift()
    assert code == 0, report
    assert fields(report, "/settings") == [("data.level", "ignored")]
    app.apply()
    assert live(control_plane, namespace, "configmap/settings")["data"]["level"] == "debug"


def test_junit_and_prometheus_reports_are_written_and_the_cluster_is_untouched(app, control_plane, namespace,
                                                                                tmp_path):
    app.kubectl("set", "image", "deployment/web", "web=evil:latest")
    before = live(control_plane, namespace, "deployment/web")
    junit, metrics = tmp_path / "drift.xml", tmp_path / "drift.prom"
    code, _ = app.drift("--junit", str(junit), "--prometheus", str(metrics))
    assert code == 1
    suite = ElementTree.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    text = metrics.read_text()
    assert 'gitapply_objects{app="drifty",state="drifted"} 1' in text
    assert 'gitapply_objects{app="drifty",state="in-sync"} 1' in text
    after = live(control_plane, namespace, "deployment/web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"], "drift writes nothing"


def test_ten_kinds_are_in_sync_right_after_apply(control_plane, namespace, tmp_path):
    """Server defaults of every kind in the benchmark fleet (ports' protocol, LimitRange defaults, Secret
    stringData, PDB selector…) must not read as drift or as a pending change."""
    from benchmarks.data.fleet import fleet

    objects = fleet(10, namespace_count=1, prefix="unused")
    folder = tmp_path / "fleet"
    folder.mkdir()
    for index, obj in enumerate(objects):
        obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects", []):
            subject["namespace"] = namespace
        (folder / f"{index}.json").write_text(json.dumps(obj))
    common = ["--app", "fleet", "--inventory-namespace", namespace]
    assert gitapply("apply", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
    drift = gitapply("drift", str(folder), *common, kubeconfig=control_plane.kubeconfig)
    assert drift.returncode == 0, drift.stdout
    assert gitapply("diff", str(folder), *common, kubeconfig=control_plane.kubeconfig).returncode == 0
