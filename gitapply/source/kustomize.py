"""Rendering a Kustomize directory into manifests, before anything else reads them.

Rules:

* A directory holding ``kustomization.yaml``, ``kustomization.yml`` or ``Kustomization`` is rendered, never read
  file by file (its files are patches and generator inputs, not whole objects).
* The command is ``KustomizeOptions.command`` (``--kustomize-command``, or ``kustomize.command`` in
  ``.gitapply.yaml``) with the directory appended; by default ``kustomize build`` when a ``kustomize`` binary is
  on PATH, else ``kubectl kustomize`` (kubectl >= 1.21 embeds Kustomize). ``--enable-helm`` and alpha plugins are
  never asked for: a render runs no other program.
* Remote bases (a URL in ``resources``, ``bases`` or ``components``, in the kustomization or any local base it
  reaches) are refused unless ``allow_remote`` is set: they make a render depend on the network and on
  someone else's repository. The check reads the kustomization files before Kustomize runs.
* The objects are exactly what the command prints for the directory; their origin is the kustomization
  (``overlays/prod/kustomization.yaml (rendered):LINE``, the line in the rendered stream).
* When the objects have problems, the directory is rendered again through a wrapper kustomization in a private
  temporary directory that asks for ``buildMetadata: [originAnnotations]``, so each problem names the file its
  object came from (a generated object: the kustomization that generated it). The annotation is removed again.
  Not on every render: the wrapper's extra layer makes Kustomize two to three times slower. A kustomization
  that sets ``buildMetadata`` itself is not wrapped.
* Kustomize's complaint is shown with the kustomization's path (``SourceError``, exit 2); so is a render that
  yields no object, which would otherwise be an empty apply that prunes everything.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gitapply.errors import SourceError
from gitapply.model import Manifest, Origin

from .files import KUSTOMIZATION_FILES, parse
from .limits import SourceBudget
from .validate import Problem

if TYPE_CHECKING:  # subprocess, shutil, tempfile are imported on use: a plain folder's diff never renders
    import subprocess

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
RENDER_TIMEOUT_SECONDS = 300
_REFERENCE_FIELDS = ("resources", "bases", "components")
Check = Callable[[list[Manifest]], list[Problem]]
"""Validation of rendered objects (``validate.validate`` with the schema version chosen)."""
_HOST = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?$")


@dataclass(frozen=True, slots=True)
class KustomizeOptions:
    """How to render: the command (None: detect it, see the module docstring) and whether remote bases may be
    fetched."""

    command: str | None = None
    allow_remote: bool = False


def kustomization_file(directory: str | os.PathLike[str]) -> str | None:
    """The name of the kustomization file in ``directory``, None if it holds none (or is not a directory)."""
    for name in sorted(KUSTOMIZATION_FILES):
        if os.path.isfile(os.path.join(directory, name)):
            return name
    return None


def command_line(options: KustomizeOptions) -> list[str]:
    """The argv the directory is appended to."""
    if options.command:
        return shlex.split(options.command)
    import shutil

    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return ["kubectl", "kustomize"]


def settings_command(settings: Any, where: str) -> str | None:
    """``kustomize.command`` from a parsed ``.gitapply.yaml``; ``SourceError`` if it is not a string."""
    section = settings.get("kustomize") if isinstance(settings, dict) else None
    if section is None:
        return None
    command = section.get("command") if isinstance(section, dict) else section
    if command is not None and not (isinstance(command, str) and command.strip()):
        raise SourceError(where, "kustomize.command must be a command line, e.g. \"kubectl kustomize\"")
    return command


def render(directory: Path, display: str, options: KustomizeOptions, *, check: Check = lambda manifests: [],
           private_root: Path | None = None, budget: SourceBudget | None = None
           ) -> tuple[list[Manifest], list[Problem]]:
    """The objects the kustomization in ``directory`` renders and their problems (parsing, and ``check``'s),
    with origins under ``display`` (the directory as the user names it). Raises ``SourceError`` if Kustomize
    fails or renders nothing.

    Only when there are problems is it rendered again through the wrapper, so that each names its file: the
    wrapper's extra layer costs Kustomize two to three times the render (``benchmarks/bench_kustomize.py``).
    ``private_root``: a temporary directory ``directory`` lies in (a commit's export), never shown; Kustomize's
    messages name the files under it relative to it."""
    name = kustomization_file(directory) or "kustomization.yaml"
    where = os.path.normpath(os.path.join(display, name))
    if not options.allow_remote:
        refuse_remote(directory, display)
    argv = command_line(options)
    manifests, problems = parse(_render(argv, directory, where, private_root), f"{where} (rendered)",
                                budget or SourceBudget())
    if not manifests and not problems:
        raise SourceError(where, "renders no objects; an empty apply would prune everything the app owns. Add "
                                 "resources to the kustomization, or give another path")
    problems += check(manifests)
    if not problems or _sets_build_metadata(directory / name):
        return manifests, problems
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gitapply-kustomize-") as private:
        wrapper = origin_wrapper(directory, Path(private))
        try:
            output = _render(argv, wrapper, where, private_root)
        except SourceError:
            return manifests, problems  # the problems found stand, named by the kustomization alone
        found, trouble = parse(output, f"{where} (rendered)")
        found = [_with_origin(manifest, wrapper, directory, display, where) for manifest in found]
    return found, trouble + check(found)


def _render(argv: list[str], target: Path, where: str, private_root: Path | None) -> bytes:
    result = _run(argv, target, where)
    if result.returncode != 0:
        raise SourceError(where, f"kustomize failed: {_message(result.stderr, private_root)}")
    return result.stdout


def origin_wrapper(directory: Path, private: Path) -> Path:
    """A kustomization in ``private`` that renders ``directory`` with origin annotations (Kustomize accepts
    only relative paths to other kustomizations)."""
    wrapper = private / "wrapper"
    wrapper.mkdir()
    relative = os.path.relpath(directory.resolve(), wrapper.resolve())
    text = yaml.safe_dump({"resources": [relative], "buildMetadata": ["originAnnotations"]})
    (wrapper / "kustomization.yaml").write_text(text, encoding="utf-8")
    return wrapper


def _run(argv: list[str], target: Path, where: str) -> subprocess.CompletedProcess[bytes]:
    import subprocess

    try:
        return subprocess.run([*argv, str(target)], capture_output=True, timeout=RENDER_TIMEOUT_SECONDS,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, check=False)
    except FileNotFoundError as exc:
        raise SourceError(where, f"cannot render: {argv[0]!r} is not on PATH; install kustomize (or kubectl "
                                 ">= 1.21), or pass --kustomize-command") from exc
    except subprocess.TimeoutExpired as exc:
        raise SourceError(where, f"`{shlex.join(argv)}` did not finish in {RENDER_TIMEOUT_SECONDS} s") from exc


def _message(stderr: bytes, private_root: Path | None) -> str:
    message = complaint(stderr.decode("utf-8", "replace"))
    if private_root is not None:
        message = message.replace(f"{private_root.resolve()}{os.sep}", "").replace(str(private_root.resolve()), ".")
    return message


_KUBECTL_ERROR = re.compile(r'err="((?:[^"\\]|\\.)*)"')


def complaint(stderr: str) -> str:
    """Kustomize's message without the logging around it: kubectl's ``E1202 … "command failed" err="…"``, or
    the standalone binary's ``Error: …`` (usage text dropped)."""
    found = _KUBECTL_ERROR.search(stderr)
    if found:
        return re.sub(r"\\(.)", lambda escaped: {"n": "\n", "t": "\t"}.get(escaped[1], escaped[1]), found[1])
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("Error:").strip() for line in lines if line.startswith("Error:")]
    return "; ".join(errors or lines[-1:]) or "no message"


def _sets_build_metadata(path: Path) -> bool:
    document = _kustomization(path)
    return bool(document.get("buildMetadata"))


def _kustomization(path: Path) -> dict[str, Any]:
    """A kustomization file's content; an unreadable one is left for Kustomize to report."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return document if isinstance(document, dict) else {}


def _with_origin(manifest: Manifest, wrapper: Path, directory: Path, display: str, where: str) -> Manifest:
    """The object without the origin annotation, with the file it names (relative to the user's view) as origin."""
    obj = dict(manifest.obj)
    metadata = dict(obj.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    recorded = annotations.pop(ORIGIN_ANNOTATION, None)
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    obj["metadata"] = metadata
    source = origin_path(recorded, wrapper, directory, display)
    return Manifest(obj, Origin(source or where, manifest.origin.document))


def origin_path(recorded: Any, wrapper: Path, directory: Path, display: str) -> str | None:
    """The file an origin annotation names (``path``, or ``configuredIn`` for generated objects), as a path under
    ``display``; None when there is none or it points outside the rendered tree (a remote base)."""
    try:
        origin = yaml.safe_load(recorded) if isinstance(recorded, str) else None
    except yaml.YAMLError:
        return None
    if not isinstance(origin, dict):
        return None
    named = origin.get("path") or origin.get("configuredIn")
    if not isinstance(named, str) or origin.get("repo"):
        return None
    absolute = os.path.normpath(os.path.join(wrapper.resolve(), named))
    return os.path.normpath(os.path.join(display, os.path.relpath(absolute, directory.resolve())))


def refuse_remote(directory: Path, display: str) -> None:
    """``SourceError`` naming the first remote base reachable from the kustomization in ``directory``."""
    for kustomization, reference in remote_references(directory):
        where = os.path.normpath(os.path.join(display, os.path.relpath(kustomization, directory)))
        raise SourceError(where, f"remote base {reference!r} refused: it makes the render depend on the network "
                                 "and on another repository. Vendor it into this repository, or pass "
                                 "--allow-remote-bases")


def remote_references(directory: Path) -> Iterator[tuple[Path, str]]:
    """(kustomization file, reference) for every remote reference reachable through local bases."""
    seen: set[Path] = set()
    pending = [directory.resolve()]
    while pending:
        current = pending.pop()
        name = kustomization_file(current)
        if current in seen or name is None:
            continue
        seen.add(current)
        document = _kustomization(current / name)
        for field in _REFERENCE_FIELDS:
            for entry in document.get(field) or ():
                if not isinstance(entry, str):
                    continue
                local = (current / entry).resolve()
                if local.exists():
                    if local.is_dir():
                        pending.append(local)
                elif is_remote_reference(entry):
                    yield current / name, entry


def is_remote_reference(entry: str) -> bool:
    """Whether a ``resources`` entry is a URL Kustomize would fetch: a scheme, ``git::``, ``git@host:``, or a
    first segment that is a host name (``github.com/org/repo//path?ref=v1``)."""
    if "://" in entry or entry.startswith(("git::", "git@")):
        return True
    first = entry.split("/", 1)[0]
    return "/" in entry and bool(_HOST.match(first))
