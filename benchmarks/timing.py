"""One timing loop for the micro-benchmarks: the best µs per call of each implementation,
interleaved so a noisy neighbour on the shared cores hits every implementation alike."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


def best_us(cases: Sequence[tuple[str, Callable[[bytes], object]]], payload: bytes, *, case: str,
            quick: bool) -> list[dict]:
    """Rows ``{"case", "impl", "value" (best µs per call), "unit"}``, one per implementation."""
    number, repeat = (2_000, 3) if quick else (20_000, 7)
    best = {impl: float("inf") for impl, _ in cases}
    for _ in range(repeat):
        for impl, fn in cases:
            start = time.perf_counter()
            for _ in range(number):
                fn(payload)
            best[impl] = min(best[impl], (time.perf_counter() - start) / number * 1e6)
    return [{"case": case, "impl": impl, "value": round(us, 3), "unit": "us"} for impl, us in best.items()]
