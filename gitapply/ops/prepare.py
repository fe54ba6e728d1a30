"""From a desired-state location to a plan: read and validate, resolve kinds and namespaces, read live state.

Everything here happens before the first write, so that bad input changes nothing: every problem with the
manifests (syntax, schema, duplicates, unknown kinds, namespaces on cluster-scoped kinds) is collected and
reported at once.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import yaml

from .. import bundled
from ..cluster.base import Cluster
from ..cluster.snapshot import list_in, read_live
from ..engine.crds import kinds_defined_by
from ..engine.plan import APP_LABEL, NodeLookup, PlanOptions, make_plan, owned_by
from ..engine.rules import FieldRules, RulesError, parse_ignore_rules, resolve
from ..engine.serverside import method_problem
from ..errors import SourceError, UnknownKindError
from ..merge import Node
from ..model import ApplyMethod, Manifest, ObjectKey, Plan
from ..engine import appname
from ..source import (SETTINGS_FILE, STDIN, DesiredState, InputLimits, KustomizeOptions, Problem,
                      apply_default_namespace, is_remote, read, redact)
from ..source.validate import problems_error
from .inventory import read_inventory


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked for: where desired state is, which part of it, and how to plan."""

    path: str
    rev: str | None = None
    subdir: str | None = None
    namespace: str = ""
    selector: dict[str, str] | None = None
    app: str = ""
    prune: bool = False
    force_prune: bool = False
    inventory_namespace: str = "default"
    kustomize_command: str | None = None
    allow_remote_bases: bool = False
    input_limits: InputLimits = InputLimits()
    method: ApplyMethod | None = None
    """None: ``applyMethod`` in ``.gitapply.yaml``, else client-side."""
    adopt_managers: tuple[str, ...] = ()
    """Server-side appliers (besides ``kubectl``) whose objects are taken over: their fields git dropped go."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A plan and what it was made from."""

    request: Request
    plan: Plan
    state: DesiredState
    manifests: tuple[Manifest, ...]
    app: str
    inventory: tuple[ObjectKey, ...]
    options: PlanOptions
    rules: FieldRules
    live: Mapping[ObjectKey, dict[str, Any]]
    nodes: NodeLookup


def app_name(request: Request) -> str:
    """``--app`` (checked), or a valid name made from where desired state is (``engine.appname``): the
    ``--path`` folder's name, else the repository's, else the folder's, and for a single file its folder's (a
    file is part of its folder's app). Standard input has no name to take: ``--app`` is required there. An
    object another app's label claims is never taken over silently (``ops.sync.claimed_elsewhere``)."""
    if request.app:
        try:
            return appname.checked(request.app)
        except appname.AppNameError as err:
            raise SourceError("--app", str(err)) from err
    if request.path == STDIN:
        raise SourceError("--app", "reading manifests from standard input needs an app name (there is no folder "
                                   "name to take it from); pass --app NAME")
    if request.subdir:
        base = posixpath.basename(posixpath.normpath(request.subdir))
    elif is_remote(request.path):
        base = request.path.rstrip("/").rpartition("/")[2].rpartition(":")[2]
    elif os.path.isfile(request.path):  # one file of a folder belongs to the folder's app, not an app of its own
        base = os.path.basename(os.path.dirname(os.path.abspath(request.path)))
    else:  # "." is named after the directory it stands for
        base = os.path.basename(os.path.abspath(request.path))
    return appname.derived(base.removesuffix(".git"))


def parse_selector(text: str) -> dict[str, str]:
    """``app=web,tier=frontend`` → a dict; only equality terms, as they are what manifests carry."""
    selector: dict[str, str] = {}
    for term in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = term.partition("=")
        if not sep or not name:
            raise SourceError("--selector", f"{term!r} is not name=value; use e.g. app=web,tier=frontend")
        selector[name.strip()] = value.strip().lstrip("=")
    return selector


def prepare(cluster: Cluster, request: Request, desired: DesiredState | None = None) -> Prepared:
    """Read, validate and plan; raises ``SourceError`` listing every problem, before any write. ``desired``:
    the source as already read (the controller reads each commit once, ``controller.sources``).

    With a selector only matching objects are planned, but git as a whole still decides what is gone
    (prune) and which HPAs own replicas: an object left out by the selector is not "dropped from git"."""
    app = app_name(request)  # before reading: a missing --app must not consume standard input first
    cluster.prefetch(["v1", HPA[0]])  # the inventory's, the HPAs': fetched while the source is read and checked
    state = desired or read_source(request)
    cluster.prefetch({m.key.api_version for m in state.manifests})
    problems = list(state.problems)
    namespace = request.namespace or cluster.default_namespace()
    defining = kinds_defined_by(m.obj for m in state.manifests)
    everything, scope_problems = apply_default_namespace(
        state.manifests, namespace, lambda api, kind: _scope(cluster, api, kind, defining))
    problems += scope_problems
    problems += _unknown_kinds(cluster, everything, defining)
    problems += [Problem(m.origin, problem, str(m.key)) for m in everything
                 if (problem := method_problem(m.obj)) is not None]
    if problems:
        raise problems_error(sorted(problems, key=lambda p: p.sort_key), redact(request.path))
    selector = request.selector or {}
    manifests = tuple(m for m in everything if _matches(m.obj, selector))
    inventory = tuple(read_inventory(cluster, app, request.inventory_namespace))
    wanted = [m.key for m in manifests if (m.key.api_version, m.key.kind) not in defining
              and _served(cluster, m.key.api_version, m.key.kind)]
    served = [key for key in inventory if _served(cluster, key.api_version, key.kind)]
    namespaces = {m.key.namespace for m in everything} | {key.namespace for key in inventory}
    live = read_live(cluster, wanted, owner_selector=f"{APP_LABEL}={app}", inventory=served,
                     namespaces=namespaces)
    rules = field_rules(cluster, state, everything, app, namespaces)
    options = PlanOptions(app=app, commit=state.revision, prune=request.prune, force_prune=request.force_prune,
                          method=request.method or settings_method(state), manager=cluster.field_manager,
                          adopt=request.adopt_managers)
    nodes = node_lookup(cluster, defining)
    plan = make_plan(manifests, live, nodes, options, inventory=inventory, rules=rules,
                     in_git={m.key for m in everything}, prunable=lambda obj: _matches(obj, selector))
    return Prepared(request=request, plan=plan, state=state, manifests=manifests, app=app, inventory=inventory,
                    options=options, rules=rules, live=live, nodes=nodes)


