"""The command line's grammar: what a user types becomes the command's arguments, or a usage error (exit 2)."""

from __future__ import annotations

import contextlib
import io
from typing import Optional

import pytest

from gitapply.cliargs import CommandLine, Exit, argument, option


def line() -> tuple[CommandLine, dict]:
    seen: dict = {}
    app = CommandLine("tool", "A tool.", "tool 1.0")

    @app.callback()
    def _globals(local: Optional[str] = option(None, "--local", envvar="TOOL_LOCAL", help="A file.")) -> None:
        seen["local"] = local

    @app.command()
    def diff(path: str = argument(..., help="Where."), count: int = option(3, "-c", "--count"),
             ratio: Optional[float] = option(None, "--ratio"), prune: bool = option(False, "--prune")) -> None:
        """Show it.

        At length."""
        seen.update(path=path, count=count, ratio=ratio, prune=prune)
        if prune:
            raise Exit(4)

    return app, seen


def run(app: CommandLine, *args: str) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = app.run(list(args))
    return code, printed.getvalue()


def test_options_are_converted_to_the_declared_types_and_flags_are_bools():
    app, seen = line()
    assert run(app, "--local", "db.json", "diff", "dir", "-c", "7", "--ratio", "0.5") == (0, "")
    assert seen == {"local": "db.json", "path": "dir", "count": 7, "ratio": 0.5, "prune": False}


def test_a_command_ends_with_the_exit_code_it_raises():
    app, seen = line()
    assert run(app, "diff", "dir", "--prune")[0] == 4 and seen["prune"] is True and seen["count"] == 3


def test_an_environment_variable_gives_the_default_and_the_flag_wins(monkeypatch):
    monkeypatch.setenv("TOOL_LOCAL", "from-env.json")
    app, seen = line()
    run(app, "diff", "dir")
    assert seen["local"] == "from-env.json"
    run(app, "--local", "flag.json", "diff", "dir")
    assert seen["local"] == "flag.json"


@pytest.mark.parametrize("args, complaint", [
    (("diff",), "required: PATH"),
    (("diff", "dir", "-c", "many"), "invalid int value: 'many'"),
    (("diff", "dir", "--colour"), "unrecognized arguments: --colour"),
    (("sync", "dir"), "invalid choice: 'sync'"),
])
def test_usage_errors_exit_2_with_the_usage_line_and_what_was_wrong(args, complaint):
    app, seen = line()
    code, printed = run(app, *args)
    assert code == 2 and printed.startswith("usage: tool") and complaint in printed and "Traceback" not in printed
    assert "path" not in seen, "the command did not run"


def test_help_lists_the_commands_and_a_commands_help_its_options():
    app, _ = line()
    code, printed = run(app, "--help")
    assert code == 0 and "diff" in printed and "Show it." in printed and "TOOL_LOCAL" in printed
    code, printed = run(app, "diff", "--help")
    assert code == 0 and "At length." in printed and "--count COUNT" in printed and "[default: 3]" in printed
    assert run(app, "--version") == (0, "tool 1.0\n")


def test_no_arguments_print_the_help_and_exit_0():
    app, _ = line()
    code, printed = run(app)
    assert code == 0 and printed.startswith("usage: tool")


def test_a_parameter_declared_without_option_or_argument_is_a_programming_error():
    app = CommandLine("tool", "A tool.", "tool 1.0")

    @app.command()
    def broken(path: str = "x") -> None:
        pass

    with pytest.raises(TypeError, match="declare it with option"):
        run(app, "broken")


def test_a_global_options_value_named_like_a_command_is_still_its_value():
    """Only the command run has its parameters declared; finding it must not mistake an option's value."""
    app, seen = line()

    @app.command()
    def apply(path: str = argument(..., help="Where.")) -> None:
        """Apply it."""
        seen.update(applied=path)

    assert run(app, "--local", "diff", "apply", "dir") == (0, "")
    assert seen == {"local": "diff", "applied": "dir"}
    code, text = run(app, "--local", "x", "diff", "--help")
    assert code == 0 and "--count" in text and "--ratio" in text
    code, text = run(app, "--help")
    assert code == 0 and "diff" in text and "apply" in text and "Apply it." in text
