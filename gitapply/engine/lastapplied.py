"""The ``kubectl.kubernetes.io/last-applied-configuration`` annotation, byte for byte as kubectl writes it.

gitapply and ``kubectl apply`` must be interchangeable in both directions, so the annotation is produced the
way kubectl (client-side apply) produces it:

- it is the JSON of the object as applied, without the annotation itself, with ``metadata.annotations``
  present even when empty (kubectl sets the annotation map back, ``{}`` when there was nothing else);
- Go's ``encoding/json`` encoding of a map: keys sorted, no spaces, ``<``, ``>``, ``&``, U+2028 and U+2029
  escaped, other non-ASCII text as is, and a trailing newline (``json.Encoder.Encode``);
- the object sent to the server (``modified``) carries that annotation.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import RecordError
from ..model import ObjectKey

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def go_json(obj: Any) -> str:
    """``obj`` encoded as Go's ``json.Encoder`` encodes a ``map[string]interface{}``, newline included."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.translate(_GO_ESCAPES) + "\n"


def _with_annotations(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    metadata = dict(obj.get("metadata") or {})
    metadata["annotations"] = annotations
    result = dict(obj)
    result["metadata"] = metadata
    return result


def annotated(desired: dict[str, Any]) -> dict[str, Any]:
    """The object to send: ``desired`` with its last-applied annotation set, as ``kubectl apply`` sends it."""
    annotations = dict((desired.get("metadata") or {}).get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    applied = _with_annotations(desired, annotations)
    with_record = dict(annotations)
    with_record[LAST_APPLIED] = go_json(applied)
    return _with_annotations(desired, with_record)


def last_applied(live: dict[str, Any] | None) -> dict[str, Any] | None:
    """The configuration recorded on a live object by the last apply; None if it has none.

    Raises ``RecordError`` naming the object when the annotation is not a JSON object (edited by hand).
    """
    if not live:
        return None
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as err:
        raise _unreadable(live, f"is not valid JSON ({err})") from err
    if not isinstance(value, dict):
        raise _unreadable(live, "does not hold a JSON object")
    return value


def _unreadable(live: dict[str, Any], problem: str) -> RecordError:
    key = ObjectKey.of(live)
    where = f" -n {key.namespace}" if key.namespace else ""
    return RecordError(str(key), f"its {LAST_APPLIED} annotation {problem}: it was edited by hand or cut short. "
                                 f"Restore it, or remove it (kubectl annotate {key.kind.lower()} {key.name}{where} "
                                 f"{LAST_APPLIED}-) and apply again; without the record, fields that git dropped "
                                 "before are left in place")
