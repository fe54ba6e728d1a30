"""gitapply's merge engine: strategic merge patch and JSON merge patch, as Kubernetes defines them.

Pure: plain JSON-like dicts in, new values out, no I/O, nothing imported from the rest of gitapply.

    from gitapply.merge import Schema, three_way_patch, two_way_patch, apply_patch, ConflictError
    schema = Schema.from_openapi(doc)                   # or gitapply.bundled.schema(): kubernetes-validate's
    node = schema.for_kind("apps/v1", "Deployment")     # None for a kind without patch metadata
    patch = three_way_patch(last_applied, desired, live, node)
    predicted = apply_patch(live, patch, node)

What this module exports is the package's API: the rest of gitapply imports ``gitapply.merge`` only, never
its modules (``tests/unit/test_layering.py``), so their insides can change freely.
"""

from .directives import go_str
from .errors import BadPatchError, ConflictError, MergeError, MissingMergeKeyError, PreconditionError
from .patch import apply_patch, merge_patches, three_way_patch, two_way_patch
from .schema import FieldMeta, Node, Schema

__all__ = [
    "BadPatchError",
    "ConflictError",
    "FieldMeta",
    "MergeError",
    "MissingMergeKeyError",
    "Node",
    "PreconditionError",
    "Schema",
    "apply_patch",
    "go_str",
    "merge_patches",
    "three_way_patch",
    "two_way_patch",
]
