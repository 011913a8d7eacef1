"""Tick to trade: from the simulator writing the frame that creates an opportunity to the
arrival of each leg's order at the simulator, on the real engine in this process.

Role: ``run(quick)`` starts the production engine (``supervisor.app.assembled``) on the
embedded simulator with Binance and Gate.io, BTC/USDT, and for each entry mode (``rest``:
both legs over REST; ``ws``: Binance over its WebSocket API, Gate over REST) and each frame
rate (``light``: the market's default churn; ``heavy``: 2,000 book updates/s per venue),
repeats: the market paused, a Binance ask is set ``DIP`` under Gate's best bid and the Binance
bids above it removed (``VenueBook.set_level``: a dip, not a crossed book), ``t0 = time.monotonic_ns()`` and the venue's ``push()`` enqueues the
frame (its writer writes it at once); then both legs are awaited at the simulator, whose
request handlers stamp arrival with ``time.monotonic_ns()`` (the same clock). The executor's
balance check reads the live account views (no REST before the legs).

Rows: ``t2t-first-p50|p99@<rate>`` (first leg), ``t2t-second-gap-p50|p99@<rate>`` (second
leg after the first), unit us, impl ``rest`` or ``ws``. Failure: a leg that does not arrive
within ``LEG_TIMEOUT_S`` raises ``RuntimeError`` (the case is reported as an error).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import config
from benchmarks.pipeline import percentile
from supervisor.app import assembled

RATES = {"light": 50.0, "heavy": 2000.0}
MODES = ("rest", "ws")
LEG_TIMEOUT_S = 5.0
SYMBOL = "BTC/USDT"
DIP = 0.004  # the Binance ask under Gate's bid: beats both fees (20 bp) and the edge, stays in the model's bounds


def _toml(directory: Path, ws: bool, updates_per_s: float) -> str:
    venues = "".join(
        f'[venues.{v}]\nkind = "{v}"\nsymbols = ["{SYMBOL}"]\nsimulated = true\n'
        f"ws_order_entry = {'true' if ws else 'false'}\n" for v in ("binance", "gateio"))
    return (venues + "[detector]\nmin_edge_bps = 5.0\ncooldown_ms = 0\nmax_notional = 100.0\n"
            f'[journal]\npath = "{directory / "journal.sqlite"}"\n'
            f"[simulator]\nseed = 1\nupdates_per_s = {updates_per_s}\n")


async def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


async def _measure(ws: bool, rate: float, samples: int) -> tuple[list[int], list[int]]:
    firsts: list[int] = []
    gaps: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.loads(_toml(Path(tmp), ws, rate), source="tick-to-trade")
        async with assembled(cfg, live=False) as (sim, engine), engine.running() as tree:
            binance, gate = sim.venues["binance"], sim.venues["gateio"]

            def ready() -> bool:
                books = all(getattr(tree.describe(f"venues/{v}/books/BTCUSDT"), "in_sync", False)
                            for v in ("binance", "gateio"))
                views = all(engine.accounts.usable(v) is not None for v in ("binance", "gateio"))
                return books and views and (not ws or engine.gateways.channel("binance").connected)

            await _until(ready, 15, "books in sync, account views and gateways up")
            executor = tree.lookup("execution/executor")
            for _ in range(samples):
                sim.pause()
                await asyncio.sleep(0.02)  # background frames of the light/heavy market drain
                book = binance.books[SYMBOL]
                gate_bid = gate.books[SYMBOL].bids.peekitem(-1)[0]
                price = int(gate_bid * (1 - DIP))
                before_b, before_g = len(binance.orders), len(gate.orders)
                executed = tree.describe("execution/executor").executed
                sim.resume()
                for bid in [b for b in book.bids if b >= price]:  # no crossed book: the dip takes the bids
                    book.set_level(True, bid, 0)
                book.set_level(False, price, round(0.001 * 10**book.spec.qty_decimals))
                t0 = time.monotonic_ns()
                binance.push()
                await _until(lambda: len(binance.orders) > before_b and len(gate.orders) > before_g,
                             LEG_TIMEOUT_S, "both legs at the simulator")
                arrivals = sorted([list(binance.orders.values())[-1].arrival_ns,
                                   list(gate.orders.values())[-1].arrival_ns])
                firsts.append(arrivals[0] - t0)
                gaps.append(arrivals[1] - arrivals[0])
                await _until(lambda: tree.describe("execution/executor").executed > executed
                             or tree.describe("execution/executor").open_legs == 0, LEG_TIMEOUT_S, "settled")
                book.set_level(False, price, 0)  # whatever the buy left of the injected ask
                binance.push()
            del executor
    return firsts, gaps


def run(quick: bool) -> list[dict[str, Any]]:
    samples = 10 if quick else 40
    rows: list[dict[str, Any]] = []
    for label, rate in RATES.items():
        for mode in MODES:
            firsts, gaps = asyncio.run(_measure(mode == "ws", rate, samples))
            firsts.sort()
            gaps.sort()
            for name, values in (("t2t-first", firsts), ("t2t-second-gap", gaps)):
                for q, tag in ((0.5, "p50"), (0.99, "p99")):
                    rows.append({"case": f"{name}-{tag}@{label}", "impl": mode,
                                 "value": percentile(values, q) / 1000.0, "unit": "us"})
    return rows
