"""Gate.io's documented local order book procedure (gateio.md §4.3) as two pure functions.

Gate's book id increases by 1 per book change; a delta covers ids ``U..u`` and the REST
snapshot's ``id`` is the last id it contains (``baseID``). Amounts are absolute, so a delta
that overlaps the book (``U <= L+1 <= u``) is applied whole.

Since 2025 the server may push ``full: true`` at any time: that delta IS the book, replaces it
whatever the local id, and the local id becomes its ``u`` (gateio.md §4.2).

``spot.obu`` (order book v2) has its own rule (``GateObuSync``): no REST snapshot is fetched;
the first push of a subscription is ``full`` and sets the local id to its ``u``; an incremental
push applies only if ``U == local + 1``; anything else means updates were lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocols.messages import BookDelta
from protocols.venue import APPLY, GAP, IGNORE, REPLACE, SyncAction


class GateSync:
    """Satisfies ``protocols.venue.SyncRule`` for ``spot.order_book_update``."""

    def start(self, snapshot_seq: int, buffered: Sequence[BookDelta]) -> int | None:
        """§4.3 steps 4–5: dump deltas with ``u < baseID+1``; if the first one left starts after
        ``baseID+1`` the snapshot is behind (None: fetch again); else start at it, as it holds
        ``U <= baseID+1 <= u``. A full push left in the buffer needs no snapshot at all, so the
        first remaining delta being full is a valid start however far ahead it is."""
        want = snapshot_seq + 1
        for index, delta in enumerate(buffered):
            if delta.last_seq < want:
                continue  # already inside the snapshot: dump
            if delta.first_seq <= want or delta.full:
                return index
            return None  # baseID+1 < U: the snapshot is older than the stream
        return len(buffered)

    def check(self, last_seq: int, delta: BookDelta) -> SyncAction:
        """§4.3 step 6 with L = the local last-applied id."""
        if delta.full:
            return REPLACE
        if delta.last_seq < last_seq + 1:
            return IGNORE
        if delta.first_seq > last_seq + 1:
            return GAP
        return APPLY


class GateObuSync:
    """``protocols.venue.SyncRule`` for ``spot.obu`` (gateio.md §4.2, order book v2).

    No REST snapshot takes part (the book actor fetches none for this rule): the doc's procedure
    has none, "the first push is always full:true (replace the book, local ID = u)", and the
    REST ``id`` is not documented to share ``u``'s numbering. Only a ``full`` push starts a
    book, so a (re)started book has its connection resubscribe (the doc's recovery from a gap:
    "unsubscribe and resubscribe"), and waits for the new subscription's first push, which is
    full."""

    resubscribe_to_resync = True

    def start(self, snapshot_seq: int, buffered: Sequence[BookDelta]) -> int | None:
        """The first full push starts the book (``snapshot_seq`` is not used: there is none)."""
        return next((i for i, delta in enumerate(buffered) if delta.full), len(buffered))

    def check(self, last_seq: int, delta: BookDelta) -> SyncAction:
        if delta.full:
            return REPLACE
        if delta.first_seq == last_seq + 1:
            return APPLY
        if delta.last_seq <= last_seq:
            # a push already applied (e.g. sent twice): absolute amounts, nothing new. The doc's
            # rule would resubscribe; ignoring it loses nothing and keeps the book.
            return IGNORE
        return GAP
