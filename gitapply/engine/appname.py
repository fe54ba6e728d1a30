"""The app's name: the value of the ``gitapply.io/app`` label on its objects and part of its inventory's name.

Both must be valid wherever they go, so the name is a DNS-1123 label (lower-case letters, digits and ``-``, at
most 63, alphanumeric at both ends): a label value allows more (``_``, ``.``, upper case), but the inventory
ConfigMap ``gitapply-inventory-NAME`` does not, and a name that passes one check and fails the other would let
objects be written and their inventory be refused.

A name given with ``--app`` is the user's word and is checked, not changed. A name derived from a folder or a
repository (``my_app``, ``Web.Frontend``, a long checkout directory) is made valid, the same way every time, so
the app keeps its name from run to run.
"""

from __future__ import annotations

import re

MAX_LENGTH = 63
_VALID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_INVALID_RUN = re.compile(r"[^a-z0-9]+")


class AppNameError(ValueError):
    """An explicit app name that cannot be used; the message says why and what would do."""


def checked(name: str) -> str:
    """An explicit name, unchanged; ``AppNameError`` if it is not a DNS-1123 label."""
    if len(name) <= MAX_LENGTH and _VALID.match(name):
        return name
    suggestion = derived(name)
    raise AppNameError(f"{name!r} cannot name an app: use lower-case letters, digits and '-', at most {MAX_LENGTH} "
                       f"characters, starting and ending with a letter or digit (e.g. --app {suggestion})")


def derived(base: str) -> str:
    """A valid name made from a folder or repository name: lower case, each run of other characters a single
    ``-``, and, when too long, cut with a short hash of the whole so that two long names stay apart."""
    name = _INVALID_RUN.sub("-", base.lower()).strip("-") or "default"
    if len(name) <= MAX_LENGTH and name == base:
        return name
    if len(name) > MAX_LENGTH:
        import hashlib  # on use: only long names need it, and it costs more than the rest of this module

        digest = hashlib.sha256(base.encode()).hexdigest()[:8]
        name = f"{name[:MAX_LENGTH - 9].rstrip('-')}-{digest}"
    return name
