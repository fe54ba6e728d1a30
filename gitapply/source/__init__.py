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

``read(..., fetch=False)`` reads a URL's mirror as it is (cloning it only if there is none yet); ``fetch``
brings a mirror up to date and ``resolve`` says which commit a revision names, so that a caller reading many
apps from one repository (the reconcile controller) fetches it once rather than once per app.

``read`` collects every problem — YAML syntax, missing identity fields, duplicates, schema violations of
built-in kinds — across all files into ``DesiredState.problems``; ``load`` raises one ``SourceError`` listing
them, before anything is written. Namespace defaulting needs the cluster: see ``apply_default_namespace``.
GitPython is imported only for git sources (its import costs ~120 ms).
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from gitapply.errors import SourceError
from gitapply.model import Manifest

from .files import CHART_FILE, KUSTOMIZATION_FILES, helm_hint, parse, read_path
from .kustomize import Check, KustomizeOptions, kustomization_file, render, settings_command
from .limits import InputLimits, SourceBudget
from .validate import Problem, apply_default_namespace, problems_error, validate

SETTINGS_FILE = ".gitapply.yaml"
STDIN = "-"
"""The path that reads a YAML stream from standard input."""
STDIN_NAME = "<stdin>"

__all__ = [
    "SETTINGS_FILE",
    "STDIN",
    "DesiredState",
    "InputLimits",
    "KustomizeOptions",
    "Problem",
    "apply_default_namespace",
    "fetch",
    "is_git_source",
    "is_remote",
    "load",
    "parse",
    "problems_error",
    "read",
    "redact",
    "redact_text",
    "resolve",
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
    kustomize: KustomizeOptions = KustomizeOptions(),
    limits: InputLimits = InputLimits(),
    fetch: bool = True,
) -> DesiredState:
    """Every object at PATH and every problem with them; raises ``SourceError`` only if PATH cannot be read
    (or rendered: a Kustomize failure, a Helm chart).

    ``schema_version`` picks the bundled Kubernetes definitions built-in kinds are checked against (nearest
    to e.g. ``"1.30"``; the newest when None). ``limits``: the sizes a file and the whole source may have.
    ``fetch``: False reads a URL's existing mirror without fetching it first.
    """
    def check(manifests: list[Manifest]) -> list[Problem]:
        return validate(manifests, schema_version)

    revision = None
    budget = SourceBudget(limits)
    if path == STDIN:
        manifests, problems, settings = _read_stdin(rev, subdir, check, budget)
    elif is_git_source(path, rev=rev, subdir=subdir):
        revision, manifests, problems, settings = _read_commit(path, rev, subdir, cache_dir, kustomize, check,
                                                               budget, fetch=fetch)
    else:
        manifests, problems, settings = _read_files(path, kustomize, check, budget)
    if not manifests and not problems:
        where = f"{redact(path)}@{revision[:12]}" if revision else path
        raise SourceError(posixpath.join(where, subdir) if subdir else where,
                          "holds no Kubernetes objects (read from files ending in .yaml, .yml or .json); an empty "
                          "apply would prune everything the app owns. Check the path, --path and --rev")
    problems.sort(key=lambda problem: problem.sort_key)
    return DesiredState(tuple(manifests), path, revision, tuple(problems), settings)


_Read = tuple[list[Manifest], list[Problem], str | None]
"""The objects, every problem with them (validation included), and the text of ``.gitapply.yaml``."""


def _read_stdin(rev: str | None, subdir: str | None, check: Check, budget: SourceBudget) -> _Read:
    if rev is not None or subdir is not None:
        raise SourceError(STDIN, "--rev and --path read a git repository; standard input is a YAML stream")
    # one byte beyond the limit is enough to refuse, without holding an endless stream in memory
    manifests, problems = parse(sys.stdin.buffer.read(budget.limits.file_bytes + 1), STDIN_NAME, budget)
    if not manifests and not problems:
        raise SourceError(STDIN_NAME, "holds no objects; an empty apply would prune everything the app owns")
    return manifests, problems + check(manifests), None


