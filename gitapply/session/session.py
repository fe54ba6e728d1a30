"""One app over one cluster: read, plan, apply, wait and report drift, the same way for every entry point.

The CLI and the controller differ in what they do with the results (print and exit, or count and log), not in
how an app is read, planned or written: that happens here, once. Each step leaves through the error boundary
(``boundary``): a ``GitapplyError`` naming the object or file, with no credentials in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..cluster.base import Cluster
from ..engine.drift import DriftReport, confirmed
from ..engine.health import Health
from ..engine.holds import DEFAULT_REV, Hold, HoldStatus
from ..errors import ForbiddenError
from ..model import Action, Change, Failure, FailureKind, ObjectKey
from ..ops.apply import confirm_patches, server_predictions
from ..ops.drift import classify_prepared
from ..ops.inventory import inventory_key
from ..ops.prepare import Prepared, prepare
from ..ops.rollout import Outcome, restore, rolled_out, wait
from ..ops.sync import Planned, plan_prepared, write_sync
from ..source import DesiredState
from .boundary import boundary
from .holds import AppHolds, new_hold
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

    def read(self, desired: DesiredState | None = None) -> Prepared:
        """Read and validate git (unless ``desired`` is the source already read), read the cluster, plan;
        nothing is written."""
        with boundary():
            return prepare(self.cluster, self.spec.source, desired)

    def diff(self, *, server_dry_run: bool = False) -> Planned:
        """What apply would change, after the checks apply makes before writing: its refusals, when there are
        any, are diff's too. A predicted patch is kept only when the server's dry-run agrees that it changes
        something; ``server_dry_run`` takes every create's and patch's result from the server."""
        with boundary():
            planned = self.plan(override_hold=True)  # a diff writes nothing: a hold does not refuse it
            if planned.refusals or not server_dry_run:
                return planned
            return replace(planned, plan=server_predictions(self.cluster, planned.plan))

    def drift(self, prepared: Prepared | None = None) -> DriftReport:
        """Every difference between git and the cluster, classified and attributed; writes nothing. A field is
        pending or drifted only where applying git would change the object: the plan says so, confirmed by the
        server's dry-run where it predicts a change (``engine.drift.confirmed``)."""
        with boundary():
            prepared = prepared or prepare(self.cluster, self.spec.source)
            report = classify_prepared(prepared, self.cluster.field_manager)
            plan = confirm_patches(self.cluster, prepared.plan, prepared.nodes)
            return confirmed(report, {c.key for c in plan.changes if c.action is Action.UNCHANGED})

    def plan(self, prepared: Prepared | None = None, *, hold: HoldStatus | None = None,
             override_hold: bool = False) -> Planned:
        """The plan, checked before any write (oversized records, the server's dry-run, immutable fields, the
        inventory's namespace, the app's hold); a plan with refusals must not be written. A held app is refused
        (``FailureKind.HELD``) unless git moved past the hold or ``override_hold`` (the caller ends or replaces
        the hold: ``apply --release``, ``--hold``); ``hold``: the hold's status already read for ``prepared``."""
        with boundary():
            prepared = prepared or prepare(self.cluster, self.spec.source)
            held = None if override_hold else self.holds.refusal(hold or self.hold_status(prepared))
            planned = plan_prepared(self.cluster, prepared, self.spec.sync)
            missing = self._missing_inventory_namespace(planned)
            refusals = [refusal for refusal in (missing, held) if refusal is not None]
            return replace(planned, refusals=[*planned.refusals, *refusals]) if refusals else planned

    @property
    def holds(self) -> AppHolds:
        """The app's hold, on its inventory."""
        return AppHolds(self.cluster, self.app, self.spec.source.inventory_namespace)

    def hold_status(self, prepared: Prepared) -> HoldStatus:
        """The app's hold and what it means to this app's source as ``prepared`` read it: its rev (``HEAD`` when
        it names none) and the commit that resolved to. One GET of the inventory, made after ``prepared``
        read the live objects: a hold set before an operator's write is seen by a pass that read that write."""
        with boundary():
            return self.holds.status(self.spec.source.rev, prepared.state.revision)

    def hold(self, prepared: Prepared, *, by: str, reason: str = "", until_release: bool = False) -> Hold:
        """Hold the app (replacing any hold) at the commit ``HEAD`` of its source resolves to now — where a
        reconcile loop following it is, not the ``--rev`` this apply writes; none for a directory. Set before
        the apply writes, so that a pass reading those writes also reads the hold."""
        with boundary():
            source = self.spec.source
            commit = prepared.state.revision if source.rev is None else None
            if source.rev is not None and prepared.state.revision is not None:
                from ..ops.holds import head_commit

                commit = head_commit(source.path, source.subdir)
            hold = new_hold(by, reason=reason, until_release=until_release, rev=DEFAULT_REV, commit=commit)
            self.holds.hold(hold, create=True)
            return hold

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
