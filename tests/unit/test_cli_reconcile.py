"""`gitapply reconcile`'s options that need each other are checked before anything starts: exit 2, a message
that says what to add, and nothing read or written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def reconcile(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "gitapply", "--local", str(tmp_path / "cluster.db"), "reconcile",
                           str(tmp_path / "app"), "--app", "shop", "--passes", "1", *args], capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1", **(env or {})}, timeout=120)


def test_shard_without_leader_election_is_refused(tmp_path):
    done = reconcile(tmp_path, "--shard")
    assert done.returncode == 2 and "--shard needs --leader-elect" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("secret_env", ["", "  "])
def test_a_webhook_without_its_secret_is_refused(tmp_path, secret_env):
    done = reconcile(tmp_path, "--webhook-addr", "127.0.0.1:0", env={"GITAPPLY_WEBHOOK_SECRET": secret_env})
    assert done.returncode == 2
    assert "--webhook-addr needs a shared secret" in done.stderr and "GITAPPLY_WEBHOOK_SECRET" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_webhook_secret_file_that_cannot_be_read_is_named(tmp_path):
    done = reconcile(tmp_path, "--webhook-addr", "127.0.0.1:0", "--webhook-secret-file", str(tmp_path / "nope"))
    assert done.returncode == 2 and "nope" in done.stderr and "Traceback" not in done.stderr


def test_a_bad_webhook_address_names_its_option(tmp_path):
    done = reconcile(tmp_path, "--webhook-addr", "somewhere", env={"GITAPPLY_WEBHOOK_SECRET": "s"})
    assert done.returncode == 2 and "--webhook-addr 'somewhere'" in done.stderr
