"""Reading manifests from files and directories: documents, Lists, origins, YAML as kubectl reads it, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gitapply.errors import SourceError
from gitapply.model import Origin
from gitapply.source import load, read
from gitapply.source.files import parse


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def configmap(name: str, namespace: str = "shop") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"


def test_multi_document_file_yields_each_object_with_its_document_index_and_start_line(tmp_path):
    path = write(tmp_path, "app.yaml", "# the app\n" + configmap("a") + "---\n" + configmap("b"))
    state = load(str(path))
    assert [m.obj["metadata"]["name"] for m in state.manifests] == ["a", "b"]
    assert [m.origin for m in state.manifests] == [Origin(str(path), 0, 2), Origin(str(path), 1, 8)]
    assert state.revision is None and state.root == str(path)


def test_empty_documents_are_skipped_but_still_counted_in_the_document_index(tmp_path):
    path = write(tmp_path, "app.yaml", "---\n---\n# only a comment\n---\n" + configmap("a") + "---\n")
    (manifest,) = load(str(path)).manifests
    assert manifest.origin.document == 2
    assert manifest.origin.line == 5


def test_list_kinds_are_expanded_into_their_items_each_with_its_own_line(tmp_path):
    path = write(tmp_path, "list.yaml", """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: ConfigMap
          metadata: {name: a, namespace: shop}
        - apiVersion: v1
          kind: ConfigMapList
          items:
          - apiVersion: v1
            kind: ConfigMap
            metadata: {name: b, namespace: shop}
        """)
    manifests = load(str(path)).manifests
    assert [(m.obj["metadata"]["name"], m.origin.line) for m in manifests] == [("a", 4), ("b", 10)]


def test_json_file_is_read_as_one_object_starting_at_its_first_line(tmp_path):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "shop"},
           "data": {"enabled": "y"}}
    path = tmp_path / "cm.json"
    path.write_text("\n" + json.dumps(obj, indent=2))
    (manifest,) = load(str(path)).manifests
    assert manifest.obj == obj
    assert manifest.origin == Origin(str(path), 0, 2)


def test_directory_is_read_recursively_in_path_order_with_paths_as_the_user_named_them(tmp_path):
    write(tmp_path, "deploy/b.yaml", configmap("b"))
    write(tmp_path, "deploy/a/z.yml", configmap("z"))
    write(tmp_path, "deploy/a/deeper/y.json", json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y", "namespace": "shop"}}))
    state = load(str(tmp_path / "deploy"))
    root = str(tmp_path / "deploy")
    assert [m.origin.path for m in state.manifests] == [
        f"{root}/a/deeper/y.json", f"{root}/a/z.yml", f"{root}/b.yaml"]


def test_non_manifest_and_hidden_files_in_a_directory_are_ignored(tmp_path):
    write(tmp_path, "cm.yaml", configmap("kept"))
    write(tmp_path, "README.md", "not: [yaml")
    write(tmp_path, "values.txt", "kind: nonsense")
    write(tmp_path, ".hidden.yaml", "kind: nonsense")
    write(tmp_path, ".github/workflows/ci.yml", "on: push\njobs: {}\n")
    assert [m.obj["metadata"]["name"] for m in load(str(tmp_path)).manifests] == ["kept"]


def test_a_file_named_explicitly_is_read_whatever_its_suffix(tmp_path):
    path = write(tmp_path, "manifest.txt", configmap("a"))
    assert len(load(str(path)).manifests) == 1


def test_yaml_syntax_error_is_a_source_error_whose_subject_is_file_and_line(tmp_path):
    path = write(tmp_path, "bad.yaml", configmap("a") + "data:\n  key: value\n   other: 1\n")
    with pytest.raises(SourceError) as raised:
        load(str(path))
    assert raised.value.subject == f"{path}:8"
    assert "YAML syntax error" in raised.value.message


def test_json_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "apiVersion": "v1",\n  "kind" "ConfigMap"\n}\n')
    with pytest.raises(SourceError) as raised:
        load(str(path))
    assert raised.value.subject == f"{path}:3"


def test_problems_in_several_files_are_all_reported_in_one_error(tmp_path):
    write(tmp_path, "a.yaml", "a: [\n")
    write(tmp_path, "b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    write(tmp_path, "c.yaml", configmap("ok"))
    with pytest.raises(SourceError) as raised:
        load(str(tmp_path))
    text = str(raised.value)
    assert "2 problems" in text
    assert f"{tmp_path}/a.yaml:2: YAML syntax error" in text
    assert f"{tmp_path}/b.yaml:1: missing metadata.name" in text


def test_read_returns_the_problems_instead_of_raising(tmp_path):
    write(tmp_path, "a.yaml", configmap("a") + "---\n- not\n- an object\n")
    state = read(str(tmp_path))
    assert len(state.manifests) == 1
    assert [str(p) for p in state.problems] == [
        f"{tmp_path}/a.yaml:7: expected a Kubernetes object (a mapping), found a list"]


def test_a_missing_path_is_a_source_error_naming_it(tmp_path):
    with pytest.raises(SourceError) as raised:
        load(str(tmp_path / "nowhere"))
    assert raised.value.subject == str(tmp_path / "nowhere")


@pytest.mark.parametrize("word, value", [
    ("y", True), ("Y", True), ("yes", True), ("Yes", True), ("YES", True), ("on", True), ("On", True),
    ("ON", True), ("true", True), ("True", True), ("TRUE", True),
    ("n", False), ("N", False), ("no", False), ("No", False), ("NO", False), ("off", False), ("Off", False),
    ("OFF", False), ("false", False), ("False", False), ("FALSE", False),
])
def test_unquoted_yaml_1_1_boolean_words_are_booleans_as_kubectl_reads_them(word, value):
    (manifest,), problems = parse(f"kind: ConfigMap\nvalue: {word}\n", "x.yaml")
    assert manifest.obj["value"] is value
    assert not problems


@pytest.mark.parametrize("word", ["y", "n", "yes", "off"])
def test_quoted_boolean_words_stay_strings(word):
    (manifest,), _ = parse(f"value: '{word}'\nother: \"{word}\"\n", "x.yaml")
    assert manifest.obj == {"value": word, "other": word}


def test_unquoted_name_n_is_refused_as_a_boolean_with_a_hint_to_quote_it(tmp_path):
    path = write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\n")
    with pytest.raises(SourceError) as raised:
        load(str(path))
    assert raised.value.subject == f"{path}:1"
    assert "metadata.name must be a string, got boolean false; quote it" in raised.value.message


def test_scalars_resolve_as_go_yaml_does_not_as_pyyaml_does():
    text = "date: 2024-01-02\nclock: 1:30\nequals: =\noctal: 0o17\nold_octal: 017\nexp: 1e3\nsep: 1_000\n"
    (manifest,), _ = parse(text, "x.yaml")
    assert manifest.obj == {"date": "2024-01-02", "clock": "1:30", "equals": "=", "octal": 15, "old_octal": 15,
                            "exp": 1000.0, "sep": 1000}


def test_mapping_keys_become_strings_as_kubectl_converts_them():
    (manifest,), _ = parse("data:\n  1: a\n  y: b\n  1.5: c\n", "x.yaml")
    assert manifest.obj == {"data": {"1": "a", "true": "b", "1.5": "c"}}


def test_a_duplicate_key_is_a_problem_at_its_second_line_naming_the_first(tmp_path):
    path = write(tmp_path, "d.yaml", """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: 2
          replicas: 3
        """)
    problems = read(str(path)).problems
    assert f"{path}:7: duplicate key \"replicas\" (first at line 6); remove one" in [str(p) for p in problems]


def test_keys_from_a_merge_key_may_be_overridden_without_a_duplicate_problem():
    text = "base: &base {a: 1, b: 2}\nuse:\n  <<: *base\n  b: 3\n"
    (manifest,), problems = parse(text, "x.yaml")
    assert manifest.obj["use"] == {"a": 1, "b": 3}
    assert problems == []


def test_unsupported_yaml_tags_are_problems_with_a_line():
    _, (problem,) = parse("a: 1\nb: !!binary aGVsbG8=\n", "x.yaml")
    assert problem.where.line == 2 and "not supported" in problem.message


def test_importing_the_source_package_imports_neither_git_nor_kubernetes_validate():
    code = "import sys, gitapply.source; print('git' in sys.modules, 'kubernetes_validate' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_kustomization_is_rendered_not_read_file_by_file(tmp_path):
    from gitapply.source import read

    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\nnamePrefix: p-\n")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    state = read(str(tmp_path))
    assert [m.obj["metadata"]["name"] for m in state.manifests] == ["p-x"] and not state.problems


@pytest.mark.parametrize("files", [{}, {"README.md": "# ops\n", "notes.txt": "x"}, {"only.yaml": "# a comment\n---\n"}],
                         ids=["empty folder", "no manifest files", "only comments"])
def test_a_source_with_no_objects_is_an_error_not_an_empty_apply(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SourceError, match="holds no Kubernetes objects.*would prune everything"):
        read(str(tmp_path))
