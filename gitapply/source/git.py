"""Manifests from a git commit, read from the object database without a checkout. The only importer of GitPython.

Rules:

* The commit is any commit-ish (``HEAD``, a branch, a tag, a sha, ``main~3``); the work tree, the index and
  uncommitted changes are never read or touched, so planning an old commit is safe in a dirty repository.
* ``subdir`` is a directory (or one file) inside the commit; a PATH below a work tree's top adds its own
  relative path in front. Origins are paths relative to the repository's top (``git show REV:PATH`` opens them).
* The files read are those a directory walk reads (``files.is_manifest_file``, hidden paths skipped). A symbolic
  link or a submodule with a manifest name is a problem rather than silently missing: gitapply does not follow
  links inside commits.
* Blobs are listed with one ``git ls-tree -r`` and read with one pipelined ``git cat-file --batch``; reading
  them one by one through GitPython's object database costs a round trip each (see
  ``benchmarks/bench_source.py`` for both figures).
* A remote URL is mirrored (``git clone --mirror``) into ``<cache>/<sha256(url)[:16]>`` and fetched with
  ``--prune`` on every later run, so branch names resolve as on the remote. The cache is
  ``cache.repos_folder()`` (``repos`` in gitapply's cache folder). A clone is made in a temporary directory
  and renamed into place, so concurrent runs do not see half a clone.
* ``fetch=False`` uses an existing mirror as it is (the reconcile controller fetches each repository once per
  poll, not once per app and pass); a missing mirror is still cloned, so the first read works.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import git

from gitapply.cache import repos_folder
from gitapply.errors import SourceError, SourceUnreachableError
from gitapply.model import Manifest, Origin

from . import SETTINGS_FILE, is_remote, redact, redact_text
from .files import is_manifest_file, parse, rendered_elsewhere
from .limits import SourceBudget
from .validate import Problem

_BLOB_MODES = {b"100644", b"100755"}
_SYMLINK_MODE = b"120000"
_SUBMODULE_MODE = b"160000"


def read_settings(location: str, revision: str, subdir: str | None = None, cache_dir: str | None = None) -> str | None:
    """The text of ``.gitapply.yaml`` at the root of ``subdir`` in commit ``revision``; None if absent."""
    repo, prefix = _open(location, cache_dir, fetch=False)
    try:
        path = _clean_subdir(posixpath.join(prefix, subdir or "", SETTINGS_FILE), location)
        try:
            blob = repo.commit(revision).tree / path
        except KeyError:
            return None
        return blob.data_stream.read().decode("utf-8") if isinstance(blob, git.Blob) else None
    finally:
        repo.close()


def read_commit(
    location: str, *, rev: str | None = None, subdir: str | None = None, cache_dir: str | None = None,
    fetched: bool = False, budget: SourceBudget | None = None,
) -> tuple[str, list[Manifest], list[Problem]]:
    """The commit sha, the objects under ``subdir`` at ``rev`` (default HEAD), and the problems reading them.

    ``location`` is a repository, a path inside one, or a URL (mirrored into ``cache_dir``; with ``fetched``
    the mirror is used as it is, ``locate`` having fetched it moments ago). ``budget``: the source's size limits.
    """
    repo, prefix = _open(location, cache_dir, fetch=not fetched)
    try:
        return _read(repo, location, rev or "HEAD", _clean_subdir(posixpath.join(prefix, subdir or ""), location),
                     budget or SourceBudget())
    finally:
        repo.close()


def _read(repo: git.Repo, location: str, rev: str, path: str,
          budget: SourceBudget) -> tuple[str, list[Manifest], list[Problem]]:
    commit, target = _target(repo, location, rev, path)
    entries = _list_entries(repo, target, path)
    manifests, problems = _parse_entries(repo, entries, explicit=not isinstance(target, git.Tree), budget=budget)
    return commit.hexsha, manifests, problems


def _target(repo: git.Repo, location: str, rev: str, path: str) -> tuple[git.Commit, git.Tree | git.Blob]:
    """The commit ``rev`` and the tree or blob at ``path`` in it; ``SourceError`` naming what is missing."""
    try:
        commit = repo.commit(rev)
    except (git.BadName, git.BadObject, ValueError) as exc:
        raise SourceError(redact(location), f"unknown revision {rev!r}; `git -C {repo.git_dir} log --oneline` lists "
                                    "the commits") from exc
    if not path:
        return commit, commit.tree
    try:
        return commit, commit.tree / path
    except KeyError as exc:
        raise SourceError(f"{redact(location)}@{commit.hexsha[:12]}",
                          f"no path {path!r} in this commit; `git -C {repo.git_dir} ls-tree --name-only -r "
                          f"{commit.hexsha[:12]}` lists what is there") from exc


def locate(location: str, *, rev: str | None = None, subdir: str | None = None,
           cache_dir: str | None = None, fetch: bool = True) -> tuple[str, str, frozenset[str]]:
    """The commit sha of ``rev``, the repository-relative path of ``subdir`` (PATH's own place in a work tree
    included), and the names of the files directly in it (empty for a file). Fetches a URL's mirror first
    unless ``fetch`` is False."""
    repo, prefix = _open(location, cache_dir, fetch=fetch)
    try:
        path = _clean_subdir(posixpath.join(prefix, subdir or ""), location)
        commit, target = _target(repo, location, rev or "HEAD", path)
        names = frozenset(item.name for item in target.blobs) if isinstance(target, git.Tree) else frozenset()
        return commit.hexsha, path, names
    finally:
        repo.close()


def resolve(location: str, *, rev: str | None = None, cache_dir: str | None = None, fetch: bool = True) -> str:
    """The commit sha ``rev`` (default HEAD) names in the repository at ``location``; a URL's mirror is
    fetched first unless ``fetch`` is False. ``SourceError`` for an unknown revision."""
    repo, _ = _open(location, cache_dir, fetch=fetch)
    try:
        return _target(repo, location, rev or "HEAD", "")[0].hexsha
    finally:
        repo.close()


def export_tree(location: str, revision: str, cache_dir: str | None, destination: Path) -> None:
    """Write the whole tree of commit ``revision`` into ``destination`` (created), through ``git archive``:
    a renderer needs files on disk, and bases may lie anywhere in the repository. Submodules are not included;
    a symbolic link leading out of the tree is refused."""
    repo, _ = _open(location, cache_dir, fetch=False)
    destination.mkdir(parents=True)
    try:
        process = repo.git.archive("--format=tar", revision, as_process=True)
        with tarfile.open(fileobj=process.proc.stdout, mode="r|") as archive:
            archive.extractall(destination, filter="data")
        process.wait()
    except (tarfile.TarError, git.GitCommandError) as exc:
        raise SourceError(f"{redact(location)}@{revision[:12]}", f"cannot export the commit to render it: {exc}") \
            from exc
    finally:
        repo.close()


def _open(location: str, cache_dir: str | None, *, fetch: bool = True) -> tuple[git.Repo, str]:
    """The repository at ``location`` and PATH's place inside it; a URL's mirror is cloned if missing, and
    fetched first when ``fetch``."""
    if is_remote(location):
        return git.Repo(mirror(location, cache_dir, fetch=fetch)), ""
    try:
        repo = git.Repo(location, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise SourceUnreachableError(location, "not a git repository; give a repository, a path inside one, "
                                               "or a URL") from exc
    if repo.bare or repo.working_tree_dir is None:
        return repo, ""
    inside = os.path.relpath(os.path.realpath(location), os.path.realpath(repo.working_tree_dir))
    return repo, "" if inside == "." else Path(inside).as_posix()


def _clean_subdir(path: str, location: str) -> str:
    cleaned = posixpath.normpath(path.strip("/")) if path.strip("/") else ""
    if cleaned == ".":
        return ""
    if cleaned.startswith(".."):
        raise SourceError(location, f"path {path!r} leaves the repository; give a directory inside it")
    return cleaned


def _list_entries(repo: git.Repo, target: git.Tree | git.Blob, path: str) -> list[tuple[bytes, str, str]]:
    """(mode, sha, repository-relative path) of every entry under ``target``, from one ``git ls-tree -r``."""
    if isinstance(target, git.Blob):
        return [(b"%o" % target.mode, target.hexsha, path)]
    if not isinstance(target, git.Tree):
        return [(_SUBMODULE_MODE, target.hexsha, path)]
    listing = repo.git.ls_tree("-r", "-z", target.hexsha, stdout_as_string=False)
    entries = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, _, sha = meta.split(b" ")
        relative = name.decode("utf-8", "surrogateescape")
        entries.append((mode, sha.decode(), posixpath.join(path, relative) if path else relative))
    return entries


def _parse_entries(
    repo: git.Repo, entries: list[tuple[bytes, str, str]], *, explicit: bool, budget: SourceBudget
) -> tuple[list[Manifest], list[Problem]]:
    """Parse the manifest files among ``entries``; ``explicit``: one file named by the user, read whatever its name."""
    wanted: list[tuple[str, str]] = []
    problems: list[Problem] = []
    marked = {} if explicit else _rendered_elsewhere(entries)
    problems.extend(marked.values())
    for mode, sha, path in entries:
        parts = path.split("/")
        if not explicit and (any(part.startswith(".") for part in parts[:-1]) or not is_manifest_file(parts[-1])):
            continue
        if any(path.startswith(f"{directory}/") or not directory for directory in marked):
            continue
        if mode in _BLOB_MODES:
            wanted.append((sha, path))
        elif mode == _SYMLINK_MODE:
            problems.append(Problem(Origin(path), "is a symbolic link; gitapply reads commits without a checkout "
                                                  "and does not follow links: commit the file itself"))
        elif mode == _SUBMODULE_MODE:
            problems.append(Problem(Origin(path), "is a git submodule, which gitapply does not read; give its "
                                                  "repository as a source of its own"))
    # sizes first, from the object headers: a hostile commit's 2 GiB "manifest" is refused unread
    sizes = blob_sizes(repo, [sha for sha, _ in wanted])
    preview, readable = SourceBudget(budget.limits, budget.used), []
    for sha, path in sorted(wanted, key=lambda item: item[1]):
        refusal = preview.take(sizes[sha])
        if refusal:
            problems.append(Problem(Origin(path), refusal))
        else:
            readable.append((sha, path))
    contents = read_blobs(repo, [sha for sha, _ in readable])
    manifests: list[Manifest] = []
    for sha, path in readable:
        found, trouble = parse(contents[sha], path, budget)
        manifests.extend(found)
        problems.extend(trouble)
    return manifests, problems


def _rendered_elsewhere(entries: list[tuple[bytes, str, str]]) -> dict[str, Problem]:
    """Directories holding a kustomization or a chart (``files.rendered_elsewhere``), outermost only."""
    marked: dict[str, Problem] = {}
    for _, _, path in sorted(entries, key=lambda entry: (entry[2].count("/"), entry[2])):
        directory = path.rpartition("/")[0]
        if any(directory == outer or directory.startswith(f"{outer}/") or not outer for outer in marked):
            continue
        problem = rendered_elsewhere(path)
        if problem is not None:
            marked[directory] = problem
    return marked


def blob_sizes(repo: git.Repo, shas: list[str]) -> dict[str, int]:
    """Each blob's size in bytes, from ``git cat-file --batch-check`` (headers only, nothing read)."""
    unique = list(dict.fromkeys(shas))
    lines = _cat_file(repo, "--batch-check", unique).decode().splitlines()
    return {sha: _blob_size(repo, sha, lines[index] if index < len(lines) else None)
            for index, sha in enumerate(unique)}


