"""Normalisers: one per known way the API server stores something other than what it was sent.

The predicted object (the three-way patch applied locally) is normalised before it is compared with the live
object, so that a quirk of the server never shows as a pending change. Each normaliser is pure and says why.
"""

from __future__ import annotations

import base64
from typing import Any, Callable


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
    """``have`` is ``wanted`` plus fields the last applied configuration (``was``) never had."""
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


SERVER_OWNED_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")


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


NORMALISERS: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (secret_string_data,)


def normalised(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the server would store it, for the quirks above."""
    for normaliser in NORMALISERS:
        obj = normaliser(obj)
    return obj
