"""The one boundary between the engine and whoever shows its messages: every error leaving a session is a
``GitapplyError`` (the layers below map their own), and no message carries a repository URL's credentials.

A URL with ``user:token@`` is what CI systems put in a clone URL; the token must not reach a terminal, a CI
log or the controller's logs, whichever layer wrote the message.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import GitapplyError
from ..source import redact_text


def redacted(err: GitapplyError) -> GitapplyError:
    """``err`` with the secret of every URL in its subject and message taken out (the same error if none)."""
    subject, message = redact_text(err.subject), redact_text(err.message)
    if (subject, message) == (err.subject, err.message):
        return err
    clean = copy.copy(err)
    clean.subject, clean.message = subject, message
    clean.args = (f"{subject}: {message}" if subject else message,)
    return clean


@contextmanager
def boundary() -> Iterator[None]:
    """Errors raised inside leave redacted; the original (which may hold the secret) is not chained."""
    try:
        yield
    except GitapplyError as err:
        clean = redacted(err)
        if clean is err:
            raise
        raise clean from None
