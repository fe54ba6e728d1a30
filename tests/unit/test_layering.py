"""The architecture's import rules, enforced: I/O libraries each have one home, the core stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gitapply"

# library -> the only modules allowed to import it (paths relative to gitapply/)
HOMES = {
    "kubernetes": {"cluster/official.py"},
    "urllib3": {"cluster/kube.py", "cluster/transport.py", "cluster/official.py"},
    "git": {"source/git.py"},
    "argparse": {"cliargs.py"},
    "rich": {"terminal.py", "cli.py", "render/"},
    "prometheus_client": {"controller/metrics.py", "controller/server.py"},
}
PURE = ("merge/", "engine/", "controller/lease.py", "controller/events.py", "controller/apps.py",
        "controller/probes.py")
IO_MODULES = {"socket", "http", "urllib", "requests", "subprocess", "kubernetes", "git", "argparse", "rich", "urllib3"}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def modules() -> list[tuple[str, Path]]:
    return [(str(path.relative_to(PACKAGE)), path) for path in sorted(PACKAGE.rglob("*.py"))]


def test_each_io_library_is_imported_only_in_its_home():
    for relative, path in modules():
        for library in imports_of(path) & HOMES.keys():
            home = HOMES[library]
            allowed = relative in home or any(relative.startswith(h.rstrip("*")) for h in home if h.endswith("/"))
            assert allowed, f"gitapply/{relative} imports {library}; only {sorted(home)} may"


def test_merge_and_engine_do_no_io():
    for relative, path in modules():
        if relative.startswith(PURE):
            found = imports_of(path) & IO_MODULES
            assert not found, f"gitapply/{relative} is pure but imports {sorted(found)}"


def test_merge_imports_nothing_else_from_gitapply():
    for relative, path in modules():
        if not relative.startswith("merge/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.level == 0 and (node.module or "").startswith("gitapply")), relative
                assert node.level <= 1, f"gitapply/{relative} reaches outside gitapply.merge"
