"""µs per Binance depth frame (10 bids + 10 asks, combined-stream envelope): the adapter's
``decode`` (frame → ``BookDelta``) against the floor measured in the same run, a bare
``msgspec.json.decode`` of the same frame into a Struct with float levels."""

from __future__ import annotations

import time

import msgspec

from protocols.binance import BinanceVenue


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


def _best_us(fn, payload: bytes, number: int, repeat: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn(payload)
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def run(quick: bool) -> list[dict]:
    payload = frame()
    venue = BinanceVenue(symbols=("BTC/USDT",))
    floor = msgspec.json.Decoder(_FloorEnvelope, strict=False)
    assert venue.decode(payload, 0).bids == tuple(map(tuple, floor.decode(payload).data.b))
    number, repeat = (2_000, 3) if quick else (20_000, 7)
    cases = [("floor-msgspec", floor.decode), ("binance", lambda p: venue.decode(p, 0))]
    # interleave the two so a noisy neighbour on the shared cores hits both alike
    results = {impl: float("inf") for impl, _ in cases}
    for _ in range(repeat):
        for impl, fn in cases:
            results[impl] = min(results[impl], _best_us(fn, payload, number, 1))
    return [{"case": "decode", "impl": impl, "value": round(us, 3), "unit": "us"} for impl, us in results.items()]


if __name__ == "__main__":
    rows = run(quick=False)
    for row in rows:
        print(row)
    by = {r["impl"]: r["value"] for r in rows}
    print(f"ratio binance/floor = {by['binance'] / by['floor-msgspec']:.2f}")
