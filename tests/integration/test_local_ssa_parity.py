"""Server-side apply in the embedded local cluster does what the v1.20.2 API server does.

Each scenario is a sequence of writes — applies by two managers (forced or not), Update patches by a third —
run once through ``KubeCluster.apply`` against the real control plane and once through ``LocalCluster.apply``.
After every step both are compared on what the scenario can see:

- the outcome: done, or the error's class, its ``(manager, field)`` conflicts and the fields it names;
- the object, restricted to the fields the scenario's bodies set (the real server adds defaults and status,
  the local cluster none), with each keyed item's position in its list (the merge keeps the live order);
- ``managedFields`` as ``{(manager, operation): fields}``, restricted the same way (the real server's Update
  entries also hold the fields it defaulted in that write);
- whether the step stored a new version (for kinds no controller writes to): a no-op apply stores nothing.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Callable

import pytest

from gitapply import bundled
from gitapply.cluster import customkinds
from gitapply.cluster.kube import KubeCluster
from gitapply.cluster.local import LocalCluster
from gitapply.engine.fieldtypes import KEY_DEFAULTS, Path, path_text, paths_of, root_shape
from gitapply.engine.serverapply import ABSENT, field_set
from gitapply.errors import FieldConflictError, GitapplyError
from gitapply.model import ObjectKey, PatchType

GROUP = "ssa-parity.example.com"
CRD_SCHEMA = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
    "size": {"type": "integer"},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
              "items": {"type": "object", "required": ["name"],
                        "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}},
    "tags": {"type": "array", "items": {"type": "string"}},
    "nested": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": f"gadgets.{GROUP}"},
       "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "schema": {"openAPIV3Schema": CRD_SCHEMA}}]}}


@dataclass(frozen=True)
class Step:
    """One write: ``apply`` (the body is the applied configuration) or ``patch`` (an Update: strategic merge
    for built-in kinds, JSON merge for the custom resource), by ``manager``."""

    verb: str
    manager: str
    body: dict[str, Any]
    force: bool = False
    dry_run: bool = False
    pause: float = 0.0  # seconds to wait first: managedFields times have whole seconds


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    controlled: bool = False  # a controller writes to it (a Deployment): new versions are not the steps' own


def apply(manager: str, body: dict[str, Any], *, force: bool = False, dry_run: bool = False,
          pause: float = 0.0) -> Step:
    return Step("apply", manager, body, force, dry_run, pause)


def patch(manager: str, body: dict[str, Any]) -> Step:
    return Step("patch", manager, body)


def deployment(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": list(containers)}}}}


def containers_only(*containers: dict[str, Any]) -> dict[str, Any]:
    """A second applier's configuration: only the containers it cares about."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": list(containers)}}}}


def image_patch(name: str, image: str) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}}}


def configmap(data: dict[str, str] | None = None, labels: dict[str, str] | None = None,
              **metadata: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", **metadata}}
    if labels is not None:
        obj["metadata"]["labels"] = labels
    if data is not None:
        obj["data"] = data
    return obj


def with_volume(body: dict[str, Any], **volume: Any) -> dict[str, Any]:
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "scratch", **volume}] if volume else []
    return body


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, **fields}


