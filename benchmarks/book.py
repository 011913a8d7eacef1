"""L2 book speed: level updates/s and top(20) latency, Arbor's book beside simple peers.

Impls measured on the same seeded stream of deltas (a random walk around a mid price, ~5
levels per message, ~30% removals, like a busy spot pair's diff stream):

- ``arbor``            ``actors.l2book.L2Book`` (SortedList + dict per side, bounded).
- ``dict``             two plain dicts; top(k) sorts the side (what a first version does).
- ``sorteddict-pair``  two ``SortedDict``s used through their public API (bids keyed -price).

``run(quick)`` returns rows ``{"case", "impl", "value", "unit"}``; ``python -m benchmarks.book``
prints them. Speed is measured here, never asserted by a test.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from itertools import islice

from sortedcontainers import SortedDict

from actors.l2book import L2Book
from protocols.messages import BookDelta, BookSnapshot, Level

DEPTH = 20


def stream(n: int, seed: int = 7) -> tuple[BookSnapshot, list[BookDelta]]:
    """A snapshot of 500 levels a side and ``n`` deltas of 1-9 levels each, seeded."""
    rng = random.Random(seed)
    tick, mid = 0.01, 30_000.0
    bids = tuple((round(mid - tick * (i + 1), 2), 1.0) for i in range(500))
    asks = tuple((round(mid + tick * i, 2), 1.0) for i in range(500))
    snap = BookSnapshot(venue="bench", symbol="BTC/USDT", seq=1, bids=bids, asks=asks,
                        exchange_ts_ms=0, recv_ns=0)
    deltas = []
    for seq in range(2, n + 2):
        mid += rng.choice((-tick, 0.0, tick))
        d_bids: list[Level] = []
        d_asks: list[Level] = []
        for _ in range(rng.randint(1, 9)):
            off = int(rng.expovariate(0.05)) + 1
            qty = 0.0 if rng.random() < 0.3 else round(rng.uniform(0.01, 5.0), 3)
            if rng.random() < 0.5:
                d_bids.append((round(mid - tick * off, 2), qty))
            else:
                d_asks.append((round(mid + tick * (off - 1), 2), qty))
        deltas.append(BookDelta(venue="bench", symbol="BTC/USDT", first_seq=seq, last_seq=seq,
                                bids=tuple(d_bids), asks=tuple(d_asks), exchange_ts_ms=0, recv_ns=0))
    return snap, deltas


class DictBook:
    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def apply_snapshot(self, s: BookSnapshot) -> None:
        self.bids, self.asks = dict(s.bids), dict(s.asks)

    def apply(self, d: BookDelta) -> None:
        for side, levels in ((self.bids, d.bids), (self.asks, d.asks)):
            for p, q in levels:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)

    def top(self, k: int):
        return (tuple(sorted(self.bids.items(), reverse=True)[:k]), tuple(sorted(self.asks.items())[:k]))


class SortedDictPair:
    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()

    def apply_snapshot(self, s: BookSnapshot) -> None:
        self.bids = SortedDict({-p: q for p, q in s.bids})
        self.asks = SortedDict(s.asks)

    def apply(self, d: BookDelta) -> None:
        for p, q in d.bids:
            if q:
                self.bids[-p] = q
            else:
                self.bids.pop(-p, None)
        for p, q in d.asks:
            if q:
                self.asks[p] = q
            else:
                self.asks.pop(p, None)

    def top(self, k: int):
        return (tuple((-p, q) for p, q in islice(self.bids.items(), k)), tuple(islice(self.asks.items(), k)))


IMPLS: dict[str, Callable[[], object]] = {"arbor": L2Book, "dict": DictBook, "sorteddict-pair": SortedDictPair}


def _apply_rate(factory, snap, deltas) -> float:
    book = factory()
    book.apply_snapshot(snap)
    updates = sum(len(d.bids) + len(d.asks) for d in deltas)
    apply = book.apply
    t0 = time.perf_counter()
    for d in deltas:
        apply(d)
    return updates / (time.perf_counter() - t0)


def _top_ns(factory, snap, deltas, reps: int) -> float:
    book = factory()
    book.apply_snapshot(snap)
    for d in deltas:
        book.apply(d)
    top = book.top
    best = float("inf")
    for _ in range(5):  # best of 5: the floor, least disturbed by the shared machine
        t0 = time.perf_counter_ns()
        for _ in range(reps):
            top(DEPTH)
        best = min(best, (time.perf_counter_ns() - t0) / reps)
    return best


def run(quick: bool) -> list[dict]:
    snap, deltas = stream(20_000 if quick else 100_000)
    reps = 2_000 if quick else 20_000
    rows = []
    for name, factory in IMPLS.items():
        rows.append({"case": "book-apply", "impl": name, "value": round(_apply_rate(factory, snap, deltas)),
                     "unit": "updates/s"})
        rows.append({"case": "book-top20", "impl": name, "value": round(_top_ns(factory, snap, deltas, reps)),
                     "unit": "ns"})
    return rows


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(f"{row['case']:<12} {row['impl']:<16} {row['value']:>12,} {row['unit']}")
