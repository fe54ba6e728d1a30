"""A controller's pass on the embedded local cluster: the leader writes and says so in Events; a follower
and a detect-only app write nothing but report drift (metrics, a Drifted event)."""

from __future__ import annotations

from gitapply.cluster.local import LocalCluster
from gitapply.controller.metrics import Metrics
from gitapply.controller.runner import AppRunner
from gitapply.model import ObjectKey, PatchType
from gitapply.ops.prepare import Request
from gitapply.session import AppSpec

CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n"
KEY = ObjectKey("", "v1", "ConfigMap", "default", "settings")


def runner(tmp_path, *, leading: bool, detect_only: bool = False) -> tuple[AppRunner, LocalCluster]:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "settings.yaml").write_text(CONFIG)
    cluster = LocalCluster(tmp_path / "cluster.db")
    spec = AppSpec(Request(path=str(tmp_path / "app"), app="shop"))
    return AppRunner("shop", spec, cluster, Metrics(), lambda: leading, detect_only=detect_only), cluster


def events(cluster: LocalCluster, reason: str) -> list[dict]:
    return [e for e in cluster.list("v1", "Event") if e["reason"] == reason]


def test_a_follower_reads_and_writes_nothing(tmp_path):
    follower, cluster = runner(tmp_path, leading=False)
    outcome = follower.run_pass(1)
    assert outcome.ok and outcome.changed == 0 and cluster.get(KEY) is None
    assert 'gitapply_objects{app="shop",state="missing"} 1.0' in follower.metrics.text().decode()


def test_the_leader_applies_and_reverts_drift_with_events(tmp_path):
    leader, cluster = runner(tmp_path, leading=True)
    assert leader.run_pass(1).changed == 1 and cluster.get(KEY)["data"] == {"level": "info"}
    assert len(events(cluster, "Applied")) == 1
    cluster.patch(KEY, {"data": {"level": "debug"}}, PatchType.MERGE)
    assert leader.run_pass(2).changed == 1 and cluster.get(KEY)["data"] == {"level": "info"}
    (drifted,) = events(cluster, "Drifted")
    assert "data.level" in drifted["message"]
    assert 'gitapply_writes_total{action="patch",app="shop"} 1.0' in leader.metrics.text().decode()


def test_detect_only_reports_drift_and_writes_no_object(tmp_path):
    leader, cluster = runner(tmp_path, leading=True)
    leader.run_pass(1)
    cluster.patch(KEY, {"data": {"level": "debug"}}, PatchType.MERGE)
    watcher, _ = runner(tmp_path, leading=True, detect_only=True)
    assert watcher.run_pass(1).changed == 0 and cluster.get(KEY)["data"] == {"level": "debug"}
    watcher.run_pass(2)
    assert len(events(cluster, "Drifted")) == 1, "the same drift is reported once, not every pass"
    assert 'gitapply_objects{app="shop",state="drifted"} 1.0' in watcher.metrics.text().decode()


def test_an_unreachable_source_is_told_apart(tmp_path):
    leader, _ = runner(tmp_path, leading=True)
    (tmp_path / "app" / "settings.yaml").unlink()
    (tmp_path / "app").rmdir()
    outcome = leader.run_pass(1)
    assert not outcome.ok and not outcome.git_reachable


class StaleHolds(LocalCluster):
    """A cache whose watch of ConfigMaps lags behind: it does not show the app's hold yet."""

    def get(self, key):
        obj = super().get(key)
        if obj is not None and key.name.startswith("gitapply-inventory-"):
            obj["metadata"].get("annotations", {}).pop("gitapply.io/hold", None)
        return obj


def test_a_hold_the_cache_has_not_shown_yet_still_stops_the_write(tmp_path):
    """An operator holds the app, then rolls back by hand; the pass's cache saw the rollback but not the hold
    (two watches, no order between them). The hold read from the API server before writing stops the pass."""
    from gitapply.session import AppSession
    from gitapply.session.holds import new_hold

    leader, cluster = runner(tmp_path, leading=True)
    leader.run_pass(1)
    spec = leader.spec
    AppSession(cluster, spec).holds.hold(new_hold("operator", reason="rolled back"))
    cluster.patch(KEY, {"data": {"level": "debug"}}, PatchType.MERGE)  # the operator's own fix
    stale = AppRunner("shop", spec, StaleHolds(tmp_path / "cluster.db"), Metrics(), lambda: True, fresh=cluster)
    outcome = stale.run_pass(2)
    assert outcome.held and outcome.changed == 0
    assert cluster.get(KEY)["data"] == {"level": "debug"}, "the pass undid the operator's change"
    blind = AppRunner("shop", spec, StaleHolds(tmp_path / "cluster.db"), Metrics(), lambda: True)
    assert blind.run_pass(3).changed == 1, "without the fresh read the stale cache writes: the test proves nothing"
