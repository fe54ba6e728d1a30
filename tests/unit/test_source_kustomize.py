"""Kustomize rendering in the source layer: what is rendered, origins, refusals, errors, stdin and Helm charts.

Rendering runs the machine's ``kubectl kustomize`` (Kustomize v5 built in); no cluster is needed.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gitapply.errors import SourceError
from gitapply.source import STDIN, KustomizeOptions, read
from gitapply.source.files import read_path
from gitapply.source.kustomize import (ORIGIN_ANNOTATION, command_line, complaint, is_remote_reference,
                                       remote_references, settings_command)

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {LEVEL: info}\n"
DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}
    """)


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    tree(tmp_path, {
        "base/kustomization.yaml": "resources: [deployment.yaml]\n"
                                   "configMapGenerator: [{name: env, literals: [A=1]}]\n",
        "base/deployment.yaml": DEPLOYMENT,
        "overlays/prod/kustomization.yaml": "resources: [../../base]\nnamePrefix: prod-\n"
                                            "images: [{name: nginx, newTag: '1.21'}]\n",
    })
    return tmp_path


@pytest.mark.parametrize("entry, remote", [
    ("https://github.com/org/repo//base?ref=v1", True), ("github.com/org/repo/base?ref=v1", True),
    ("git@github.com:org/repo.git", True), ("git::https://example.com/repo", True), ("ssh://host/repo", True),
    ("../../base", False), ("deployment.yaml", False), ("base", False)])
def test_is_remote_reference_tells_urls_from_local_paths(entry, remote):
    assert is_remote_reference(entry) is remote


def test_a_local_directory_named_like_a_host_is_not_remote(overlay):
    tree(overlay, {"overlays/prod/kustomization.yaml": "resources: [../../base, extra.d/cm]\n",
                   "overlays/prod/extra.d/cm/kustomization.yaml": "resources: [cm.yaml]\n",
                   "overlays/prod/extra.d/cm/cm.yaml": CONFIGMAP})
    assert list(remote_references(overlay / "overlays" / "prod")) == []
    assert "settings" in {m.obj["metadata"]["name"] for m in read(str(overlay / "overlays" / "prod")).manifests}


def test_kubectls_log_line_is_reduced_to_kustomizes_message():
    stderr = 'E1202 18:32:11.877386    9444 run.go:72] "command failed" err="accumulating: \\"x.yaml\\" missing"\n'
    assert complaint(stderr) == 'accumulating: "x.yaml" missing'
    assert complaint("Usage:\n  kustomize build\nError: no such file\n") == "no such file"


def test_the_command_given_wins_and_is_split_like_a_shell():
    assert command_line(KustomizeOptions(command="kustomize build --load-restrictor 'LoadRestrictionsNone'")) == [
        "kustomize", "build", "--load-restrictor", "LoadRestrictionsNone"]
    assert command_line(KustomizeOptions())[-1] in ("build", "kustomize")


def test_settings_name_the_command_or_fail_clearly():
    assert settings_command({"kustomize": {"command": "kubectl kustomize"}}, "x") == "kubectl kustomize"
    assert settings_command({"ignore": []}, "x") is None
    with pytest.raises(SourceError, match="kustomize.command must be a command line"):
        settings_command({"kustomize": {"command": 3}}, ".gitapply.yaml")


def test_an_overlay_is_rendered_with_the_file_each_object_came_from(overlay):
    state = read(str(overlay / "overlays" / "prod"))
    assert state.problems == ()
    by_kind = {m.obj["kind"]: m for m in state.manifests}
    assert by_kind["Deployment"].obj["metadata"]["name"] == "prod-web"
    assert by_kind["Deployment"].obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.21"
    assert by_kind["ConfigMap"].obj["metadata"]["name"].startswith("prod-env-")
    rendered = by_kind["Deployment"].origin
    assert rendered.path == f"{overlay / 'overlays' / 'prod' / 'kustomization.yaml'} (rendered)" and rendered.line


