"""An apply that stops part-way (refused writes, Ctrl-C) still records what it wrote, so prune can find it."""

from __future__ import annotations

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.errors import ConnectionFailedError, InvalidObjectError
from gitapply.model import Action, ObjectKey
from gitapply.ops.apply import Failure
from gitapply.ops.inventory import read_inventory
from gitapply.ops.prepare import Request
from gitapply.ops.sync import SyncOptions, plan_sync, write_sync
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
    failures = write_sync(cluster, planned, "default")
    assert [f.key.name for f in failures] == ["c03"]
    recorded = sorted(key.name for key in read_inventory(cluster, APP, "default"))
    assert recorded == labelled(cluster) == ["c00", "c01", "c02", "c04", "c05"]


def test_ctrl_c_leaves_every_written_object_in_the_inventory(tmp_path):
    cluster = Flaky(tmp_path / "c.db", interrupt_after=4)
    planned = plan_sync(cluster, Request(path=source(tmp_path, 12)), SyncOptions(server_checks=False))
    with pytest.raises(KeyboardInterrupt):
        write_sync(cluster, planned, "default")
    written = labelled(cluster)
    assert 4 <= len(written) < 12
    assert sorted(key.name for key in read_inventory(cluster, APP, "default")) == written


def test_a_later_partial_apply_keeps_what_the_app_owned_before(tmp_path):
    path = source(tmp_path, 3)
    cluster = Flaky(tmp_path / "c.db")
    write_sync(cluster, plan_sync(cluster, Request(path=path)), "default")
    path = source(tmp_path, 5)  # two objects more; the first of them is refused
    cluster.refuse = "c03"
    write_sync(cluster, plan_sync(cluster, Request(path=path), SyncOptions(server_checks=False)), "default")
    assert sorted(key.name for key in read_inventory(cluster, APP, "default")) == ["c00", "c01", "c02", "c04"]


class Vanishing(LocalCluster):
    """A local cluster whose server stops answering after some creates, and is back for the inventory."""

    def __init__(self, path, *, answers: int) -> None:
        self.answers = answers
        super().__init__(path)

    def create(self, obj, *, dry_run=False):
        if obj["kind"] == "ConfigMap" and not dry_run and not obj["metadata"]["name"].startswith("gitapply-"):
            if self.answers <= 0:
                raise ConnectionFailedError("https://127.0.0.1:6443", "cannot reach the API server")
            self.answers -= 1
        return super().create(obj, dry_run=dry_run)


def test_a_server_that_goes_away_mid_apply_is_one_line_not_one_per_object(tmp_path):
    cluster = Vanishing(tmp_path / "c.db", answers=3)
    planned = plan_sync(cluster, Request(path=source(tmp_path, 10)), SyncOptions(server_checks=False))
    cluster.answers = 3
    failures = write_sync(cluster, planned, "default")
    refused = InvalidObjectError("v1/ConfigMap/default/x", "refused")
    lines = failure_lines([*failures, Failure(ObjectKey("", "v1", "ConfigMap", "default", "x"), Action.CREATE,
                                              str(refused))])
    assert len(failures) == 7 and all(f.unreachable for f in failures)
    assert lines[0] == str(refused), "a refusal of the object itself is still shown on its own"
    assert len(lines) == 2 and "7 objects were not written" in lines[1] and "run apply again" in lines[1]
    assert sorted(key.name for key in read_inventory(cluster, APP, "default")) == labelled(cluster)
