"""Manifests from YAML and JSON text, files and directories, each with the file and line it came from.

Rules:

* A directory is read recursively, in sorted path order; only ``.yaml``, ``.yml`` and ``.json`` files are read
  (as ``kubectl -R`` does). Hidden files and directories (a leading ``.``: ``.git``, ``.github``) are skipped, and
  symbolic links to directories are not followed. A file named explicitly is read whatever its suffix.
* ``.json`` files are one JSON value, decoded with ``json`` (as kubectl decodes JSON); everything else is a stream
  of YAML documents. Empty documents are skipped; a ``List`` (``kind: List`` or any ``*List`` kind with an
  ``items`` array) is expanded into its items, recursively. Anything else that is not a mapping is a problem.
* Origins: ``path`` is the file as the user can open it (PATH joined with the path inside it, as kubectl prints
  it), ``document`` the index of the document in the file (empty ones count), ``line`` the 1-based line where the
  object starts (an item of a List: where the item starts).
* YAML is read the way kubectl reads it (Go's yaml.v2 through sigs.k8s.io/yaml), not as PyYAML does by default:
  - unquoted ``y``, ``Y``, ``n``, ``N``, ``yes``, ``no``, ``on``, ``off``, ``true``, ``false`` (each in lower,
    Title and UPPER case) are booleans — PyYAML alone reads ``y``/``n`` as strings, so ``name: n`` would be the
    name "n" here and ``false`` to kubectl;
  - timestamps stay strings, ``1:30`` is a string (no base-60 numbers), ``=`` is a string, ``0o17`` is 15 and
    ``1e3`` is a float;
  - map keys become strings the way sigs.k8s.io/yaml converts them (``true``, ``1``, ``1.5``);
  - a key repeated in one mapping is a problem, reported at its second line. yaml.v2 keeps the last value
    silently in non-strict mode and rejects it in strict mode (as the API server's strict field validation
    does); a silently dropped value means an edit that does nothing, so gitapply always rejects it. Keys
    brought in by a ``<<`` merge may be overridden without a problem, as YAML intends.
* Syntax errors are problems at ``path:line``; the documents before the error are still returned.
* Hostile input (aliases that expand without bound, nesting that would crash libyaml, oversized files) is a
  problem at its line, found before it is expanded: see ``limits``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any, cast

import yaml

from gitapply.errors import SourceError, SourceUnreachableError
from gitapply.model import Manifest, Origin

from .limits import LimitExceeded, SourceBudget, check_depth, expansion_budget
from .validate import Problem

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DROPPED_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "timestamp", "value")}
_OCTAL = re.compile(r"[-+]?0[0-7]+")
_STR, _MAP, _SEQ, _NULL, _BOOL, _INT, _FLOAT, _MERGE = (
    f"tag:yaml.org,2002:{name}" for name in ("str", "map", "seq", "null", "bool", "int", "float", "merge"))


class GoYamlLoader(_BaseLoader):
    """PyYAML's safe loader (libyaml when available) resolving plain scalars and keys as Go's yaml.v2 does."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_TAGS]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }
    bool_values = {**yaml.constructor.SafeConstructor.bool_values, "y": True, "n": False}

    def __init__(self, stream: str | bytes, path: str = "") -> None:
        super().__init__(stream)
        self.path = path
        self.problems: list[Problem] = []
        self.document = 0
        self.budget = expansion_budget(len(stream))

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        """``Resolver.resolve`` without path resolvers (unused here): it runs once per scalar."""
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return str(tag)
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def build(self, node: yaml.Node) -> Any:
        """A node's value, built directly for the standard tags: about twice as fast as ``construct_document``.

        Each value built is counted against the file's budget, so an alias is paid for every time it is
        expanded: that is what stops a billion laughs."""
        self.budget -= 1
        if self.budget < 0:
            raise LimitExceeded("aliases here expand to far more values than the file holds (a \"billion laughs\" "
                                "document?); refused, as kubectl refuses it", node.start_mark.line + 1)
        tag = node.tag
        if tag == _STR and type(node) is yaml.ScalarNode:
            return node.value
        if tag == _MAP and type(node) is yaml.MappingNode:
            return self._mapping(node)
        if tag == _SEQ and type(node) is yaml.SequenceNode:
            return [self.build(item) for item in node.value]
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return self.construct_yaml_bool(node)
        if tag == _INT:
            return self.construct_go_int(cast(yaml.ScalarNode, node))
        if tag == _FLOAT:
            return self.construct_yaml_float(node)
        raise yaml.constructor.ConstructorError(None, None, f"the tag {tag} is not supported in manifests; remove it",
                                                node.start_mark)

    def _mapping(self, node: yaml.MappingNode) -> dict[str, Any]:
        merged = getattr(node, "merged_pairs", None)
        if merged is None:  # an aliased node is built again, already flattened
            own = sum(1 for key, _ in node.value if key.tag != _MERGE)
            self.flatten_mapping(node)
            merged = len(node.value) - own
            setattr(node, "merged_pairs", merged)
        mapping: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            key = _go_key(self.build(key_node), key_node, node)
            if index >= merged:
                line = key_node.start_mark.line + 1
                if key in first_line:
                    self.problems.append(Problem(
                        Origin(self.path, self.document, line),
                        f"duplicate key {json.dumps(key)} (first at line {first_line[key]}); remove one"))
                first_line.setdefault(key, line)
            mapping[key] = self.build(value_node)
        return mapping

    def construct_go_int(self, node: yaml.ScalarNode) -> int:
        """Go's ``strconv.ParseInt(s, 0, 64)`` after removing underscores: 0b, 0o, 0x and a leading-0 octal."""
        text = node.value.replace("_", "")
        if _OCTAL.fullmatch(text):
            return int(text, 8)
        return int(text, 0)


GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"))
GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^[-+]?(?:0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*)$"),
    list("-+0123456789"))
GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _go_key(key: Any, key_node: yaml.Node, node: yaml.Node) -> str:
    """A mapping key as sigs.k8s.io/yaml turns it into a JSON object key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        if key != key:
            return ".nan"
        if key in (float("inf"), float("-inf")):
            return ".inf" if key > 0 else "-.inf"
        return str(int(key)) if key.is_integer() and abs(key) < 1e21 else repr(key)
    described = _KEY_TYPES.get(type(key), type(key).__name__)
    raise yaml.constructor.ConstructorError("while reading a mapping", node.start_mark,
                                            f"{described} cannot be a key; quote it", key_node.start_mark)


_KEY_TYPES = {type(None): "null", list: "a list", dict: "a mapping", tuple: "a list"}


def parse(data: str | bytes, path: str, budget: SourceBudget | None = None) -> tuple[list[Manifest], list[Problem]]:
    """The objects in one file's content, and the problems found reading it. ``path`` names it in origins.

    ``budget``: count the content against a source's size limits (None: the caller has counted it)."""
    if budget is not None and (trouble := budget.take(len(data))):
        return [], [Problem(Origin(path), trouble)]
    if path.lower().endswith(".json"):
        return _parse_json(data, path)
    return _parse_yaml(data, path)


def _parse_yaml(data: str | bytes, path: str) -> tuple[list[Manifest], list[Problem]]:
    try:
        check_depth(data.encode() if isinstance(data, str) else data, _BaseLoader)
    except LimitExceeded as exc:
        return [], [Problem(Origin(path, 0, exc.line), str(exc))]
    loader = GoYamlLoader(data, path)
    manifests: list[Manifest] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            value = loader.build(node)
            origin = Origin(path, loader.document, node.start_mark.line + 1)
            manifests.extend(_objects(value, origin, node, loader.problems))
            loader.document += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        where = f"{exc.problem}" + (f" {exc.context}" if exc.context and exc.problem else exc.context or "")
        column = f" (column {mark.column + 1})" if mark else ""
        loader.problems.append(Problem(Origin(path, loader.document, line), f"YAML syntax error: {where}{column}"))
    except yaml.YAMLError as exc:
        loader.problems.append(Problem(Origin(path, loader.document), f"cannot be read as YAML: {exc}"))
    except LimitExceeded as exc:
        loader.problems.append(Problem(Origin(path, loader.document, exc.line), str(exc)))
        manifests = []  # a document refused part-way must not leave the ones before it to be applied alone
    except RecursionError:
        loader.problems.append(Problem(Origin(path, loader.document), "nested too deeply (a recursive alias?)"))
    finally:
        loader.dispose()
    return manifests, list(dict.fromkeys(loader.problems))  # an aliased mapping reports its duplicates once


def _parse_json(data: str | bytes, path: str) -> tuple[list[Manifest], list[Problem]]:
    problems: list[Problem] = []
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    stripped = text.lstrip()
    origin = Origin(path, 0, text[: len(text) - len(stripped)].count("\n") + 1)
    if not stripped:
        return [], problems

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                problems.append(Problem(origin, f"duplicate key {json.dumps(key)}; remove one"))
            seen[key] = value
        return seen

    try:
        value = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return [], [Problem(Origin(path, 0, exc.lineno), f"JSON syntax error: {exc.msg} (column {exc.colno})")]
    except RecursionError:
        return [], [Problem(origin, "nests arrays or objects too deeply; no manifest needs that many levels")]
    return _objects(value, origin, None, problems), problems


