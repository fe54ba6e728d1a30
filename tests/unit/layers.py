"""A layering checker: imports between a package's layers, package APIs, third-party homes and pure modules,
judged on the source (the AST of every module under a folder), never by importing it.

``check(root, rules)`` reads the ``.py`` files under ``root`` and returns every violation of ``rules``; it has
no other input, so the same function judges gitapply (``test_layering.py``) and the small synthetic packages
that prove it catches what it forbids. Imports are resolved to the modules they load: ``from ..merge import
apply`` loads ``merge/apply.py`` when that module exists, ``from ..merge import Node`` loads ``merge/__init__.py``.
Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Modules that reach files, processes or the network, or draw: none of them in a pure module.
IO_MODULES = frozenset({
    "os", "io", "pathlib", "shutil", "tempfile", "glob", "fileinput", "importlib", "sqlite3", "mmap",
    "socket", "http", "urllib", "urllib3", "requests", "subprocess", "kubernetes", "git", "argparse", "rich",
})
# Calls that read or write files, whatever object they are made on (``Path.read_text``, ``os.open``…).
FILE_CALLS = frozenset({
    "open", "read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "glob", "rglob", "scandir",
    "listdir", "walk", "stat", "exists", "is_file", "is_dir", "mkdir", "unlink", "rmdir", "touch",
})


@dataclass(frozen=True)
class Rules:
    """A package's layering.

    ``layers``: each layer's members, a folder (``"engine/"``) or a module (``"model.py"``); a module belongs to
    its longest matching member, and every module must belong to one. ``may_import``: the other layers each
    layer may import (its own always). ``package_api``: layers the others may import only through their
    ``__init__.py``. ``pure``: members (layers' folders or single modules) that import no ``IO_MODULES`` and
    make no ``FILE_CALLS``. ``homes``: a third-party library → the only members that may import it.
    """

    package: str
    layers: Mapping[str, tuple[str, ...]]
    may_import: Mapping[str, frozenset[str]]
    package_api: frozenset[str] = frozenset()
    pure: tuple[str, ...] = ()
    homes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule: in which module (relative to the package folder), at which line, about what."""

    module: str
    line: int
    message: str
    target: str = ""  # the module or library imported, when the violation is an import

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.message}"


def check(root: Path, rules: Rules) -> list[Violation]:
    """Every violation of ``rules`` by the modules under ``root``, the folder of package ``rules.package``."""
    found: list[Violation] = []
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(), str(path))
        layer = layer_of(module, rules)
        if layer is None:
            found.append(Violation(module, 1, "belongs to no layer: add it to one in the rules"))
            continue
        found += _layer_violations(module, layer, tree, root, rules)
        found += _home_violations(module, tree, rules)
        if _matches(module, rules.pure):
            found += _impurities(module, tree)
    return sorted(set(found))  # one violation per import, however many names it takes


def layer_of(module: str, rules: Rules) -> str | None:
    """The layer of ``module`` (a path relative to the package folder) by its longest matching member."""
    best: tuple[int, str] | None = None
    for layer, members in rules.layers.items():
        for member in members:
            if _member_matches(module, member) and (best is None or len(member) > best[0]):
                best = (len(member), layer)
    return best[1] if best else None


def _member_matches(module: str, member: str) -> bool:
    if member.endswith("/"):
        return module.startswith(member) or module == member[:-1] + ".py"
    return module == member


def _matches(module: str, members: tuple[str, ...]) -> bool:
    return any(_member_matches(module, member) for member in members)


def _layer_violations(module: str, layer: str, tree: ast.Module, root: Path, rules: Rules) -> Iterator[Violation]:
    for line, target in own_imports(module, tree, root, rules.package):
        path = module_path(target, root, rules.package)
        other = layer_of(path, rules)
        if other == layer:
            continue
        if other is None:
            yield Violation(module, line, f"imports {target}, which belongs to no layer", target)
        elif other not in rules.may_import.get(layer, frozenset()):
            allowed = ", ".join(sorted(rules.may_import.get(layer, ()))) or "nothing"
            yield Violation(module, line, f"{layer} must not import {other} ({target}); it may import: {allowed}",
                            target)
        elif other in rules.package_api and not path.endswith("__init__.py"):
            yield Violation(module, line, f"imports {target}, inside {other}: import its package API instead",
                            target)


def own_imports(module: str, tree: ast.Module, root: Path, package: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module of ``package`` that ``module`` imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _inside(alias.name, package):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, package)
            if not _inside(base, package):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield node.lineno, submodule if _exists(submodule, root, package) else base


def _absolute(node: ast.ImportFrom, module: str, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = [package, *module.split("/")[:-1]]  # the importing module's package
    parts = parts[:len(parts) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def module_path(dotted: str, root: Path, package: str) -> str:
    """The file of a dotted module name, relative to the package folder (``gitapply.merge`` →
    ``merge/__init__.py``); a module that does not exist yet gets the path it would have as a module."""
    parts = dotted.split(".")[1:]
    if (root.joinpath(*parts) / "__init__.py").is_file():
        return "/".join([*parts, "__init__.py"])
    return "/".join(parts) + ".py" if parts else "__init__.py"


def _exists(dotted: str, root: Path, package: str) -> bool:
    parts = dotted.split(".")[1:]
    return (root.joinpath(*parts) / "__init__.py").is_file() or root.joinpath(*parts).with_suffix(".py").is_file()


def _home_violations(module: str, tree: ast.Module, rules: Rules) -> Iterator[Violation]:
    for line, library in third_party_imports(tree):
        home = rules.homes.get(library)
        if home is not None and not _matches(module, home):
            yield Violation(module, line, f"imports {library}; only {', '.join(home)} may", library)


def third_party_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, top-level name) of every absolute import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.lineno, node.module.split(".")[0]


def _impurities(module: str, tree: ast.Module) -> Iterator[Violation]:
    for line, library in third_party_imports(tree):
        if library in IO_MODULES:
            yield Violation(module, line, f"is pure but imports {library}", library)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name == "open" or method in FILE_CALLS:
            yield Violation(module, node.lineno, f"is pure but calls {name or '.' + method}() (file I/O)")
