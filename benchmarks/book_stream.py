"""The one seeded order-book stream every book implementation is fed (issue 8, "book").

A 1000-level-per-side snapshot, then level updates in messages of 5-15 levels (~1M updates in
~100k messages for the full run). Each level update is drawn as ~70% an update of an existing
level, ~15% an insert of a new price, ~15% a delete of an existing level, on a random side.
Updates and deletes pick a level by rank from the top (exponential, mean rank 8), inserts land
a few ticks from a mid that random-walks a tick at a time, never crossing the other side — so
the activity is concentrated near the top, as on a busy spot pair.

The generator keeps the true book (integer ticks, a ``SortedList`` per side), so the stream
carries the reference final top 20 levels per side, against which every implementation's final
state is checked. Prices are ``tick / 100`` (exact decimal floats, as a venue decoder yields).

``load(path)``/``save(path)`` store it as msgpack so the harness generates it once per run and
every per-implementation subprocess reads the same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
from sortedcontainers import SortedList

SNAPSHOT_LEVELS = 1000
DEFAULT_SEED = 20240601
TOP = 20

Lvl = tuple[float, float]


class Stream(msgspec.Struct, frozen=True):
    seed: int
    snapshot_bids: list[Lvl]  # best first
    snapshot_asks: list[Lvl]
    messages: list[tuple[list[Lvl], list[Lvl]]]  # (bid levels, ask levels); qty 0.0 deletes
    final_bids: list[Lvl]  # reference top 20, best first
    final_asks: list[Lvl]
    counts: dict[str, int]  # update / insert / delete tallies, for the report

    @property
    def n_updates(self) -> int:
        return sum(len(b) + len(a) for b, a in self.messages)


def generate(n_messages: int, seed: int = DEFAULT_SEED) -> Stream:
    rng = random.Random(seed)
    mid = 3_000_000  # ticks of 0.01: 30000.00
    bid_keys: SortedList = SortedList()  # -tick, best first
    ask_keys: SortedList = SortedList()  # tick, best first
    bid_qty: dict[int, float] = {}
    ask_qty: dict[int, float] = {}
    tick = mid - 1
    for _ in range(SNAPSHOT_LEVELS):
        bid_keys.add(-tick)
        bid_qty[tick] = round(rng.uniform(0.001, 5.0), 3)
        tick -= rng.randint(1, 3)
    tick = mid
    for _ in range(SNAPSHOT_LEVELS):
        ask_keys.add(tick)
        ask_qty[tick] = round(rng.uniform(0.001, 5.0), 3)
        tick += rng.randint(1, 3)
    snap_bids = [(-k / 100, bid_qty[-k]) for k in bid_keys]
    snap_asks = [(k / 100, ask_qty[k]) for k in ask_keys]
    counts = {"update": 0, "insert": 0, "delete": 0}
    messages = []
    expo, rand, randint, uniform = rng.expovariate, rng.random, rng.randint, rng.uniform
    for _ in range(n_messages):
        mid += (-1, 0, 0, 1)[randint(0, 3)]
        bids: list[Lvl] = []
        asks: list[Lvl] = []
        for _ in range(randint(5, 15)):
            is_bid = rand() < 0.5
            keys, qty = (bid_keys, bid_qty) if is_bid else (ask_keys, ask_qty)
            r = rand()
            op = "update" if r < 0.70 else "insert" if r < 0.85 or len(keys) < 200 else "delete"
            if op == "insert":
                off = int(expo(1 / 6))
                if is_bid:
                    t = min(mid - 1 - off, ask_keys[0] - 1)
                    while t in qty:
                        t -= 1
                    keys.add(-t)
                else:
                    t = max(mid + off, -bid_keys[0] + 1)
                    while t in qty:
                        t += 1
                    keys.add(t)
                q = round(uniform(0.001, 5.0), 3)
                qty[t] = q
            else:
                key = keys[min(int(expo(1 / 8)), len(keys) - 1)]
                t = -key if is_bid else key
                if op == "update":
                    q = round(uniform(0.001, 5.0), 3)
                    qty[t] = q
                else:
                    q = 0.0
                    keys.remove(key)
                    del qty[t]
            counts[op] += 1
            (bids if is_bid else asks).append((t / 100, q))
        messages.append((bids, asks))
    final_bids = [(-k / 100, bid_qty[-k]) for k in bid_keys[:TOP]]
    final_asks = [(k / 100, ask_qty[k]) for k in ask_keys[:TOP]]
    return Stream(seed, snap_bids, snap_asks, messages, final_bids, final_asks, counts)


def n_messages(quick: bool) -> int:
    return 2_000 if quick else 100_000


def save(stream: Stream, path: Path) -> None:
    path.write_bytes(msgspec.msgpack.encode(stream))


def load(path: Path) -> Stream:
    return msgspec.msgpack.decode(path.read_bytes(), type=Stream)
