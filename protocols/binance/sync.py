"""Binance's local-order-book procedure (binance.md §3.2) as two pure functions.

``first_seq``/``last_seq`` of a ``BookDelta`` are the event's ``U``/``u``; the snapshot's and
the book's sequence is ``lastUpdateId`` / ``L``.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocols.messages import BookDelta
from protocols.venue import APPLY, GAP, IGNORE, SyncAction


class BinanceSync:
    """``protocols.venue.SyncRule`` for Binance diff-depth streams."""

    def start(self, snapshot_seq: int, buffered: Sequence[BookDelta]) -> int | None:
        """Steps 4-5: which buffered event to apply first after loading the snapshot.

        With an empty buffer there is no ``U_first`` to compare with (step 2 asks the caller to
        buffer first); we return 0 and ``check`` judges the first live event instead.
        """
        if not buffered:
            return 0
        if snapshot_seq < buffered[0].first_seq:  # step 4: snapshot older than the stream: refetch
            return None
        for index, delta in enumerate(buffered):
            if delta.last_seq <= snapshot_seq:  # step 5: already inside the snapshot, drop
                continue
            # step 5: the first remaining event must straddle the snapshot: U <= L+1 <= u
            # (u >= L+1 holds here since u > L); otherwise the buffer itself has a hole.
            return index if delta.first_seq <= snapshot_seq + 1 <= delta.last_seq else None
        return len(buffered)

    def check(self, last_seq: int, delta: BookDelta) -> SyncAction:
        """The update procedure for one event against the book's update ID ``L``."""
        if delta.last_seq < last_seq:  # u < L: entirely old
            return IGNORE
        if delta.first_seq > last_seq + 1:  # U > L+1: events were missed
            return GAP
        # Otherwise apply, exactly as documented. This includes u == L (the doc only ignores
        # u < L): such an event ends where the book already is, so its absolute quantities are
        # the ones the book holds for those prices, and re-applying it changes nothing.
        return APPLY
