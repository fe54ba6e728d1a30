"""The ``gitapply`` executable's first code: ``--version`` answered before the command line is built.

Building the command line costs about 0.1 s of imports; a version check in a script or a support question
should not pay it. Everything else goes to ``cli.main``.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:] == ["--version"]:
        from . import __version__

        print(f"gitapply {__version__}")
        return
    from .cli import main as run

    run()
