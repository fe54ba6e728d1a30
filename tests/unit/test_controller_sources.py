"""The controller's desired state: one fetch per repository and poll, one read per app and commit, moves
announced, failures remembered. A bare repository served by a ``file://`` URL stands in for a remote."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from gitapply import source
from gitapply.controller import sources as sources_module
from gitapply.controller.sources import Sources
from gitapply.errors import SourceError, SourceUnreachableError
from gitapply.ops.prepare import Request
from gitapply.source import DesiredState
from tests.gitrepo import commit_all, git


def configmap(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{value: '{value}'}}\n"


def commit(work: Path, values: dict[str, str]) -> str:
    """Commit one ConfigMap per app folder (``{app: value}``) in the work tree and return the sha."""
    for app, value in values.items():
        (work / app).mkdir(exist_ok=True)
        (work / app / "config.yaml").write_text(configmap(app, value))
    return commit_all(work, "change")


def values(state: DesiredState) -> dict[str, str]:
    return {m.obj["metadata"]["name"]: m.obj["data"]["value"] for m in state.manifests}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GITAPPLY_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GITAPPLY_CACHE_DIR", raising=False)
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    return tmp_path / "cache"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    git(root, "init", "-q")
    commit(root, {"a": "1", "b": "1"})
    return root


@pytest.fixture
def remote(tmp_path: Path, work: Path) -> Path:
    """A bare clone of ``work``; ``push(work)`` publishes new commits to it."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare


def push(work: Path, remote: Path) -> None:
    git(work, "push", "-q", str(remote), "main")


def two_apps(url: str, interval: float = 60.0, **options) -> Sources:
    requests = {app: Request(path=url, rev="main", subdir=app) for app in ("a", "b")}
    return Sources(requests, {"a": interval, "b": interval}, **options)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every ``source.read`` the controller's sources make."""
    made: list[str] = []
    real = sources_module.read_source

    def counting(request, **options) -> DesiredState:
        made.append(request.path)
        return real(request, **options)

    monkeypatch.setattr(sources_module, "read_source", counting)
    return made


def test_two_apps_on_one_remote_are_fetched_once_per_poll_and_not_before_it_is_due(remote):
    sources = two_apps(f"file://{remote}")
    assert sources.poll(0.0) == 60.0
    assert sources.fetches() == 1
    assert values(sources.desired("a")) == {"a": "1"}
    assert values(sources.desired("b")) == {"b": "1"}
    assert sources.poll(30.0) == 30.0
    assert sources.fetches() == 1, "the repository is not due before its interval"
    sources.poll(60.0)
    assert sources.fetches() == 2


def test_desired_at_the_same_commit_reads_once_and_hands_out_copies(remote, reads):
    sources = two_apps(f"file://{remote}")
    sources.poll(0.0)
    first = sources.desired("a")
    first.manifests[0].obj["data"]["value"] = "edited by a caller"
    second = sources.desired("a")
    assert reads == [f"file://{remote}"]
    assert values(second) == {"a": "1"}
    assert second.revision == first.revision


def test_a_pushed_commit_moves_both_apps_at_the_next_poll_and_desired_reads_it(work, remote):
    moved: list[str] = []
    sources = two_apps(f"file://{remote}", on_moved=moved.append)
    sources.poll(0.0)
    sources.desired("a"), sources.desired("b")
    assert moved == [], "the first poll announces nothing"
    new = commit(work, {"a": "2", "b": "2"})
    push(work, remote)
    sources.poll(60.0)
    assert sorted(moved) == ["a", "b"]
    assert values(sources.desired("a")) == {"a": "2"}
    assert sources.desired("b").revision == new
    sources.poll(120.0)
    assert sorted(moved) == ["a", "b"], "an unchanged commit is not announced again"


def test_a_move_is_announced_once_even_before_the_app_reads_it(work, remote):
    moved: list[str] = []
    sources = two_apps(f"file://{remote}", on_moved=moved.append)
    sources.poll(0.0)
    sources.desired("a")
    commit(work, {"a": "2"})
    push(work, remote)
    sources.poll(60.0)
    sources.poll(120.0)
    assert moved == ["a"], "b never read, so it has nothing to move from; a is told once"


def test_a_failed_fetch_makes_desired_raise_naming_the_repository_until_a_fetch_succeeds(remote, tmp_path):
    url = f"file://{remote}"
    sources = two_apps(url)
    sources.poll(0.0)
    assert values(sources.desired("a")) == {"a": "1"}
    remote.rename(tmp_path / "gone.git")
    sources.poll(60.0)
    with pytest.raises(SourceUnreachableError) as raised:
        sources.desired("a")
    assert str(raised.value).startswith(f"{url}: cannot clone or fetch")
    (tmp_path / "gone.git").rename(remote)
    sources.poll(120.0)
    assert values(sources.desired("a")) == {"a": "1"}


