"""The seam between the entry points and the engine: an ``AppSpec`` says what an app is, an ``AppSession``
reads, plans, applies, waits and reports drift for it over a ``Cluster``.

Entry points (``cli``, ``controller``) import this package; nothing below it imports them."""

from ..model import ApplyMethod
from ..ops.prepare import Request
from ..ops.sync import SyncOptions
from .session import AppSession, Rollouts
from .spec import AppSpec

__all__ = ["AppSession", "AppSpec", "ApplyMethod", "Request", "Rollouts", "SyncOptions"]