def service(*ports: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": list(ports)}}


def gadget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": "thing"}, "spec": spec}


WEB, SIDE = {"name": "web", "image": "nginx:1"}, {"name": "side", "image": "busybox:1"}
ENV_1 = {"name": "web", "image": "nginx:1", "env": [{"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}],
         "ports": [{"containerPort": 80}]}
ENV_2 = {"name": "web", "image": "nginx:1", "env": [{"name": "E0", "value": "0"}, {"name": "E1", "value": "1b"}],
         "ports": [{"containerPort": 81}]}
HTTP = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
HTTPS = {"name": "https", "port": 443, "protocol": "TCP"}
DNS = {"name": "dns", "port": 53, "protocol": "UDP"}
GADGET = dict(size=1, labels={"x": "1", "y": "2"}, items=[{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
              tags=["t1", "t2"], nested={"a": "1", "b": "2"}, free={"m": {"k": "v"}, "l": [1, 2]})
GADGET_SMALLER = dict(size=1, labels={"x": "1"}, items=[{"name": "a", "value": "1"}], nested={"a": "1"},
                      free={"l": [1, 2]})

SCENARIOS = [
    Scenario("containers keyed by name: shared, pruned whole, conflicting, taken over", (
        apply("alice", deployment(WEB, SIDE)),
        apply("bob", containers_only({"name": "x", "image": "x:1"}, WEB)),
        apply("alice", deployment(WEB, SIDE)),
        patch("carol", image_patch("side", "busybox:2")),
        apply("alice", deployment(WEB)),  # takes side whole, carol's image in it too
        apply("alice", deployment({"name": "web", "image": "nginx:2"})),
        apply("alice", deployment({"name": "web", "image": "nginx:2"}), force=True),
        apply("alice", deployment({"name": "new", "image": "n:1"}, {"name": "web", "image": "nginx:2"})),
    ), controlled=True),
    Scenario("env by name and ports by containerPort (and the protocol the server keys them by)", (
        apply("alice", deployment(ENV_1)),
        apply("bob", containers_only({"name": "web", "env": [{"name": "E3", "value": "3"}],
                                      "ports": [{"containerPort": 8080, "protocol": "TCP"}]})),
        apply("alice", deployment(ENV_2)),
        patch("carol", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "E1", "value": "c"}]}]}}}}),
        apply("alice", deployment(ENV_2)),
        apply("alice", deployment(ENV_2), force=True),
    ), controlled=True),
    Scenario("a map and a ConfigMap's data: what others own stays, the rest goes; a no-op stores nothing", (
        apply("alice", configmap({"a": "1", "b": "2"}, labels={"team": "x", "tier": "y"})),
        apply("alice", configmap({"a": "1", "b": "2"}, labels={"team": "x", "tier": "y"})),
        patch("carol", {"data": {"z": "1"}}),
        apply("bob", configmap({"b": "2"}, labels={"team": "x"})),
        apply("bob", configmap({"b": "2"}, labels={"team": "x"})),
        apply("alice", configmap({"a": "1", "z": "1"}, labels={})),
        apply("alice", configmap({"a": "1"})),
        apply("bob", configmap(labels={"team": "x"})),
        apply("alice", configmap()),
    )),
    Scenario("conflicts with an updater and with the applier's own Update entry; forced takeover", (
        apply("alice", configmap({"a": "1"})),
        patch("alice", {"data": {"b": "1"}}),
        apply("alice", configmap({"a": "1", "b": "2"})),
        patch("carol", {"data": {"a": "3"}}),
        apply("alice", configmap({"a": "1", "b": "2"})),
        apply("bob", configmap({"a": "3"})),
        apply("alice", configmap({"a": "1", "b": "2"}), force=True),
        patch("carol", {"data": {"c": "1"}}),
        apply("alice", configmap({"a": "1", "b": "2", "c": "1"})),
    )),
    Scenario("Service ports keyed by port and protocol", (
        apply("alice", service(HTTP, HTTPS)),
        apply("bob", service(HTTP, DNS)),
        apply("alice", service(HTTPS)),
        apply("alice", service()),
        apply("bob", service(DNS)),
    )),
    Scenario("a custom resource: keyed list, map, atomic list, struct, preserved unknown fields", (
        apply("alice", gadget(**GADGET)),
        apply("bob", gadget(items=[{"name": "c", "value": "3"}, {"name": "a", "value": "1"}], tags=["t1", "t2"])),
        apply("alice", gadget(**GADGET_SMALLER)),
        apply("alice", gadget(**{**GADGET_SMALLER, "nested": {}})),  # nested left empty: null, refused
        apply("alice", gadget(**{**GADGET_SMALLER, "labels": {}})),  # so is an emptied map
        patch("carol", {"spec": {"size": 5}}),
        apply("alice", gadget(**GADGET_SMALLER)),
        apply("alice", gadget(**GADGET_SMALLER), force=True),
        apply("bob", gadget()),
        apply("alice", gadget(**GADGET_SMALLER)),
    )),
    Scenario("a volume switched to another source keeps the old one, which it never owned: refused", (
        apply("alice", with_volume(deployment(WEB), emptyDir={})),
        apply("alice", with_volume(deployment(WEB), configMap={"name": "settings"})),
        apply("alice", with_volume(deployment(WEB))),
        apply("alice", with_volume(deployment(WEB), configMap={"name": "settings"})),
    ), controlled=True),
    Scenario("a Secret's stringData: owned though never stored, written again on every apply", (
        apply("alice", secret(stringData={"password": "x"})),
        apply("alice", secret(stringData={"password": "x"}), pause=1.1),
        apply("bob", secret(stringData={"password": "y"})),  # a conflict over a field no read shows
        apply("alice", secret(data={"password": "eA=="})),
        apply("bob", secret(stringData={"password": "y"})),  # changes alice's data.password: no conflict
    )),
    Scenario("dry-run stores nothing; managedFields in the body are refused", (
        apply("alice", configmap({"a": "1"}), dry_run=True),
        apply("alice", configmap({"a": "1"}, managedFields=[])),
        apply("alice", configmap({"a": "1"}, managedFields=[{"manager": "x", "operation": "Apply",
                                                             "fieldsType": "FieldsV1", "fieldsV1": {}}])),
        apply("alice", configmap({"a": "1"})),
        apply("alice", configmap({"a": "2"}), dry_run=True),
    )),
]


