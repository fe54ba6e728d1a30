"""Field rules: which fields of which objects gitapply leaves alone, and why.

Three kinds, all applied before diffing (the diff itself has no special cases):

- **ignore rules** from ``.gitapply.yaml`` at the root of the desired state (like Argo CD's
  ``ignoreDifferences``): per group/kind/namespace/name, JSON pointers never written, never reported;
- **hand-offs** (``defaults.yaml``): while an owner object points at a workload (an HPA's
  ``scaleTargetRef``), the listed fields of the workload belong to the owner;
- **keep-live-when-removed** (``defaults.yaml``): a field git drops while the last-applied record still holds
  it keeps its live value instead of being deleted (the ``replicas`` → 1 pitfall of ``kubectl apply``).

``defaults.yaml`` ships with gitapply; ``gitapply.bundled.rules()`` reads it and ``parse_builtin_rules`` here
turns it into ``BuiltinRules``, which callers pass in: this module reads no files.

``.gitapply.yaml``::

    ignore:
      - group: apps            # optional; "" is the core group; omitted matches any
        kind: Deployment       # optional
        namespace: shop        # optional
        name: web              # optional
        jsonPointers: ["/spec/replicas", "/metadata/annotations/team"]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..model import ObjectKey


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """Fields (JSON pointers) to leave alone on objects matching group/kind/namespace/name (None: any)."""

    pointers: tuple[str, ...]
    group: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None

    def matches(self, key: ObjectKey) -> bool:
        wanted = (self.group, self.kind, self.namespace, self.name)
        actual = key.identity
        return all(want is None or want == have for want, have in zip(wanted, actual))


@dataclass(frozen=True, slots=True)
class Handoff:
    """Fields of a workload that belong to an owner object pointing at it."""

    owner_group: str
    owner_kind: str
    target_ref: str
    pointers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Owned:
    """A field of one object that gitapply leaves alone, and why (shown to users)."""

    pointer: str
    reason: str


@dataclass(frozen=True, slots=True)
class FieldRules:
    """The rules in force for one run: ignore rules, resolved hand-offs, keep-live-when-removed fields."""

    ignore: tuple[IgnoreRule, ...] = ()
    owned: tuple[tuple[tuple[str, str, str, str], Owned], ...] = ()
    keep_when_removed: tuple[tuple[str, str, str], ...] = ()

    def left_alone(self, key: ObjectKey) -> tuple[Owned, ...]:
        """Every field of ``key`` that is never written nor reported, with its reason."""
        found = [Owned(p, "ignored by .gitapply.yaml") for rule in self.ignore if rule.matches(key)
                 for p in rule.pointers]
        found += [owned for target, owned in self.owned if target == key.identity]
        return tuple(found)

    def kept_when_removed(self, key: ObjectKey) -> tuple[str, ...]:
        return tuple(p for group, kind, p in self.keep_when_removed if (group, kind) == (key.group, key.kind))


class RulesError(ValueError):
    """``.gitapply.yaml`` is malformed; the message says where."""


def parse_ignore_rules(document: Any, where: str = ".gitapply.yaml") -> tuple[IgnoreRule, ...]:
    """The ``ignore`` rules of a parsed ``.gitapply.yaml``."""
    if document is None:
        return ()
    if not isinstance(document, dict):
        raise RulesError(f"{where}: expected a mapping with an 'ignore' list")
    rules = []
    for index, entry in enumerate(document.get("ignore") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("jsonPointers"), list):
            raise RulesError(f"{where}: ignore[{index}] needs a jsonPointers list")
        pointers = tuple(str(p) for p in entry["jsonPointers"])
        bad = [p for p in pointers if not p.startswith("/")]
        if bad:
            raise RulesError(f"{where}: ignore[{index}]: {bad[0]!r} is not a JSON pointer (start it with '/')")
        rules.append(IgnoreRule(pointers, entry.get("group"), entry.get("kind"), entry.get("namespace"),
                                entry.get("name")))
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class FieldManagers:
    """Who is who in ``managedFields``: the *apply lineage* — writers of the configuration in git (gitapply
    under its field manager, ``kubectl apply``), whose fields git does not hold are server defaults — and the
    control plane's controllers, whose fields git does not hold are theirs. Empty by default (every manager a
    stranger); the shipped names are ``BuiltinRules.managers``."""

    lineage: frozenset[str] = frozenset()
    system: frozenset[str] = frozenset()

    def with_own(self, manager: str) -> "FieldManagers":
        """The lineage with gitapply's own field manager (``--field-manager``) in it."""
        return dataclasses.replace(self, lineage=self.lineage | {manager})