def read_blobs(repo: git.Repo, shas: list[str]) -> dict[str, bytes]:
    """The content of each blob, read through one ``git cat-file --batch`` fed all shas at once."""
    unique = list(dict.fromkeys(shas))
    output = _cat_file(repo, "--batch", unique)
    contents: dict[str, bytes] = {}
    position = 0
    for sha in unique:
        end = output.find(b"\n", position)
        size = _blob_size(repo, sha, output[position:end].decode() if end >= 0 else None)
        contents[sha] = output[end + 1:end + 1 + size]
        position = end + 1 + size + 1
    return contents


def _cat_file(repo: git.Repo, mode: str, shas: list[str]) -> bytes:
    """What ``git cat-file MODE`` prints for ``shas``: one process fed them all at once."""
    if not shas:
        return b""
    process = repo.git.cat_file(mode, istream=subprocess.PIPE, as_process=True)
    output, _ = process.proc.communicate("".join(f"{sha}\n" for sha in shas).encode())
    return bytes(output)


def _blob_size(repo: git.Repo, sha: str, header: str | None) -> int:
    """The size an object header (``SHA blob SIZE``) gives, or an error naming the object when it is no blob
    (``SHA missing``) or git printed no header for it (None)."""
    fields = header.split(" ") if header is not None else ["no output from git cat-file"]
    if len(fields) != 3 or fields[1] != "blob":
        raise SourceError(str(repo.git_dir), f"object {sha} cannot be read ({fields[-1]}); "
                                             "`git fsck` checks the repository")
    return int(fields[2])


