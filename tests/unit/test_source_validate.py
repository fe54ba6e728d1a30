"""Validation before anything is written: identity, duplicates, schema of built-in kinds, namespace defaulting."""

from __future__ import annotations

import copy

import pytest

from gitapply import bundled
from gitapply.errors import SourceError
from gitapply.model import Manifest, Origin
from gitapply.source import apply_default_namespace, validate
from gitapply.source.files import parse
from gitapply.source.validate import kind_schemas, nearest_schema_version, problems_error, schema_versions

DEPLOYMENT = """\
# the shop's web front
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app.kubernetes.io/name: web}
  creationTimestamp: null
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 1}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{containerPort: 80}]
        resources: {limits: {cpu: 1, memory: 128Mi}, requests: {cpu: 100m}}
        env: [{name: MODE, value: "on"}]
"""


def manifests(text: str, path: str = "deploy/web.yaml") -> list[Manifest]:
    found, problems = parse(text, path)
    assert not problems
    return found


def messages(text: str, path: str = "deploy/web.yaml") -> list[str]:
    return [str(problem) for problem in validate(manifests(text, path))]


def test_a_valid_deployment_has_no_problems():
    assert messages(DEPLOYMENT) == []


def test_realistic_manifests_of_many_built_in_kinds_have_no_problems():
    text = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop, annotations: {nginx.ingress.kubernetes.io/rewrite-target: /}}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: report, image: busybox, args: [date]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
        properties: {spec: {type: object, properties: {size: {type: integer, default: 1}}}}
