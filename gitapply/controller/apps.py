"""The apps file (``gitapply reconcile --apps FILE``): several apps reconciled by one process.

```yaml
apps:
  - name: shop                                  # required; a label value; names its Lease and metrics
    repository: https://git.example.com/ops.git # required; a URL, a local repository or a directory
    rev: main                                   # optional (default HEAD)
    path: apps/shop                             # optional: the folder (or Kustomize overlay) in it
    namespace: shop                             # optional: for objects that name none
    interval: 60                                # optional: seconds between passes (default --interval)
    prune: true                                 # optional (default --prune)
    detectOnly: false                           # optional (default --detect-only)
    inventoryNamespace: gitapply                # optional (default --inventory-namespace)
    applyMethod: server-side                    # optional (default --server-side, else .gitapply.yaml's)
```

The whole file is checked before anything starts; every problem is reported with the file and line it is
on, and unknown keys are refused (a misspelt ``prune`` must not silently mean "no prune").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import SourceError
from ..model import ApplyMethod


@dataclass(frozen=True, slots=True)
class AppEntry:
    """One app the controller keeps converged (or, ``detect_only``, watches)."""

    name: str
    repository: str
    rev: str | None = None
    path: str | None = None
    namespace: str = ""
    interval: float = 60.0
    prune: bool = False
    detect_only: bool = False
    inventory_namespace: str = "default"
    method: ApplyMethod | None = None


class AppsFileError(SourceError):
    """The apps file is invalid; the message lists every problem with its file and line."""


_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_FIELDS = {"name": str, "repository": str, "rev": str, "path": str, "namespace": str, "interval": float,
           "prune": bool, "detectOnly": bool, "inventoryNamespace": str, "applyMethod": str}
_ATTRIBUTES = {"detectOnly": "detect_only", "inventoryNamespace": "inventory_namespace", "applyMethod": "method"}


def parse_apps(text: str, filename: str, defaults: AppEntry) -> tuple[AppEntry, ...]:
    """The apps in ``text`` (the file ``filename``), unset fields taken from ``defaults``; raises
    ``AppsFileError`` listing every problem."""
    problems: list[str] = []
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        raise AppsFileError(where, f"cannot be read as YAML: {getattr(exc, 'problem', None) or exc}") from exc
    items = _apps_node(root, filename, problems)
    apps = [app for item in items if (app := _app(item, filename, defaults, problems)) is not None]
    seen: dict[str, int] = {}
    for app, item in zip(apps, items):
        if app.name in seen:
            problems.append(f"{filename}:{_line(item)}: app {app.name!r} is listed twice (first on line "
                            f"{seen[app.name]}); each app needs its own name")
        seen.setdefault(app.name, _line(item))
    if not problems and not apps:
        problems.append(f"{filename}: lists no apps; add at least one under `apps:`")
    if problems:
        raise AppsFileError(filename, "invalid apps file:\n  " + "\n  ".join(problems))
    return tuple(apps)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _apps_node(root: yaml.Node | None, filename: str, problems: list[str]) -> list[yaml.MappingNode]:
    if not isinstance(root, yaml.MappingNode):
        problems.append(f"{filename}:{_line(root) if root is not None else 1}: expected a mapping with `apps:`, "
                        "a list of apps")
        return []
    found = {key.value: value for key, value in root.value if isinstance(key, yaml.ScalarNode)}
    for key, _ in root.value:
        if key.value != "apps":
            problems.append(f"{filename}:{_line(key)}: unknown key {key.value!r}; the file holds `apps:` only")
    apps = found.get("apps")
    if not isinstance(apps, yaml.SequenceNode):
        where = _line(apps) if apps is not None else _line(root)
        problems.append(f"{filename}:{where}: `apps` must be a list of apps")
        return []
    items = []
    for item in apps.value:
        if isinstance(item, yaml.MappingNode):
            items.append(item)
        else:
            problems.append(f"{filename}:{_line(item)}: each app is a mapping (name, repository, …)")
    return items


def _app(node: yaml.MappingNode, filename: str, defaults: AppEntry, problems: list[str]) -> AppEntry | None:
    values: dict[str, Any] = {}
    before = len(problems)
    for key, value in node.value:
        where = f"{filename}:{_line(key)}"
        wanted = _FIELDS.get(key.value)
        if wanted is None:
            problems.append(f"{where}: unknown key {key.value!r}; known: {', '.join(_FIELDS)}")
            continue
        converted = _value(value, wanted)
        if converted is None:
            problems.append(f"{where}: {key.value} must be {_KIND[wanted]}, not {value.value!r}")
            continue
        values[_ATTRIBUTES.get(key.value, key.value)] = converted
    where = f"{filename}:{_line(node)}"
    for required in ("name", "repository"):
        if not values.get(required):
            problems.append(f"{where}: the app needs a {required}")
    name = values.get("name")
    if name and not _LABEL_VALUE.match(name):
        problems.append(f"{where}: name {name!r} cannot be a label value (letters, digits, '-', '_', '.', at most "
                        "63, starting and ending alphanumeric)")
    if "interval" in values and values["interval"] <= 0:
        problems.append(f"{where}: interval must be above 0 seconds")
    if "method" in values:
        if values["method"] in (ApplyMethod.SERVER_SIDE, ApplyMethod.CLIENT_SIDE):
            values["method"] = ApplyMethod(values["method"])
        else:
            problems.append(f"{where}: applyMethod must be server-side or client-side, not {values['method']!r}")
    if len(problems) > before:
        return None
    base = {field: getattr(defaults, field) for field in AppEntry.__slots__}
    return AppEntry(**{**base, **values})


_KIND = {str: "a string", float: "a number of seconds", bool: "true or false"}


def _value(node: yaml.Node, wanted: type) -> Any:
    """A scalar as ``wanted``, with YAML 1.1's tags as PyYAML reads them; None when it is not one."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    tag = node.tag.rsplit(":", 1)[-1]
    if wanted is bool:
        return {"true": True, "false": False}.get(node.value.lower()) if tag == "bool" else None
    if wanted is float:
        try:
            return float(node.value) if tag in ("int", "float") else None
        except ValueError:
            return None
    return node.value if tag in ("str", "int", "float") else None
