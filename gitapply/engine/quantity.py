"""Resource quantities in the form the API server stores them (``cpu: "0.5"`` is stored as ``500m``).

The server parses every quantity it receives and writes it back in a canonical form, unless the text sent
was already canonical (then it keeps the text, sign included). The rules, as apimachinery's
``resource.Quantity`` applies them:

- a quantity is a signed decimal number and a suffix: binary (``Ki`` … ``Ei``), decimal SI (``n u m`` ``""``
  ``k M G T P E``) or a decimal exponent (``e3``, ``E-2``); the suffix fixes the *format* kept on output;
- values are exact; a non-zero value finer than a nano unit is rounded up to ``1n``; in a resource list
  (container ``requests`` and ``limits``, a quota's ``hard``, a LimitRange's bounds: maps of quantities)
  the server's defaulting rounds finer than a milli unit up to ``1m`` (``100u`` → ``1m``, ``0.0015`` → ``2m``);
- canonical decimal form: the smallest integer mantissa with an exponent that is a multiple of 3
  (``1500m``, ``2``, ``1k``, ``100M``, ``1e3``); canonical binary form: the largest power of 1024 that leaves
  an integer mantissa (``1024Mi`` → ``1Gi``); a binary quantity below 1024 in magnitude or not a whole
  number is written in decimal SI (``0.5Ki`` → ``512``, ``0.1Gi`` → ``107374182400m``);
- text is kept verbatim when the parser's int64 fast path sees it as canonical already: a decimal one
  whose scale is a multiple of 3, not ending in ``000`` and not starting with ``0`` (so ``"+1"`` stays
  ``+1`` and ``1E3`` stays ``1E3``), a binary one whose mantissa is not a multiple of 8 (``3Mi``).

``canonical`` returns text the server would refuse unchanged: validation is the server's business.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

_QUANTITY = re.compile(r"^(?P<sign>[+-]?)(?P<num>[0-9]*)(?:\.(?P<denom>[0-9]*))?(?P<suffix>.*)$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY_SUFFIX = {exponent // 10: suffix for suffix, exponent in _BINARY.items()}
_EXPONENT = re.compile(r"^[eE](?P<exp>[+-]?[0-9]+)$")
_INT64 = 2**63 - 1
_NANO = Fraction(1, 10**9)
_MILLI = Fraction(1, 1000)

BINARY_SI, DECIMAL_SI, DECIMAL_EXPONENT = "BinarySI", "DecimalSI", "DecimalExponent"


def canonical(value: Any, *, in_resource_list: bool = False) -> Any:
    """``value`` (text, or a JSON number) as the server stores it; anything that is not a quantity as is.
    ``in_resource_list``: the quantity is a value of a resource list, rounded up to milli units."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return value
    text = value if isinstance(value, str) else _json_number(value)
    parsed = _parse(text.strip())
    if parsed is None:
        return value
    finest = _MILLI if in_resource_list else _NANO
    kept = _verbatim(text.strip(), parsed, finest)
    if kept is not None:
        return kept
    return _format(*_exact(parsed, finest))


def _json_number(number: int | float) -> str:
    """The text a JSON number is sent as (gitapply encodes with Python's ``json``)."""
    return str(number) if isinstance(number, int) else repr(number)


class _Parsed:
    __slots__ = ("positive", "num", "denom", "base", "exponent", "form")

    def __init__(self, positive: bool, num: str, denom: str, base: int, exponent: int, form: str) -> None:
        self.positive, self.num, self.denom = positive, num, denom
        self.base, self.exponent, self.form = base, exponent, form


def _parse(text: str) -> _Parsed | None:
    match = _QUANTITY.match(text)
    if match is None or not (match["num"] or match["denom"]):
        return None
    suffix = match["suffix"]
    if suffix in _BINARY:
        base, exponent, form = 2, _BINARY[suffix], BINARY_SI
    elif suffix in _DECIMAL:
        base, exponent, form = 10, _DECIMAL[suffix], DECIMAL_SI
    else:
        found = _EXPONENT.match(suffix)
        if found is None:
            return None
        base, exponent, form = 10, int(found["exp"]), DECIMAL_EXPONENT
    num = match["num"].lstrip("0") or "0"  # leading zeros are dropped, but the text is kept as sent ("01")
    return _Parsed(match["sign"] != "-", num, match["denom"] or "", base, exponent, form)


def _verbatim(text: str, parsed: _Parsed, finest: Fraction) -> str | None:
    """The text itself when the server's fast path keeps it (see the module's rules), else None."""
    digits = parsed.num + parsed.denom
    if parsed.base == 10:
        if 18 - len(digits) < 0:
            return None
        scale = parsed.exponent - len(parsed.denom)
        if scale < (-3 if finest == _MILLI else -9) or int(digits) > _INT64:
            return None
        canonical_already = scale % 3 == 0 and not digits.endswith("000") and digits[0] != "0"
        return text if canonical_already else None
    if parsed.denom or 15 - len(parsed.num) - int(parsed.exponent * 3 / 10) - 1 < 0:
        return None
    value = int(parsed.num)
    if value << parsed.exponent > _INT64:
        return None
    return text if value & 0x07 != 0 else None


def _exact(parsed: _Parsed, finest: Fraction) -> tuple[Fraction, str]:
    """The exact value after the server's rounding, and the format it is written in."""
    amount = Fraction(int(parsed.num + parsed.denom or "0"), 10 ** len(parsed.denom))
    amount *= Fraction(parsed.base) ** parsed.exponent
    form = parsed.form
    if amount:
        amount = Fraction(math.ceil(amount / finest)) * finest  # rounded up, away from zero
    if form == BINARY_SI and 0 < amount < 1:
        form = DECIMAL_SI
    return (amount if parsed.positive else -amount), form


def _format(amount: Fraction, form: str) -> str:
    if amount == 0:
        return "0"
    if form == BINARY_SI and (abs(amount) < 1024 or amount.denominator != 1):
        form = DECIMAL_SI
    if form == BINARY_SI:
        mantissa, power = int(amount), 0
        while mantissa % 1024 == 0 and power + 1 in _BINARY_SUFFIX:
            mantissa //= 1024
            power += 1
        return f"{mantissa}{_BINARY_SUFFIX.get(power, '')}"
    exponent = 0
    while amount.denominator != 1:
        amount *= 10
        exponent -= 1
    mantissa = int(amount)
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if form == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DECIMAL_SUFFIX.get(exponent)
    if suffix is None:  # beyond exa: Go writes the digits in full
        return str(mantissa * 10**exponent) if exponent > 0 else f"{mantissa}e{exponent}"
    return f"{mantissa}{suffix}"
