"""What an app is, once: where its desired state lives and how it is applied.

Every entry point (``gitapply diff``/``apply``/``drift``, the reconcile controller, an HTTP entry point) builds
one ``AppSpec`` and hands it to an ``AppSession``; nothing else describes an app.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..ops.prepare import Request, app_name
from ..ops.sync import SyncOptions


class ApplyMethod(StrEnum):
    """How objects are written. Client-side apply keeps the last-applied record in an annotation and sends a
    three-way patch, as ``kubectl apply`` does."""

    CLIENT_SIDE = "client-side"


@dataclass(frozen=True, slots=True)
class AppSpec:
    """One app: ``source`` says where its desired state is and which part of it (with the inventory namespace,
    prune and its guard); ``sync`` how to write (heal, replace, preflight); ``method`` how objects are applied."""

    source: Request
    sync: SyncOptions = SyncOptions()
    method: ApplyMethod = ApplyMethod.CLIENT_SIDE

    @property
    def name(self) -> str:
        """The app's name: ``--app`` (checked), or made from the source's folder or repository name."""
        return app_name(self.source)
