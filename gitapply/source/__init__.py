"""Where desired state comes from: a manifest file, a directory of them, or a git commit.

    from gitapply.source import load, read
    state = load("deploy/")                                   # files; raises SourceError listing every problem
    state = load("/srv/repo", rev="v1.4.0", subdir="deploy")  # a commit, read without a checkout
    state = load("https://git.example.com/ops.git", rev="main")
    state.manifests, state.revision, state.root

Which kind of source PATH is:

* a URL (``https://``, ``ssh://``, ``file://``, ``git@host:path``) — a git repository, mirrored into a local cache;
* a repository's top (it holds ``.git``, or is a bare repository), or any PATH when ``rev`` or ``subdir`` is
  given — the commit ``rev`` (default ``HEAD``) of the repository holding PATH; uncommitted changes are ignored;
* anything else — a file, or a directory read recursively.

``read`` collects every problem — YAML syntax, missing identity fields, duplicates, schema violations of
built-in kinds — across all files into ``DesiredState.problems``; ``load`` raises one ``SourceError`` listing
them, before anything is written. Namespace defaulting needs the cluster: see ``apply_default_namespace``.
GitPython is imported only for git sources (its import costs ~120 ms).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gitapply.model import Manifest

from .files import parse, read_path
from .validate import Problem, apply_default_namespace, problems_error, validate

SETTINGS_FILE = ".gitapply.yaml"

__all__ = [
    "SETTINGS_FILE",
    "DesiredState",
    "Problem",
    "apply_default_namespace",
    "is_git_source",
    "is_remote",
    "load",
    "parse",
    "problems_error",
    "read",
    "redact",
    "validate",
]


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The desired objects, where they were read (``root``), the commit (``revision``, None for files)."""

    manifests: tuple[Manifest, ...]
    root: str
    revision: str | None = None
    problems: tuple[Problem, ...] = ()
    settings: str | None = None
    """The text of ``.gitapply.yaml`` at the root of the desired state, if there is one."""


def read(
    path: str,
    *,
    rev: str | None = None,
    subdir: str | None = None,
    cache_dir: str | None = None,
    schema_version: str | None = None,
) -> DesiredState:
    """Every object at PATH and every problem with them; raises ``SourceError`` only if PATH cannot be read.

    ``schema_version`` picks the bundled Kubernetes definitions built-in kinds are checked against (nearest
    to e.g. ``"1.30"``; the newest when None).
    """
    revision = None
    if is_git_source(path, rev=rev, subdir=subdir):
        from . import git

        revision, manifests, problems = git.read_commit(path, rev=rev, subdir=subdir, cache_dir=cache_dir)
        settings = git.read_settings(path, revision, subdir, cache_dir)
    else:
        manifests, problems = read_path(path)
        settings_file = os.path.join(path, SETTINGS_FILE)
        settings = None
        if os.path.isdir(path) and os.path.isfile(settings_file):
            with open(settings_file, encoding="utf-8") as handle:
                settings = handle.read()
    problems.extend(validate(manifests, schema_version))
    problems.sort(key=lambda problem: problem.sort_key)
    return DesiredState(tuple(manifests), path, revision, tuple(problems), settings)


def load(
    path: str,
    *,
    rev: str | None = None,
    subdir: str | None = None,
    cache_dir: str | None = None,
    schema_version: str | None = None,
) -> DesiredState:
    """Like ``read``, but raises one ``SourceError`` listing every problem instead of returning them."""
    state = read(path, rev=rev, subdir=subdir, cache_dir=cache_dir, schema_version=schema_version)
    if state.problems:
        where = f"{redact(path)}@{state.revision[:12]}" if state.revision else path
        raise problems_error(state.problems, where)
    return state


def is_git_source(path: str, *, rev: str | None = None, subdir: str | None = None) -> bool:
    """Whether PATH is read as a git repository (rules in the module docstring); imports no git library."""
    if rev is not None or subdir is not None:
        return True
    if is_remote(path):
        return True
    if os.path.exists(os.path.join(path, ".git")):
        return True
    return all(os.path.exists(os.path.join(path, entry)) for entry in ("HEAD", "objects", "refs"))


def is_remote(location: str) -> bool:
    """A URL (``https://``, ``ssh://``, ``file://``…) or scp-like ``user@host:path``, rather than a local path."""
    scheme, sep, _ = location.partition("://")
    if sep and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return True
    head, colon, _ = location.partition(":")
    return bool(colon) and "@" in head and "/" not in head


def redact(url: str) -> str:
    """``url`` without its secret, for messages: ``https://user:***@host/…``; a lone http(s) user may be a token."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not (sep and at):
        return url
    if ":" in userinfo:
        userinfo = f"{userinfo.partition(':')[0]}:***"
    elif scheme in ("http", "https"):
        userinfo = "***"
    return f"{scheme}://{userinfo}@{host}{slash}{path}"
