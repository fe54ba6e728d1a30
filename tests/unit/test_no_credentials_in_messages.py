"""A repository URL with credentials (``https://user:token@host/…``, as CI systems write clone URLs) never
appears whole in anything gitapply prints: errors of every command that names its source, and the reconcile
loop's log. git itself is pointed at a local repository (``url.<local>.insteadOf``), so the URL is used as given
and no network is needed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gitapply.source import redact_text

SECRET = "s3cr3t-token"
URL = f"https://ci-bot:{SECRET}@git.example.invalid/org/ops.git"
BAD = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: 1\n---\n"
       "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    (repo / "bad.yaml").write_text(BAD)
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "invalid manifests"], check=True)
    return repo


def gitapply(repository, tmp_path, *args: str) -> str:
    env = {**os.environ, "NO_COLOR": "1", "GITAPPLY_CACHE": str(tmp_path / "cache"), "GIT_CONFIG_COUNT": "1",
           "GIT_CONFIG_KEY_0": f"url.{repository}.insteadOf", "GIT_CONFIG_VALUE_0": URL}
    done = subprocess.run([sys.executable, "-m", "gitapply", "--local", str(tmp_path / "c.db"), *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0, "each of these runs fails and says why"
    return done.stdout + done.stderr


@pytest.mark.parametrize("args", [
    ["diff", URL, "--app", "shop"],
    ["apply", URL, "--app", "shop"],
    ["drift", URL, "--app", "shop", "-o", "json"],
    ["diff", URL, "--app", "shop", "--rev", "no-such-rev"],
    ["apply", URL.replace("git.example.invalid", "127.0.0.1:9"), "--app", "shop"],
    ["reconcile", URL, "--app", "shop", "--passes", "1"],
    ["reconcile", URL, "--app", "shop", "--passes", "1", "--log-format", "json"],
], ids=["diff", "apply", "drift", "unknown rev", "unreachable", "reconcile", "reconcile json"])
def test_no_message_carries_the_token(repository, tmp_path, args):
    printed = gitapply(repository, tmp_path, *args)
    assert SECRET not in printed
    assert "ci-bot:***@" in printed, "the source is still named, without its secret"


def test_every_url_in_a_text_loses_its_secret():
    text = (f"cloning {URL} failed; also http://{SECRET}@host/x.git and ssh://git:{SECRET}@host:22/r.git, "
            "but git@host:org/repo.git has none")
    clean = redact_text(text)
    assert SECRET not in clean
    assert "https://ci-bot:***@git.example.invalid/org/ops.git" in clean and "http://***@host/x.git" in clean
    assert "git@host:org/repo.git" in clean
