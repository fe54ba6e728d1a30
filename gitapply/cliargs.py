"""The command line's grammar: commands are functions whose defaults declare their options; argparse parses.

gitapply's options are all strings, numbers and flags, which argparse (a few milliseconds to import) handles
well. typer did the same job from the same kind of declarations, but cost 60-80 ms of every command (its
import, and building every command's parameters on each run; in typer 0.2x a bounded option also loads
pydantic, 0.15 s more), a third of what ``kubectl diff`` takes for a whole small app.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

Command = Callable[..., None]


@dataclass(frozen=True)
class Option:
    """``--flag VALUE`` (or a bare ``--flag`` for a bool); ``envvar`` supplies the default when set."""

    default: Any
    flags: tuple[str, ...]
    help: str = ""
    envvar: str | None = None
    metavar: str | None = None


@dataclass(frozen=True)
class Argument:
    """A positional parameter; ``...`` as the default makes it required."""

    default: Any
    help: str = ""


def option(default: Any, *flags: str, help: str = "", envvar: str | None = None,  # noqa: A002 - argparse's word
           metavar: str | None = None) -> Any:
    return Option(default, flags, help, envvar, metavar)


def argument(default: Any, help: str = "") -> Any:  # noqa: A002
    return Argument(default, help)


class Exit(Exception):  # noqa: N818 - it is not an error: a command's way to end with an exit code
    """Raised by a command to end with ``code``."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


# The annotations gitapply's commands use (strings: the modules use ``from __future__ import annotations``).
_TYPES: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float}


def _value_type(annotation: str) -> Callable[[str], Any] | None:
    bare = annotation.removeprefix("Optional[").removesuffix("]")
    if bare == "bool":
        return None
    if bare not in _TYPES:
        raise TypeError(f"unsupported option type {annotation!r}")
    return _TYPES[bare]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # a usage error: exit 2, as before, with the usage line first
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


class CommandLine:
    """Global options (``callback``) and commands (``command``), parsed from a list of arguments."""

    def __init__(self, prog: str, description: str, version: str) -> None:
        self.prog, self.description, self.version = prog, description, version
        self._commands: dict[str, Command] = {}
        self._callback: Command | None = None

    def command(self) -> Callable[[Command], Command]:
        def register(function: Command) -> Command:
            self._commands[function.__name__] = function
            return function
        return register

    def callback(self) -> Callable[[Command], Command]:
        def register(function: Command) -> Command:
            self._callback = function
            return function
        return register

    def run(self, argv: Sequence[str]) -> int:
        """Parse ``argv``, run the callback and the command; the exit code (``--help`` and usage errors too)."""
        parser = self._parser(self._command_named(argv))
        if not argv:
            parser.print_help()
            return 0
        try:
            parsed = vars(parser.parse_args(list(argv)))
        except SystemExit as exit_:
            return int(exit_.code or 0)
        name = parsed.pop("_command")
        try:
            if self._callback is not None:
                self._callback(**{key: parsed.pop(key) for key in _parameter_names(self._callback)})
            self._commands[name](**parsed)
        except Exit as exit_:
            return exit_.code
        return 0

    def _command_named(self, argv: Sequence[str]) -> str:
        """The command ``argv`` runs ("" for none): the first word that is not a global option or its value."""
        valued = {flag for parameter in (inspect.signature(self._callback).parameters.values()
                                         if self._callback else ())
                  if isinstance(parameter.default, Option) and _value_type(str(parameter.annotation))
                  for flag in parameter.default.flags}
        words = iter(argv)
        for word in words:
            if word in valued:
                next(words, None)
            elif not word.startswith("-"):
                return word if word in self._commands else ""
        return ""

    def _parser(self, command: str) -> argparse.ArgumentParser:
        """Every command is listed, but only ``command``'s parameters are declared: building all of them on
        each run would cost more (13 ms) than the rest of the command line."""
        width = _help_width()
        parser = _Parser(prog=self.prog, description=self.description,
                         formatter_class=functools.partial(argparse.HelpFormatter, width=width))
        parser.add_argument("--version", action="version", version=self.version,
                            help="Print gitapply's version and exit.")
        if self._callback is not None:
            _add_parameters(parser, self._callback)
        commands = parser.add_subparsers(dest="_command", metavar="COMMAND", required=True)
        for name, function in self._commands.items():
            doc = inspect.getdoc(function) or ""
            sub = commands.add_parser(name, help=doc.split("\n", 1)[0], description=doc,
                                      formatter_class=functools.partial(argparse.RawDescriptionHelpFormatter,
                                                                        width=width))
            if name == command:
                _add_parameters(sub, function)
        return parser


def _help_width() -> int:
    """What argparse would wrap help at, found once, without the shutil import (4 ms) argparse makes for
    every parameter declared when no width is given."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
        except (OSError, ValueError):
            columns = 80
    return max(columns, 40) - 2


def _parameter_names(function: Command) -> list[str]:
    return list(inspect.signature(function).parameters)


def _add_parameters(parser: argparse.ArgumentParser, function: Command) -> None:
    for name, parameter in inspect.signature(function).parameters.items():
        spec, annotation = parameter.default, str(parameter.annotation)
        if isinstance(spec, Argument):
            required = spec.default is ...
            parser.add_argument(name, metavar=name.upper(), help=spec.help, type=_value_type(annotation) or str,
                                nargs=None if required else "?", default=None if required else spec.default)
            continue
        if not isinstance(spec, Option):
            raise TypeError(f"{function.__name__}({name}): declare it with option() or argument()")
        value_type = _value_type(annotation)
        default = spec.default
        if spec.envvar and os.environ.get(spec.envvar):
            default = os.environ[spec.envvar]
        if value_type is None:
            if spec.default is not False:
                raise TypeError(f"{function.__name__}({name}): a flag must default to False")
            parser.add_argument(*spec.flags, dest=name, action="store_true", help=spec.help)
        else:
            shown = f"{spec.help} [default: {spec.default}]" if spec.default not in (None, "") else spec.help
            parser.add_argument(*spec.flags, dest=name, type=value_type, default=default, metavar=spec.metavar
                                or name.upper(), help=shown + (f" (env {spec.envvar})"
                                                                             if spec.envvar else ""))