# -- running a scenario -------------------------------------------------------------------------------------

class Backend:
    """One cluster, written to under several manager names."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        self._make = make
        self._clusters: dict[str, Any] = {}

    def __call__(self, manager: str) -> Any:
        if manager not in self._clusters:
            self._clusters[manager] = self._make(manager)
        return self._clusters[manager]


def run(scenario: Scenario, backend: Backend, namespace: str, scope: set[Path]) -> list[Any]:
    """What the scenario can see after each step."""
    seen = []
    for index, (step, target) in enumerate(zip(scenario.steps, _targets(scenario))):
        body = json.loads(json.dumps(step.body))
        key = ObjectKey.of({**target, "metadata": {**target["metadata"], "namespace": namespace}})
        if step.verb == "apply":
            body["metadata"]["namespace"] = namespace
        cluster = backend(step.manager)
        time.sleep(step.pause)
        before = cluster.get(key)
        try:
            if step.verb == "apply":
                answer = cluster.apply(body, force=step.force, dry_run=step.dry_run)
            else:
                kind = PatchType.MERGE if key.group == GROUP else PatchType.STRATEGIC
                answer = cluster.patch(key, step.body, kind)
            outcome: Any = ("done", project(answer, scope))
        except GitapplyError as err:
            outcome = _error(err)
        after = cluster.get(key)
        wrote = _version(after) != _version(before)
        seen.append((index, step.verb, step.manager, outcome, project(after, scope), owners(after, scope),
                     None if scenario.controlled else wrote))
    return seen


def _targets(scenario: Scenario) -> list[dict[str, Any]]:
    """The object each step writes: the one the last apply named (a patch names none)."""
    found, target = [], {}
    for step in scenario.steps:
        target = step.body if step.verb == "apply" else target
        found.append(target)
    return found


def _error(err: GitapplyError) -> tuple[Any, ...]:
    fields = re.search(r"\(fields: ([^)]*)\)", str(err))
    conflicts = sorted(err.conflicts) if isinstance(err, FieldConflictError) else []
    return ("error", type(err).__name__, conflicts, fields.group(1) if fields else "")


def _version(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else obj["metadata"].get("resourceVersion")


def scope_of(scenario: Scenario) -> set[Path]:
    """Every field the scenario's bodies set: the fields compared."""
    found: set[Path] = set()
    for step, target in zip(scenario.steps, _targets(scenario)):
        metadata = {k: v for k, v in step.body.get("metadata", {}).items() if k != "managedFields"}
        body = {**step.body, "metadata": metadata}
        if target["apiVersion"].startswith(GROUP):
            node = customkinds.node(CRD_SCHEMA)
        else:
            node = bundled.schema().for_kind(target["apiVersion"], target["kind"])
        found |= field_set(body, root_shape(node))
    return found