def _read_files(path: str, options: KustomizeOptions, check: Check, budget: SourceBudget) -> _Read:
    settings = None
    settings_file = os.path.join(path, SETTINGS_FILE)
    if os.path.isdir(path) and os.path.isfile(settings_file):
        with open(settings_file, encoding="utf-8") as handle:
            settings = handle.read()
    if os.path.isdir(path) and kustomization_file(path):
        options = _with_settings(options, settings, settings_file)
        manifests, problems = render(Path(path), os.path.normpath(path), options, check=check, budget=budget)
        return manifests, problems, settings
    if os.path.isfile(os.path.join(path, CHART_FILE)):
        raise SourceError(os.path.join(path, CHART_FILE), helm_hint(path))
    manifests, problems = read_path(path, budget)
    return manifests, problems + check(manifests), settings


def _read_commit(path: str, rev: str | None, subdir: str | None, cache_dir: str | None,
                 options: KustomizeOptions, check: Check,
                 budget: SourceBudget, *, fetch: bool) -> tuple[str, list[Manifest], list[Problem], str | None]:
    """A commit's objects: rendered from an export of the commit when the path is a kustomization."""
    from . import git

    revision, where, names = git.locate(path, rev=rev, subdir=subdir, cache_dir=cache_dir, fetch=fetch)
    settings = git.read_settings(path, revision, subdir, cache_dir)
    if names & KUSTOMIZATION_FILES:
        import tempfile

        options = _with_settings(options, settings, posixpath.join(where, SETTINGS_FILE))
        with tempfile.TemporaryDirectory(prefix="gitapply-export-") as private:
            tree = Path(private) / "tree"
            git.export_tree(path, revision, cache_dir, tree)
            manifests, problems = render(tree / where, where, options, check=check, private_root=tree,
                                         budget=budget)
        return revision, manifests, problems, settings
    if CHART_FILE in names:
        raise SourceError(posixpath.join(where, CHART_FILE), helm_hint(where))
    _, manifests, problems = git.read_commit(path, rev=revision, subdir=subdir, cache_dir=cache_dir, fetched=True,
                                             budget=budget)
    return revision, manifests, problems + check(manifests), settings


def _with_settings(options: KustomizeOptions, settings: str | None, where: str) -> KustomizeOptions:
    """``kustomize.command`` from ``.gitapply.yaml`` when no command was given on the command line."""
    if options.command or not settings:
        return options
    try:
        command = settings_command(yaml.safe_load(settings), where)
    except yaml.YAMLError as exc:
        raise SourceError(where, f"cannot be read as YAML: {exc}") from exc
    return replace(options, command=command) if command else options


def load(
    path: str,
    *,
    rev: str | None = None,
    subdir: str | None = None,
    cache_dir: str | None = None,
    schema_version: str | None = None,
    kustomize: KustomizeOptions = KustomizeOptions(),
    limits: InputLimits = InputLimits(),
) -> DesiredState:
    """Like ``read``, but raises one ``SourceError`` listing every problem instead of returning them."""
    state = read(path, rev=rev, subdir=subdir, cache_dir=cache_dir, schema_version=schema_version,
                 kustomize=kustomize, limits=limits)
    if state.problems:
        where = f"{redact(path)}@{state.revision[:12]}" if state.revision else path
        raise problems_error(state.problems, where)
    return state


def resolve(path: str, *, rev: str | None = None, subdir: str | None = None, cache_dir: str | None = None,
            fetch: bool = True) -> str | None:
    """The commit sha ``rev`` (default HEAD) names at PATH, or None when PATH is read as files, not git
    (``subdir`` counts only for that: it makes any PATH a repository). A URL's mirror is fetched first unless
    ``fetch`` is False; ``SourceUnreachableError`` when it cannot be, ``SourceError`` for an unknown revision."""
    if not is_git_source(path, rev=rev, subdir=subdir):
        return None
    from . import git

    return git.resolve(path, rev=rev, cache_dir=cache_dir, fetch=fetch)


def fetch(url: str, *, cache_dir: str | None = None) -> None:
    """Clone or fetch the local mirror of the repository at ``url``; ``SourceUnreachableError`` (its message
    redacted) when git cannot reach it."""
    from . import git

    git.mirror(url, cache_dir)


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


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_text(text: str) -> str:
    """``text`` with the secret of every URL in it taken out (``redact``): the one filter every message that
    can carry a repository location passes before it reaches a terminal or a log."""
    return _URL.sub(lambda match: redact(match.group(0)), text) if "://" in text else text


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