def test_an_unreachable_url_with_a_token_is_reported_without_the_token(caplog):
    caplog.set_level(logging.INFO, logger="gitapply.controller")
    url = "https://deploy:s3cret-token@127.0.0.1:1/org/ops.git"
    sources = Sources({"shop": Request(path=url, rev="main")}, {"shop": 60.0})
    with pytest.raises(SourceUnreachableError) as raised:
        sources.desired("shop")
    assert "127.0.0.1:1/org/ops.git" in str(raised.value)
    assert "s3cret-token" not in str(raised.value)
    assert "s3cret-token" not in caplog.text
    assert sources.fetches() == 1


def test_an_app_not_polled_yet_is_polled_by_its_first_desired(remote):
    sources = two_apps(f"file://{remote}")
    assert values(sources.desired("a")) == {"a": "1"}
    assert values(sources.desired("b")) == {"b": "1"}
    assert sources.fetches() == 1


def test_a_local_repository_is_resolved_by_poll_without_fetching(work):
    moved: list[str] = []
    sources = Sources({"a": Request(path=str(work), subdir="a")}, {"a": 30.0}, on_moved=moved.append)
    sources.poll(0.0)
    assert values(sources.desired("a")) == {"a": "1"}
    new = commit(work, {"a": "2"})
    assert sources.desired("a").revision != new, "desired reads the commit of the last poll"
    sources.poll(30.0)
    assert moved == ["a"]
    assert values(sources.desired("a")) == {"a": "2"}
    assert sources.fetches() == 0


def test_a_directory_is_read_afresh_by_every_desired(tmp_path, reads):
    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "config.yaml").write_text(configmap("c", "1"))
    sources = Sources({"c": Request(path=str(folder))}, {"c": 60.0})
    assert values(sources.desired("c")) == {"c": "1"}
    (folder / "config.yaml").write_text(configmap("c", "2"))
    assert values(sources.desired("c")) == {"c": "2"}
    assert len(reads) == 2
    assert sources.poll(0.0) == float("inf"), "no repository to poll"
    assert sources.fetches() == 0


def test_an_unknown_revision_is_the_apps_source_error_not_unreachable(remote):
    sources = Sources({"x": Request(path=f"file://{remote}", rev="no-such-branch")}, {"x": 60.0})
    with pytest.raises(SourceError) as raised:
        sources.desired("x")
    assert not isinstance(raised.value, SourceUnreachableError)
    assert "unknown revision 'no-such-branch'" in str(raised.value)


def test_a_repository_is_polled_at_the_smallest_interval_of_its_apps(remote, work):
    requests = {"fast": Request(path=f"file://{remote}", subdir="a"),
                "slow": Request(path=f"file://{remote}", subdir="b"),
                "local": Request(path=str(work), subdir="a")}
    sources = Sources(requests, {"fast": 10.0, "slow": 300.0, "local": 45.0})
    assert sources.poll(0.0) == 10.0
    assert sources.poll(10.0) == 10.0
    assert sources.fetches() == 2, "the local repository is never fetched"


def test_refresh_fetches_the_named_repository_now_and_returns_all_its_apps(work, remote):
    moved: list[str] = []
    sources = Sources({"a": Request(path=f"file://{remote}", subdir="a"), "b": Request(path=f"file://{remote}",
                                                                                          subdir="b"),
                       "other": Request(path=str(work), subdir="a")}, {}, on_moved=moved.append)
    sources.poll(0.0)
    sources.desired("a")
    commit(work, {"a": "2"})
    push(work, remote)
    assert sources.refresh({f"file://{remote}/"}) == ["a", "b"]
    assert sources.fetches() == 2
    assert moved == ["a"]
    assert values(sources.desired("a")) == {"a": "2"}
    assert sources.refresh({"https://git.example.com/elsewhere.git"}) == []
    assert sources.apps_of(str(remote)) == ["a", "b"]
    assert sources.apps_of(str(work)) == ["other"]


def test_run_polls_until_stopped(remote):
    sources = two_apps(f"file://{remote}", interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=sources.run, args=(stop,))
    thread.start()
    try:
        for _ in range(200):
            if sources.fetches() >= 2:
                break
            stop.wait(0.05)
        assert sources.fetches() >= 2
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_source_read_without_fetch_uses_the_mirror_as_it_is_and_clones_a_missing_one(work, remote):
    url = f"file://{remote}"
    first = source.read(url, rev="main", subdir="a", fetch=False)
    assert values(first) == {"a": "1"}, "no mirror yet: cloned"
    commit(work, {"a": "2"})
    push(work, remote)
    assert source.read(url, rev="main", subdir="a", fetch=False).revision == first.revision
    assert source.resolve(url, rev="main", fetch=False) == first.revision
    source.fetch(url)
    assert values(source.read(url, rev="main", subdir="a", fetch=False)) == {"a": "2"}


def test_source_resolve_names_no_commit_for_a_plain_directory(tmp_path):
    assert source.resolve(str(tmp_path)) is None
