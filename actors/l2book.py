"""The L2 order book: price levels per side, sorted, no event loop, no I/O.

``L2Book`` holds one venue/symbol book: the compiled ``actors._l2book.L2Book`` where it is
built, else ``PyL2Book``, the pure-Python book below (``protocols.compiled`` chooses; ``CORE``
says which). Both have the same contract and the same results; this docstring describes the
pure one, whose design the compiled one keeps in C arrays (see ``actors/_l2book.pyx``).

Levels are ``(price, quantity)`` with absolute quantities (a delta's 0.0 removes the level).
It sits on the hottest path of the engine: every delta of every venue goes through ``apply``
and is followed by a ``top(depth)`` read for the ``BookView`` (``actors.book``), so both are
written for CPython's speed, not for elegance.

Layout, per side: a plain ``dict`` from key to the ``(price, quantity)`` level, beside a plain
``list`` of the same keys in ascending order, maintained with ``bisect`` (C). Bids are keyed by
``price``, asks by ``-price``, so on both sides the best level is at the END of the list (where
the activity is: inserts and deletes near the top move few pointers) and the farthest is at
index 0 (eviction). The same key objects are in the list and the dict, so lookups during reads
hit the identity shortcut. The dict holds the delta's own level tuples (``Level`` is an
immutable tuple by the messages contract; storing it saves a tuple per update), so ``top(k)`` is
a C slice plus an ``itemgetter`` over the dict, with no per-level allocation.

- update of an existing level (~70% of a busy pair's stream): one dict store, no list work;
- insert: ``insort`` + at the bound one ``list.pop(0)`` (a C memmove) and a dict delete;
- delete: a dict delete + ``bisect_left`` + ``del list[i]``;
- both bisects first try the best ``_HINT`` levels (where almost all activity lands), halving
  the comparisons; a key outside that window gets the full search.

Why not ``SortedDict`` / ``SortedList`` (DESIGN.md says "O(log n) per level (SortedDict)"):
this deviates from the letter of the design on purpose. A bisect-maintained list is O(log n)
search plus an O(n) pointer move, but the move is a C ``memmove``/loop over at most
``max_levels`` (1000) pointers — ~40-150 ns — while ``sortedcontainers`` pays for its O(log n)
in pure-Python method calls: at 1000 keys, ``SortedList.add`` + ``remove`` take ~620 ns against
~250 ns for ``insort`` + ``bisect_left``/``del`` (~170 ns with the hint). Measured on the
issue-8 stream (1000 levels a side, 1M level updates, 70/15/15% update/insert/delete;
``python -m benchmarks book``, same run as the peers; see benchmarks/RESULTS.md):

=====================  =================  ===========  ==========================
(same run)             SortedList + dict  this layout  peers
=====================  =================  ===========  ==========================
apply (updates/s)      3.27M              5.83M        ccxt 2.85M, C ext 8.99M
best bid + ask         449 ns             138 ns       ccxt 98 ns
top(20) + BookView     2.14 µs            1.32 µs
=====================  =================  ===========  ==========================

(The SortedList column is the previous version's run; the rest is one run: 2.05x ccxt, 0.65x
the ``order-book`` C extension. A plain dict with no order at all does 11.8M: the pure-Python
loop itself is the floor, which is why 3x ccxt is out of reach for any ordered book here.)

The bound keeps the O(n) term small; a much larger ``max_levels`` would favour a tree again.

The number of levels per side is bounded by ``max_levels``: after every insertion that takes a
side over the bound, the level farthest from the top is evicted (possibly the one just added).
Evicted far levels are simply unknown to us until a later delta names them again; only the top
of the book is ever read.

The book never decides whether a delta belongs to it: sequence continuity is the venue's sync
rule's job (``protocols.venue.SyncRule``), applied by ``actors.book.BookActor``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from operator import itemgetter

from protocols import compiled
from protocols.messages import BookDelta, BookSnapshot, Level

DEFAULT_MAX_LEVELS = 1000

# Levels from the top searched first by insert/delete (a venue's activity concentrates there);
# 32 covers ~98% of the issue-8 stream's inserts and deletes.
_HINT = 32


class _Load:
    """A snapshot or full push fed through ``apply`` (what ``apply`` reads of a delta)."""

    __slots__ = ("bids", "asks", "last_seq")

    def __init__(self, bids: Sequence[Level], asks: Sequence[Level], last_seq: int) -> None:
        self.bids, self.asks, self.last_seq = bids, asks, last_seq


class PyL2Book:
    """One side-bounded L2 book. Not thread-safe; owned by exactly one actor."""

    __slots__ = ("max_levels", "seq", "_bid_levels", "_bid_keys", "_bid_get",
                 "_ask_levels", "_ask_keys", "_ask_get")

    def __init__(self, max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        if max_levels < 1:
            raise ValueError(f"max_levels must be >= 1, got {max_levels}")
        self.max_levels = max_levels
        self.seq = 0  # the last sequence number applied (snapshot seq or delta last_seq)
        # The dicts and lists are never rebound (the getters are bound to the dicts).
        self._bid_levels: dict[float, Level] = {}  # price -> (price, qty)
        self._bid_keys: list[float] = []  # prices ascending: best bid last
        self._ask_levels: dict[float, Level] = {}  # -price -> (price, qty)
        self._ask_keys: list[float] = []  # -prices ascending: best (lowest) ask last
        self._bid_get = self._bid_levels.__getitem__
        self._ask_get = self._ask_levels.__getitem__

    # --- whole-book updates -------------------------------------------------------------------

    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        """Replace the whole book with a snapshot; ``seq`` becomes ``snapshot.seq``."""
        self._load(snapshot.bids, snapshot.asks, snapshot.seq)

    def replace(self, delta: BookDelta) -> None:
        """Replace the whole book with a full push (Gate ``full: true``); seq = ``last_seq``."""
        self._load(delta.bids, delta.asks, delta.last_seq)

    def clear(self) -> None:
        self._bid_levels.clear()
        self._bid_keys.clear()
        self._ask_levels.clear()
        self._ask_keys.clear()
        self.seq = 0

    def _load(self, bids: Sequence[Level], asks: Sequence[Level], seq: int) -> None:
        # Levels load like a delta onto an empty book (0 removes), so a snapshot that names a
        # price twice ends as its last mention, the same as a delta would.
        self.clear()
        max_levels = self.max_levels
        if len(bids) > max_levels or len(asks) > max_levels:
            # A side may pass the bound mid-load: evict exactly as a stream of inserts would
            # (the farthest level after each insertion, even one a later zero would remove).
            self.apply(_Load(bids, asks, seq))
            return
        # No side can pass the bound: build the dicts, sort the keys once (O(n log n) rather
        # than n front inserts: a venue's snapshot lists bids best, i.e. highest, first).
        levels = self._bid_levels
        for level in bids:
            price, qty = level
            if qty > 0.0:
                levels[price] = level
            else:
                levels.pop(price, None)
        self._bid_keys[:] = sorted(levels)
        levels = self._ask_levels
        for level in asks:
            price, qty = level
            if qty > 0.0:
                levels[-price] = level
            else:
                levels.pop(-price, None)
        self._ask_keys[:] = sorted(levels)
        self.seq = seq

    # --- incremental updates ------------------------------------------------------------------

    def apply(self, delta: BookDelta | _Load) -> int:
        """Apply a delta's levels (absolute quantities; 0 removes); ``seq`` = ``last_seq``.

        Returns the number of level updates applied (for rate accounting).
        """
        # The two loops are the same code on key = price (bids) and key = -price (asks),
        # written out twice: a shared helper or a sign multiply costs ~10% of the throughput.
        # ``n`` tracks len(keys) == len(levels), so "was this a new level?" is one len() after
        # the store instead of a membership test before it.
        max_levels = self.max_levels
        levels, keys = self._bid_levels, self._bid_keys
        n = len(keys)
        for level in delta.bids:
            price, qty = level
            if qty > 0.0:
                levels[price] = level
                if len(levels) != n:  # a new level
                    lo = n - _HINT
                    if lo > 0 and keys[lo] < price:
                        insort(keys, price, lo)
                    else:
                        insort(keys, price)
                    if n == max_levels:
                        del levels[keys.pop(0)]  # the farthest level, maybe the new one
                    else:
                        n += 1
            elif price in levels:
                del levels[price]
                lo = n - _HINT
                if lo > 0 and keys[lo] < price:
                    del keys[bisect_left(keys, price, lo)]
                else:
                    del keys[bisect_left(keys, price)]
                n -= 1
        levels, keys = self._ask_levels, self._ask_keys
        n = len(keys)
        for level in delta.asks:
            price, qty = level
            key = -price
            if qty > 0.0:
                levels[key] = level
                if len(levels) != n:
                    lo = n - _HINT
                    if lo > 0 and keys[lo] < key:
                        insort(keys, key, lo)
                    else:
                        insort(keys, key)
                    if n == max_levels:
                        del levels[keys.pop(0)]
                    else:
                        n += 1
            elif key in levels:
                del levels[key]
                lo = n - _HINT
                if lo > 0 and keys[lo] < key:
                    del keys[bisect_left(keys, key, lo)]
                else:
                    del keys[bisect_left(keys, key)]
                n -= 1
        self.seq = delta.last_seq
        return len(delta.bids) + len(delta.asks)

    # --- reads --------------------------------------------------------------------------------

    def top(self, k: int) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """The best ``k`` levels per side, best first: ``(bids, asks)``."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        # keys[:-k-1:-1] = the last k keys, best first; the slice and the lookups run in C.
        bids, asks = self._bid_keys[:-k - 1:-1], self._ask_keys[:-k - 1:-1]
        if len(bids) > 1 and len(asks) > 1:
            # itemgetter builds the tuple in one go (~20% faster than tuple(map(...)) at k=20),
            # but returns a bare item for one key and refuses none: those go the other way.
            return itemgetter(*bids)(self._bid_levels), itemgetter(*asks)(self._ask_levels)
        return tuple(map(self._bid_get, bids)), tuple(map(self._ask_get, asks))

    def best_bid(self) -> Level | None:
        try:
            return self._bid_levels[self._bid_keys[-1]]
        except IndexError:  # an empty side
            return None

    def best_ask(self) -> Level | None:
        try:
            return self._ask_levels[self._ask_keys[-1]]
        except IndexError:  # an empty side
            return None

    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a broken or stale book)."""
        bids, asks = self._bid_keys, self._ask_keys
        return bool(bids and asks) and bids[-1] >= -asks[-1]

    def levels(self) -> tuple[int, int]:
        """Number of levels held per side: ``(bids, asks)``."""
        return len(self._bid_keys), len(self._ask_keys)

    def __len__(self) -> int:
        return len(self._bid_keys) + len(self._ask_keys)

    def __repr__(self) -> str:
        return (f"L2Book(seq={self.seq}, best_bid={self.best_bid()}, best_ask={self.best_ask()}, "
                f"levels={self.levels()})")


_compiled, CORE = compiled.load("actors._l2book")
L2Book: type[PyL2Book] = PyL2Book if _compiled is None else _compiled.L2Book
