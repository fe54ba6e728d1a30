"""What ``kubectl apply`` would do to one object, decided without I/O.

- No live object: create it, carrying the last-applied annotation.
- A live object: the three-way patch between the configuration recorded on it (the last-applied annotation),
  the desired configuration (annotated with itself) and the live object; strategic merge patch for kinds with
  patch metadata, JSON merge patch otherwise.
- Unchanged when the patch is empty, or when applying it locally leaves the live object as it is (a field
  with strategy ``replace`` is always in kubectl's patch, though it changes nothing).

gitapply's own bookkeeping (the app label, the commit annotation) is added to the request but kept out of
the last-applied annotation, so that the annotation stays byte for byte what ``kubectl apply`` writes and
the two tools can take turns on an object without undoing each other.

``predicted`` is the live object as the API server will store it (before its own defaulting, after the known
quirks in ``engine.normalize``), which is what ``diff`` shows and what ``--dry-run`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import PlanError
from ..merge import MergeError, Node, apply_patch, three_way_patch
from ..model import Action, Change, ObjectKey, Origin, PatchType
from .lastapplied import LAST_APPLIED, annotated, last_applied
from .normalize import by_type, keep_defaults_in_lists, keep_server_owned, normalised, without_omitted_zeros
from .rules import has_pointer, without_pointer


@dataclass(frozen=True, slots=True)
class Bookkeeping:
    """Labels and annotations gitapply sets on every object it applies, outside the last-applied record."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


NO_BOOKKEEPING = Bookkeeping()


def plan_object(
    desired: dict[str, Any],
    live: dict[str, Any] | None,
    node: Node | None,
    *,
    overwrite: bool = True,
    bookkeeping: Bookkeeping = NO_BOOKKEEPING,
    origin: Origin | None = None,
    left_alone: tuple[str, ...] = (),
    keep_when_removed: tuple[str, ...] = (),
    record: dict[str, Any] | None = None,
) -> Change:
    """Decide create / patch / unchanged for one object, exactly as ``kubectl apply`` would.

    ``left_alone`` (JSON pointers) are fields gitapply neither writes nor records (ignore rules, fields an
    HPA owns): they are taken out of the desired and the last-applied configuration, so the patch neither
    sets nor deletes them. ``keep_when_removed`` fields that git no longer has are taken out of the last
    applied configuration only, so the live value stays (``kubectl apply`` would delete it). ``record`` stands
    for the last-applied annotation of an object that has none (it was applied server-side: ``serverside``).
    """
    key = ObjectKey.of(desired)
    for pointer in left_alone:
        desired = without_pointer(desired, pointer)
    modified = annotated(desired)
    if live is None:
        body = with_bookkeeping(modified, bookkeeping)
        return Change(key, Action.CREATE, desired, None, body, None, normalised(body), origin)
    patch_type = PatchType.STRATEGIC if node is not None else PatchType.MERGE
    try:
        original: dict[str, Any] | None
        basis: dict[str, Any] | None
        sent = by_type(modified, node)
        if overwrite and _recorded_text(live) == modified["metadata"]["annotations"][LAST_APPLIED]:
            # git has not changed since the last apply: nothing was removed from it, so the deletions half
            # of the three-way patch is empty and the record need not be parsed (most objects, most runs)
            original, basis = None, desired
            sent = without_omitted_zeros(sent, sent, live)
        else:
            recorded = last_applied(live) or _without_bookkeeping(record, bookkeeping)
            original = by_type(_without_rules(recorded, desired, left_alone, keep_when_removed), node)
            basis = original
            sent, original = without_omitted_zeros(sent, original, live), without_omitted_zeros(original, sent, live)
        kubectls = three_way_patch(original, sent, live, node, overwrite=overwrite)
        predicted = predicted_after(live, kubectls, node, basis)
        changed = predicted != live
        # the commit annotation names the commit an object last changed in: an object git left as it was
        # keeps its own and costs no write (only a missing app label is added)
        marks = bookkeeping if changed else Bookkeeping(bookkeeping.labels, {})
        patch = _patch_bookkeeping(kubectls if changed else {}, live, marks)
        if patch is not kubectls:  # bookkeeping was added: predict again, with it
            predicted = predicted_after(live, patch, node, basis)
    except (MergeError, ValueError) as err:
        raise PlanError(str(key), str(err)) from err
    if not patch or predicted == live:
        return Change(key, Action.UNCHANGED, desired, live, {}, patch_type, live, origin)
    return Change(key, Action.PATCH, desired, live, patch, patch_type, predicted, origin)


