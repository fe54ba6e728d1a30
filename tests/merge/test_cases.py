"""The table-driven merge cases in ``cases/*.yaml``, each run against both schema sources (see conftest).

A case file is a YAML map::

    definition: io.k8s.api.apps.v1.Deployment   # default definition of its cases; ``none``: JSON merge patch
    cases:
    - description: remove a container           # unique in its file; the test id is ``<file>::<description>``
      definition: io.k8s.api.core.v1.PodSpec    # optional, overrides the file's
      ...

A three-way case describes ``kubectl apply``:

- ``original``: the last-applied configuration (``null`` for none), or ``lastApplied: true`` to read it from the
  ``kubectl.kubernetes.io/last-applied-configuration`` annotation of ``current``, as kubectl does;
- ``modified``: the new configuration from git;
- ``current``: the live object, or ``current_file: live/<name>.json``, a captured live object;
- ``threeWay``: the patch ``three_way_patch(original, modified, current)`` must return, exactly;
- ``result``: what ``apply_patch(current, threeWay)`` must return, exactly, list order included; or
  ``result_file: live/<name>.json``;
- ``twoWay`` (optional): the patch ``two_way_patch(original, modified)`` must return;
- ``conflict`` (optional): ``true`` if ``three_way_patch(..., overwrite=False)`` must raise ``ConflictError``
  (``conflictPaths``, optional, lists the paths it must name), ``false`` if it must return ``threeWay``;
- ``error`` (instead of ``threeWay``): ``three_way_patch`` must raise it, see below.

An apply case describes the API server applying a patch: ``current`` (or ``current_file``), ``patch``, and
``result`` (or ``result_file``) or ``error``.

``error`` is a map: ``type``, the name of an error class of ``gitapply.merge``; ``where`` (optional), the path the
error must name (``MergeError.where``); ``message`` (optional), a substring of its message.

Every expectation states Kubernetes' behaviour (apimachinery's strategic merge patch, kubectl's three-way JSON
merge patch for kinds without schema), not whatever the engine happens to do.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import gitapply.merge as merge
from gitapply.merge import ConflictError, Node, Schema, apply_patch, three_way_patch, two_way_patch

CASES_DIR = Path(__file__).parent / "cases"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CASE_KEYS = {
    "description", "definition", "original", "lastApplied", "modified", "current", "current_file",
    "threeWay", "result", "result_file", "twoWay", "conflict", "conflictPaths", "patch", "error",
}
ERROR_KEYS = {"type", "where", "message"}


@dataclass(frozen=True)
class Case:
    file: str
    description: str
    definition: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.file}::{self.description}"

    def has(self, key: str) -> bool:
        return key in self.data or f"{key}_file" in self.data

    def node(self, schema: Schema) -> Node | None:
        if self.definition == "none":
            return None
        node = schema.definition(self.definition)
        assert node is not None, f"{self.id}: the schema has no definition {self.definition}"
        return node

    def get(self, key: str) -> Any:
        """A deep copy of an input or expectation, read from its ``<key>_file`` where it has one."""
        if f"{key}_file" in self.data:
            with (CASES_DIR / self.data[f"{key}_file"]).open() as handle:
                return json.load(handle)
        return copy.deepcopy(self.data[key])

    def original(self) -> Any:
        if self.data.get("lastApplied"):
            return json.loads(self.get("current")["metadata"]["annotations"][LAST_APPLIED])
        return self.get("original")


def _check(case: Case) -> Case:
    unknown = set(case.data) - CASE_KEYS
    if unknown:
        raise ValueError(f"{case.id}: unknown keys {sorted(unknown)}")
    if not case.has("current"):
        raise ValueError(f"{case.id}: a case needs current or current_file")
    if case.has("patch") == ("modified" in case.data):
        raise ValueError(f"{case.id}: a case has either modified (three-way) or patch (apply)")
    expectations = ("threeWay", "error") if "modified" in case.data else ("result", "error")
    if sum(case.has(key) for key in expectations) != 1:
        raise ValueError(f"{case.id}: a case needs exactly one of {expectations}")
    if "threeWay" in case.data and not case.has("result"):
        raise ValueError(f"{case.id}: a three-way case needs result or result_file")
    if "error" in case.data and not set(case.data["error"]) <= ERROR_KEYS:
        raise ValueError(f"{case.id}: error takes only {sorted(ERROR_KEYS)}")
    return case


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        seen: set[str] = set()
        for data in document["cases"]:
            description = data["description"]
            if description in seen:
                raise ValueError(f"{path.name}: two cases are described {description!r}")
            seen.add(description)
            definition = data.get("definition", document.get("definition"))
            cases.append(_check(Case(path.name, description, definition, data)))
    return cases


CASES = load_cases()


def cases_with(*keys: str) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in CASES if all(case.has(key) for key in keys)]


def _three_way_inputs(case: Case) -> tuple[Any, Any, Any]:
    return case.original(), case.get("modified"), case.get("current")


@pytest.mark.parametrize("case", cases_with("modified", "threeWay"))
def test_three_way_patch_is_kubectls(case: Case, schema: Schema) -> None:
    inputs = _three_way_inputs(case)
    untouched = copy.deepcopy(inputs)
    assert three_way_patch(*inputs, case.node(schema)) == case.get("threeWay")
    assert inputs == untouched, "three_way_patch mutated its inputs"


@pytest.mark.parametrize("case", cases_with("modified", "threeWay", "result"))
def test_three_way_patch_applies_as_the_server_does(case: Case, schema: Schema) -> None:
    current, patch = case.get("current"), case.get("threeWay")
    untouched = copy.deepcopy((current, patch))
    assert apply_patch(current, patch, case.node(schema)) == case.get("result")
    assert (current, patch) == untouched, "apply_patch mutated its inputs"


@pytest.mark.parametrize("case", cases_with("modified", "twoWay"))
def test_two_way_patch_is_apimachinerys(case: Case, schema: Schema) -> None:
    original, modified = case.original(), case.get("modified")
    untouched = copy.deepcopy((original, modified))
    assert two_way_patch(original, modified, case.node(schema)) == case.get("twoWay")
    assert (original, modified) == untouched, "two_way_patch mutated its inputs"


@pytest.mark.parametrize("case", cases_with("modified", "conflict"))
def test_overwrite_false_refuses_conflicts_only(case: Case, schema: Schema) -> None:
    inputs = _three_way_inputs(case)
    if not case.data["conflict"]:
        assert three_way_patch(*inputs, case.node(schema), overwrite=False) == case.get("threeWay")
        return
    with pytest.raises(ConflictError) as caught:
        three_way_patch(*inputs, case.node(schema), overwrite=False)
    if "conflictPaths" in case.data:
        assert caught.value.paths == case.data["conflictPaths"]


@pytest.mark.parametrize("case", cases_with("patch", "result"))
def test_patch_applies_as_the_server_does(case: Case, schema: Schema) -> None:
    current, patch = case.get("current"), case.get("patch")
    untouched = copy.deepcopy((current, patch))
    assert apply_patch(current, patch, case.node(schema)) == case.get("result")
    assert (current, patch) == untouched, "apply_patch mutated its inputs"


@pytest.mark.parametrize("case", cases_with("error"))
def test_bad_input_raises_the_named_error(case: Case, schema: Schema) -> None:
    expected = case.data["error"]
    error_type = getattr(merge, expected["type"])
    with pytest.raises(error_type) as caught:
        if case.has("patch"):
            apply_patch(case.get("current"), case.get("patch"), case.node(schema))
        else:
            three_way_patch(*_three_way_inputs(case), case.node(schema))
    if "where" in expected:
        assert caught.value.where == expected["where"]
    if "message" in expected:
        assert expected["message"] in caught.value.message
