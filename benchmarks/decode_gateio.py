"""µs per Gate.io ``spot.order_book_update`` frame (10 bid + 10 ask levels): ``GateVenue.decode``
(frame → ``BookDelta``) against the floor measured in the same run, a bare
``msgspec.json.decode`` of the same frame into a Struct with float levels.

Run alone: ``python -m benchmarks.decode_gateio``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

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


def _best_us(fn: Callable[[], object], n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / n / 1000)
    return best


def run(quick: bool) -> list[dict]:
    data = frame()
    venue = GateVenue(symbols=("BTC/USDT",))
    floor = msgspec.json.Decoder(_FloorFrame, strict=False)
    n, repeats = (2_000, 3) if quick else (20_000, 7)
    recv_ns = time.monotonic_ns()
    impl_us = _best_us(lambda: venue.decode(data, recv_ns), n, repeats)
    floor_us = _best_us(lambda: floor.decode(data), n, repeats)
    return [
        {"case": "decode", "impl": "gateio", "value": impl_us, "unit": "us"},
        {"case": "decode", "impl": "floor-msgspec", "value": floor_us, "unit": "us"},
    ]


if __name__ == "__main__":
    rows = run(quick=False)
    for row in rows:
        print(f"{row['case']:8} {row['impl']:14} {row['value']:.3f} {row['unit']}")
    print(f"ratio {rows[0]['value'] / rows[1]['value']:.2f}x")
