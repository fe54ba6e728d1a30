"""An apply that stops part-way (refused writes, Ctrl-C) still records what it wrote, so prune can find it."""

from __future__ import annotations

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.errors import ConnectionFailedError, ForbiddenError, InvalidObjectError
from gitapply.model import Action, ApplyMethod, Failure, FailureKind, ObjectKey
from gitapply.ops.apply import execute
from gitapply.ops.inventory import read_inventory
from gitapply.ops.prepare import Request
from gitapply.ops.sync import SyncOptions, plan_sync, replanner, write_sync
from gitapply.render.report import failure_lines

APP = "shop"


class Flaky(LocalCluster):
    """A local cluster that refuses one object, or is interrupted (Ctrl-C) after some creates."""

    def __init__(self, path, *, refuse: str = "", interrupt_after: int | None = None) -> None:
        self.refuse, self.interrupt_after, self.creates = refuse, interrupt_after, 0
        super().__init__(path)

    def create(self, obj, *, dry_run=False):
        name = obj["metadata"]["name"]
        if obj["kind"] != "ConfigMap":
            return super().create(obj, dry_run=dry_run)
        if not dry_run and name == self.refuse:
            raise InvalidObjectError(f"v1/ConfigMap/default/{name}", "refused")
        if not dry_run and not name.startswith("gitapply-inventory-"):
            if self.interrupt_after is not None and self.creates >= self.interrupt_after:
                raise KeyboardInterrupt
            self.creates += 1
        return super().create(obj, dry_run=dry_run)


def source(tmp_path, count):
    folder = tmp_path / APP
    folder.mkdir(exist_ok=True)
    for index in range(count):
        (folder / f"c{index:02}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{index:02}\ndata:\n  n: '{index}'\n")
    return str(folder)


def labelled(cluster):
    return sorted(o["metadata"]["name"] for o in cluster.list("v1", "ConfigMap", namespace="default")
                  if (o["metadata"].get("labels") or {}).get("gitapply.io/app") == APP)


def test_objects_written_before_a_refusal_are_recorded(tmp_path):
    cluster = Flaky(tmp_path / "c.db", refuse="c03")
    planned = plan_sync(cluster, Request(path=source(tmp_path, 6)), SyncOptions(server_checks=False))
    failures = write_sync(cluster, planned)
    assert [f.key.name for f in failures] == ["c03"]
    recorded = sorted(key.name for key in read_inventory(cluster, APP, "default"))
    assert recorded == labelled(cluster) == ["c00", "c01", "c02", "c04", "c05"]


def test_ctrl_c_leaves_every_written_object_in_the_inventory(tmp_path):
    cluster = Flaky(tmp_path / "c.db", interrupt_after=4)
    planned = plan_sync(cluster, Request(path=source(tmp_path, 12)), SyncOptions(server_checks=False))
    with pytest.raises(KeyboardInterrupt):
        write_sync(cluster, planned)
    written = labelled(cluster)
    assert 4 <= len(written) < 12
    assert sorted(key.name for key in read_inventory(cluster, APP, "default")) == written


def test_a_later_partial_apply_keeps_what_the_app_owned_before(tmp_path):
    path = source(tmp_path, 3)
    cluster = Flaky(tmp_path / "c.db")
    write_sync(cluster, plan_sync(cluster, Request(path=path)))
    path = source(tmp_path, 5)  # two objects more; the first of them is refused
    cluster.refuse = "c03"
    write_sync(cluster, plan_sync(cluster, Request(path=path), SyncOptions(server_checks=False)))
    assert sorted(key.name for key in read_inventory(cluster, APP, "default")) == ["c00", "c01", "c02", "c04"]


class Vanishing(LocalCluster):
    """A local cluster whose server stops answering after some creates, and is back for the inventory unless
    ``for_good``. ``attempts`` counts the creates sent to it."""

    def __init__(self, path, *, answers: int, for_good: bool = False) -> None:
        self.answers, self.for_good, self.attempts = answers, for_good, 0
        super().__init__(path)

    def create(self, obj, *, dry_run=False):
        inventory = obj["metadata"]["name"].startswith("gitapply-")
        if obj["kind"] == "ConfigMap" and not dry_run and (self.for_good or not inventory):
            self.attempts += not inventory
            if self.answers <= 0:
                self.gone = self.for_good
                raise ConnectionFailedError("", "cannot reach the API server at https://127.0.0.1:6443")
            self.answers -= 1
        return super().create(obj, dry_run=dry_run)

    def get(self, key):
        if getattr(self, "gone", False) and key.name.startswith("gitapply-inventory-"):
            raise ConnectionFailedError("", "cannot reach the API server at https://127.0.0.1:6443")
        return super().get(key)


def test_no_write_is_sent_once_the_server_is_gone(tmp_path):
    """Each write to a server that is gone waits out its retries (6 s): 500 of them, 16 at a time, would hold
    the apply for minutes. Only the writes already in flight are tried."""
    cluster = Vanishing(tmp_path / "c.db", answers=3)
    planned = plan_sync(cluster, Request(path=source(tmp_path, 20)), SyncOptions(server_checks=False))
    cluster.answers = 3
    failures = execute(cluster, planned.plan, replan=replanner(planned), workers=2)
    assert len(failures) == 17 and all(f.kind is FailureKind.UNREACHABLE for f in failures)
    assert cluster.attempts <= 3 + 2
    assert sum("not sent" in f.message for f in failures) >= 17 - 2


