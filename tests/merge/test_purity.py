"""gitapply.merge is pure: it imports nothing else from gitapply and nothing that does I/O over the network,
talks to a cluster or git, or renders. Checked on the source (the AST of every module), not at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gitapply.merge

PACKAGE = "gitapply.merge"
MODULES = sorted(Path(gitapply.merge.__file__).parent.glob("*.py"))
FORBIDDEN = {
    "kubernetes", "git", "typer", "argparse", "rich", "requests", "urllib", "urllib3", "httpx", "aiohttp", "socket", "http",
    "subprocess",
}


def imported_modules(source: str, package: str) -> list[str]:
    """The absolute names of every module that ``source``, a module of ``package``, imports."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names += [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
    return names


def violations(source: str, package: str = PACKAGE) -> list[str]:
    found = []
    for name in imported_modules(source, package):
        top = name.split(".")[0]
        if top in FORBIDDEN:
            found.append(f"imports {name}")
        elif top == "gitapply" and name != package and not name.startswith(package + "."):
            found.append(f"imports {name}, outside {package}")
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_merge_module_imports_nothing_impure(module: Path) -> None:
    assert violations(module.read_text()) == []


def test_every_merge_module_is_checked() -> None:
    assert {path.name for path in MODULES} >= {"__init__.py", "apply.py", "strategic.py", "schema.py", "jsonmerge.py"}


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import kubernetes.client", ["imports kubernetes.client"]),
        ("from rich.console import Console", ["imports rich.console"]),
        ("import urllib.request as fetch", ["imports urllib.request"]),
        ("from http import client", ["imports http"]),
        ("from gitapply.cluster import kube", ["imports gitapply.cluster, outside gitapply.merge"]),
        ("from ..errors import GitapplyError", ["imports gitapply.errors, outside gitapply.merge"]),
        ("from .. import model", ["imports gitapply.model, outside gitapply.merge"]),
        ("from .schema import Node\nimport json\nfrom gitapply.merge.errors import MergeError", []),
    ],
)
def test_the_check_catches_what_it_forbids(source: str, found: list[str]) -> None:
    assert violations(source) == found