def project(obj: dict[str, Any] | None, scope: set[Path]) -> dict[str, Any]:
    """The object's values at the scope's fields (a keyed item: its position in its list)."""
    found = {}
    for path in sorted(scope):
        value = _at(obj, path)
        if value is not ABSENT:
            found[path_text(path)] = value
    return found


def _at(value: Any, path: Path) -> Any:
    for index, segment in enumerate(path):
        kind, _, text = segment.partition(":")
        if kind == "f":
            value = value.get(text, ABSENT) if isinstance(value, dict) else ABSENT
        elif isinstance(value, list):
            wanted = json.loads(text)
            matches = [(position, item) for position, item in enumerate(value)
                       if (kind == "v" and item == wanted) or (kind == "k" and isinstance(item, dict) and all(
                           item.get(k, KEY_DEFAULTS.get(k)) == v for k, v in wanted.items()))]
            if not matches:
                return ABSENT
            position, value = matches[0]
            if index == len(path) - 1:
                return ("item", position)
        else:
            return ABSENT
        if value is ABSENT:
            return ABSENT
    return value


def owners(obj: dict[str, Any] | None, scope: set[Path]) -> dict[tuple[str, str], list[str]]:
    """``managedFields`` as ``{(manager, operation): fields}`` within the scope."""
    found = {}
    for entry in (obj or {}).get("metadata", {}).get("managedFields") or ():
        fields = sorted(path_text(path) for path in paths_of(entry.get("fieldsV1") or {}) & scope)
        if fields:
            found[(entry["manager"], entry["operation"])] = fields
    return found


# -- the test -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crd(control_plane) -> dict[str, Any]:
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(CRD))
    control_plane.kubectl("wait", "--for=condition=Established", f"crd/gadgets.{GROUP}", "--timeout=60s")
    return CRD


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name.split(":")[0] for s in SCENARIOS])
def test_local_server_side_apply_matches_the_real_server(scenario, control_plane, namespace, crd,
                                                          tmp_path: FilePath):
    scope = scope_of(scenario)
    real = Backend(lambda manager: KubeCluster(kubeconfig=control_plane.kubeconfig, field_manager=manager))
    database = tmp_path / "local.db"
    LocalCluster(database).create(crd)
    LocalCluster(database).create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    local = Backend(lambda manager: LocalCluster(database, field_manager=manager))

    on_real = run(scenario, real, namespace, scope)
    on_local = run(scenario, local, namespace, scope)
    for real_step, local_step in zip(on_real, on_local):
        assert local_step == real_step, f"step {real_step[0]} ({real_step[1]} by {real_step[2]}) differs"
    assert len(on_local) == len(on_real) == len(scenario.steps)


def test_a_namespace_that_does_not_exist_is_not_found_on_both(control_plane, tmp_path: FilePath):
    body = configmap({"a": "1"}, namespace="no-such-namespace-ssa")
    local = LocalCluster(tmp_path / "local.db", field_manager="alice")
    real = KubeCluster(kubeconfig=control_plane.kubeconfig, field_manager="alice")
    outcomes = []
    for cluster in (real, local):
        with pytest.raises(GitapplyError) as caught:
            cluster.apply(body)
        outcomes.append((type(caught.value).__name__, caught.value.message))
    assert outcomes[0] == outcomes[1] == ("NotFoundError", 'not found (namespaces "no-such-namespace-ssa" not found)')
