"""gitapply's cache folder on disk: what is costly to derive and the same from run to run (the server's
patch metadata, each kind's validation schema). ``$GITAPPLY_CACHE``, else ``~/.cache/gitapply``. Losing it
costs time, never correctness: every entry is derived again when missing or unreadable."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("GITAPPLY_CACHE") or Path.home() / ".cache" / "gitapply")


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` so that a concurrent reader (another gitapply) sees the old file or the new, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    partial.write_bytes(data)
    partial.replace(path)