def _objects(value: Any, origin: Origin, node: yaml.Node | None, problems: list[Problem]) -> list[Manifest]:
    """One document's objects: none for an empty document, the items of a List, or the object itself."""
    if value is None:
        return []
    if not isinstance(value, dict):
        found = "a list" if isinstance(value, list) else f"the scalar {value!r}"
        problems.append(Problem(origin, f"expected a Kubernetes object (a mapping), found {found}"))
        return []
    kind = value.get("kind")
    items = value.get("items")
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(items, list)):
        return [Manifest(value, origin)]
    item_nodes = _items_nodes(node, len(items))
    manifests = []
    for index, item in enumerate(items):
        item_node = item_nodes[index] if item_nodes else None
        line = item_node.start_mark.line + 1 if item_node is not None else origin.line
        item_origin = Origin(origin.path, origin.document, line)
        if item is None:
            problems.append(Problem(item_origin, f"items[{index}] of the {kind} is empty"))
            continue
        manifests.extend(_objects(item, item_origin, item_node, problems))
    return manifests


def _items_nodes(node: yaml.Node | None, count: int) -> list[yaml.Node] | None:
    """The YAML nodes of a List's items, for their lines; None when they cannot be matched up."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in reversed(node.value):
        if key_node.value == "items" and isinstance(value_node, yaml.SequenceNode):
            return value_node.value if len(value_node.value) == count else None
    return None


KUSTOMIZATION_FILES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
CHART_FILE = "Chart.yaml"


def is_manifest_file(name: str) -> bool:
    """Whether a directory walk reads this file: a manifest suffix, not hidden, and not a kustomization file
    (kustomize's own configuration, not an object to apply)."""
    base = name.rsplit("/", 1)[-1]
    return name.endswith(MANIFEST_SUFFIXES) and not base.startswith(".") and base not in KUSTOMIZATION_FILES


def helm_hint(directory: str) -> str:
    """What to do with a Helm chart, which gitapply does not render itself."""
    return (f"a Helm chart, which gitapply does not render; render it and pipe the objects in: `helm template "
            f"NAME {directory or '.'} -f values.yaml | gitapply apply - --app NAME`")


def rendered_elsewhere(path: str) -> Problem | None:
    """A problem for a kustomization or a chart met inside a directory read file by file: its files are not
    objects, and reading them as such would apply half of it. None for any other file."""
    directory, _, base = path.rpartition("/")
    if base in KUSTOMIZATION_FILES:
        return Problem(Origin(path), "a kustomization inside a directory read file by file; give its directory as "
                                     "the path (gitapply renders it then), or move it out")
    if base == CHART_FILE:
        return Problem(Origin(path), helm_hint(directory))
    return None


def read_path(path: str, budget: SourceBudget | None = None) -> tuple[list[Manifest], list[Problem]]:
    """Every object in a file, or in a directory's manifest files; raises ``SourceError`` if PATH is missing.
    Each file's size is checked against ``budget`` before it is read."""
    budget = budget or SourceBudget()
    problems: list[Problem] = []
    if os.path.isdir(path):
        files = sorted(_walk(path, problems))
    elif os.path.isfile(path):
        files = [path]
    else:
        raise SourceUnreachableError(path, "no such file or directory; give a manifest file, a directory or a "
                                           "git repository")
    manifests: list[Manifest] = []
    for name in files:
        display = os.path.normpath(name)
        try:
            if trouble := budget.take(os.path.getsize(name)):
                problems.append(Problem(Origin(display), trouble))
                continue
            with open(name, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            problems.append(Problem(Origin(display), f"cannot be read: {exc.strerror}"))
            continue
        found, parsed = parse(data, display)
        manifests.extend(found)
        problems.extend(parsed)
    return manifests, problems


def _walk(root: str, problems: list[Problem]) -> Iterator[str]:
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        found = [rendered_elsewhere(os.path.normpath(os.path.join(directory, name))) for name in sorted(filenames)]
        marked = [problem for problem in found if problem is not None]
        if marked:  # its files and subdirectories are patches, bases and templates, not objects
            problems.extend(marked)
            dirnames[:] = []
            continue
        for name in sorted(filenames):
            if is_manifest_file(name):
                yield os.path.join(directory, name)