def test_with_problems_each_object_names_the_file_it_came_from(overlay):
    tree(overlay, {"base/deployment.yaml": DEPLOYMENT.replace("image:", "imagee:")})
    state = read(str(overlay / "overlays" / "prod"))
    by_kind = {m.obj["kind"]: m for m in state.manifests}
    assert by_kind["Deployment"].origin.path == str(overlay / "base" / "deployment.yaml")
    assert by_kind["ConfigMap"].origin.path == str(overlay / "base" / "kustomization.yaml"), "its generator"
    assert all(ORIGIN_ANNOTATION not in (m.obj["metadata"].get("annotations") or {}) for m in state.manifests)
    assert all("annotations" not in m.obj["metadata"] for m in state.manifests), "no empty map left behind"


def test_the_render_equals_kubectl_kustomize_of_the_directory(overlay):
    import yaml

    plain = subprocess.run(["kubectl", "kustomize", str(overlay / "overlays" / "prod")], check=True,
                           capture_output=True, text=True).stdout
    assert [m.obj for m in read(str(overlay / "overlays" / "prod")).manifests] == list(yaml.safe_load_all(plain))


def test_a_schema_problem_names_the_base_file_not_the_overlay(overlay):
    tree(overlay, {"base/deployment.yaml": DEPLOYMENT.replace("image:", "imagee:")})
    (problem,) = read(str(overlay / "overlays" / "prod")).problems
    assert problem.where.path == str(overlay / "base" / "deployment.yaml") and "imagee" in problem.message


def test_kustomizes_error_names_the_kustomization_and_writes_nothing_to_the_tree(overlay):
    tree(overlay, {"overlays/prod/kustomization.yaml": "resources: [../../base, missing.yaml]\n"})
    before = sorted(p for p in overlay.rglob("*"))
    with pytest.raises(SourceError) as caught:
        read(str(overlay / "overlays" / "prod"))
    assert caught.value.subject == str(overlay / "overlays" / "prod" / "kustomization.yaml")
    assert "kustomize failed" in caught.value.message and "missing.yaml" in caught.value.message
    assert "gitapply-kustomize" not in caught.value.message, "the private wrapper stays private"
    assert sorted(p for p in overlay.rglob("*")) == before


def test_a_kustomization_that_renders_nothing_is_an_error(tmp_path):
    tree(tmp_path, {"kustomization.yaml": "resources: []\n"})
    with pytest.raises(SourceError, match="renders no objects"):
        read(str(tmp_path))


def test_a_remote_base_is_refused_even_behind_a_local_base(overlay):
    tree(overlay, {"base/kustomization.yaml": "resources:\n- deployment.yaml\n- github.com/org/repo/x?ref=v1\n"})
    assert list(remote_references(overlay / "overlays" / "prod")) == [
        ((overlay / "base" / "kustomization.yaml").resolve(), "github.com/org/repo/x?ref=v1")]
    with pytest.raises(SourceError, match="remote base 'github.com/org/repo/x\\?ref=v1' refused") as caught:
        read(str(overlay / "overlays" / "prod"))
    assert caught.value.subject.endswith("base/kustomization.yaml")


def test_the_command_comes_from_gitapply_yaml_unless_given(overlay):
    prod = overlay / "overlays" / "prod"
    tree(prod, {".gitapply.yaml": "kustomize:\n  command: no-such-kustomize build\n"})
    with pytest.raises(SourceError, match="'no-such-kustomize' is not on PATH"):
        read(str(prod))
    assert read(str(prod), kustomize=KustomizeOptions(command="kubectl kustomize")).problems == ()


def test_a_kustomization_inside_a_directory_read_file_by_file_is_a_problem(overlay):
    manifests, problems = read_path(str(overlay))
    assert manifests == []
    assert sorted(p.where.path for p in problems) == [str(overlay / "base" / "kustomization.yaml"),
                                                       str(overlay / "overlays" / "prod" / "kustomization.yaml")]


def test_a_helm_chart_says_how_to_render_and_pipe_it(tmp_path):
    tree(tmp_path, {"chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
                    "chart/templates/deployment.yaml": "kind: {{ .Values.kind }}\n"})
    with pytest.raises(SourceError, match="helm template NAME .* -f values.yaml \\| gitapply apply - --app NAME"):
        read(str(tmp_path / "chart"))
    (problem,) = read_path(str(tmp_path))[1]
    assert problem.where.path == str(tmp_path / "chart" / "Chart.yaml") and "Helm chart" in problem.message