def predicted_after(live: dict[str, Any], patch: dict[str, Any], node: Node | None,
             basis: dict[str, Any] | None) -> dict[str, Any]:
    """The live object after ``patch``, as the server will store it (see ``engine.normalize``)."""
    if not patch:
        return live
    predicted = normalised(apply_patch(live, patch, node))
    if node is not None:
        predicted = keep_server_owned(predicted, live)
    return keep_defaults_in_lists(predicted, live, basis)


def _recorded_text(live: dict[str, Any]) -> str | None:
    return ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)


def _without_rules(original: dict[str, Any] | None, desired: dict[str, Any], left_alone: tuple[str, ...],
                   keep_when_removed: tuple[str, ...]) -> dict[str, Any] | None:
    if original is None:
        return None
    for pointer in left_alone:
        original = without_pointer(original, pointer)
    for pointer in keep_when_removed:
        if not has_pointer(desired, pointer):
            original = without_pointer(original, pointer)
    return original


def _without_bookkeeping(record: dict[str, Any] | None, bookkeeping: Bookkeeping) -> dict[str, Any] | None:
    """A record read from server-side apply's field set holds gitapply's bookkeeping, which the last-applied
    annotation never does: out of it, or the patch would delete the label it then finds present."""
    if record is None:
        return None
    metadata = dict(record.get("metadata") or {})
    for section, ours in (("labels", bookkeeping.labels), ("annotations", bookkeeping.annotations)):
        kept = {k: v for k, v in (metadata.get(section) or {}).items() if k not in ours}
        if kept:
            metadata[section] = kept
        else:
            metadata.pop(section, None)
    return {**record, "metadata": metadata}


def with_bookkeeping(obj: dict[str, Any], bookkeeping: Bookkeeping) -> dict[str, Any]:
    """``obj`` with gitapply's labels and annotations added (a section it adds nothing to is left as it is)."""
    if not bookkeeping.labels and not bookkeeping.annotations:
        return obj
    metadata = dict(obj.get("metadata") or {})
    for section, added in (("labels", bookkeeping.labels), ("annotations", bookkeeping.annotations)):
        if added:
            metadata[section] = {**(metadata.get(section) or {}), **added}
    return {**obj, "metadata": metadata}


def _patch_bookkeeping(patch: dict[str, Any], live: dict[str, Any], bookkeeping: Bookkeeping) -> dict[str, Any]:
    """The patch plus whatever bookkeeping the live object lacks."""
    live_metadata = live.get("metadata") or {}
    patched = patch.get("metadata") or {}
    additions: dict[str, dict[str, str | None]] = {}
    for section, wanted in (("labels", bookkeeping.labels), ("annotations", bookkeeping.annotations)):
        have = live_metadata.get(section) or {}
        missing: dict[str, str | None] = {name: value for name, value in wanted.items() if have.get(name) != value}
        if wanted and section in patched and patched[section] is None:
            # git dropped its last label: kubectl's patch clears the whole map, which would take gitapply's
            # own label with it; delete git's labels one by one instead
            missing.update({name: None for name in have if name not in wanted})
            additions[section] = missing
        elif missing:
            additions[section] = missing
    if not additions:
        return patch
    metadata = dict(patched)
    for section, missing in additions.items():
        metadata[section] = {**(metadata.get(section) or {}), **missing}
    return {**patch, "metadata": metadata}
