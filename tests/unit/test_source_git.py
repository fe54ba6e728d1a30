"""Reading desired state from git commits without a checkout, and from remote URLs through the clone cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitapply.errors import SourceError
from gitapply.source import is_git_source, is_remote, load, read, redact
from tests.gitrepo import commit_all, git


def commit(repo: Path, files: dict[str, str | None], message: str = "change") -> str:
    """Write (or, for None, delete) files, commit them all, return the new sha."""
    for relative, text in files.items():
        path = repo / relative
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return commit_all(repo, message)


def configmap(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{value: '{value}'}}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    return root


def values(state) -> dict[str, str]:
    return {m.obj["metadata"]["name"]: m.obj["data"]["value"] for m in state.manifests}


def test_a_repository_is_read_at_head_and_the_revision_is_the_commit_sha(repo):
    sha = commit(repo, {"deploy/a.yaml": configmap("a"), "deploy/b.yml": configmap("b")})
    state = load(str(repo))
    assert values(state) == {"a": "1", "b": "1"}
    assert state.revision == sha
    assert [m.origin.path for m in state.manifests] == ["deploy/a.yaml", "deploy/b.yml"]


def test_an_older_commit_is_read_as_it_was_after_the_file_changed(repo):
    old = commit(repo, {"a.yaml": configmap("a", "old"), "gone.yaml": configmap("gone")})
    commit(repo, {"a.yaml": configmap("a", "new"), "gone.yaml": None})
    assert values(load(str(repo), rev=old)) == {"a": "old", "gone": "1"}
    assert values(load(str(repo), rev="HEAD~1")) == {"a": "old", "gone": "1"}
    assert values(load(str(repo))) == {"a": "new"}


def test_a_branch_or_tag_name_is_accepted_as_the_revision(repo):
    commit(repo, {"a.yaml": configmap("a", "tagged")})
    git(repo, "tag", "-a", "v1", "-m", "release")
    commit(repo, {"a.yaml": configmap("a", "later")})
    assert values(load(str(repo), rev="v1")) == {"a": "tagged"}
    assert values(load(str(repo), rev="main")) == {"a": "later"}


def test_subdir_limits_reading_to_that_directory_with_repository_relative_origins(repo):
    commit(repo, {"deploy/prod/a.yaml": configmap("a"), "deploy/dev/b.yaml": configmap("b"), "c.yaml": configmap("c")})
    state = load(str(repo), subdir="deploy/prod")
    assert values(state) == {"a": "1"}
    assert state.manifests[0].origin.path == "deploy/prod/a.yaml"


def test_a_path_inside_the_work_tree_with_a_rev_reads_that_directory_of_the_commit(repo):
    old = commit(repo, {"deploy/a.yaml": configmap("a", "old"), "other/b.yaml": configmap("b")})
    commit(repo, {"deploy/a.yaml": configmap("a", "new")})
    state = load(str(repo / "deploy"), rev=old)
    assert values(state) == {"a": "old"}
    assert state.manifests[0].origin.path == "deploy/a.yaml"


def test_subdir_may_name_a_single_file_in_the_commit(repo):
    commit(repo, {"deploy/a.yaml": configmap("a"), "deploy/b.yaml": configmap("b")})
    assert values(load(str(repo), subdir="deploy/b.yaml")) == {"b": "1"}


def test_the_work_tree_is_untouched_and_uncommitted_changes_are_ignored(repo):
    old = commit(repo, {"a.yaml": configmap("a", "old")})
    commit(repo, {"a.yaml": configmap("a", "committed")})
    (repo / "a.yaml").write_text(configmap("a", "dirty"))
    (repo / "untracked.yaml").write_text(configmap("u"))
    status_before = git(repo, "status", "--porcelain")
    head_before = git(repo, "rev-parse", "HEAD")
    assert values(load(str(repo), rev=old)) == {"a": "old"}
    assert values(load(str(repo))) == {"a": "committed"}
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert (repo / "a.yaml").read_text() == configmap("a", "dirty")


def test_hidden_paths_and_non_manifest_files_in_the_commit_are_skipped(repo):
    commit(repo, {"a.yaml": configmap("a"), ".github/workflows/ci.yml": "on: push\n", "README.md": "# hi\n",
                  "x/.hidden.yaml": "kind: nonsense\n"})
    assert values(load(str(repo))) == {"a": "1"}


def test_a_yaml_error_in_a_commit_names_the_repository_relative_file_and_line(repo):
    commit(repo, {"deploy/bad.yaml": "apiVersion: v1\nkind: ConfigMap\n  metadata: x\n"})
    with pytest.raises(SourceError) as raised:
        load(str(repo))
    assert raised.value.subject == "deploy/bad.yaml:3"


def test_a_symbolic_link_in_the_commit_is_a_problem_not_a_silent_omission(repo):
    commit(repo, {"real.yaml": configmap("a")})
    os.symlink("real.yaml", repo / "link.yaml")
    commit(repo, {})
    (problem,) = read(str(repo)).problems
    assert str(problem).startswith("link.yaml: is a symbolic link")


def test_an_unknown_revision_is_a_source_error_suggesting_git_log(repo):
    commit(repo, {"a.yaml": configmap("a")})
    with pytest.raises(SourceError) as raised:
        load(str(repo), rev="abc")
    assert raised.value.subject == str(repo)
    assert "unknown revision 'abc'" in raised.value.message and "log --oneline" in raised.value.message


def test_a_path_missing_from_the_commit_is_a_source_error_naming_it(repo):
    sha = commit(repo, {"a.yaml": configmap("a")})
    with pytest.raises(SourceError) as raised:
        load(str(repo), subdir="deploy")
    assert raised.value.subject == f"{repo}@{sha[:12]}"
    assert "no path 'deploy' in this commit" in raised.value.message


def test_a_subdir_leaving_the_repository_is_refused(repo):
    commit(repo, {"a.yaml": configmap("a")})
    with pytest.raises(SourceError, match="leaves the repository"):
        load(str(repo), subdir="../elsewhere")


def test_a_plain_directory_with_a_rev_is_not_a_repository_error(tmp_path):
    with pytest.raises(SourceError, match="not a git repository"):
        load(str(tmp_path), rev="HEAD")


def test_a_bare_repository_is_read_at_head(repo, tmp_path):
    commit(repo, {"a.yaml": configmap("a")})
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert is_git_source(str(bare))
    assert values(load(str(bare))) == {"a": "1"}


def test_which_paths_are_git_sources(repo, tmp_path):
    commit(repo, {"deploy/a.yaml": configmap("a")})
    assert is_git_source(str(repo))
    assert not is_git_source(str(repo / "deploy"))
    assert is_git_source(str(repo / "deploy"), rev="HEAD")
    assert not is_git_source(str(tmp_path / "nowhere"))
    assert all(map(is_remote, ["https://example.com/x.git", "ssh://git@host/x", "file:///srv/x", "git@host:org/x"]))
    assert not any(map(is_remote, ["deploy/app", "/srv/repo", "C:\\repo", "./a:b"]))


def test_a_remote_url_is_mirrored_into_the_cache_then_fetched_on_the_next_load(repo, tmp_path):
    first = commit(repo, {"a.yaml": configmap("a", "first")})
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    cache = tmp_path / "cache"
    url = f"file://{remote}"

    state = load(url, cache_dir=str(cache))
    assert values(state) == {"a": "first"} and state.revision == first
    (mirror,) = cache.iterdir()
    assert git(mirror, "config", "remote.origin.mirror") == "true"

    second = commit(repo, {"a.yaml": configmap("a", "second")})
    git(repo, "push", "-q", str(remote), "main")
    state = load(url, cache_dir=str(cache))
    assert values(state) == {"a": "second"} and state.revision == second
    assert values(load(url, rev=first, cache_dir=str(cache))) == {"a": "first"}
    assert list(cache.iterdir()) == [mirror]


def test_an_unreachable_remote_is_a_source_error_naming_the_url(tmp_path):
    url = f"file://{tmp_path}/missing.git"
    with pytest.raises(SourceError) as raised:
        load(url, cache_dir=str(tmp_path / "cache"))
    assert raised.value.subject == url
    assert raised.value.message.startswith("cannot clone or fetch: fatal: ")


def test_secrets_in_urls_are_redacted_from_messages():
    assert redact("https://bot:s3cret@git.example.com/ops.git") == "https://bot:***@git.example.com/ops.git"
    assert redact("https://ghp_token@git.example.com/ops.git") == "https://***@git.example.com/ops.git"
    assert redact("ssh://git@git.example.com/ops.git") == "ssh://git@git.example.com/ops.git"
    assert redact("/srv/repo") == "/srv/repo"


def test_a_failed_clone_does_not_print_the_password(tmp_path):
    url = f"file://user:hunter2@{tmp_path}/missing.git"
    with pytest.raises(SourceError) as raised:
        load(url, cache_dir=str(tmp_path / "cache"))
    assert "hunter2" not in str(raised.value)


def test_a_blob_over_the_size_limit_is_refused_without_being_read(repo, monkeypatch):
    """A hostile commit's oversized "manifest" must not be read into memory before it is refused."""
    from gitapply.source import InputLimits
    from gitapply.source import git as git_source

    commit(repo, {"small.yaml": configmap("small"), "big.yaml": configmap("big", "x" * (2 * 1024 * 1024))})
    read_shas: list[str] = []
    original = git_source.read_blobs
    monkeypatch.setattr(git_source, "read_blobs", lambda r, shas: read_shas.extend(shas) or original(r, shas))
    state = read(str(repo), rev="HEAD", limits=InputLimits.of_mib(1))
    assert [(p.where.path, "over the limit of 1.0 MiB for one file" in p.message) for p in state.problems] == [
        ("big.yaml", True)]
    assert [m.obj["metadata"]["name"] for m in state.manifests] == ["small"]
    assert read_shas == [git(repo, "rev-parse", "HEAD:small.yaml")], "only the file within the limit is read"
