"""The drift check: read git and the cluster, classify every difference, write nothing to the cluster."""

from __future__ import annotations

import time

from .. import bundled
from ..cluster.base import Cluster
from ..engine.drift import DriftReport, classify
from .prepare import Prepared, Request, prepare


def check(cluster: Cluster, request: Request) -> DriftReport:
    """The drift report for the app at ``request``'s path and revision. Reads only."""
    return classify_prepared(prepare(cluster, request), cluster.field_manager)


def classify_prepared(prepared: Prepared, field_manager: str) -> DriftReport:
    """The drift report for what ``prepare`` read; ``field_manager`` is the one gitapply writes as."""
    return classify(prepared.manifests, prepared.live, prepared.nodes, prepared.rules, app=prepared.app,
                    managers=bundled.rules().managers.with_own(field_manager), revision=prepared.state.revision,
                    inventory=prepared.inventory, checked_at=time.time())
