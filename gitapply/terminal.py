"""Where the command line writes: plain lines, coloured with ANSI codes only on a terminal that wants colour.

Importing rich costs ≈55 ms, a fifth of a whole ``gitapply diff``. Diff lines, outcome lines, errors and JSON
need at most a colour code, so they are written here directly; rich is imported only for what only it draws
(the drift table, the progress bar), and only when one is shown.

Colour follows the conventions scripts and CI systems rely on: off unless the stream is a terminal, off with
``NO_COLOR`` set or ``TERM=dumb``, on with ``FORCE_COLOR`` set. Control characters in the text (an ANSI
sequence smuggled into a ConfigMap value, a carriage return) are shown escaped, never sent to the terminal.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Literal, TextIO

_CODES = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
DEFAULT_SIZE = (80, 25)


def printable(text: str) -> str:
    """``text`` with every control character but tab and newline written as an escape (``\\x1b``)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def _positive(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() and int(text) > 0 else default


class Terminal:
    """Standard output or standard error, looked up at each write (so tests and redirections see it)."""

    def __init__(self, name: Literal["stdout", "stderr"], *, color: bool = True) -> None:
        self.name = name
        self._color_allowed = color

    @property
    def stream(self) -> TextIO:
        stream: TextIO = getattr(sys, self.name)
        return stream

    @property
    def is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    @property
    def color(self) -> bool:
        if not self._color_allowed or os.environ.get("NO_COLOR"):
            return False
        if os.environ.get("FORCE_COLOR"):
            return True
        return self.is_terminal and os.environ.get("TERM") != "dumb"

    def plain(self) -> Terminal:
        """The same stream, never coloured (``--no-color``)."""
        return Terminal(self.name, color=False)

    @property
    def size(self) -> tuple[int, int]:
        """Columns and lines: the terminal's, or ``COLUMNS``/``LINES``, or 80×25 for a pipe or a CI log."""
        if self.is_terminal:
            try:
                size = os.get_terminal_size(self.stream.fileno())
                return size.columns, size.lines
            except (OSError, ValueError, AttributeError):
                pass
        return _positive(os.environ.get("COLUMNS"), DEFAULT_SIZE[0]), _positive(os.environ.get("LINES"),
                                                                                DEFAULT_SIZE[1])

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def line(self, text: str = "", style: str = "") -> None:
        """One line; ``style`` is a colour name (``red``, ``green``, ``yellow``, ``cyan``) or ``bold``."""
        self._write(self._styled(printable(text), style) + "\n")

    def error(self, message: str) -> None:
        """``error: message``, the prefix in red on a colour terminal."""
        self._write(f"{self._styled('error:', 'red')} {printable(message)}\n")

    def json(self, data: Any) -> None:
        """``data`` as indented JSON; non-ASCII is escaped so any consumer and any locale can read it."""
        self._write(json.dumps(data, indent=2) + "\n")

    def rich(self) -> Any:
        """A rich Console on this stream, for what only rich draws (imported here, on first use)."""
        from rich.console import Console

        return Console(file=self.stream, width=self.width, highlight=False, soft_wrap=True,
                       color_system="auto" if self.color else None, force_terminal=self.color or None)

    def _styled(self, text: str, style: str) -> str:
        code = _CODES.get(style) if style and self.color else None
        return f"\x1b[{code}m{text}\x1b[0m" if code else text

    def _write(self, text: str) -> None:
        stream = self.stream
        try:
            stream.write(text)
        except UnicodeEncodeError:  # a stream that cannot hold the text (an ASCII-only locale): say it escaped
            encoding = getattr(stream, "encoding", None) or "ascii"
            stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()
