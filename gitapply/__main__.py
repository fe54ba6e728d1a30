"""``python -m gitapply``."""

from .entry import main

main()