@dataclass(frozen=True, slots=True)
class BuiltinRules:
    """The rules gitapply ships (``defaults.yaml``), parsed: hand-offs, fields kept when git drops them
    (group, kind, pointer), and the field managers."""

    handoffs: tuple[Handoff, ...] = ()
    keep_when_removed: tuple[tuple[str, str, str], ...] = ()
    managers: FieldManagers = FieldManagers()


def parse_builtin_rules(document: Mapping[str, Any]) -> BuiltinRules:
    """``defaults.yaml``, parsed, as ``BuiltinRules``."""
    handoffs = tuple(Handoff(h["owner"]["group"], h["owner"]["kind"], h["targetRef"], tuple(h["jsonPointers"]))
                     for h in document.get("handoffs", ()))
    kept: list[tuple[str, str, str]] = []
    for entry in document.get("keepLiveWhenRemoved", ()):
        for kind in entry["kinds"]:
            group, _, name = kind.rpartition("/")
            kept += [(group, name, pointer) for pointer in entry["jsonPointers"]]
    managers = document.get("fieldManagers", {})
    return BuiltinRules(handoffs, tuple(kept), FieldManagers(frozenset(managers.get("applyLineage", ())),
                                                             frozenset(managers.get("system", ()))))


def resolve(ignore: Iterable[IgnoreRule], owners: Iterable[dict[str, Any]], *, builtin: BuiltinRules) -> FieldRules:
    """Rules for one run: ``owners`` are the owner objects (HPAs) found in git and in the cluster, ``builtin``
    the shipped rules (``gitapply.bundled.rules()``)."""
    owned = []
    for obj in owners:
        api_version = obj.get("apiVersion", "")
        group = api_version.rpartition("/")[0]
        metadata = obj.get("metadata") or {}
        for handoff in builtin.handoffs:
            if (group, obj.get("kind")) != (handoff.owner_group, handoff.owner_kind):
                continue
            ref = get_pointer(obj, handoff.target_ref)
            if not isinstance(ref, dict) or not ref.get("name"):
                continue
            target = (ref.get("apiVersion", "").rpartition("/")[0], ref.get("kind", ""),
                      metadata.get("namespace", ""), ref["name"])
            reason = f"owned by {group}/{obj.get('kind')}/{metadata.get('namespace', '')}/{metadata.get('name', '')}"
            owned += [(target, Owned(p, reason)) for p in handoff.pointers]
    return FieldRules(tuple(ignore), tuple(owned), builtin.keep_when_removed)


def _tokens(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


def get_pointer(obj: Any, pointer: str) -> Any:
    """The value at a JSON pointer, or None."""
    for token in _tokens(pointer):
        if isinstance(obj, dict):
            obj = obj.get(token)
        elif isinstance(obj, list) and token.isdigit() and int(token) < len(obj):
            obj = obj[int(token)]
        else:
            return None
    return obj


def has_pointer(obj: Any, pointer: str) -> bool:
    tokens = _tokens(pointer)
    for token in tokens:
        if isinstance(obj, dict) and token in obj:
            obj = obj[token]
        elif isinstance(obj, list) and token.isdigit() and int(token) < len(obj):
            obj = obj[int(token)]
        else:
            return False
    return True


def without_pointer(obj: Any, pointer: str) -> Any:
    """``obj`` without the value at ``pointer`` (a new value; unchanged paths are shared)."""
    tokens = _tokens(pointer)
    if not tokens:
        return obj
    return _without(obj, tokens)


def _without(obj: Any, tokens: list[str]) -> Any:
    head, rest = tokens[0], tokens[1:]
    if isinstance(obj, dict) and head in obj:
        if not rest:
            return {k: v for k, v in obj.items() if k != head}
        return {**obj, head: _without(obj[head], rest)}
    if isinstance(obj, list) and head.isdigit() and int(head) < len(obj):
        index = int(head)
        if not rest:
            return obj[:index] + obj[index + 1:]
        return obj[:index] + [_without(obj[index], rest)] + obj[index + 1:]
    return obj
