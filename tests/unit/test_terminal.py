"""What the command line writes: colour only where it is wanted, nothing a terminal would act on, any locale."""

from __future__ import annotations

import io
import json

import pytest

from gitapply.terminal import Terminal, printable


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def written(monkeypatch, stream: io.StringIO, write) -> str:
    monkeypatch.setattr("sys.stdout", stream)
    write(Terminal("stdout"))
    return stream.getvalue()


def test_a_pipe_or_a_ci_log_gets_plain_text(clean_env):
    text = written(clean_env, io.StringIO(), lambda out: (out.line("+ added", "green"), out.error("refused")))
    assert text == "+ added\nerror: refused\n"


def test_a_terminal_gets_colour_unless_no_color_or_a_dumb_terminal(clean_env):
    assert written(clean_env, TerminalStream(), lambda out: out.line("- gone", "red")) == "\x1b[31m- gone\x1b[0m\n"
    clean_env.setenv("TERM", "dumb")
    assert written(clean_env, TerminalStream(), lambda out: out.line("- gone", "red")) == "- gone\n"
    clean_env.delenv("TERM")
    clean_env.setenv("NO_COLOR", "1")
    assert written(clean_env, TerminalStream(), lambda out: out.line("- gone", "red")) == "- gone\n"


def test_force_color_colours_a_pipe_and_no_color_flag_wins_over_it(clean_env):
    clean_env.setenv("FORCE_COLOR", "1")
    assert "\x1b[32m" in written(clean_env, io.StringIO(), lambda out: out.line("+ x", "green"))
    assert written(clean_env, io.StringIO(), lambda out: out.plain().line("+ x", "green")) == "+ x\n"


def test_control_characters_from_the_cluster_are_shown_escaped_not_obeyed(clean_env):
    hostile = "value: \x1b]0;owned\x07\x1b[2J\rdone\ttab"
    text = written(clean_env, TerminalStream(), lambda out: out.line(hostile))
    assert text == "value: \\x1b]0;owned\\x07\\x1b[2J\\rdone\ttab\n"
    assert printable("café ✓") == "café ✓"


def test_json_is_indented_and_readable_by_any_consumer(clean_env):
    text = written(clean_env, io.StringIO(), lambda out: out.json({"name": "café", "n": [1]}))
    assert json.loads(text) == {"name": "café", "n": [1]}
    assert text.isascii() and text.startswith('{\n  "name"')


def test_a_stream_that_cannot_encode_the_text_gets_escapes_instead_of_a_crash(clean_env):
    raw = io.BytesIO()
    ascii_only = io.TextIOWrapper(raw, encoding="ascii")
    clean_env.setattr("sys.stdout", ascii_only)
    Terminal("stdout").line("data: café")
    assert raw.getvalue() == b"data: caf\\xe9\n"


def test_width_is_80_for_a_pipe_and_columns_when_set(clean_env):
    clean_env.setattr("sys.stdout", io.StringIO())
    assert Terminal("stdout").width == 80
    clean_env.setenv("COLUMNS", "120")
    assert Terminal("stdout").width == 120
