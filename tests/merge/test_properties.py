"""Properties of the merge engine over random Deployments and random schemaless objects (hypothesis).

The generated objects are realistic: merge keys are unique within a list, scalars are strings and integers
(never booleans next to integers: the engine compares scalars with Python equality, where ``True == 1``), and
strategic objects hold no nulls. ``original``, ``modified`` and ``current`` draw their keys from the same small
pools, so that they overlap, differ and hold fields of their own.

What holds for ``result = apply_patch(current, three_way_patch(original, modified, current))``:

- it holds every field of ``modified`` (merge lists: every item of ``modified`` by merge key, with its fields);
- it holds no field removed between ``original`` and ``modified``;
- it keeps every field only ``current`` has, except inside lists replaced whole and ``retainKeys`` structs;
- a second apply (``original = modified``, ``current = result``) changes nothing, and sends nothing but the
  ``$setElementOrder`` directives Kubernetes sends for lists where the live object holds items git lacks.

And ``apply_patch(original, two_way_patch(original, modified)) == modified``. No function mutates its inputs.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gitapply import bundled
from gitapply.merge import Node, apply_patch, three_way_patch, two_way_patch
from gitapply.merge.directives import PATCH, RETAIN_KEYS, SET_ORDER_PREFIX

SCHEMA = bundled.schema()
DEPLOYMENT = SCHEMA.for_kind("apps/v1", "Deployment")
EXAMPLES = settings(max_examples=120, deadline=None)

words = st.sampled_from(["a", "b", "web", "shop", "x1", "25%"])
label_keys = st.sampled_from(["app", "tier", "team", "example.com/owner"])
label_maps = st.dictionaries(label_keys, words, max_size=3)


def unique_by(key: str, item: st.SearchStrategy[dict], max_size: int = 3) -> st.SearchStrategy[list[dict]]:
    return st.lists(item, max_size=max_size, unique_by=lambda value: value[key])


env_vars = st.fixed_dictionaries({"name": st.sampled_from(["A", "B", "C", "DEBUG"]), "value": words})
ports = st.fixed_dictionaries(
    {"containerPort": st.sampled_from([80, 443, 8080, 9090])},
    optional={"name": st.sampled_from(["http", "https", "metrics"]), "protocol": st.just("TCP")},
)
mounts = st.fixed_dictionaries(
    {"mountPath": st.sampled_from(["/etc/web", "/var/cache", "/data"]), "name": st.sampled_from(["config", "data"])},
    optional={"readOnly": st.just(True)},
)
containers = st.fixed_dictionaries(
    {"name": st.sampled_from(["web", "sidecar", "proxy"])},
    optional={
        "image": st.sampled_from(["nginx:1.25", "nginx:1.27", "envoy:1.30"]),
        "imagePullPolicy": st.sampled_from(["Always", "IfNotPresent"]),
        "env": unique_by("name", env_vars, 4),
        "ports": unique_by("containerPort", ports),
        "volumeMounts": unique_by("mountPath", mounts),
        "args": st.lists(st.sampled_from(["serve", "--verbose", "--port=8080"]), max_size=3),
        "resources": st.fixed_dictionaries(
            {}, optional={"limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), words, max_size=2)}
        ),
    },
)
volumes = st.fixed_dictionaries({"name": st.sampled_from(["config", "data", "cache"])}).flatmap(
    lambda volume: st.one_of(
        st.just({**volume, "emptyDir": {}}),
        st.builds(lambda name: {**volume, "configMap": {"name": name}}, words),
        st.builds(lambda name: {**volume, "secret": {"secretName": name}}, words),
    )
)
strategies = st.one_of(
    st.just({"type": "Recreate"}),
    st.fixed_dictionaries(
        {"type": st.just("RollingUpdate")},
        optional={
            "rollingUpdate": st.fixed_dictionaries(
                {}, optional={"maxSurge": st.sampled_from([1, 2, "25%"]), "maxUnavailable": st.sampled_from([0, "25%"])}
            )
        },
    ),
)
pod_specs = st.fixed_dictionaries(
    {"containers": unique_by("name", containers)},
    optional={
        "volumes": unique_by("name", volumes),
        "nodeSelector": label_maps,
        "tolerations": st.lists(
            st.fixed_dictionaries({"key": label_keys, "operator": st.just("Exists")}), max_size=2
        ),
        "dnsPolicy": st.sampled_from(["ClusterFirst", "Default"]),
    },
)
deployments = st.fixed_dictionaries(
    {
        "apiVersion": st.just("apps/v1"),
        "kind": st.just("Deployment"),
        "metadata": st.fixed_dictionaries(
            {"name": st.just("web")},
            optional={
                "labels": label_maps,
                "annotations": label_maps,
                "finalizers": st.lists(
                    st.sampled_from(["example.com/a", "example.com/b", "example.com/c"]), max_size=3, unique=True
                ),
            },
        ),
        "spec": st.fixed_dictionaries(
            {
                "template": st.fixed_dictionaries(
                    {"spec": pod_specs}, optional={"metadata": st.fixed_dictionaries({"labels": label_maps})}
                )
            },
            optional={"replicas": st.integers(0, 5), "strategy": strategies, "minReadySeconds": st.integers(0, 30)},
        ),
    }
)

json_scalars = st.one_of(st.integers(-3, 3), st.sampled_from(["", "a", "b", "on"]))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(["p", "q", "r", "s"]), children, max_size=3)
    ),
    max_leaves=8,
)
custom_resources = st.fixed_dictionaries(
    {
        "apiVersion": st.just("shop.example.com/v1"),
        "kind": st.just("Database"),
        "metadata": st.fixed_dictionaries({"name": st.just("orders")}, optional={"labels": label_maps}),
        "spec": st.dictionaries(st.sampled_from(["engine", "storage", "users", "options"]), json_values, max_size=4),
    },
    optional={"status": st.dictionaries(st.sampled_from(["phase", "ready"]), json_scalars, max_size=2)},
)


def walk(node: Node | None, key: str) -> tuple[str, bool, str, Node | None]:
    meta = node.field(key) if node is not None else None
    if meta is None:
        return "", False, "", None
    return meta.strategy, meta.retain_keys, meta.merge_key, meta.node


def assert_holds(result: Any, wanted: Any, node: Node | None, path: str = "") -> None:
    """``result`` holds every field of ``wanted``: maps key by key, merge lists item by item."""
    if isinstance(wanted, dict):
        assert isinstance(result, dict), f"{path}: {result!r} is not a map"
        for key, value in wanted.items():
            assert key in result, f"{path}.{key}: missing from the result"
            strategy, _, merge_key, child = walk(node, key)
            if isinstance(value, list) and strategy == "merge":
                assert_list_holds(result[key], value, merge_key, child, f"{path}.{key}")
            else:
                assert_holds(result[key], value, child, f"{path}.{key}")
    else:
        assert result == wanted, f"{path}: {result!r} is not {wanted!r}"


def assert_list_holds(result: list, wanted: list, merge_key: str, node: Node | None, path: str) -> None:
    if not merge_key:
        assert set(wanted) <= set(result), f"{path}: {result!r} lacks some of {wanted!r}"
        return
    items = {item[merge_key]: item for item in result}
    for item in wanted:
        assert item[merge_key] in items, f"{path}[{item[merge_key]}]: missing from the result"
        assert_holds(items[item[merge_key]], item, node, f"{path}[{item[merge_key]}]")


def removed_paths_absent(result: Any, original: Any, modified: Any, node: Node | None, path: str = "") -> None:
    """No field of ``original`` that ``modified`` dropped is left in ``result`` (lists replaced whole aside)."""
    if not (isinstance(result, dict) and isinstance(original, dict) and isinstance(modified, dict)):
        return
    for key, old in original.items():
        if key not in modified:
            assert key not in result, f"{path}.{key}: removed from git but still in the result"
            continue
        strategy, _, merge_key, child = walk(node, key)
        new, got = modified[key], result.get(key)
        if isinstance(old, list) and isinstance(new, list) and strategy == "merge" and isinstance(got, list):
            if merge_key:
                kept = {item[merge_key]: item for item in new}
                by_key = {item[merge_key]: item for item in got}
                for item in old:
                    value = item[merge_key]
                    if value not in kept:
                        assert value not in by_key, f"{path}.{key}[{value}]: removed from git but still in the result"
                    elif value in by_key:
                        removed_paths_absent(by_key[value], item, kept[value], child, f"{path}.{key}[{value}]")
            else:
                assert not (set(old) - set(new)) & set(got), f"{path}.{key}: removed scalars still in the result"
        else:
            removed_paths_absent(got, old, new, child, f"{path}.{key}")


def live_only_fields_kept(
    result: Any, current: Any, original: Any, modified: Any, node: Node | None, path: str = ""
) -> None:
    """Fields only ``current`` has stay as they are, outside lists replaced whole and retainKeys structs."""
    if not isinstance(current, dict):
        return
    original = original if isinstance(original, dict) else {}
    modified = modified if isinstance(modified, dict) else {}
    for key, live in current.items():
        if key not in original and key not in modified:
            assert result.get(key, "<absent>") == live, f"{path}.{key}: the live-only field changed"
            continue
        strategy, retain, merge_key, child = walk(node, key)
        if retain or key not in result:
            continue
        if isinstance(live, list) and strategy == "merge" and merge_key:
            known = {item[merge_key] for item in [*(original.get(key) or []), *(modified.get(key) or [])]}
            by_key = {item[merge_key]: item for item in result[key]}
            for item in live:
                if item[merge_key] not in known:
                    where = f"{path}.{key}[{item[merge_key]}]"
                    assert by_key.get(item[merge_key]) == item, f"{where}: the live-only item changed"
        elif isinstance(live, dict) and isinstance(modified.get(key, {}), dict) and strategy != "replace":
            live_only_fields_kept(result[key], live, original.get(key), modified.get(key), child, f"{path}.{key}")


def without_order_directives(patch: Any, node: Node | None) -> Any:
    """The patch without ``$setElementOrder`` lists, and without what only carried them."""
    if not isinstance(patch, dict):
        return patch
    kept = {}
    for key, value in patch.items():
        if key.startswith(SET_ORDER_PREFIX):
            continue
        strategy, _, merge_key, child = walk(node, key)
        if isinstance(value, list) and strategy == "merge" and merge_key:
            items = [without_order_directives(item, child) for item in value]
            value = [item for item in items if set(item) - {merge_key}]
            if not value:
                continue
        elif isinstance(value, dict):
            value = without_order_directives(value, child)
            if not value and patch[key]:
                continue
        kept[key] = value
    return kept


def with_server_fields(deployment: dict) -> dict:
    """A live object: what the API server adds to a Deployment it stores."""
    live = copy.deepcopy(deployment)
    live["metadata"].update(uid="6f1c1e52", resourceVersion="48213", generation=2)
    spec = live["spec"]
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("revisionHistoryLimit", 10)
    for container in spec["template"]["spec"]["containers"]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
    live["status"] = {"observedGeneration": 2, "replicas": spec.get("replicas", 1)}
    return live


@EXAMPLES
@given(deployments, deployments, deployments)
def test_three_way_result_holds_git_and_drops_what_git_removed(original: dict, modified: dict, current: dict) -> None:
    current = with_server_fields(current)
    inputs = copy.deepcopy((original, modified, current))
    patch = three_way_patch(original, modified, current, DEPLOYMENT)
    patch_copy = copy.deepcopy(patch)
    result = apply_patch(current, patch, DEPLOYMENT)
    assert (original, modified, current) == inputs, "an input was mutated"
    assert patch == patch_copy, "apply_patch mutated the patch"
    assert_holds(result, modified, DEPLOYMENT)
    removed_paths_absent(result, original, modified, DEPLOYMENT)


@EXAMPLES
@given(deployments, deployments, deployments)
def test_three_way_result_keeps_fields_only_the_live_object_has(original: dict, modified: dict, current: dict) -> None:
    current = with_server_fields(current)
    result = apply_patch(current, three_way_patch(original, modified, current, DEPLOYMENT), DEPLOYMENT)
    live_only_fields_kept(result, current, original, modified, DEPLOYMENT)
    assert result["status"] == current["status"]
    assert result["metadata"]["uid"] == current["metadata"]["uid"]


@EXAMPLES
@given(deployments, deployments, deployments)
def test_second_apply_changes_nothing(original: dict, modified: dict, current: dict) -> None:
    current = with_server_fields(current)
    result = apply_patch(current, three_way_patch(original, modified, current, DEPLOYMENT), DEPLOYMENT)
    second = three_way_patch(modified, modified, result, DEPLOYMENT)
    assert apply_patch(result, second, DEPLOYMENT) == result
    assert without_order_directives(second, DEPLOYMENT) == {}


@EXAMPLES
@given(deployments, deployments)
def test_second_apply_sends_nothing_when_the_live_object_is_what_git_says(original: dict, modified: dict) -> None:
    live = apply_patch(original, two_way_patch(original, modified, DEPLOYMENT), DEPLOYMENT)
    assert three_way_patch(modified, modified, live, DEPLOYMENT) == {}


@EXAMPLES
@given(deployments, deployments)
def test_two_way_patch_turns_original_into_modified(original: dict, modified: dict) -> None:
    inputs = copy.deepcopy((original, modified))
    patch = two_way_patch(original, modified, DEPLOYMENT)
    assert apply_patch(original, patch, DEPLOYMENT) == modified
    assert (original, modified) == inputs, "an input was mutated"


@EXAMPLES
@given(deployments)
def test_two_way_patch_of_an_object_with_itself_is_empty(deployment: dict) -> None:
    assert two_way_patch(deployment, copy.deepcopy(deployment), DEPLOYMENT) == {}


@EXAMPLES
@given(custom_resources, custom_resources, custom_resources)
def test_json_merge_three_way_result_holds_git_and_keeps_the_rest(
    original: dict, modified: dict, current: dict
) -> None:
    inputs = copy.deepcopy((original, modified, current))
    patch = three_way_patch(original, modified, current, None)
    result = apply_patch(current, patch, None)
    assert (original, modified, current) == inputs, "an input was mutated"
    assert_holds(result, modified, None)
    removed_paths_absent(result, original, modified, None)
    live_only_fields_kept(result, current, original, modified, None)
    assert three_way_patch(modified, modified, result, None) == {}


@EXAMPLES
@given(custom_resources, custom_resources)
def test_json_merge_two_way_patch_turns_original_into_modified(original: dict, modified: dict) -> None:
    assert apply_patch(original, two_way_patch(original, modified, None), None) == modified


def test_order_directives_are_all_a_second_apply_sends_for_live_only_items() -> None:
    """Pins the exception in ``test_second_apply_changes_nothing``: Kubernetes re-sends the order."""
    env: list[dict[str, str]] = [{"name": "A", "value": "1"}]
    modified = {"spec": {"template": {"spec": {"containers": [{"name": "web", "env": env}]}}}}
    live_env = [*env, {"name": "DEBUG", "value": "1"}]
    live = {"spec": {"template": {"spec": {"containers": [{"name": "web", "env": live_env}]}}}}
    second = three_way_patch(modified, modified, live, DEPLOYMENT)
    assert second == {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"name": "web", "$setElementOrder/env": [{"name": "A"}]}],
    }}}}
    assert without_order_directives(second, DEPLOYMENT) == {}
    assert PATCH not in str(second) and RETAIN_KEYS not in str(second)
