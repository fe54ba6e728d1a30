"""Reading live state in bulk: one LIST per kind (paginated), kinds read concurrently.

Diffing thousands of objects must cost a handful of requests, not one GET per object; this is the one
place that turns "these kinds" into "these live objects, by key".
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable

from ..errors import ForbiddenError
from ..model import ObjectKey
from .base import Cluster


def list_in(cluster: Cluster, api_version: str, kind: str, *, namespaces: Iterable[str] = (),
            label_selector: str = "") -> list[dict[str, Any]]:
    """Every object of a kind across the cluster; when RBAC forbids that, in each of ``namespaces``.

    A user whose Roles are all namespaced may not list across namespaces, yet ``kubectl apply`` works for
    them; reading namespace by namespace keeps gitapply usable with the same rights. A kind that is refused
    in a namespace too (or with no namespace to try) is still an error naming it."""
    try:
        return cluster.list(api_version, kind, label_selector=label_selector)
    except ForbiddenError:
        tried = sorted(set(namespaces) - {""})
        if not tried:
            raise
        return [obj for namespace in tried
                for obj in cluster.list(api_version, kind, namespace=namespace, label_selector=label_selector)]


def snapshot(
    cluster: Cluster,
    kinds: Iterable[tuple[str, str]],
    *,
    namespace: str = "",
    label_selector: str = "",
    workers: int = 8,
    fallback_namespaces: Iterable[str] = (),
) -> dict[ObjectKey, dict[str, Any]]:
    """Every live object of the given (apiVersion, kind) pairs, in all namespaces unless one is given (or,
    where listing across namespaces is forbidden, in ``fallback_namespaces``: see ``list_in``)."""
    unique = sorted(set(kinds))
    fallback = tuple(fallback_namespaces)

    def read(kind: tuple[str, str]) -> list[dict[str, Any]]:
        if namespace:
            return cluster.list(kind[0], kind[1], namespace=namespace, label_selector=label_selector)
        return list_in(cluster, kind[0], kind[1], namespaces=fallback, label_selector=label_selector)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(unique)))) as pool:
        listed = list(pool.map(read, unique))
    return {ObjectKey.of(obj): obj for objects in listed for obj in objects}


def read_live(
    cluster: Cluster,
    wanted: Iterable[ObjectKey],
    *,
    owner_selector: str,
    extra_kinds: Iterable[tuple[str, str]] = (),
    workers: int = 8,
    get_limit: int = 16,
    namespaces: Iterable[str] = (),
) -> dict[ObjectKey, dict[str, Any]]:
    """The live objects of ``wanted`` (and every object of ``extra_kinds`` the owner selector matches).

    First one LIST per kind of the app's own objects (``owner_selector``): in a cluster shared by many apps
    that reads only ours. Objects not found that way (new ones, or ones another tool applied) are then
    looked up one by one when few, or by a LIST of the whole kind when many (a first apply). Where RBAC
    forbids listing across namespaces, the LISTs are made in the namespaces of ``wanted`` and ``namespaces``."""
    by_kind: dict[tuple[str, str], list[ObjectKey]] = {}
    for key in wanted:
        by_kind.setdefault((key.api_version, key.kind), []).append(key)
    fallback = {key.namespace for keys in by_kind.values() for key in keys} | set(namespaces)
    live = snapshot(cluster, set(by_kind) | set(extra_kinds), label_selector=owner_selector, workers=workers,
                    fallback_namespaces=fallback)
    missing = {kind: [key for key in keys if key not in live] for kind, keys in by_kind.items()}
    whole = [kind for kind, keys in missing.items() if len(keys) > get_limit]
    if whole:
        sought = {key for kind in whole for key in missing[kind]}
        listed = snapshot(cluster, whole, workers=workers, fallback_namespaces=fallback)
        live.update((key, obj) for key, obj in listed.items() if key in sought)
    single = [key for kind, keys in missing.items() if kind not in whole for key in keys]
    if single:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(single)))) as pool:
            for key, obj in zip(single, pool.map(cluster.get, single)):
                if obj is not None:
                    live[key] = obj
    return live
