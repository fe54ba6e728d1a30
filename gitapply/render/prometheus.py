"""The Prometheus vocabulary: every metric family gitapply exposes — name, type, labels, help text — in one
place, and the samples of the families that describe drift, computed once from a ``DriftReport``.

Two exporters speak it: the drift textfile (``render.drift.drift_prometheus``, for node-exporter's textfile
collector after a ``gitapply drift`` CronJob; written by ``exposition`` below) and the controller's
``/metrics`` (``controller.metrics``, the only user of ``prometheus_client``). The drift families
(``DRIFT_FAMILIES``) mean the same in both, so a dashboard or an alert made for one works on the other:

* ``gitapply_objects{state}``: objects by drift state, every state present, zeros included;
* ``gitapply_drift_fields{state}``: differing fields that are not ignored, by field state (pending, drift,
  unmanaged), every state present;
* ``gitapply_drifted_fields{manager}``: the drift and unmanaged ones among them, by the manager that changed
  them (``unknown`` when the server recorded none); a manager's series exists while it has such fields.

Names are an interface (users alert on them): a rename is a breaking change, documented in ``docs/``. Pure:
no I/O, no ``prometheus_client``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..engine.drift import DriftReport, FieldState, ObjectState


class MetricType(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family; ``name`` as exposed (a counter's ends in ``_total``)."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]


GAUGE, COUNTER, HISTOGRAM = MetricType.GAUGE, MetricType.COUNTER, MetricType.HISTOGRAM

# what a drift check or a pass found: both exporters
OBJECTS = Family("gitapply_objects", GAUGE, "Objects checked for drift, by state.", ("app", "state"))
DRIFT_FIELDS = Family("gitapply_drift_fields", GAUGE, "Differing fields that are not ignored, by state.",
                      ("app", "state"))
DRIFTED_FIELDS = Family("gitapply_drifted_fields", GAUGE, "Fields changed in the cluster (drift and unmanaged), "
                        "by the manager that changed them (unknown: none recorded).", ("app", "manager"))
DRIFT_FAMILIES = (OBJECTS, DRIFT_FIELDS, DRIFTED_FIELDS)
# a one-shot check: the textfile
LAST_CHECK = Family("gitapply_last_check_timestamp_seconds", GAUGE,
                    "When the drift check ran, in seconds since the Unix epoch.", ("app",))
REVISION_INFO = Family("gitapply_revision_info", GAUGE,
                       "The git revision the cluster was checked against; always 1.", ("app", "revision"))
# the reconcile loop: the controller
LAST_SUCCESSFUL_PASS = Family("gitapply_last_successful_pass_timestamp_seconds", GAUGE,
                              "Unix time the last pass without problems finished.", ("app",))
PASS_DURATION = Family("gitapply_pass_duration_seconds", HISTOGRAM, "Duration of a pass.", ("app",))
PASSES = Family("gitapply_passes_total", COUNTER, "Passes by result.", ("app", "result"))
WRITES = Family("gitapply_writes_total", COUNTER, "Objects written, by action.", ("app", "action"))
ERRORS = Family("gitapply_errors_total", COUNTER, "Problems, by reason.", ("app", "reason"))
EVENTS = Family("gitapply_events_total", COUNTER, "Events sent or dropped by the rate limit.",
                ("app", "reason", "outcome"))
LEADER = Family("gitapply_leader", GAUGE, "1 while this replica writes the app (it holds the app's Lease, or with "
                "--shard the app is assigned to it).", ("app",))
APP_HELD = Family("gitapply_app_held", GAUGE, "1 while the app is held (gitapply hold): no write is made for it.",
                  ("app",))

# the controller process: its cache, its queue, its shard
CACHE_OBJECTS = Family("gitapply_cache_objects", GAUGE, "Objects held by the shared watch cache.", ())
CACHE_KINDS = Family("gitapply_cache_watches", GAUGE, "Watches the shared cache keeps open (kinds, or kinds "
                     "per namespace where listing across namespaces is forbidden).", ())
WATCH_RESTARTS = Family("gitapply_watch_restarts_total", COUNTER, "Watches re-established after an error, an "
                        "expired resourceVersion (410) or a lost connection.", ())
QUEUE_DEPTH = Family("gitapply_queue_depth", GAUGE, "Apps whose pass is due and not started.", ())
CHANGE_TO_PASS = Family("gitapply_change_to_pass_seconds", HISTOGRAM, "From a change seen in the cluster to the "
                        "start of the pass it queued.", ())
GIT_FETCHES = Family("gitapply_git_fetches_total", COUNTER, "Fetches of remote repositories (one per repository "
                     "per poll, whatever the number of apps using it).", ())
SHARD_MEMBERS = Family("gitapply_shard_members", GAUGE, "Live replicas seen (--shard).", ())
SHARD_APPS = Family("gitapply_shard_apps_assigned", GAUGE, "Apps assigned to this replica (--shard).", ())

COUNTED_FIELDS = (FieldState.PENDING, FieldState.DRIFT, FieldState.UNMANAGED)
CHANGED_IN_CLUSTER = (FieldState.DRIFT, FieldState.UNMANAGED)
UNKNOWN_MANAGER = "unknown"

Labels = dict[str, str]
Sample = tuple[Labels, float]


def drift_samples(report: DriftReport, app: str) -> dict[Family, list[Sample]]:
    """The samples of ``DRIFT_FAMILIES`` for one report, labelled with ``app`` (managers in name order)."""
    fields = [item for obj in report.objects for item in obj.fields]
    by_state = Counter(item.state for item in fields)
    by_manager = Counter(item.changed_by.manager if item.changed_by is not None else UNKNOWN_MANAGER
                         for item in fields if item.state in CHANGED_IN_CLUSTER)
    return {
        OBJECTS: [({"app": app, "state": str(state)}, report.count(state)) for state in ObjectState],
        DRIFT_FIELDS: [({"app": app, "state": str(state)}, by_state[state]) for state in COUNTED_FIELDS],
        DRIFTED_FIELDS: [({"app": app, "manager": manager}, count) for manager, count in sorted(by_manager.items())],
    }


def exposition(families: Iterable[Family], samples: Mapping[Family, Sequence[Sample]]) -> str:
    """The text exposition format, as node-exporter's textfile collector reads it: every family with
    ``# HELP`` and ``# TYPE`` (even without samples), labels in the family's order, no sample timestamps
    (the collector refuses them)."""
    lines: list[str] = []
    for family in families:
        lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} {family.type}"]
        lines += [f"{family.name}{{{_labels(family, labels)}}} {_number(value)}"
                  for labels, value in samples.get(family, ())]
    return "\n".join(lines) + "\n"


def _labels(family: Family, labels: Labels) -> str:
    return ",".join(f'{name}="{escape_label_value(labels[name])}"' for name in family.labels)


def escape_label_value(value: str) -> str:
    """A label value as the exposition format needs it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """Integers without a decimal point (``1714564800``), other floats as Python's shortest round-trip form."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
