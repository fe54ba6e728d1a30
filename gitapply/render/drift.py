"""A drift report for people (a table and a summary line) and for machines (JSON, JUnit XML, Prometheus text).

Pure: every function takes a ``DriftReport`` and returns a value; the CLI prints or writes it.

Rules shared by every format:

* **Secret values never leave the report** (``secrets.masked``): for a Secret, any value under ``data`` or
  ``stringData`` and the last-applied record (which repeats them) shows as ``***``; an absent value stays absent,
  so a reader can still tell that a key was added, removed or changed without learning what it holds.
* **Ignored fields are shown, not counted.** They explain themselves (``owned by
  autoscaling/HorizontalPodAutoscaler/shop/web``) in the table, JSON and JUnit detail, but are never failures
  and never counted in ``gitapply_drift_fields``.
* **Every state is always present** in summaries and metrics, zero included, so dashboards and alerts never
  see a series vanish when the cluster is healthy.

JUnit: one ``<testcase>`` per object. In-sync objects pass. Drifted and deleted objects fail with
``type="drift"`` (the cluster changed behind git's back: someone must act on the cluster or on git); pending,
missing and dropped objects fail with ``type="pending"`` (git changed and was not applied yet: an apply, with
``--prune`` for a dropped one, fixes it).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..engine.drift import DriftReport, FieldDrift, FieldState, ObjectDrift, ObjectState
from ..engine.holds import NOT_HELD, HoldStatus
from . import prometheus
from .holds import hold_json, hold_properties
from .secrets import MASK, masked

if TYPE_CHECKING:  # rich (≈55 ms) is imported only when a table is drawn: a drift in sync prints one line
    from rich.table import Table

ABSENT = "-"
VALUE_WIDTH = 24
_FAILURE_TYPE = {ObjectState.DRIFTED: "drift", ObjectState.DELETED: "drift",
                 ObjectState.PENDING: "pending", ObjectState.MISSING: "pending", ObjectState.DROPPED: "pending"}
_WHOLE_OBJECT = {ObjectState.MISSING: "in git, not in the cluster",
                 ObjectState.DELETED: "applied by gitapply, then deleted out of band",
                 ObjectState.DROPPED: "applied by this app, gone from git, still in the cluster (apply --prune "
                                      "deletes it)"}
_STATE_STYLE = {"in-sync": "green", "pending": "yellow", "missing": "yellow", "dropped": "yellow", "drifted": "red",
                "deleted": "red",
                "drift": "red", "unmanaged": "magenta", "ignored": "dim"}
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --- values -----------------------------------------------------------------------------------------------

def short(value: Any, width: int = VALUE_WIDTH) -> str:
    """One line for a table cell: JSON (so ``"3"`` and ``3`` differ, as they do to the API), ``-`` when absent,
    cut to ``width`` with an ellipsis. ``***`` (a masked Secret value) is shown bare."""
    if value is None:
        return ABSENT
    text = MASK if value == MASK else json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text if len(text) <= width else text[:width - 1] + "…"


def changed_by_text(drift: FieldDrift, now: float) -> str:
    """``by kubectl-edit, 12 min ago`` for a field another manager set; ``by an unknown writer`` for a
    drifted field whose owner is still the apply lineage (a change through the scale subresource leaves no
    trace); empty for other states."""
    author = drift.changed_by
    if author is None:
        return "by an unknown writer" if drift.state is FieldState.DRIFT else ""
    via = f" via /{author.subresource}" if author.subresource else ""
    when = _ago(author.time, now)
    return f"by {author.manager}{via}" + (f", {when}" if when else "")


def _ago(stamp: str, now: float) -> str:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return ""
    seconds = max(0, int(now - moment))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def checked_at_iso(report: DriftReport) -> str:
    """When the check ran, ISO-8601 in UTC: ``2024-05-01T12:00:00Z``."""
    moment = datetime.fromtimestamp(report.checked_at, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- text ---------------------------------------------------------------------------------------------------

def drift_summary(report: DriftReport) -> str:
    """``12 objects: 9 in sync, 1 pending, 1 drifted, 1 missing, 0 deleted`` — every state, zeros included."""
    total = len(report.objects)
    counts = ", ".join(f"{report.count(state)} {str(state).replace('-', ' ')}" for state in ObjectState)
    return f"{total} object{'' if total == 1 else 's'}: {counts}"


def drift_table(report: DriftReport, *, show_in_sync: bool = False, width: int = 100) -> Table:
    """One block per object not in sync (all objects with ``show_in_sync``): a row naming the object, its
    state and its source, then a row per differing field with the three values. Cells are ``Text``, never
    markup, so a value such as ``[red]`` prints as itself.

    ``width``: the terminal's. Names and field paths are broken only where a reader expects it — after a
    ``.`` or ``/``, before a ``[`` — into a column kept wide enough for that, so that a path in a CI log or
    a narrow terminal never reads ``…c`` / ``ontainers…``; the values fold instead."""
    from rich.table import Table
    from rich.text import Text

    revision = f" @ {report.revision[:12]}" if report.revision else ""
    table = Table(title=Text(f"drift of {report.app}{revision}"), title_justify="left")
    names = max(_MIN_NAME_WIDTH, min(_MAX_NAME_WIDTH, width - _STATE_WIDTH - _TABLE_FRAME - 3 * _VALUE_WIDTH))
    values = max(6, (width - names - _STATE_WIDTH - _TABLE_FRAME) // 3)  # what is left, for each value column
    table.add_column("object / field", overflow="fold", min_width=names, max_width=names)
    table.add_column("state", no_wrap=True)
    for heading in ("git", "last applied", "live"):
        table.add_column(heading, overflow="fold", max_width=values)
    for item in report.objects:
        if item.state is not ObjectState.IN_SYNC or show_in_sync:
            _add_object_rows(table, item, report.checked_at, names)
    return table


_MIN_NAME_WIDTH, _MAX_NAME_WIDTH = 26, 48
_VALUE_WIDTH = 12  # the least each value column keeps before the name column gives way
_STATE_WIDTH = len("unmanaged")
_TABLE_FRAME = 16  # five columns: a border and two spaces of padding each, and the closing border
_BREAKS = re.compile(r"(?<=[./ ])|(?=\[)")


def wrap_path(path: str, width: int) -> list[str]:
    """``path`` in lines of at most ``width``, broken after ``.``, ``/`` and spaces and before ``[`` only; a
    single part longer than ``width`` (a long key) keeps a line of its own."""
    lines: list[str] = []
    for part in filter(None, _BREAKS.split(path)):
        if lines and len(lines[-1]) + len(part) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return lines or [""]


def _indented(indent: str, line: str, width: int) -> str:
    """``line`` after ``indent``, or after as much of it as leaves room: a piece longer than the column less
    the indent (``HorizontalPodAutoscaler/``) would otherwise be cut mid-word by the table."""
    return indent[:max(0, width - len(line))] + line


def _add_object_rows(table: Table, item: ObjectDrift, now: float, width: int) -> None:
    from rich.text import Text

    name = Text("\n".join(wrap_path(str(item.key), width)), style="bold")
    if item.origin is not None:
        name.append(f"\n{item.origin}", style="dim")
    if not item.provenance and item.fields:
        name.append("\nno managedFields: authors unknown", style="dim")
    if item.state in _WHOLE_OBJECT:
        name.append(f"\n{_WHOLE_OBJECT[item.state]}")
    table.add_row(name, Text(str(item.state), style=_STATE_STYLE.get(str(item.state), "")),
                  end_section=not item.fields)
    for number, drift in enumerate(item.fields, start=1):
        path = Text("\n".join(_indented("  " if index == 0 else "    ", line, width)
                               for index, line in enumerate(wrap_path(drift.path, width - 4))))
        author = changed_by_text(drift, now) if item.provenance else ""
        for note in filter(None, (drift.reason, author)):
            path.append("".join(f"\n{_indented('    ', line.rstrip(), width)}" for line in wrap_path(note, width - 4)),
                        style="dim")
        values = (short(masked(item.key.kind, value, drift.path))
                  for value in (drift.git, drift.last_applied, drift.live))
        table.add_row(path, Text(str(drift.state), style=_STATE_STYLE.get(str(drift.state), "")),
                      *(Text(value) for value in values), end_section=number == len(item.fields),
                      style="dim" if drift.state is FieldState.IGNORED else None)



# --- JSON ---------------------------------------------------------------------------------------------------

def drift_json(report: DriftReport, *, hold: HoldStatus = NOT_HELD) -> dict[str, Any]:
    """The whole report, every object included (in sync too), Secret values masked. Absent values are null;
    ``hold`` is the app's hold (``render.holds.hold_json``), null when it is not held."""
    return {
        "app": report.app,
        "revision": report.revision,
        "hold": hold_json(hold),
        "checkedAt": checked_at_iso(report),
        "summary": {str(state): report.count(state) for state in ObjectState},
        "objects": [_object_json(item) for item in report.objects],
    }


def _object_json(item: ObjectDrift) -> dict[str, Any]:
    return {
        "key": str(item.key),
        "state": str(item.state),
        "source": str(item.origin) if item.origin is not None else None,
        "provenance": "managedFields" if item.provenance else "none",
        "fields": [{"path": drift.path, "state": str(drift.state),
                    "git": masked(item.key.kind, drift.git, drift.path),
                    "lastApplied": masked(item.key.kind, drift.last_applied, drift.path),
                    "live": masked(item.key.kind, drift.live, drift.path),
                    "reason": drift.reason,
                    "changedBy": drift.changed_by.as_json() if drift.changed_by else None}
                   for drift in item.fields],
    }


# --- JUnit XML ----------------------------------------------------------------------------------------------

def drift_junit(report: DriftReport, *, hold: HoldStatus = NOT_HELD) -> str:
    """JUnit XML: a ``<testsuite>`` per app, a ``<testcase>`` per object; see the module docstring for which
    objects fail and with which ``type``. A held app's hold is in the suite's properties (``held``, ``hold.*``)."""
    failing = [item for item in report.objects if item.state in _FAILURE_TYPE]
    suite = ET.Element("testsuite", {
        "name": _xml_text(f"gitapply drift {report.app}"), "tests": str(len(report.objects)),
        "failures": str(len(failing)), "errors": "0", "skipped": "0", "time": "0",
        "timestamp": checked_at_iso(report).removesuffix("Z"),
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("app", report.app), ("revision", report.revision or ""), *hold_properties(hold)):
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    for item in report.objects:
        case = ET.SubElement(suite, "testcase", {"classname": _xml_text(report.app), "name": _xml_text(str(item.key)),
                                                 "time": "0"})
        if item.state in _FAILURE_TYPE:
            failure = ET.SubElement(case, "failure", {"type": _FAILURE_TYPE[item.state],
                                                      "message": _xml_text(_failure_message(item))})
            failure.text = _xml_text(_failure_detail(item))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _failure_message(item: ObjectDrift) -> str:
    """``drifted: spec.replicas (drift), metadata.labels.tier (pending)`` — the fields that are not ignored."""
    if item.state in _WHOLE_OBJECT:
        return f"{item.state}: {_WHOLE_OBJECT[item.state]}"
    listed = [f"{drift.path} ({drift.state})" for drift in item.fields if drift.state is not FieldState.IGNORED]
    return f"{item.state}: {', '.join(listed)}" if listed else str(item.state)


def _failure_detail(item: ObjectDrift) -> str:
    """One line per field with its three values (masked, shortened), then where the object is defined."""
    lines = [f"{drift.path}: {drift.state}; git {short(masked(item.key.kind, drift.git, drift.path))}, "
             f"last applied {short(masked(item.key.kind, drift.last_applied, drift.path))}, "
             f"live {short(masked(item.key.kind, drift.live, drift.path))}"
             + (f" ({drift.reason})" if drift.reason else "") + _author_note(drift) for drift in item.fields]
    if item.origin is not None:
        lines.append(f"defined in {item.origin}")
    return "\n".join(lines)


def _author_note(drift: FieldDrift) -> str:
    author = drift.changed_by
    if author is None:
        return "; changed by an unknown writer" if drift.state is FieldState.DRIFT else ""
    return f"; changed by {author.manager} ({author.operation}{' /' + author.subresource if author.subresource else ''}" \
           f"{', ' + author.time if author.time else ''})"


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot carry at all (control characters) written as ``\\xNN``; ElementTree escapes
    the rest (``&``, ``<``, quotes)."""
    return _XML_ILLEGAL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


# --- Prometheus textfile ------------------------------------------------------------------------------------

TEXTFILE_FAMILIES = (*prometheus.DRIFT_FAMILIES, prometheus.LAST_CHECK, prometheus.REVISION_INFO)


def drift_prometheus(report: DriftReport) -> str:
    """The report as node-exporter textfile-collector input: the drift families (``render.prometheus``, the
    same as the controller's), when the check ran and against which revision; every family with ``# HELP``
    and ``# TYPE gauge``, every state present (zeros included), no sample timestamps."""
    samples = prometheus.drift_samples(report, report.app)
    samples[prometheus.LAST_CHECK] = [({"app": report.app}, report.checked_at)]
    samples[prometheus.REVISION_INFO] = [({"app": report.app, "revision": report.revision or ""}, 1)]
    return prometheus.exposition(TEXTFILE_FAMILIES, samples)