HPA = ("autoscaling/v1", "HorizontalPodAutoscaler")


def read_source(request: Request, *, rev: str | None = None, fetch: bool = True) -> DesiredState:
    """The desired state ``request`` names, read and checked; at ``rev`` instead of the request's when given,
    and without bringing a URL's mirror up to date unless ``fetch``."""
    kustomize = KustomizeOptions(command=request.kustomize_command, allow_remote=request.allow_remote_bases)
    return read(request.path, rev=rev or request.rev, subdir=request.subdir, kustomize=kustomize,
                limits=request.input_limits, fetch=fetch)


def settings_method(state: DesiredState) -> ApplyMethod:
    """``applyMethod`` in ``.gitapply.yaml`` (client-side when it says nothing)."""
    try:
        settings = yaml.safe_load(state.settings) if state.settings else None
    except yaml.YAMLError as err:
        raise SourceError(SETTINGS_FILE, f"cannot be read as YAML: {err}") from err
    value = settings.get("applyMethod") if isinstance(settings, dict) else None
    if value is None:
        return ApplyMethod.CLIENT_SIDE
    if value not in (ApplyMethod.CLIENT_SIDE, ApplyMethod.SERVER_SIDE):
        raise SourceError(SETTINGS_FILE, f"applyMethod must be server-side or client-side, not {value!r}")
    return ApplyMethod(value)


def field_rules(cluster: Cluster, state: DesiredState, manifests: tuple[Manifest, ...], app: str,
                namespaces: Iterable[str] = ()) -> FieldRules:
    """The ignore rules of ``.gitapply.yaml`` and the hand-offs to the HPAs in git and in the cluster.

    Live HPAs are listed through autoscaling/v1, which serves every HPA whatever version created it."""
    try:
        ignore = parse_ignore_rules(yaml.safe_load(state.settings) if state.settings else None)
    except (RulesError, yaml.YAMLError) as err:
        raise SourceError(SETTINGS_FILE, f"{err}; see docs/drift.md for the format") from err
    in_git = {m.key for m in manifests}
    owners = [m.obj for m in manifests if m.obj.get("kind") == HPA[1]]
    if _served(cluster, *HPA):
        owners += [hpa for hpa in list_in(cluster, *HPA, namespaces=namespaces)
                   if not _dropped_from_git(hpa, in_git, app)]
    return resolve(ignore, owners, builtin=bundled.rules())


def _dropped_from_git(obj: dict[str, Any], in_git: set[ObjectKey], app: str) -> bool:
    """An object this app applied that git no longer has: its hand-off ends with this apply."""
    key = ObjectKey.of(obj)
    return owned_by(obj, app) and all(k.identity != key.identity for k in in_git)


def _scope(cluster: Cluster, api_version: str, kind: str, defining: dict[tuple[str, str], bool]) -> bool | None:
    if (api_version, kind) in defining:
        return defining[(api_version, kind)]
    try:
        return cluster.resource(api_version, kind).namespaced
    except UnknownKindError:
        return None


def _served(cluster: Cluster, api_version: str, kind: str) -> bool:
    try:
        cluster.resource(api_version, kind)
    except UnknownKindError:
        return False
    return True


def _unknown_kinds(cluster: Cluster, manifests: tuple[Manifest, ...],
                   defining: dict[tuple[str, str], bool]) -> list[Problem]:
    problems = []
    for manifest in manifests:
        api, kind = manifest.key.api_version, manifest.key.kind
        if (api, kind) in defining:
            continue
        try:
            cluster.resource(api, kind)
        except UnknownKindError as err:
            problems.append(Problem(manifest.origin, err.message, str(manifest.key)))
    return problems


def node_lookup(cluster: Cluster, defining: dict[tuple[str, str], bool]) -> NodeLookup:
    """Patch metadata per kind: the server's for built-in kinds, none for custom resources (also those
    whose CRD is in this desired state and not yet on the server)."""
    def lookup(api_version: str, kind: str) -> Node | None:
        return None if (api_version, kind) in defining else cluster.patch_node(api_version, kind)
    return lookup


def _matches(obj: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(name) == value for name, value in selector.items())
