"""Running the command line in-process, as a user would from a shell: its exit code and everything it printed."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from gitapply.cli import app


@dataclass(frozen=True)
class Result:
    exit_code: int
    output: str  # standard output and standard error, interleaved as a terminal shows them


def invoke(args: list[str]) -> Result:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = app.run(args)
    return Result(code, printed.getvalue())
