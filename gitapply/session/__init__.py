"""The seam between the entry points and the engine: an ``AppSpec`` says what an app is, an ``AppSession``
reads, plans, applies, waits and reports drift for it over a ``Cluster``.

Entry points (``cli``, ``controller``) import this package; nothing below it imports them."""

from .session import AppSession, Rollouts
from .spec import ApplyMethod, AppSpec

__all__ = ["AppSession", "AppSpec", "ApplyMethod", "Rollouts"]
