"""Where live state lives: the ``Cluster`` protocol and its backends.

``cluster.kube`` (the real API server) is not imported here: it pulls in the ``kubernetes`` client, which
costs ~0.4 s, and only commands that talk to a cluster should pay that.
"""

from .base import Cluster, Propagation, Resource

__all__ = ["Cluster", "Propagation", "Resource"]
