"""One Prometheus vocabulary: the drift textfile and the controller expose the families of
``render.prometheus`` with its help texts and types, the drift families alike in both, and the docs name them."""

from __future__ import annotations

import re
from pathlib import Path

from gitapply.controller.metrics import Metrics
from gitapply.engine.drift import DriftReport, FieldDrift, FieldState, ObjectDrift, ObjectState
from gitapply.engine.ownership import Author
from gitapply.model import Action, ObjectKey
from gitapply.render import prometheus
from gitapply.render.drift import drift_prometheus

DOCS = Path(__file__).resolve().parents[2] / "docs"
WEB = ObjectKey("apps", "v1", "Deployment", "shop", "web")
FAMILIES = [value for value in vars(prometheus).values() if isinstance(value, prometheus.Family)]


def drifted() -> DriftReport:
    fields = (FieldDrift("spec.x", FieldState.DRIFT, changed_by=Author("kubectl-set")),
              FieldDrift("spec.y", FieldState.UNMANAGED),
              FieldDrift("spec.z", FieldState.PENDING))
    return DriftReport("shop", "abc", 0.0, (ObjectDrift(WEB, ObjectState.DRIFTED, fields),))


def declared(text: str) -> dict[str, tuple[str, str]]:
    """Family name → (help, type), from the ``# HELP`` and ``# TYPE`` lines of an exposition."""
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.MULTILINE))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    return {name: (helps[name], types[name]) for name in types}


def controller_text(report: DriftReport) -> str:
    metrics = Metrics()
    metrics.app_started("shop")
    metrics.observe("shop", report)
    metrics.wrote("shop", Action.PATCH)
    metrics.event("shop", "Drifted", sent=True)
    metrics.pass_done("shop", 0.1, ok=True, finished_at=1.0)
    return metrics.text().decode()


def test_every_family_is_exposed_by_an_exporter_as_the_vocabulary_declares_it():
    exposed = {**declared(drift_prometheus(drifted())), **declared(controller_text(drifted()))}
    assert {family.name: (family.help, str(family.type)) for family in FAMILIES} == {
        name: exposed[name] for name in (family.name for family in FAMILIES)}


def test_the_drift_families_are_the_same_in_the_textfile_and_the_controller():
    textfile, controller = drift_prometheus(drifted()), controller_text(drifted())
    for family in prometheus.DRIFT_FAMILIES:
        lines = [line for line in textfile.splitlines() if line.startswith(family.name + "{")]
        assert lines, family.name
        for line in lines:
            series, value = line.rsplit(" ", 1)
            assert f"{series} {float(value)}" in controller, line


def test_the_controller_has_every_field_state_from_the_start():
    metrics = Metrics()
    metrics.app_started("shop")
    text = metrics.text().decode()
    for state in ("pending", "drift", "unmanaged"):
        assert f'gitapply_drift_fields{{app="shop",state="{state}"}} 0.0' in text


def test_the_docs_name_every_family():
    docs = (DOCS / "controller.md").read_text() + (DOCS / "drift.md").read_text()
    assert [family.name for family in FAMILIES if f"`{family.name}`" not in docs] == []
    for family in prometheus.DRIFT_FAMILIES:
        for page in ("controller.md", "drift.md"):
            assert f"`{family.name}`" in (DOCS / page).read_text(), (family.name, page)
