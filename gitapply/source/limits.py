"""Bounds on what reading the desired state may cost, so that a hostile commit cannot stall or crash gitapply.

A watched repository is input from whoever can push to it. Three shapes of input cost far more than their size
and are refused before they are expanded, each naming the file and line, as kubectl refuses them:

* **aliases** (a "billion laughs" document, CVE-2019-11253): nine levels of nine aliases are a few hundred bytes
  and 387 million values. Building a document may produce at most ``EXPANSION`` values per byte of the file
  (plus a floor for small files); an ordinary manifest produces fewer values than it has bytes.
* **nesting**: libyaml composes nested collections recursively in C; ``[[[[…`` a hundred thousand deep ended
  the process with a segmentation fault under one PyYAML build seen here (a newer one stops at 1,000 levels
  with a syntax error). Manifests nest a few dozen levels (a CRD's schema is the deepest); more than ``DEPTH``
  is refused before composing, whichever libyaml is installed.
* **size**: one file, and the whole source, are bounded (``--max-input-size`` raises both); a file's size is
  checked before it is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

MIB = 1024 * 1024
DEPTH = 200
EXPANSION = 4
EXPANSION_FLOOR = 20_000
"""Values any file may build, whatever its size: anchors shared by a few objects are ordinary YAML."""


@dataclass(frozen=True, slots=True)
class InputLimits:
    """The bounds one read of the desired state keeps to."""

    file_bytes: int = 16 * MIB
    source_bytes: int = 256 * MIB

    @classmethod
    def of_mib(cls, mib: float) -> InputLimits:
        """``--max-input-size MIB``: the limit for one file; a whole source may hold sixteen times that, as by
        default (16 MiB, 256 MiB)."""
        return cls(file_bytes=int(mib * MIB), source_bytes=int(16 * mib * MIB))


class LimitExceeded(Exception):
    """A file goes beyond a bound; ``line`` is where (1-based), 0 when the whole file is the trouble."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def size_text(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


@dataclass(slots=True)
class SourceBudget:
    """Bytes read so far across one source's files, against its limits."""

    limits: InputLimits = InputLimits()
    used: int = field(default=0)

    def take(self, size: int) -> str | None:
        """Count a file of ``size`` bytes; what is wrong with it if it would go beyond a limit, else None."""
        if size > self.limits.file_bytes:
            return (f"is {size_text(size)}, over the limit of {size_text(self.limits.file_bytes)} for one file; "
                    "if it is meant, raise it with --max-input-size")
        self.used += size
        if self.used > self.limits.source_bytes:
            return (f"takes the source past its limit of {size_text(self.limits.source_bytes)}; if it is meant, "
                    "raise it with --max-input-size")
        return None


def expansion_budget(size: int) -> int:
    """How many values a file of ``size`` bytes may build."""
    return EXPANSION_FLOOR + EXPANSION * size


_NOT_FLOW = re.compile(rb"[^\[\]{}]+")
_DEEP_INDENT = re.compile(rb"^ {%d}" % DEPTH, re.MULTILINE)


def check_depth(data: bytes, loader: type) -> None:
    """Raise ``LimitExceeded`` if a document nests more than ``DEPTH`` collections.

    Counting brackets (a regular expression, at C speed) bounds the flow nesting from above; only a file that
    may be too deep by that count, or that indents a line ``DEPTH`` spaces, is walked event by event, which
    libyaml's parser does without recursion and which knows quotes and block scalars."""
    brackets = _NOT_FLOW.sub(b"", data)
    if not _DEEP_INDENT.search(data) and (len(brackets) <= DEPTH or _bracket_depth(brackets) <= DEPTH):
        return
    depth = 0
    parser = loader(data)
    try:
        while True:
            event = parser.get_event()
            if event is None:
                return
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > DEPTH:
                    raise LimitExceeded(f"nests collections more than {DEPTH} levels deep; no manifest needs that "
                                        "many", event.start_mark.line + 1 if event.start_mark else 0)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.StreamEndEvent):
                return
    except yaml.YAMLError:
        return  # the syntax error is reported, with its line, when the file is read
    finally:
        parser.dispose()


def _bracket_depth(brackets: bytes) -> int:
    deepest = depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest
