"""Hostile input is refused at its file and line, quickly, before it is expanded, and nothing is written."""

from __future__ import annotations

import time

from gitapply.cluster.local import LocalCluster
from gitapply.model import ObjectKey
from gitapply.source import InputLimits, read
from gitapply.source.files import parse
from gitapply.source.limits import DEPTH, MIB
from tests.unit.clirun import invoke

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  level: info\n"


def billion_laughs(levels: int = 9) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: bomb", "data:",
             '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"  a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_once_naming_the_file():
    started = time.perf_counter()
    manifests, problems = parse(billion_laughs(), "bomb.yaml")
    assert time.perf_counter() - started < 2, "refused before the aliases are expanded"
    assert manifests == []
    assert len(problems) == 1 and problems[0].where.path == "bomb.yaml" and problems[0].where.line > 0
    assert "billion laughs" in problems[0].message


def test_ordinary_anchors_and_merge_keys_are_still_read():
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  labels: &labels {app: web, tier: front}\n"
            "  annotations:\n    <<: *labels\n    owner: team\ndata: {a: '1'}\n")
    manifests, problems = parse(text * 1, "anchors.yaml")
    assert problems == [] and manifests[0].obj["metadata"]["annotations"] == {"app": "web", "tier": "front",
                                                                               "owner": "team"}


def test_aliases_reused_across_many_objects_stay_within_budget():
    # one anchor used by 300 objects of a List: a real pattern for shared labels
    head = ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: base\n"
            "    labels: &l {app: web, team: a, tier: front, owner: ops}\n")
    rest = "".join(f"- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c{i}\n    labels: *l\n"
                   for i in range(300))
    manifests, problems = parse(head + rest, "many.yaml")
    assert problems == [] and len(manifests) == 301
    assert manifests[-1].obj["metadata"]["labels"]["owner"] == "ops"


def test_flow_nesting_deeper_than_the_limit_is_refused_with_its_line():
    deep = CONFIGMAP.format(name="deep") + "  x: " + "[" * (DEPTH + 50) + "]" * (DEPTH + 50) + "\n"
    manifests, problems = parse(deep, "deep.yaml")
    assert manifests == [] and [str(p.where) for p in problems] == ["deep.yaml:7"]
    assert f"more than {DEPTH} levels" in problems[0].message


def test_nesting_that_would_crash_libyaml_is_an_error_not_a_crash():
    manifests, problems = parse("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "crash.yaml")
    assert manifests == [] and len(problems) == 1 and problems[0].where.line == 1


def test_block_nesting_deeper_than_the_limit_is_refused():
    text = "a:\n" + "".join("  " * level + "k:\n" for level in range(1, DEPTH + 20))
    _, problems = parse(text, "block.yaml")
    assert [p.where.line for p in problems] == [DEPTH + 1]


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = CONFIGMAP.format(name="json") + "  blob: '" + "[" * (DEPTH * 3) + "'\n"
    manifests, problems = parse(text, "strings.yaml")
    assert problems == [] and manifests[0].obj["data"]["blob"] == "[" * (DEPTH * 3)


def test_deep_json_is_refused_not_a_traceback():
    _, problems = parse("[" * 100_000 + "]" * 100_000, "deep.json")
    assert len(problems) == 1 and "too deeply" in problems[0].message


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    (tmp_path / "big.yaml").write_text(CONFIGMAP.format(name="big") + "  blob: " + "x" * (2 * MIB) + "\n")
    (tmp_path / "small.yaml").write_text(CONFIGMAP.format(name="small"))
    state = read(str(tmp_path), limits=InputLimits.of_mib(1))
    assert [p.where.path for p in state.problems] == [str(tmp_path / "big.yaml")]
    assert "over the limit of 1.0 MiB for one file" in state.problems[0].message
    assert "--max-input-size" in state.problems[0].message
    assert read(str(tmp_path), limits=InputLimits.of_mib(4)).problems == ()


def test_the_whole_source_has_a_limit_too(tmp_path):
    for index in range(20):
        (tmp_path / f"c{index:02}.yaml").write_text(CONFIGMAP.format(name=f"c{index}") + "  blob: "
                                                    + "x" * 60_000 + "\n")
    state = read(str(tmp_path), limits=InputLimits(file_bytes=100_000, source_bytes=1_000_000))
    assert len(state.problems) >= 1 and "takes the source past its limit" in state.problems[0].message


def test_the_cli_refuses_a_bomb_with_exit_2_and_writes_nothing(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "ok.yaml").write_text(CONFIGMAP.format(name="ok"))
    (tmp_path / "app" / "bomb.yaml").write_text(billion_laughs())
    store = tmp_path / "cluster.json"
    result = invoke(["--local", str(store), "apply", str(tmp_path / "app")])
    assert result.exit_code == 2, result.output
    assert "bomb.yaml:" in result.output and "Traceback" not in result.output
    assert LocalCluster(store).get(ObjectKey("", "v1", "ConfigMap", "default", "ok")) is None
