"""µs per Binance depth frame (10 bids + 10 asks, combined-stream envelope): the adapter's
``decode`` (frame → ``BookDelta``) against the floor measured in the same run, a bare
``msgspec.json.decode`` of the same frame into a Struct with float levels."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from benchmarks.timing import best_us
from protocols.binance import BinanceVenue
from protocols.messages import BookDelta


class _FloorData(msgspec.Struct):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]


class _FloorEnvelope(msgspec.Struct):
    stream: str
    data: _FloorData


def frame() -> bytes:
    bids = [[f"{30000 - i * 0.01:.2f}", f"{0.5 + i:.8f}"] for i in range(10)]
    asks = [[f"{30000.01 + i * 0.01:.2f}", f"{1.25 + i:.8f}"] for i in range(10)]
    data = {"e": "depthUpdate", "E": 1672515782136, "s": "BTCUSDT", "U": 157, "u": 160, "b": bids, "a": asks}
    return msgspec.json.encode({"stream": "btcusdt@depth@100ms", "data": data})


def run(quick: bool) -> list[dict]:
    payload = frame()
    venue = BinanceVenue(symbols=("BTC/USDT",))
    floor = msgspec.json.Decoder(_FloorEnvelope, strict=False)
    delta = venue.decode(payload, 0)
    assert isinstance(delta, BookDelta) and delta.bids == tuple(map(tuple, floor.decode(payload).data.b))
    cases: list[tuple[str, Callable[[bytes], object]]] = [("floor-msgspec", floor.decode),
                                                          ("binance", lambda p: venue.decode(p, 0))]
    return best_us(cases, payload, case="decode", quick=quick)