def mirror(url: str, cache_dir: str | os.PathLike[str] | None = None, *, fetch: bool = True) -> Path:
    """A local mirror of ``url``: cloned into the cache on first use, fetched (``--prune``) on every later one
    unless ``fetch`` is False (then used as it is). ``SourceUnreachableError`` when git cannot reach ``url``."""
    target = _mirror_path(url, cache_dir)
    root = target.parent
    try:
        if (target / "HEAD").is_file():
            if fetch:
                with git.Repo(target) as repo:
                    repo.git.fetch("--prune", "origin")
            return target
        root.mkdir(parents=True, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".clone-", dir=root)
        try:
            git.Repo.clone_from(url, staging, mirror=True)
            os.rename(staging, target)
        except OSError:
            if not (target / "HEAD").is_file():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except git.GitCommandError as exc:
        # git's complaint may quote the URL, token and all (older versions do): it is redacted like the subject
        message = redact_text(f"cannot clone or fetch: {_git_complaint(exc)}; check the URL and your access to it")
        raise SourceUnreachableError(redact(url), message) from exc
    return target


def _mirror_path(url: str, cache_dir: str | os.PathLike[str] | None) -> Path:
    root = Path(cache_dir) if cache_dir is not None else repos_folder()
    return root / hashlib.sha256(url.encode()).hexdigest()[:16]


def _git_complaint(exc: git.GitCommandError) -> str:
    """The ``fatal:``/``error:`` lines of git's stderr, without GitPython's wrapping or progress lines."""
    text = str(exc.stderr or "").strip().removeprefix("stderr:").strip().strip("'")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith(("fatal:", "error:", "remote:"))]
    return " ".join(lines) or text or str(exc)
