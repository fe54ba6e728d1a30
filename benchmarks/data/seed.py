"""Objects put in a cluster the way users put them there: a folder of manifests applied through the session
``gitapply apply`` runs (validation, preflight dry-runs, writes, the inventory)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Iterable

from gitapply.cluster.base import Cluster
from gitapply.ops.prepare import Request
from gitapply.session import AppSession, AppSpec


def apply_objects(cluster: Cluster, objects: Iterable[dict[str, Any]], *, app: str = "bench-seed") -> None:
    """Apply ``objects`` as one app; fails loudly on any refusal, so a benchmark never measures half a fleet."""
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as folder:
        for index, obj in enumerate(objects):
            (Path(folder) / f"{index:05d}.json").write_text(json.dumps(obj))
        session = AppSession(cluster, AppSpec(Request(path=folder, app=app)))
        planned = session.plan()
        assert not planned.refusals, [refusal.message for refusal in planned.refusals]
        failures = session.apply(planned)
        assert not failures, [failure.message for failure in failures]
