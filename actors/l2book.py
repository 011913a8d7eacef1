"""The pure L2 order book: price levels per side, sorted, no event loop, no I/O.

``L2Book`` holds one venue/symbol book. Levels are ``(price, quantity)`` with absolute
quantities (a delta's 0.0 removes the level).

Each side is a ``sortedcontainers.SortedList`` of keys ordered best-first (asks by price, bids
by ``-price``) beside a plain ``dict`` from key to the ``(price, quantity)`` tuple — i.e. a
SortedDict taken apart. Why not ``SortedDict`` itself: its ``__setitem__``/``pop`` and value
views are Python-level wrappers over exactly this pair, and ``top(k)`` through them costs ~3 µs
for k=20 against ~1.5 µs here (``map(dict.__getitem__, islice(sorted_list, k))`` runs in C).
Insert/remove is O(log n) per level; updating an existing level is one dict store.

The number of levels per side is bounded by ``max_levels``: after every insertion that takes a
side over the bound, the level farthest from the top is evicted (possibly the one just added).
Evicted far levels are simply unknown to us until a later delta names them again; only the top
of the book is ever read.

The book never decides whether a delta belongs to it: sequence continuity is the venue's sync
rule's job (``protocols.venue.SyncRule``), applied by ``actors.book.BookActor``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from sortedcontainers import SortedList

from protocols.messages import BookDelta, BookSnapshot, Level

DEFAULT_MAX_LEVELS = 1000


class _Side:
    """One side of the book: sorted keys (best first) and key -> (price, qty)."""

    __slots__ = ("keys", "levels", "max_levels", "get")

    def __init__(self, max_levels: int) -> None:
        self.keys = SortedList()
        self.levels: dict[float, Level] = {}
        self.max_levels = max_levels
        self.get = self.levels.__getitem__

    def set(self, key: float, level: Level) -> None:
        levels = self.levels
        if key not in levels:
            self.keys.add(key)
            levels[key] = level
            if len(levels) > self.max_levels:
                del levels[self.keys.pop()]  # the farthest level from the top
        else:
            levels[key] = level

    def remove(self, key: float) -> None:
        if self.levels.pop(key, None) is not None:
            self.keys.remove(key)

    def clear(self) -> None:
        self.keys.clear()
        self.levels.clear()

    def top(self, k: int) -> tuple[Level, ...]:
        return tuple(map(self.get, islice(self.keys, k)))

    def best(self) -> Level | None:
        return self.levels[self.keys[0]] if self.levels else None

    def __len__(self) -> int:
        return len(self.levels)


class L2Book:
    """One side-bounded L2 book. Not thread-safe; owned by exactly one actor."""

    __slots__ = ("_bids", "_asks", "max_levels", "seq")

    def __init__(self, max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        if max_levels < 1:
            raise ValueError(f"max_levels must be >= 1, got {max_levels}")
        self.max_levels = max_levels
        self.seq = 0  # the last sequence number applied (snapshot seq or delta last_seq)
        self._bids = _Side(max_levels)  # keyed by -price: highest bid first
        self._asks = _Side(max_levels)  # keyed by price: lowest ask first

    # --- whole-book updates -------------------------------------------------------------------

    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        """Replace the whole book with a snapshot; ``seq`` becomes ``snapshot.seq``."""
        self._load(snapshot.bids, snapshot.asks)
        self.seq = snapshot.seq

    def replace(self, delta: BookDelta) -> None:
        """Replace the whole book with a full push (Gate ``full: true``); seq = ``last_seq``."""
        self._load(delta.bids, delta.asks)
        self.seq = delta.last_seq

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self.seq = 0

    def _load(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        self._bids.clear()
        self._asks.clear()
        # Levels load like a delta onto an empty book (0 removes), so a snapshot that names a
        # price twice ends as its last mention, the same as a delta would.
        for price, qty in bids:
            if qty > 0.0:
                self._bids.set(-price, (price, qty))
            else:
                self._bids.remove(-price)
        for price, qty in asks:
            if qty > 0.0:
                self._asks.set(price, (price, qty))
            else:
                self._asks.remove(price)

    # --- incremental updates ------------------------------------------------------------------

    def apply(self, delta: BookDelta) -> int:
        """Apply a delta's levels (absolute quantities; 0 removes); ``seq`` = ``last_seq``.

        Returns the number of level updates applied (for rate accounting).
        """
        bids, asks = self._bids, self._asks
        for price, qty in delta.bids:
            if qty > 0.0:
                bids.set(-price, (price, qty))
            else:
                bids.remove(-price)
        for price, qty in delta.asks:
            if qty > 0.0:
                asks.set(price, (price, qty))
            else:
                asks.remove(price)
        self.seq = delta.last_seq
        return len(delta.bids) + len(delta.asks)

    # --- reads --------------------------------------------------------------------------------

    def top(self, k: int) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """The best ``k`` levels per side, best first: ``(bids, asks)``."""
        bids, asks = self._bids, self._asks  # inlined _Side.top: this is the hot read
        return (tuple(map(bids.get, islice(bids.keys, k))),
                tuple(map(asks.get, islice(asks.keys, k))))

    def best_bid(self) -> Level | None:
        return self._bids.best()

    def best_ask(self) -> Level | None:
        return self._asks.best()

    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a broken or stale book)."""
        bid, ask = self._bids.best(), self._asks.best()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    def levels(self) -> tuple[int, int]:
        """Number of levels held per side: ``(bids, asks)``."""
        return len(self._bids), len(self._asks)

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def __repr__(self) -> str:
        return (f"L2Book(seq={self.seq}, best_bid={self.best_bid()}, best_ask={self.best_ask()}, "
                f"levels={self.levels()})")