def test_stdin_is_a_yaml_stream(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"{CONFIGMAP}---\n{DEPLOYMENT}".encode())))
    state = read(STDIN)
    assert [m.obj["kind"] for m in state.manifests] == ["ConfigMap", "Deployment"]
    assert state.manifests[1].origin.path == "<stdin>" and state.manifests[1].origin.line == 6


@pytest.mark.parametrize("text, message", [("", "holds no objects"), ("---\n", "holds no objects")])
def test_empty_stdin_is_an_error_not_an_empty_apply(monkeypatch, text, message):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    with pytest.raises(SourceError, match=message):
        read(STDIN)


def test_stdin_takes_no_revision():
    with pytest.raises(SourceError, match="--rev and --path read a git repository"):
        read(STDIN, rev="HEAD")


def test_an_overlay_at_a_commit_is_rendered_from_that_commit_without_a_checkout(overlay, tmp_path, monkeypatch):
    from tests.unit.test_source_git import commit, git

    git(overlay, "init", "-q")
    first = commit(overlay, {}, "overlay with nginx 1.21")
    tree(overlay, {"overlays/prod/kustomization.yaml": "resources: [../../base]\nnamePrefix: prod-\n"
                                                       "images: [{name: nginx, newTag: '1.22'}]\n"})
    second = commit(overlay, {}, "nginx 1.22")
    tree(overlay, {"base/deployment.yaml": "not: [committed\n"})  # the work tree is never read
    monkeypatch.setenv("TMPDIR", str(tmp_path / "private"))
    (tmp_path / "private").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)

    def image(rev: str) -> str:
        state = read(str(overlay), rev=rev, subdir="overlays/prod")
        assert state.problems == () and state.revision == (first if rev == "HEAD~1" else second)
        (deployment,) = [m for m in state.manifests if m.obj["kind"] == "Deployment"]
        assert deployment.origin.path == "overlays/prod/kustomization.yaml (rendered)"
        return deployment.obj["spec"]["template"]["spec"]["containers"][0]["image"]

    assert image("HEAD~1") == "nginx:1.21" and image("HEAD") == "nginx:1.22"
    assert image_from_inside(overlay / "overlays" / "prod") == "nginx:1.22"
    assert list((tmp_path / "private").iterdir()) == [], "the export and the wrapper are removed afterwards"


def image_from_inside(directory: Path) -> str:
    """A path inside a work tree with --rev: the commit, at that path."""
    state = read(str(directory), rev="HEAD")
    (deployment,) = [m for m in state.manifests if m.obj["kind"] == "Deployment"]
    return deployment.obj["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_problem_at_a_commit_names_the_file_relative_to_the_repository(overlay):
    from tests.unit.test_source_git import commit, git

    git(overlay, "init", "-q")
    commit(overlay, {"base/deployment.yaml": DEPLOYMENT.replace("image:", "imagee:")})
    (problem,) = read(str(overlay), rev="HEAD", subdir="overlays/prod").problems
    assert problem.where.path == "base/deployment.yaml" and "imagee" in problem.message


def test_a_kustomize_error_at_a_commit_names_repository_paths_only(overlay):
    from tests.unit.test_source_git import commit, git

    git(overlay, "init", "-q")
    commit(overlay, {"overlays/prod/kustomization.yaml": "resources: [../../base, ../../missing]\n"})
    with pytest.raises(SourceError) as caught:
        read(str(overlay), rev="HEAD", subdir="overlays/prod")
    assert caught.value.subject == "overlays/prod/kustomization.yaml"
    assert "missing" in caught.value.message and "gitapply-export" not in caught.value.message


def test_a_commit_read_file_by_file_reports_the_kustomizations_in_it(overlay):
    from tests.unit.test_source_git import commit, git

    git(overlay, "init", "-q")
    commit(overlay, {"plain/cm.yaml": CONFIGMAP})
    state = read(str(overlay), rev="HEAD")
    assert [m.obj["kind"] for m in state.manifests] == ["ConfigMap"]
    assert sorted(p.where.path for p in state.problems) == ["base/kustomization.yaml",
                                                            "overlays/prod/kustomization.yaml"]
