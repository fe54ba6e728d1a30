"""gitapply's cache folder on disk, and the one rule that finds it.

It holds what is costly to derive and the same from run to run — the server's patch metadata (``openapi/``),
each kind's validation schema (``schemas/``), mirrors of remote repositories (``repos/``) — and the reports of
unexpected failures (``crashes/``), to attach to a bug report. Losing it costs time, never correctness: every
entry is derived again when missing or unreadable.

Where it is, the first that is set winning:

1. ``$GITAPPLY_CACHE``;
2. ``$XDG_CACHE_HOME/gitapply``;
3. ``~/.cache/gitapply``.

``$GITAPPLY_CACHE_DIR``, the older setting for the repository mirrors alone, still wins for them: it names the
``repos`` folder itself. Every part of gitapply asks ``folder`` (or ``repos_folder``), so that one setting moves
all of it — to an ``emptyDir`` under a read-only root filesystem, say.

Also the one atomic file writer, which the drift reports use too.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def cache_root() -> Path:
    """The cache folder, by the rule above (not created: ``store`` makes the folders it writes into)."""
    if os.environ.get("GITAPPLY_CACHE"):
        return Path(os.environ["GITAPPLY_CACHE"])
    # expanduser, not Path.home(): it never raises, and the crash report must find a folder even without $HOME
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gitapply"


def folder(*parts: str) -> Path:
    """A path inside the cache folder: ``folder("crashes", "20240501-120000-42.txt")``."""
    return cache_root().joinpath(*parts)


def repos_folder() -> Path:
    """Where remote repositories are mirrored: ``$GITAPPLY_CACHE_DIR`` when set, else ``folder("repos")``."""
    legacy = os.environ.get("GITAPPLY_CACHE_DIR")
    return Path(legacy) if legacy else folder("repos")


def store(path: Path, data: bytes) -> None:
    """Keep ``data`` in the cache at ``path`` (its folders made as needed), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` so that a concurrent reader (another gitapply, node-exporter, a CI dashboard) sees the
    old file or the new one, whole, never half of it."""
    partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    partial.write_bytes(data)
    partial.replace(path)
