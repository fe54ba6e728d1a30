"""One app over one cluster: read, plan, apply, wait and report drift, the same way for every entry point.

The CLI and the controller differ in what they do with the results (print and exit, or count and log), not in
how an app is read, planned or written: that happens here, once. Each step leaves through the error boundary
(``boundary``): a ``GitapplyError`` naming the object or file, with no credentials in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..cluster.base import Cluster
from ..engine.drift import DriftReport
from ..engine.health import Health
from ..errors import ForbiddenError
from ..model import Action, Change, Failure, FailureKind, ObjectKey, Plan
from ..ops.apply import confirm_patches, server_predictions
from ..ops.drift import classify_prepared
from ..ops.inventory import inventory_key
from ..ops.prepare import Prepared, prepare
from ..ops.rollout import Outcome, restore, rolled_out, wait
from ..ops.sync import Planned, plan_prepared, write_sync
from .boundary import boundary
from .spec import AppSpec


@dataclass(frozen=True, slots=True)
class Rollouts:
    """What waiting for an apply's rollouts found: every outcome, the workloads that failed, and the changes
    made to put the failed ones back (when asked)."""

    outcomes: tuple[Outcome, ...]
    restored: tuple[Change, ...] = ()

    @property
    def failed(self) -> tuple[ObjectKey, ...]:
        return tuple(outcome.key for outcome in self.outcomes if outcome.health is not Health.READY)


class AppSession:
    """The steps of one app (``spec``) against ``cluster``; each step reads what it needs, so a session is
    cheap to make and may be kept (the controller keeps one per app)."""

    def __init__(self, cluster: Cluster, spec: AppSpec) -> None:
        self.cluster = cluster
        self.spec = spec

    @property
    def app(self) -> str:
        """The app's name: ``--app``, or made from the source's folder or repository name."""
        with boundary():
            return self.spec.name

    def read(self) -> Prepared:
        """Read and validate git, read the cluster, plan; nothing is written."""
        with boundary():
            return prepare(self.cluster, self.spec.source)

    def diff(self, *, server_dry_run: bool = False) -> Plan:
        """What apply would change. A predicted patch is kept only when the server's dry-run agrees that it
        changes something; ``server_dry_run`` takes every create's and patch's result from the server."""
        with boundary():
            prepared = prepare(self.cluster, self.spec.source)
            plan = confirm_patches(self.cluster, prepared.plan, prepared.nodes)
            return server_predictions(self.cluster, plan) if server_dry_run else plan

    def drift(self, prepared: Prepared | None = None) -> DriftReport:
        """Every difference between git and the cluster, classified and attributed; writes nothing."""
        with boundary():
            return classify_prepared(prepared or prepare(self.cluster, self.spec.source), self.cluster.field_manager)

    def plan(self, prepared: Prepared | None = None) -> Planned:
        """The plan, checked before any write (oversized records, the server's dry-run, immutable fields, the
        inventory's namespace); a plan with refusals must not be written."""
        with boundary():
            planned = plan_prepared(self.cluster, prepared or prepare(self.cluster, self.spec.source),
                                    self.spec.sync)
            missing = self._missing_inventory_namespace(planned)
            return planned if missing is None else replace(planned, refusals=[*planned.refusals, missing])

    def apply(self, planned: Planned, *, dry_run: bool = False,
              on_done: Callable[[Change, Failure | None], None] = lambda change, failure: None) -> list[Failure]:
        """Make the planned changes and record the inventory; the writes not made, each with its kind."""
        with boundary():
            return write_sync(self.cluster, planned, dry_run=dry_run, on_done=on_done)

    def wait(self, planned: Planned, *, timeout: float, restore_failed: bool = False,
             on_change: Callable[[Outcome], None] = lambda outcome: None) -> Rollouts:
        """Wait for the workloads the plan changed to roll out; with ``restore_failed``, put each failed one
        back to the configuration it had before this apply."""
        with boundary():
            outcomes = tuple(wait(self.cluster, rolled_out(planned.plan.changes), timeout=timeout,
                                  on_change=on_change))
            rollouts = Rollouts(outcomes)
            if restore_failed and rollouts.failed:
                restored = restore(self.cluster, planned.plan.changes, set(rollouts.failed), planned.marks)
                return Rollouts(outcomes, tuple(restored))
            return rollouts

    def _missing_inventory_namespace(self, planned: Planned) -> Failure | None:
        """A refusal when the inventory's namespace does not exist and the plan does not create it: the objects
        would be written and the record of them refused, on every run."""
        namespace = self.spec.source.inventory_namespace
        key = ObjectKey("", "v1", "Namespace", "", namespace)
        if any(c.key == key and c.action is Action.CREATE for c in planned.plan.changes):
            return None
        try:
            if self.cluster.get(key) is not None:
                return None
        except ForbiddenError:  # may not read namespaces: the inventory write will tell
            return None
        inventory = inventory_key(planned.prepared.app, namespace)
        return Failure(inventory, Action.CREATE, f"{inventory}: the inventory namespace {namespace!r} does not "
                       "exist; create it, or name an existing one with --inventory-namespace",
                       FailureKind.REFUSED)
