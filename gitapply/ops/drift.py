"""The drift check: read git and the cluster, classify every difference, write nothing to the cluster."""

from __future__ import annotations

import time

from .. import bundled
from ..engine.drift import DriftReport, classify
from ..model import Action
from .prepare import Prepared


def classify_prepared(prepared: Prepared, field_manager: str) -> DriftReport:
    """The drift report for what ``prepare`` read; ``field_manager`` is the one gitapply writes as."""
    return classify(prepared.manifests, prepared.live, prepared.nodes, prepared.rules, app=prepared.app,
                    managers=bundled.rules().managers.with_own(field_manager), revision=prepared.state.revision,
                    inventory=prepared.inventory, checked_at=time.time(), dropped=prepared.plan.unpruned + tuple(
                        change.key for change in prepared.plan.changes if change.action is Action.PRUNE))
