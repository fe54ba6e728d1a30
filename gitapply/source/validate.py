"""Checks on desired objects before anything is written, collected as ``Problem`` values rather than raised.

Rules:

* Every object needs ``apiVersion``, ``kind`` and ``metadata.name``, all non-empty strings (``generateName`` cannot
  be applied: ``kubectl apply`` refuses it too).
* One object, one definition: two manifests with the same group, kind, namespace (as written) and name are a
  problem reported at the second, naming the first. The API version is not part of the identity — ``apps/v1``
  and ``apps/v1beta1`` of one Deployment are the same object in the cluster.
* Built-in kinds are checked against the strict OpenAPI definitions bundled with kubernetes-validate
  (``kubernetes-json-schema/v1.NN.0-local-strict/_definitions.json``, read by ``gitapply.bundled``, the same
  definitions the bundled patch metadata comes from): types (``null`` allowed where the schema says so),
  int-or-string and quantity ``oneOf``, ``enum``, ``required``, arrays, ``$ref`` and unknown fields
  (``additionalProperties: false``). Formats are not checked.
  A kind the definitions do not name (a custom resource, a removed API version) is not schema-checked.
* Namespace defaulting needs the cluster's discovery, so it is a separate pure step,
  ``apply_default_namespace``, which the planning layer calls with the server's answer.

Every problem names the file and line (the object's document start) and, when known, the object; schema
problems then give the field path, e.g. ``deploy/web.yaml:3: apps/Deployment/shop/web:
spec.template.spec.containers[0].imagee: unknown field; did you mean "image"?``.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitapply import bundled
from gitapply.cache import cache_root, store
from gitapply.errors import SourceError
from gitapply.model import Manifest, Origin

_BOOLEAN_HINT = "quote it: YAML 1.1 (and so kubectl) reads unquoted y, n, yes, no, on, off, true, false as booleans"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the desired state: where (file and line), about what object, and what."""

    where: Origin
    message: str
    subject: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.subject}: {self.message}" if self.subject else f"{self.where}: {self.message}"

    @property
    def sort_key(self) -> tuple[str, int, int]:
        return (self.where.path, self.where.line, self.where.document)


def problems_error(problems: Sequence[Problem], source: str) -> SourceError:
    """One ``SourceError`` for all problems: a single problem's subject is its ``path:line``."""
    if len(problems) == 1:
        problem = problems[0]
        message = f"{problem.subject}: {problem.message}" if problem.subject else problem.message
        return SourceError(str(problem.where), message)
    listing = "\n".join(f"  {problem}" for problem in sorted(problems, key=lambda p: p.sort_key))
    return SourceError(source, f"{len(problems)} problems in the manifests; fix them and run again:\n{listing}")


def validate(manifests: Iterable[Manifest], schema_version: str | None = None) -> list[Problem]:
    """Every problem with these manifests: identity fields, duplicates, and the schema of built-in kinds.

    ``schema_version`` is a Kubernetes version (``"1.30"``, ``"v1.30.2"``); the nearest bundled definitions are
    used, the newest when None.
    """
    manifests = list(manifests)
    problems: list[Problem] = []
    identified = []
    for manifest in manifests:
        found = identity_problems(manifest)
        problems.extend(found)
        if not found:
            identified.append(manifest)
    problems.extend(duplicate_problems(identified))
    if identified:
        schemas = kind_schemas(schema_version, {(str(m.obj["apiVersion"]), str(m.obj["kind"])) for m in identified})
        for manifest in identified:
            problems.extend(schemas.problems(manifest))
    return sorted(problems, key=lambda p: p.sort_key)


def identity_problems(manifest: Manifest) -> list[Problem]:
    """``apiVersion``, ``kind`` and ``metadata.name`` present and strings; ``metadata.namespace`` a string."""
    obj, origin = manifest.obj, manifest.origin
    problems: list[Problem] = []
    missing: list[str] = []
    for field in ("apiVersion", "kind"):
        value = obj.get(field)
        if value in ("", None):
            missing.append(field)
        elif not isinstance(value, str):
            problems.append(Problem(origin, _not_a_string(field, value)))
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        problems.append(Problem(origin, f"metadata must be a mapping, got {_describe(metadata)}"))
        metadata = {}
    for field in ("name", "namespace"):
        value = metadata.get(field)
        if value not in ("", None) and not isinstance(value, str):
            problems.append(Problem(origin, _not_a_string(f"metadata.{field}", value)))
    if metadata.get("name") in ("", None):
        if metadata.get("generateName"):
            problems.append(Problem(origin, "metadata.generateName cannot be applied; set metadata.name"))
        else:
            missing.append("metadata.name")
    if missing:
        problems.insert(0, Problem(origin, f"missing {', '.join(missing)}; every manifest needs apiVersion, kind "
                                           "and metadata.name"))
    return problems


