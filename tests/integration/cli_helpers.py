"""Running the gitapply command line against the test control plane, and reading what it left."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any


def gitapply(*args: str, kubeconfig: str | None = None, local: str | None = None,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m gitapply ARGS --kubeconfig …`` (or ``--local DB`` for the embedded cluster), as a user runs
    it. Every successful apply is followed by a ``diff`` of the same source, which must exit 0: a difference
    gitapply reports right after it applied is a bug, in whichever scenario it shows."""
    result = _run(args, kubeconfig, local, input)
    if args and args[0] == "apply" and result.returncode == 0 and "--dry-run" not in args:
        check = _run(diff_args(args), kubeconfig, local, input)
        assert check.returncode == 0, (f"diff right after a successful apply reports changes "
                                       f"(exit {check.returncode}):\n{check.stdout}\n{check.stderr}")
    return result


_APPLY_ONLY_FLAGS = {"--force-prune", "--force-replace", "--heal-unmanaged", "--no-preflight", "--wait",
                     "--rollback-on-failure", "--hold", "--release", "--until-release"}
_APPLY_ONLY_OPTIONS = {"--timeout", "--reason"}


def diff_args(apply_args: tuple[str, ...]) -> list[str]:
    """The ``diff`` command line that checks the same source an ``apply`` command line applied."""
    result, skip = ["diff"], False
    for arg in apply_args[1:]:
        if skip:
            skip = False
        elif arg in _APPLY_ONLY_OPTIONS:
            skip = True
        elif arg not in _APPLY_ONLY_FLAGS:
            result.append(arg)
    return result


def _run(args: tuple[str, ...] | list[str], kubeconfig: str | None, local: str | None,
         input: str | None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gitapply"]
    argv += ["--local", local, *args] if local else [*args, "--kubeconfig", kubeconfig or ""]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, input=input)


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write manifest files into ``folder`` (created if needed); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def live(control_plane: Any, namespace: str, what: str) -> dict[str, Any] | None:
    """The live object (``deployment/web``) as JSON, None when it does not exist."""
    result = control_plane.kubectl("get", what, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def deployment_yaml(*, replicas: int = 2, image: str = "nginx:1.19", metadata_extra: str = "",
                    container_extra: str = "") -> str:
    """A Deployment ``web`` (selector and pod label ``app: web``) as a manifest file's text; the extras are
    indented YAML lines added to its metadata and to its container."""
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n" + metadata_extra
            + f"spec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n"
            + "    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n"
            + f"        image: {image}\n" + container_extra)
