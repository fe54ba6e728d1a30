"""The vocabulary of strategic merge patch, and the few helpers both directions of the engine share."""

from __future__ import annotations

from typing import Any

PATCH = "$patch"
DELETE = "delete"
REPLACE = "replace"
MERGE = "merge"
RETAIN_KEYS = "$retainKeys"
SET_ORDER_PREFIX = "$setElementOrder/"
DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"


def go_str(value: Any) -> str:
    """The text Go's ``fmt.Sprintf("%v")`` gives a JSON scalar; apimachinery sorts and matches by it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def sort_scalars(values: list[Any]) -> list[Any]:
    """Scalars in apimachinery's order (by their text)."""
    return sorted(values, key=go_str)


def item_label(item: Any, merge_key: str) -> str:
    """A path segment for a list item: ``[name=web]`` when it has its merge key."""
    if merge_key and isinstance(item, dict) and merge_key in item:
        return f"[{merge_key}={go_str(item[merge_key])}]"
    return "[]"


def element_kind(*lists: list[Any]) -> type | None:
    """The one Python type of the items of these lists (dict, str, int…); None when all are empty.

    Lists of lists are not permitted by the API, and mixed item types cannot be merged.
    """
    kind: type | None = None
    for values in lists:
        for value in values:
            current = type(value)
            if kind is None:
                if current is list:
                    raise TypeError("lists of lists cannot be merged")
                kind = current
            elif current is not kind:
                raise TypeError(f"list items have different types ({kind.__name__} and {current.__name__})")
    return kind
