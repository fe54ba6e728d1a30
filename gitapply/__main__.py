"""``python -m gitapply``."""

from .cli import main

main()
