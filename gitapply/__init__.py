"""gitapply: a GitOps apply/diff engine for Kubernetes.

Desired state lives in git, live state in a cluster; gitapply computes and applies the difference with the
same three-way merge as ``kubectl apply``. The merge engine is ``gitapply.merge``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