def _not_a_string(field: str, value: Any) -> str:
    hint = _BOOLEAN_HINT if isinstance(value, bool) else "quote it"
    return f"{field} must be a string, got {_describe(value)}; {hint}"


def duplicate_problems(manifests: Iterable[Manifest]) -> list[Problem]:
    """Objects defined more than once, reported at each later definition and naming the first."""
    return [_duplicate(first, later) for first, later in _duplicates(manifests)]


def _duplicates(manifests: Iterable[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    first: dict[tuple[str, str, str, str], Manifest] = {}
    for manifest in manifests:
        key = manifest.key
        identity = key.identity
        if identity in first:
            yield first[identity], manifest
        else:
            first[identity] = manifest


def _duplicate(first: Manifest, later: Manifest) -> Problem:
    return Problem(later.origin, f"defined twice, here and at {first.origin}; keep one", str(later.key))


def apply_default_namespace(
    manifests: Iterable[Manifest],
    namespace: str,
    is_namespaced: Callable[[str, str], bool | None],
) -> tuple[tuple[Manifest, ...], tuple[Problem, ...]]:
    """Fill ``metadata.namespace`` of namespaced objects that have none; never mutates, returns new Manifests.

    ``is_namespaced(api_version, kind)`` answers from discovery: True (namespaced), False (cluster-scoped) or
    None (unknown to the server, e.g. a custom resource whose CRD is in this same desired state) — an unknown
    kind is left as written. A namespace on a cluster-scoped object is a problem, and so are two objects that
    become one once defaulted (one without a namespace, one with ``namespace: default``); duplicates as written
    are ``validate``'s to report. Objects without a valid identity (see ``identity_problems``) pass unchanged.
    """
    result: list[Manifest] = []
    problems: list[Problem] = []
    defaulted: set[int] = set()
    for manifest in manifests:
        if identity_problems(manifest):
            result.append(manifest)
            continue
        obj = manifest.obj
        metadata = obj.get("metadata") or {}
        written = metadata.get("namespace")
        scoped = is_namespaced(obj["apiVersion"], obj["kind"])
        if scoped is True and not written:
            manifest = Manifest({**obj, "metadata": {**metadata, "namespace": namespace}}, manifest.origin)
            defaulted.add(id(manifest))
        elif scoped is False and written:
            problems.append(Problem(manifest.origin, f"{obj['kind']} is cluster-scoped but metadata.namespace "
                                                     f"is {written!r}; remove metadata.namespace", str(manifest.key)))
        result.append(manifest)
    identified = [manifest for manifest in result if not identity_problems(manifest)]
    problems.extend(_duplicate(first, later) for first, later in _duplicates(identified)
                    if id(first) in defaulted or id(later) in defaulted)
    return tuple(result), tuple(problems)


# --- schema validation over the bundled strict definitions ---------------------------------------------------

_REF_PREFIX = "#/$defs/"
_TYPE_NAMES: dict[type, str] = {
    str: "string", bool: "boolean", int: "integer", float: "number", dict: "object", list: "array", type(None): "null",
}


@dataclass(frozen=True, slots=True)
class _Rule:
    """One schema compiled once, so that checking a value costs no dictionary look-ups in the schema."""

    types: frozenset[str] | None  # the JSON types allowed (a oneOf's folded in); None allows any
    enum: tuple[Any, ...] | None
    properties: Mapping[str, Any]
    additional: Mapping[str, Any] | bool
    required: tuple[str, ...]
    items: Mapping[str, Any] | None


class KindSchemas:
    """The strict definitions of one Kubernetes version, indexed by (apiVersion, kind)."""

    def __init__(self, version: tuple[int, int], definitions: Mapping[str, Any],
                 names: Mapping[tuple[str, str], str] | None = None) -> None:
        """``names``: which definition describes each kind, when ``definitions`` is only part of the bundle."""
        self.version = version
        self._defs = definitions
        self._rules: dict[int, _Rule] = {}  # by id() of the raw schema, which lives as long as the definitions
        self._kinds = {kind: definitions[name] for kind, name in (names or _kind_names(definitions)).items()
                       if name in definitions}

    def knows(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self._kinds

    def field_errors(self, obj: Mapping[str, Any]) -> list[str]:
        """``field.path: what is wrong`` for each schema violation; empty for a kind without a definition."""
        schema = self._kinds.get((obj.get("apiVersion"), obj.get("kind")))  # type: ignore[arg-type]
        errors: list[str] = []
        if schema is not None:
            self._check(obj, schema, "", errors)
        return errors

    def problems(self, manifest: Manifest) -> list[Problem]:
        errors = self.field_errors(manifest.obj)
        subject = str(manifest.key) if errors else ""
        return [Problem(manifest.origin, error, subject) for error in errors]

    def _rule(self, raw: Mapping[str, Any]) -> _Rule:
        rule = self._rules.get(id(raw))
        if rule is None:
            rule = self._rules[id(raw)] = self._compile(raw)
        return rule

    def _compile(self, raw: Mapping[str, Any]) -> _Rule:
        schema = self._deref(raw)
        if "oneOf" in schema:
            # Folded as anyOf: int-or-string and quantity both allow null, which a strict oneOf would refuse.
            choices = [self._deref(choice).get("type") for choice in schema["oneOf"]]
            types: frozenset[str] | None = frozenset(t for choice in choices if choice for t in _as_list(choice))
        else:
            types = frozenset(_as_list(schema["type"])) if "type" in schema else None
        enum = tuple(schema["enum"]) if "enum" in schema else None
        return _Rule(types, enum, schema.get("properties") or {}, schema.get("additionalProperties", True),
                     tuple(schema.get("required", ())), schema.get("items"))

    def _deref(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        return self._defs[ref[len(_REF_PREFIX):]] if ref else schema

    def _check(self, value: Any, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
        rule = self._rule(schema)
        if rule.types is not None and not _type_ok(value, rule.types):
            errors.append(_type_error(_shown(path), rule.types, value))
        elif rule.enum is not None and value is not None and value not in rule.enum:
            listed = ", ".join(map(json.dumps, rule.enum))
            errors.append(f"{_shown(path)}: must be one of {listed}, got {_describe(value)}")
        elif type(value) is dict:
            self._check_object(value, rule, path, errors)
        elif type(value) is list and rule.items is not None:
            for index, item in enumerate(value):
                self._check(item, rule.items, f"{path}[{index}]", errors)

    def _check_object(self, value: dict[str, Any], rule: _Rule, path: str, errors: list[str]) -> None:
        properties, additional = rule.properties, rule.additional
        for key, item in value.items():
            sub = properties.get(key)
            if sub is None:
                if additional is False:
                    errors.append(f"{_shown(path + _segment(key))}: unknown field{_suggestion(key, properties)}")
                    continue
                if additional is True:
                    continue
                sub = additional
            self._check(item, sub, path + _segment(key), errors)
        for name in rule.required:
            if name not in value:
                errors.append(f"{_shown(path + _segment(name))}: required field is missing")


@functools.lru_cache(maxsize=4)
def _load_kind_schemas(version: tuple[int, int]) -> KindSchemas:
    return KindSchemas(version, bundled.definitions(version))


def kind_schemas(version: str | None = None, kinds: Iterable[tuple[str, str]] | None = None) -> KindSchemas:
    """The bundled strict definitions nearest to Kubernetes ``version`` (the newest for None): all of them,
    or only what checking ``kinds`` (apiVersion, kind) needs, read from the cache on disk.

    The bundle is one 1 MB file of 500 definitions: reading it costs 24 ms, a tenth of a small app's whole
    ``diff``. A kind's own definition and those it refers to are a fraction of it (a Deployment's, the largest,
    160 definitions); they are cut out of the bundle once and kept under ``$GITAPPLY_CACHE/schemas``, one
    file per kind (a small app's kinds then load in 8 ms)."""
    nearest = nearest_schema_version(version)
    if kinds is None:
        return _load_kind_schemas(nearest)
    try:
        return KindSchemas(nearest, *_cached_definitions(nearest, sorted(set(kinds))))
    except (OSError, ValueError):  # an unwritable or damaged cache costs time, not the check
        return _load_kind_schemas(nearest)


def _cached_definitions(version: tuple[int, int], kinds: list[tuple[str, str]]
                        ) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """The definitions ``kinds`` need, and which of them describes each kind."""
    bundle = bundled.definitions_file(version)
    stat = bundle.stat()  # the bundle's size and time name the cache: a new kubernetes-validate, a new cache
    folder = cache_root() / "schemas" / f"{bundle.parent.name}-{stat.st_size}-{stat.st_mtime_ns}"
    index_path = folder / "index.json"
    if index_path.is_file():
        index: dict[str, str] = json.loads(index_path.read_bytes())
    else:
        index = {f"{api_version}/{kind}": name for (api_version, kind), name in _kind_names(
            bundled.definitions(version)).items()}
        store(index_path, json.dumps(index).encode())
    definitions: dict[str, Any] = {}
    names: dict[tuple[str, str], str] = {}
    for api_version, kind in kinds:
        name = index.get(f"{api_version}/{kind}")
        if name is None:
            continue  # not a built-in kind of this version: not schema-checked, as with the whole bundle
        names[(api_version, kind)] = name
        path = folder / f"{name}.json"
        if path.is_file():
            definitions.update(json.loads(path.read_bytes()))
        else:
            closure = _closure(bundled.definitions(version), name)
            store(path, json.dumps(closure, separators=(",", ":")).encode())
            definitions.update(closure)
    return definitions, names


def _kind_names(definitions: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(apiVersion, kind) → the name of the definition describing it; the first one naming a kind wins."""
    names: dict[tuple[str, str], str] = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", ()):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            names.setdefault((api_version, gvk["kind"]), name)
    return names


def _closure(definitions: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The definition ``name`` and every definition it refers to, directly or not."""
    found: dict[str, Any] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in found or current not in definitions:
            continue
        found[current] = definitions[current]
        pending.extend(ref[len(_REF_PREFIX):] for ref in _refs(definitions[current]))
    return found


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith(_REF_PREFIX):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def schema_versions() -> list[tuple[int, int]]:
    """The Kubernetes versions whose strict definitions kubernetes-validate bundles, oldest first."""
    return _bundled("", lambda: list(bundled.versions()))


def nearest_schema_version(version: str | None) -> tuple[int, int]:
    """The bundled version closest to ``version`` (ties go to the newer one); the newest for None."""
    return _bundled(version or "", lambda: bundled.nearest_version(version))


def _bundled(subject: str, find: Callable[[], Any]) -> Any:
    """A lookup of the bundled definitions (``gitapply.bundled``), its errors told as a SourceError."""
    try:
        return find()
    except ValueError as err:
        raise SourceError(subject, "not a Kubernetes version; expected e.g. 1.30 or v1.30.2") from err
    except RuntimeError as err:
        raise SourceError("kubernetes-validate", f"{err}; reinstall kubernetes-validate") from err


def _as_list(types: str | list[str]) -> list[str]:
    return [types] if isinstance(types, str) else types


def _type_ok(value: Any, allowed: frozenset[str]) -> bool:
    name = _TYPE_NAMES.get(type(value))
    if name in allowed:
        return True
    if name == "integer":
        return "number" in allowed
    if name == "number":
        return "integer" in allowed and value.is_integer()
    return False


def _type_error(path: str, allowed: frozenset[str], value: Any) -> str:
    wanted = [name for name in _TYPE_ORDER if name in allowed and name != "null"] or ["null"]
    message = f"{path}: expected {' or '.join(wanted)}, got {_describe(value)}"
    if "string" in wanted and isinstance(value, bool):
        message += f"; {_BOOLEAN_HINT}"
    elif "string" in wanted and isinstance(value, (int, float)):
        message += "; quote it"
    return message


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"{_TYPE_NAMES[type(value)]} {value}"
    return {dict: "a mapping", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_TYPE_ORDER = ("string", "integer", "number", "boolean", "object", "array", "null")


@functools.lru_cache(maxsize=4096)
def _segment(key: str) -> str:
    """A key's part of a field path: ``.name``, or ``["app.kubernetes.io/name"]`` when it needs quoting."""
    return f".{key}" if _PLAIN_KEY.fullmatch(key) else f"[{json.dumps(key)}]"


def _shown(path: str) -> str:
    return path[1:] if path.startswith(".") else path or "."


def _suggestion(key: str, properties: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(properties), n=1, cutoff=0.75)
    return f'; did you mean "{close[0]}"?' if close else ""
