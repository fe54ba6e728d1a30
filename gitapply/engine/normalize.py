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


NORMALISERS: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (secret_string_data,)


def normalised(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the server would store it, for the quirks above."""
    for normaliser in NORMALISERS:
        obj = normaliser(obj)
    return obj