def test_a_server_gone_for_good_is_said_with_what_prune_will_not_know(tmp_path):
    cluster = Vanishing(tmp_path / "c.db", answers=3, for_good=True)
    planned = plan_sync(cluster, Request(path=source(tmp_path, 6)), SyncOptions(server_checks=False))
    cluster.answers = 3
    failures = write_sync(cluster, planned)
    (unrecorded,) = [f for f in failures if f.kind is FailureKind.INVENTORY]
    assert "gitapply-inventory-shop" in unrecorded.message
    assert "prune does not know of the 3 objects this apply wrote" in unrecorded.message
    lines = failure_lines(failures)
    assert len(lines) == 2 and "3 objects were not written" in lines[0] and lines[1] == unrecorded.message


class Forbidding(LocalCluster):
    """RBAC forbids Secrets; everything else is allowed."""

    def create(self, obj, *, dry_run=False):
        if obj["kind"] == "Secret":
            raise ForbiddenError(f"v1/Secret/default/{obj['metadata']['name']}", "secrets is forbidden")
        return super().create(obj, dry_run=dry_run)


def test_a_kind_rbac_forbids_is_that_objects_refusal_and_the_others_are_written(tmp_path):
    path = source(tmp_path, 3)
    (tmp_path / APP / "s.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n")
    cluster = Forbidding(tmp_path / "c.db")
    failures = write_sync(cluster, plan_sync(cluster, Request(path=path), SyncOptions(server_checks=False)))
    assert [(f.key.kind, f.kind) for f in failures] == [("Secret", FailureKind.REFUSED)]
    assert failure_lines(failures) == [failures[0].message] and "forbidden" in failures[0].message
    assert labelled(cluster) == ["c00", "c01", "c02"]


def test_a_server_that_goes_away_mid_apply_is_one_line_not_one_per_object(tmp_path):
    cluster = Vanishing(tmp_path / "c.db", answers=3)
    planned = plan_sync(cluster, Request(path=source(tmp_path, 10)), SyncOptions(server_checks=False))
    cluster.answers = 3
    failures = write_sync(cluster, planned)
    refused = InvalidObjectError("v1/ConfigMap/default/x", "refused")
    lines = failure_lines([*failures, Failure(ObjectKey("", "v1", "ConfigMap", "default", "x"), Action.CREATE,
                                              str(refused))])
    assert len(failures) == 7 and all(f.kind is FailureKind.UNREACHABLE for f in failures)
    assert lines[0] == str(refused), "a refusal of the object itself is still shown on its own"
    assert len(lines) == 2 and "7 objects were not written" in lines[1] and "run apply again" in lines[1]
    assert sorted(key.name for key in read_inventory(cluster, APP, "default")) == labelled(cluster)


class Moving(LocalCluster):
    """A local cluster where another writer (the Deployment controller, say) changes the object between
    gitapply's read and its write: the first write of each object is refused with 409, as the server refuses a
    write carrying a resourceVersion that is no longer the stored one."""

    def __init__(self, path) -> None:
        self.refused: set[str] = set()
        super().__init__(path)

    def _moved(self, name: str) -> None:
        from gitapply.errors import ConflictingWriteError

        if name not in self.refused and not name.startswith("gitapply-inventory-"):
            self.refused.add(name)
            raise ConflictingWriteError(f"v1/ConfigMap/default/{name}", "the object has been modified")

    def patch(self, key, patch, patch_type, *, dry_run=False):
        if not dry_run:
            self._moved(key.name)
        return super().patch(key, patch, patch_type, dry_run=dry_run)

    def apply(self, obj, *, force=False, dry_run=False):
        if not dry_run:
            self._moved(obj["metadata"]["name"])
        return super().apply(obj, force=force, dry_run=dry_run)


def test_a_write_that_met_a_409_is_planned_again_by_the_plans_own_method(tmp_path):
    """A server-side migration refused with 409 is planned again server-side: planned client-side instead it
    found nothing to change, and the apply exited 0 with the objects never moved to server-side apply."""
    folder = source(tmp_path, 3)
    cluster = Moving(tmp_path / "cluster.db")
    request = Request(path=str(folder), app=APP, namespace="default")
    assert write_sync(cluster, plan_sync(cluster, request)) == []
    cluster.refused.clear()
    planned = plan_sync(cluster, Request(path=str(folder), app=APP, namespace="default",
                                         method=ApplyMethod.SERVER_SIDE))
    assert {c.action for c in planned.plan.changes} == {Action.PATCH}
    assert write_sync(cluster, planned) == []
    assert cluster.refused, "no write met a conflict: the test proves nothing"
    for change in planned.plan.changes:
        live = cluster.get(change.key)
        assert "gitapply.io/applied" in live["metadata"]["annotations"], change.key
        assert ("gitapply", "Apply") in {(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]}
    again = plan_sync(cluster, Request(path=str(folder), app=APP, namespace="default", method=ApplyMethod.SERVER_SIDE))
    assert {c.action for c in again.plan.changes} == {Action.UNCHANGED}
