"""The container image and the drift CronJob, checked statically: no Docker engine or cluster is needed.

The Dockerfile is parsed instruction by instruction, the .dockerignore evaluated with Docker's rules (simplified
to what the file uses), and deploy/ read with PyYAML and with gitapply's own validator (the bundled OpenAPI
schemas: unknown fields, wrong types).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitapply.source import read
from gitapply.source.validate import schema_versions

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate", "*"}


# --- Dockerfile -------------------------------------------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments and blank lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        word, _, rest = (pending + line).strip().partition(" ")
        instructions.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def arguments(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in arguments("ENV"):
        env.update(item.split("=", 1) for item in shlex.split(rest))
    return env


def test_dockerfile_builds_on_python_311_slim():
    base = arguments("FROM")[-1]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base


def test_dockerfile_takes_a_pinned_kustomize_from_its_official_image():
    stages = dict(reversed(rest.split(" AS ")) for rest in arguments("FROM")[:-1])
    assert re.fullmatch(r"registry\.k8s\.io/kustomize/kustomize:v5\.\d+\.\d+(@sha256:[0-9a-f]{64})?",
                        stages["kustomize"]), stages
    assert "--from=kustomize /app/kustomize /usr/local/bin/kustomize" in arguments("COPY")


def test_dockerfile_runs_as_a_numeric_non_root_user():
    user = arguments("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit(), "a numeric USER lets Kubernetes' runAsNonRoot verify it"
    assert int(uid) != 0
    names = [word for word, _ in dockerfile()]
    assert "RUN" not in names[names.index("USER"):], "nothing may run after the switch to the user"


def test_dockerfile_entrypoint_is_gitapply_with_help_by_default():
    assert json.loads(arguments("ENTRYPOINT")[-1]) == ["gitapply"]
    assert json.loads(arguments("CMD")[-1]) == ["--help"]


def test_dockerfile_fetches_nothing_from_the_network_with_add():
    assert not any(rest.split()[0].startswith(("http://", "https://")) for rest in arguments("ADD"))
    assert arguments("ADD") == [], "COPY says what it does; ADD also unpacks and downloads"


def test_dockerfile_installs_git_without_recommends_and_drops_the_apt_lists():
    installs = [rest for rest in arguments("RUN") if "apt-get install" in rest]
    assert installs
    for rest in installs:
        assert "--no-install-recommends" in rest and re.search(r"\bgit\b", rest)
        assert "rm -rf /var/lib/apt/lists/*" in rest, "the lists must go in the same layer as the install"


def test_dockerfile_installs_the_project_without_a_pip_cache():
    pip = [rest for rest in arguments("RUN") if "pip install" in rest]
    assert pip and all("--no-cache-dir" in rest for rest in pip)


def test_image_writes_only_under_tmp():
    env = image_env()
    for name in ("HOME", "GITAPPLY_CACHE"):
        assert env[name] == "/tmp" or env[name].startswith("/tmp/"), name
    assert "GITAPPLY_CACHE_DIR" not in env, "the repository mirrors follow GITAPPLY_CACHE: one setting moves it all"


def test_image_git_credentials_come_from_files_not_the_environment():
    env = image_env()
    assert env["GIT_ASKPASS"] == "/usr/local/bin/gitapply-askpass"
    assert env["GIT_TERMINAL_PROMPT"] == "0", "a missing credential must fail, not hang on a prompt"
    assert env["GITAPPLY_GIT_CREDENTIALS"] in env["GIT_SSH_COMMAND"]


# --- .dockerignore ----------------------------------------------------------------------------------------------

def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``**`` any depth, ``*`` and ``?`` within one path segment."""
    out = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(out)


