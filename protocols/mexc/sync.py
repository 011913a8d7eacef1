"""MEXC's local order book rule (mexc.md §1.5, the current site's 7 steps) as pure functions.

Versions travel as protobuf strings; the codec has already made them ints
(``first_seq = int(fromVersion)``, ``last_seq = int(toVersion)``). With L the snapshot's
``lastUpdateId``:

- step 2-4: buffer pushes first; if ``L < fromVersion`` of the **first** buffered push the
  snapshot is too old -> fetch again (``start`` returns None). With nothing buffered the rule
  cannot be evaluated -> None as well: wait for one push, then fetch (step 2 precedes step 3).
- step 5: drop every buffered push with ``toVersion <= L``.
- step 6: the first remaining push must have ``fromVersion <= L + 1`` (and, not being dropped,
  ``L + 1 <= toVersion``), else the data is discontinuous -> fetch again (None).
- step 7: after it, every push needs ``fromVersion == previous toVersion + 1`` (``check``):
  older or duplicate pushes (``toVersion <= local``) are IGNOREd, anything else is a GAP.

The book actor applies ``buffered[start(...)]`` directly (it satisfies the first-push rule,
which allows an overlap with the snapshot), then passes every later push through ``check``.
When ``start`` returns ``len(buffered)`` (all buffered pushes are older than the snapshot), keep
the snapshot, keep buffering and call ``start`` again as pushes arrive (actors/book.py does):
the push straddling L then gets the first-push rule, which ``check`` alone would call a GAP.

Limit-depth pushes (``spot@public.limit.depth.v3.api.pb@SYM@N``, decoded as ``full`` deltas
with first_seq = last_seq = version) are a top-N book each: ``check`` answers REPLACE for a
newer one and IGNORE for an older or equal one; they are never part of a versioned chain.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocols.messages import BookDelta
from protocols.venue import APPLY, GAP, IGNORE, REPLACE, SyncAction


class MexcSync:
    """Stateless; one instance serves every book of the venue (``MexcVenue.sync``)."""

    __slots__ = ()

    def start(self, snapshot_seq: int, buffered: Sequence[BookDelta]) -> int | None:
        if not buffered or snapshot_seq < buffered[0].first_seq:
            return None  # nothing to judge by yet, or the snapshot is too old (step 4)
        for index, delta in enumerate(buffered):
            if delta.last_seq <= snapshot_seq:
                continue  # step 5: covered by the snapshot
            if delta.first_seq > snapshot_seq + 1:
                return None  # step 6: versions between the snapshot and this push are missing
            return index  # fromVersion <= L+1 <= toVersion
        return len(buffered)

    def check(self, last_seq: int, delta: BookDelta) -> SyncAction:
        if delta.full:
            return REPLACE if delta.last_seq > last_seq else IGNORE
        if delta.first_seq == last_seq + 1:
            return APPLY
        if delta.last_seq <= last_seq:
            return IGNORE  # a duplicate or a late push already covered
        return GAP
