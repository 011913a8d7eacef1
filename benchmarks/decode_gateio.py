"""µs per Gate.io ``spot.order_book_update`` frame (10 bid + 10 ask levels): ``GateVenue.decode``
(frame → ``BookDelta``) against the floor measured in the same run, a bare
``msgspec.json.decode`` of the same frame into a Struct with float levels.

Run through the harness: ``python -m benchmarks decode``.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from benchmarks.timing import best_us
from protocols.gateio import GateVenue


def frame() -> bytes:
    bids = [[f"{19137.74 - i * 0.37:.2f}", f"{0.0001 + i * 0.013:.4f}"] for i in range(10)]
    asks = [[f"{19137.75 + i * 0.41:.2f}", f"{0.6135 + i * 0.021:.4f}"] for i in range(10)]
    return msgspec.json.encode({
        "time": 1606294781, "time_ms": 1606294781236, "channel": "spot.order_book_update", "event": "update",
        "result": {"t": 1606294781123, "e": "depthUpdate", "E": 1606294781, "s": "BTC_USDT",
                   "U": 48776301, "u": 48776306, "b": bids, "a": asks},
    })


class _FloorResult(msgspec.Struct):
    t: int
    s: str
    U: int
    u: int
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]


class _FloorFrame(msgspec.Struct):
    channel: str
    event: str
    result: _FloorResult


def run(quick: bool) -> list[dict]:
    data = frame()
    venue = GateVenue(symbols=("BTC/USDT",))
    floor = msgspec.json.Decoder(_FloorFrame, strict=False)
    cases: list[tuple[str, Callable[[bytes], object]]] = [("floor-msgspec", floor.decode),
                                                          ("gateio", lambda p: venue.decode(p, 0))]
    return best_us(cases, data, case="decode", quick=quick)
