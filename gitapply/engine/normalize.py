"""Normalisers: the ways the API server stores something other than what it was sent, by type, not by place.

- ``by_type`` walks an object with its schema node and writes every resource quantity in the server's
  canonical form (``engine.quantity``). The object sent and the configurations compared are normalised, the
  last-applied record is not (it stays byte for byte what kubectl writes).
- ``without_omitted_zeros``: a zero value (``0``, ``false``, ``""``, ``{}``, ``[]``) that git and the record
  both hold and the live object lacks was dropped by the server (Go's ``omitempty``): learned from the
  server's own answer to the last write, for any field, instead of a list of such fields.
- ``keep_defaults_in_lists``: items of lists replaced whole come back with defaults filled in.
- ``secret_string_data`` and ``keep_server_owned``: write-only and server-owned fields.
- ``WRITE_BOOKKEEPING`` ⊂ ``SERVER_OWNED_METADATA`` ⊂ ``SYSTEM_WRITTEN_METADATA``: the one list of metadata fields
  that manifests do not own, by who writes them (see below); drift, the diff and the local cluster use it.

Each normaliser is pure; none of them guesses: where the local prediction still differs from live, the
server's dry-run decides (``ops.apply.confirmed``).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

from ..merge import Node
from .lastapplied import LAST_APPLIED
from .quantity import canonical

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def by_type(obj: Any, node: Node | None) -> Any:
    """``obj`` with its resource quantities in canonical form (unchanged parts are shared, not copied)."""
    if node is None or type(obj) is not dict:
        return obj
    result = None
    for key, value in obj.items():
        meta = node.field(key)
        child = meta.node
        if child is None:
            continue
        if child.name == QUANTITY:
            new = canonical(value, in_resource_list=node.is_map)
        elif type(value) is dict:
            new = by_type(value, child)
        elif type(value) is list:
            items = [by_type(item, child) for item in value]
            new = items if any(a is not b for a, b in zip(items, value)) else value
        else:
            continue
        if new is not value and new != value:
            result = result if result is not None else dict(obj)
            result[key] = new
    return result if result is not None else obj


def is_zero(value: Any) -> bool:
    """A zero value the API's types omit when stored (``0``, ``false``, an empty string, ``{}``, ``[]``)."""
    return value is not None and not value and type(value) in (int, float, bool, str, dict, list)


def without_omitted_zeros(obj: Any, record: Any, live: Any) -> Any:
    """``obj`` without the zero values the server omitted: present with the same zero value in ``record``,
    absent from ``live``. Maps only (an item of a list is matched by nothing reliable here)."""
    if type(obj) is not dict or type(record) is not dict:
        return obj
    have = live if type(live) is dict else {}
    result = None
    for key, value in obj.items():
        if key not in record:
            continue
        if key not in have:
            if is_zero(value) and type(record[key]) is type(value) and record[key] == value:
                result = result if result is not None else dict(obj)
                del result[key]
            continue
        new = without_omitted_zeros(value, record[key], have[key])
        if new is not value:
            result = result if result is not None else dict(obj)
            result[key] = new
    return result if result is not None else obj


