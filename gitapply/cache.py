"""gitapply's cache folder on disk: what is costly to derive and the same from run to run (the server's
patch metadata, each kind's validation schema). ``$GITAPPLY_CACHE``, else ``~/.cache/gitapply``. Losing it
costs time, never correctness: every entry is derived again when missing or unreadable. Also the one atomic
file writer, which the drift reports use too."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("GITAPPLY_CACHE") or Path.home() / ".cache" / "gitapply")


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