def in_build_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    included = True
    prefixes = [path] + ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 1)]
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if any(_pattern(line.lstrip("!")).fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


@pytest.mark.parametrize("path", [".git/config", ".venv/bin/python", "tests/unit/test_layering.py",
                                  ".pytest_cache/v/cache/lastfailed", ".mypy_cache/3.11/x.json",
                                  ".hypothesis/examples/x", "gitapply/__pycache__/cli.cpython-311.pyc",
                                  "gitapply.egg-info/PKG-INFO", "build/lib/gitapply/cli.py"])
def test_dockerignore_keeps_repository_noise_out_of_the_build(path):
    assert not in_build_context(path)


def test_every_path_the_dockerfile_copies_exists_and_is_in_the_build_context():
    for rest in arguments("COPY"):
        if rest.startswith("--from="):
            continue  # from another stage, not the build context
        words = [word for word in rest.split() if not word.startswith("--")]
        for source in words[:-1]:
            assert (ROOT / source).exists(), source
            files = [source] if (ROOT / source).is_file() else [
                str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py") if "__pycache__" not in p.parts]
            assert files and all(in_build_context(name) for name in files), source


def test_the_build_copies_the_readme_pyproject_names():
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("readme")
    copied = " ".join(arguments("COPY")).split()
    assert readme is None or readme in copied


# --- the askpass helper -----------------------------------------------------------------------------------------

ASKPASS = ROOT / "deploy" / "image" / "gitapply-askpass"


def askpass(prompt: str, directory: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GITAPPLY_GIT_CREDENTIALS": str(directory)}
    return subprocess.run(["sh", str(ASKPASS), prompt], capture_output=True, text=True, env=env, check=False)


def test_askpass_answers_git_from_the_credential_files(tmp_path):
    (tmp_path / "username").write_text("bot")
    (tmp_path / "password").write_text("t0ken")
    assert askpass("Username for 'https://git.example.com': ", tmp_path).stdout == "bot"
    assert askpass("Password for 'https://bot@git.example.com': ", tmp_path).stdout == "t0ken"


def test_askpass_fails_naming_the_missing_secret(tmp_path):
    result = askpass("Password for 'https://git.example.com': ", tmp_path)
    assert result.returncode != 0 and result.stdout == ""
    assert "gitapply-git" in result.stderr


def test_askpass_is_executable_in_the_repository():
    assert os.access(ASKPASS, os.X_OK)


# --- deploy/ ----------------------------------------------------------------------------------------------------

def manifests() -> list[dict[str, Any]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return found


def the(kind: str) -> dict[str, Any]:
    (obj,) = [doc for doc in manifests() if doc["kind"] == kind]
    return obj


def pod_spec() -> dict[str, Any]:
    return the("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def container() -> dict[str, Any]:
    (found,) = pod_spec()["containers"]
    return found


def test_every_deploy_file_is_yaml_of_kubernetes_objects():
    for doc in manifests():
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), doc


@pytest.mark.parametrize("version", [None, "{}.{}".format(*schema_versions()[0])])
def test_deploy_passes_gitapplys_own_validation(version):
    """deploy/ is a kustomization: gitapply renders it, so the Secret template it leaves out is checked alone."""
    state = read(str(DEPLOY), schema_version=version)
    assert [str(problem) for problem in state.problems] == []
    assert {m.obj["kind"] for m in state.manifests} >= {"Namespace", "ServiceAccount", "ClusterRole",
                                                         "ClusterRoleBinding", "CronJob"}
    assert "Secret" not in {m.obj["kind"] for m in state.manifests}, "the template must never be applied"
    template = read(str(DEPLOY / "git-credentials.yaml"), schema_version=version)
    assert template.problems == () and [m.obj["kind"] for m in template.manifests] == ["Secret"]


def test_the_cluster_role_grants_no_write_verb():
    for rule in the("ClusterRole")["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        assert not set(rule["verbs"]) & WRITE_VERBS


def test_the_cluster_role_names_its_kinds_and_no_subresource():
    for rule in the("ClusterRole")["rules"]:
        if "nonResourceURLs" in rule:
            continue
        assert "*" not in rule["apiGroups"]
        for resource in rule["resources"]:
            assert "*" not in resource and "/" not in resource, f"{resource}: get on a subresource can exec or proxy"


def test_the_cluster_role_reads_what_a_drift_check_needs():
    readable = {(group, resource) for rule in the("ClusterRole")["rules"] if "list" in rule["verbs"]
                for group in rule.get("apiGroups", []) for resource in rule.get("resources", [])}
    assert ("autoscaling", "horizontalpodautoscalers") in readable, "the HPA hand-off needs the HPAs"
    assert ("", "configmaps") in readable, "deleted objects are found through the inventory ConfigMap"
    assert ("apps", "deployments") in readable


def test_the_binding_gives_the_role_to_the_jobs_service_account_only():
    binding, account = the("ClusterRoleBinding"), the("ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": the("ClusterRole")["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]


def test_the_cronjob_uses_the_read_only_service_account():
    assert pod_spec()["serviceAccountName"] == the("ServiceAccount")["metadata"]["name"] == "gitapply-drift"


def test_the_cronjob_runs_as_the_images_non_root_user_with_a_read_only_root():
    pod, box = pod_spec()["securityContext"], container()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert str(pod["runAsUser"]) == arguments("USER")[-1].split(":")[0]
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert box["readOnlyRootFilesystem"] is True
    assert box["allowPrivilegeEscalation"] is False
    assert box["capabilities"] == {"drop": ["ALL"]}


def test_the_cronjob_runs_a_drift_check_that_fails_on_drift():
    args = container()["args"]
    assert args[0] == "drift"
    assert "@" not in args[1], "credentials never go in the URL"
    assert args[args.index("--fail-on") + 1] == "drift"
    assert args[args.index("-o") + 1] == "json"
    assert "command" not in container(), "the image's ENTRYPOINT is gitapply"


def test_every_path_the_job_writes_is_a_mounted_volume():
    mounts = {mount["mountPath"]: mount for mount in container()["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec()["volumes"]}
    args = container()["args"]
    written = [args[args.index(flag) + 1] for flag in ("--prometheus", "--junit")] + ["/tmp/gitapply-cache"]
    for path in written:
        mount = next((m for p, m in mounts.items() if path.startswith(p.rstrip("/") + "/")), None)
        assert mount is not None and not mount.get("readOnly"), path
        assert mount["name"] in volumes
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]


def test_git_credentials_are_the_secrets_files_never_environment_values():
    mounts = {mount["name"]: mount for mount in container()["volumeMounts"]}
    (volume,) = [v for v in pod_spec()["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == the("Secret")["metadata"]["name"] == "gitapply-git"
    assert mounts[volume["name"]]["mountPath"] == image_env()["GITAPPLY_GIT_CREDENTIALS"]
    assert mounts[volume["name"]]["readOnly"] is True
    assert volume["secret"]["defaultMode"] & 0o007 == 0, "not readable by others"
    assert "valueFrom" not in json.dumps(container().get("env", [])), "a secret in env leaks to every child"


def test_the_cronjob_never_overlaps_and_keeps_bounded_history():
    spec = the("CronJob")["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["successfulJobsHistoryLimit"] <= 10 and 0 < spec["failedJobsHistoryLimit"] <= 10
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0, "a retry would only report the same drift"
    assert pod_spec()["restartPolicy"] == "Never"


def test_the_cronjob_requests_and_limits_its_resources():
    resources = container()["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


def test_the_secret_template_holds_placeholders_only():
    secret = the("Secret")
    values = {**secret.get("data", {}), **secret.get("stringData", {})}
    assert set(values) == {"username", "password"}
    assert all(value.startswith("REPLACE-ME") for value in values.values())


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {path.name for path in DEPLOY.glob("*.yaml")} - {"kustomization.yaml", "git-credentials.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_every_namespaced_object_is_in_the_gitapply_namespace():
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "Kustomization"}
    for doc in manifests():
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"].get("namespace") == "gitapply", doc["kind"]