def secret_string_data(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret's ``stringData`` is write-only: the server merges it, base64-encoded, into ``data``.

    Because ``stringData`` never appears on read, ``kubectl apply`` reports such a Secret "configured" on every
    run; gitapply compares the stored form instead, and still sends kubectl's patch when something changed.
    """
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1" or "stringData" not in obj:
        return obj
    encoded = {key: base64.b64encode(str(value).encode()).decode() for key, value in (obj["stringData"] or {}).items()}
    result = {key: value for key, value in obj.items() if key != "stringData"}
    result["data"] = {**(obj.get("data") or {}), **encoded}
    return result


def keep_defaults_in_lists(predicted: Any, live: Any, original: Any) -> Any:
    """Lists replaced whole (no merge key: LimitRange ``limits``, Ingress ``paths``…) come back from the server
    with defaults filled into their items (``defaultRequest``, ``pathType``); the three-way patch sends the
    list as written, and the server fills the defaults in again.

    So where an item of the predicted list is the live item minus some fields, and the last applied
    configuration never had those fields (they were not removed from git), the live item is what the server
    will store: keep it. A field someone added by hand inside such an item is kept too, as kubectl would
    overwrite it only on a change of the list; drift detection reports it.
    """
    if type(predicted) is dict and type(live) is dict:
        if predicted is live:
            return predicted
        base = original if type(original) is dict else {}
        result = None
        for key, value in predicted.items():
            if key in live:
                kept = keep_defaults_in_lists(value, live[key], base.get(key))
                if kept is not value:
                    result = result if result is not None else dict(predicted)
                    result[key] = kept
        return result if result is not None else predicted
    if type(predicted) is list and type(live) is list and len(predicted) == len(live) and predicted != live:
        earlier: list[Any] = original if type(original) is list and len(original) == len(predicted) \
            else [None] * len(predicted)
        if all(defaulted(item, have, was) for item, have, was in zip(predicted, live, earlier)):
            return live
    return predicted


def defaulted(wanted: Any, have: Any, was: Any) -> bool:
    """``have`` is ``wanted`` plus fields the last applied configuration (``was``) never had, also inside
    nested lists (a NetworkPolicy's ``ingress[].ports[].protocol``)."""
    if type(wanted) is list and type(have) is list:
        earlier = was if type(was) is list and len(was) == len(wanted) else [None] * len(wanted)
        return len(wanted) == len(have) and all(defaulted(w, h, e) for w, h, e in zip(wanted, have, earlier))
    if type(wanted) is not dict or type(have) is not dict:
        return wanted == have and type(wanted) is type(have)
    previous = was if type(was) is dict else {}
    for key, value in have.items():
        if key not in wanted:
            if key in previous:
                return False
        elif not defaulted(wanted[key], value, previous.get(key)):
            return False
    return all(key in have for key in wanted)


# The metadata fields written by someone other than a manifest's author: one list, cut into the parts each use
# needs. ``WRITE_BOOKKEEPING`` is what any write moves (``generation`` only with the spec): a dry-run answer
# that differs from live only there changes nothing. ``SERVER_OWNED_METADATA`` adds what the server sets once
# (identity, creation, deletion; ObjectMeta's reference says the system populates each), which a patch cannot
# change, so predictions, diffs and the local cluster's field ownership leave them out.
# ``SYSTEM_WRITTEN_METADATA`` adds what controllers write (the garbage collector's ``ownerReferences``, an
# operator's ``finalizers``): drift detection compares none of it.
WRITE_BOOKKEEPING = ("resourceVersion", "generation", "managedFields")
SERVER_OWNED_METADATA = ("uid", *WRITE_BOOKKEEPING, "creationTimestamp", "selfLink", "deletionTimestamp",
                         "deletionGracePeriodSeconds")
SYSTEM_WRITTEN_METADATA = (*SERVER_OWNED_METADATA, "ownerReferences", "finalizers")


def keep_server_owned(predicted: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """A patch cannot change what the server owns: the object's identity and bookkeeping metadata, and
    (for built-in kinds, which serve it as a subresource) ``status``. Manifests made by
    ``kubectl create --dry-run -o yaml`` carry ``creationTimestamp: null``, so kubectl's patch "deletes" it
    on every apply and kubectl reports the object "configured" each time; the server changes nothing."""
    metadata = dict(predicted.get("metadata") or {})
    live_metadata = live.get("metadata") or {}
    for key in SERVER_OWNED_METADATA:
        if key in live_metadata:
            metadata[key] = live_metadata[key]
        else:
            metadata.pop(key, None)
    result = {**predicted, "metadata": metadata}
    if "status" in live:
        result["status"] = live["status"]
    else:
        result.pop("status", None)
    return result


def same_stored(answer: dict[str, Any], live: dict[str, Any], node: Node | None) -> bool:
    """Whether the server's answer to a dry-run write stores what ``live`` already holds: the same object
    apart from the bookkeeping every write touches (``resourceVersion``, ``managedFields``; ``generation``
    moves only with the spec) and a last-applied record that says the same in another form
    (``cpu: "0.5"`` where it said ``500m``)."""
    def bare(obj: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in WRITE_BOOKKEEPING}
        annotations = dict(metadata.get("annotations") or {})
        record = annotations.pop(LAST_APPLIED, None)
        metadata["annotations"] = annotations
        return {**obj, "metadata": metadata}, record

    answer_bare, answer_record = bare(answer)
    live_bare, live_record = bare(live)
    if answer_bare != live_bare:
        return False
    if answer_record == live_record:
        return True
    try:
        records = [json.loads(text) if text else None for text in (answer_record, live_record)]
    except ValueError:
        return False
    return by_type(records[0], node) == by_type(records[1], node)


NORMALISERS: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (secret_string_data,)


def normalised(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the server would store it, for the quirks above."""
    for normaliser in NORMALISERS:
        obj = normaliser(obj)
    return obj
