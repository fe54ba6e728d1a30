"""What an app is, once: where its desired state lives and how it is applied.

Every entry point (``gitapply diff``/``apply``/``drift``, the reconcile controller, an HTTP entry point) builds
one ``AppSpec`` and hands it to an ``AppSession``; nothing else describes an app.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ops.prepare import Request, app_name
from ..ops.sync import SyncOptions


@dataclass(frozen=True, slots=True)
class AppSpec:
    """One app: ``source`` says where its desired state is and how to plan it (the part of it, the inventory
    namespace, prune and its guard, the apply method and the appliers it adopts from); ``sync`` how to write
    (heal, replace, preflight)."""

    source: Request
    sync: SyncOptions = SyncOptions()

    @property
    def name(self) -> str:
        """The app's name: ``--app`` (checked), or made from the source's folder or repository name."""
        return app_name(self.source)
