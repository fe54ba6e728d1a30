"""The cache folder's one rule: ``$GITAPPLY_CACHE``, else ``$XDG_CACHE_HOME/gitapply``, else
``~/.cache/gitapply``; ``$GITAPPLY_CACHE_DIR`` still places the repository mirrors alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitapply import cache


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No cache setting at all, and a home of our own."""
    for name in ("GITAPPLY_CACHE", "GITAPPLY_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_cache_defaults_under_the_home_folder(bare):
    assert cache.cache_root() == bare / "home" / ".cache" / "gitapply"


def test_xdg_cache_home_moves_it(bare, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(bare / "xdg"))
    assert cache.cache_root() == bare / "xdg" / "gitapply"


def test_gitapply_cache_wins_over_xdg_cache_home(bare, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(bare / "xdg"))
    monkeypatch.setenv("GITAPPLY_CACHE", str(bare / "mine"))
    assert cache.cache_root() == bare / "mine"
    assert cache.folder("crashes", "a.txt") == bare / "mine" / "crashes" / "a.txt"


def test_repository_mirrors_follow_the_cache_unless_gitapply_cache_dir_places_them(bare, monkeypatch):
    monkeypatch.setenv("GITAPPLY_CACHE", str(bare / "mine"))
    assert cache.repos_folder() == bare / "mine" / "repos"
    monkeypatch.setenv("GITAPPLY_CACHE_DIR", str(bare / "mirrors"))
    assert cache.repos_folder() == bare / "mirrors"


def test_store_makes_the_folders_it_writes_into(bare, monkeypatch):
    monkeypatch.setenv("GITAPPLY_CACHE", str(bare / "mine"))
    cache.store(cache.folder("schemas", "v1", "ConfigMap.json"), b"{}")
    assert (bare / "mine" / "schemas" / "v1" / "ConfigMap.json").read_bytes() == b"{}"