"""
    assert messages(text, "all.yaml") == []


def test_an_unknown_field_names_file_line_object_and_field_path():
    text = DEPLOYMENT.replace("        image: nginx:1.25", "        imagee: nginx:1.25")
    assert messages(text) == [
        'deploy/web.yaml:2: apps/Deployment/shop/web: spec.template.spec.containers[0].imagee: unknown field; '
        'did you mean "image"?']


def test_a_wrong_type_names_the_field_path_and_both_types():
    text = DEPLOYMENT.replace("replicas: 2", 'replicas: "2"')
    assert messages(text) == [
        'deploy/web.yaml:2: apps/Deployment/shop/web: spec.replicas: expected integer, got string "2"']


def test_an_unquoted_boolean_word_where_a_string_belongs_gets_a_quoting_hint():
    text = DEPLOYMENT.replace('value: "on"', "value: on")
    (message,) = messages(text)
    assert "spec.template.spec.containers[0].env[0].value: expected string, got boolean true; quote it" in message


def test_int_or_string_fields_accept_both_and_refuse_a_boolean():
    assert messages(DEPLOYMENT.replace("maxUnavailable: 1", "maxUnavailable: 10%")) == []
    (message,) = messages(DEPLOYMENT.replace("maxUnavailable: 1", "maxUnavailable: yes"))
    assert "spec.strategy.rollingUpdate.maxUnavailable: expected string or integer, got boolean true" in message


def test_a_missing_required_field_is_named():
    text = DEPLOYMENT.replace("      - name: web\n        image", "      - image")
    assert messages(text) == [
        "deploy/web.yaml:2: apps/Deployment/shop/web: spec.template.spec.containers[0].name: required field is "
        "missing"]


def test_map_keys_that_are_not_identifiers_are_bracketed_in_field_paths():
    text = DEPLOYMENT.replace("labels: {app.kubernetes.io/name: web}", "labels: {app.kubernetes.io/name: 3}")
    (message,) = messages(text)
    assert 'metadata.labels["app.kubernetes.io/name"]: expected string, got integer 3' in message


def test_custom_resources_are_not_schema_checked():
    text = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a, namespace: shop}\nspec: {anything: [1]}\n"
    assert messages(text) == []


def test_missing_api_version_kind_and_name_are_reported_together_at_the_object():
    assert messages("metadata: {labels: {a: b}}\n", "x.yaml") == [
        "x.yaml:1: missing apiVersion, kind, metadata.name; every manifest needs apiVersion, kind and metadata.name"]


def test_generate_name_is_refused_because_apply_needs_a_name():
    (message,) = messages("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: cm-}\n", "x.yaml")
    assert "metadata.generateName cannot be applied; set metadata.name" in message


def test_an_object_defined_twice_names_both_places():
    text = DEPLOYMENT + "---\n" + DEPLOYMENT
    assert messages(text) == [
        "deploy/web.yaml:24: apps/Deployment/shop/web: defined twice, here and at deploy/web.yaml:2; keep one"]


def test_the_same_object_under_two_api_versions_is_a_duplicate():
    first = "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: web, namespace: shop}\n"
    second = first.replace("autoscaling/v1", "autoscaling/v2")
    found = manifests(first, "a.yaml") + manifests(second, "b.yaml")
    assert [p.message for p in validate(found) if "defined twice" in p.message] == [
        "defined twice, here and at a.yaml:1; keep one"]


def test_schema_version_picks_the_nearest_bundled_definitions():
    versions = schema_versions()
    assert nearest_schema_version(None) == versions[-1]
    assert nearest_schema_version("v1.20.2") == versions[0]
    assert nearest_schema_version(f"{versions[1][0]}.{versions[1][1]}") == versions[1]
    assert kind_schemas("1.30").knows("apps/v1", "Deployment")


def test_an_invalid_schema_version_is_a_source_error():
    with pytest.raises(SourceError):
        nearest_schema_version("latest")


def test_one_problem_becomes_an_error_whose_subject_is_its_file_and_line():
    error = problems_error([validate(manifests(DEPLOYMENT.replace("replicas: 2", "replicas: x")))[0]], "deploy")
    assert error.subject == "deploy/web.yaml:2"
    assert str(error).startswith("deploy/web.yaml:2: apps/Deployment/shop/web: spec.replicas: expected integer")


def test_many_problems_become_one_error_listing_each_in_file_order():
    problems = validate(manifests("kind: A\n", "b.yaml") + manifests("kind: B\n", "a.yaml"))
    error = problems_error(problems, "deploy")
    assert error.subject == "deploy"
    lines = str(error).splitlines()
    assert lines[0] == "deploy: 2 problems in the manifests; fix them and run again:"
    assert lines[1].startswith("  a.yaml:1:") and lines[2].startswith("  b.yaml:1:")


# --- namespace defaulting -------------------------------------------------------------------------------------

SCOPES = {("v1", "ConfigMap"): True, ("v1", "Namespace"): False, ("rbac.authorization.k8s.io/v1", "ClusterRole"): False}


def scope(api_version: str, kind: str) -> bool | None:
    return SCOPES.get((api_version, kind))


def objects(*texts: str) -> list[Manifest]:
    return [manifest for index, text in enumerate(texts) for manifest in manifests(text, f"{index}.yaml")]


def test_default_namespace_fills_namespaced_objects_that_have_none():
    (result,), problems = apply_default_namespace(objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"),
                                                  "shop", scope)
    assert result.obj["metadata"] == {"name": "a", "namespace": "shop"}
    assert str(result.key) == "ConfigMap/shop/a"
    assert problems == ()


def test_default_namespace_keeps_an_explicit_namespace_and_cluster_scoped_objects_as_written():
    given = objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: other}\n",
                    "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    result, problems = apply_default_namespace(given, "shop", scope)
    assert [m.obj for m in result] == [m.obj for m in given]
    assert problems == ()


def test_a_namespace_on_a_cluster_scoped_kind_is_a_problem_naming_the_object():
    given = objects("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: x}\n")
    _, (problem,) = apply_default_namespace(given, "shop", scope)
    assert str(problem) == ("0.yaml:1: rbac.authorization.k8s.io/ClusterRole/x/r: ClusterRole is cluster-scoped but "
                            "metadata.namespace is 'x'; remove metadata.namespace")


def test_a_kind_unknown_to_the_cluster_is_left_as_written():
    given = objects("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    result, problems = apply_default_namespace(given, "shop", scope)
    assert result[0].obj == given[0].obj and problems == ()


def test_default_namespace_never_mutates_its_input():
    given = objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {x: y}}\n")
    before = copy.deepcopy(given[0].obj)
    apply_default_namespace(given, "shop", scope)
    assert given[0].obj == before


def test_objects_that_become_one_once_defaulted_are_duplicates_naming_both_places():
    given = objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n")
    _, (problem,) = apply_default_namespace(given, "shop", scope)
    assert str(problem) == "1.yaml:1: ConfigMap/shop/a: defined twice, here and at 0.yaml:1; keep one"


def test_duplicates_as_written_are_left_to_validate_and_not_reported_again():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n"
    _, problems = apply_default_namespace(objects(text, text), "shop", scope)
    assert problems == ()


def test_objects_without_a_valid_identity_pass_defaulting_unchanged():
    given = [Manifest({"kind": "ConfigMap", "metadata": ["not", "a", "mapping"]}, Origin("x.yaml", 0, 1))]
    result, problems = apply_default_namespace(given, "shop", scope)
    assert result == tuple(given) and problems == ()


def test_the_schemas_of_the_kinds_in_use_come_from_the_cache_and_judge_as_the_whole_bundle(tmp_path, monkeypatch):
    """Reading the 1 MB bundle costs a small diff a tenth of its time: each kind's part is cut out once."""
    monkeypatch.setenv("GITAPPLY_CACHE", str(tmp_path / "cache"))
    broken = DEPLOYMENT.replace("replicas: 2", "replicas: two").replace("image: nginx", "imagee: nginx")
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: http}]}\n"
    custom = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {anything: 1}\n"
    found = [m for text in (DEPLOYMENT, broken, service, custom) for m in manifests(text)]
    kinds = {(m.key.api_version, m.key.kind) for m in found}
    whole = kind_schemas(None)
    expected = [error for m in found for error in whole.field_errors(m.obj)]
    assert len(expected) >= 3, "the broken manifests must give the comparison something to compare"
    for attempt in ("cold", "warm"):
        part = kind_schemas(None, kinds)
        assert [error for m in found for error in part.field_errors(m.obj)] == expected, attempt
        monkeypatch.setattr(bundled, "definitions", lambda version: pytest.fail("the bundle was read"))
    assert {path.name for path in (tmp_path / "cache" / "schemas").rglob("*.json")} >= {
        "index.json", "io.k8s.api.apps.v1.Deployment.json", "io.k8s.api.core.v1.Service.json"}
