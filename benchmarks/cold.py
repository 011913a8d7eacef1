"""What the same work costs when it runs again after a pause: ``python -m benchmarks.cold``.

The tick-to-trade path runs once per opportunity, and at the light rate every market-data frame
arrives ~20 ms after the one before: each step runs "cold". This measures that directly, on
this machine, with no engine and no sockets: two pieces of the engine's own work, each timed
alone (``time.perf_counter_ns`` around the work only),

- ``journal-intents``: the executor's durable write as ``DurableWrites.commit_now`` does it
  (BEGIN IMMEDIATE, the opportunity and its two intents through ``actors.journal_records.apply``,
  COMMIT) on a real SQLite file opened by ``actors.journal_schema.connect``;
- ``frame-to-view``: one Binance depth frame (10+10 levels) decoded by the venue's codec,
  applied to an ``L2Book`` of 1,000 levels a side, and its top 20 read (``top(20)``),

run back to back, and then once per pause of 1, 5, 20 and 50 ms, the pause spent either asleep
(``time.sleep``: the CPU may idle) or spinning in a Python loop (the CPU stays busy, on other
code). Each row is the median over the samples, and its ratio to back to back.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from actors.journal_records import apply
from actors.journal_schema import connect
from actors.l2book import L2Book
from benchmarks.decode_binance import frame as binance_frame
from protocols.binance import BinanceVenue
from protocols.messages import BookDelta, BookSnapshot, Opportunity, OrderIntent

GAPS_MS = (1, 5, 20, 50)


def _journal_work(directory: Path) -> Callable[[int], int]:
    conn = connect(str(directory / "journal.sqlite"), any_thread=True)

    def once(i: int) -> int:
        opp = Opportunity(id=f"BTCUSDT-binance-gateio-{i}-{i}-cold", symbol="BTC/USDT", buy_venue="binance",
                          sell_venue="gateio", size=0.001, buy_price=30000.0, sell_price=30030.0, edge_bps=10.0,
                          expected_pnl=0.03, created_ns=i, expires_ns=i + 1, buy_seq=i, sell_seq=i,
                          buy_recv_ns=i, sell_recv_ns=i)
        legs = [OrderIntent(client_order_id=f"cold{i}b", opportunity_id=opp.id, venue="binance", symbol="BTC/USDT",
                            side="buy", order_type="limit", qty=0.001, price=30000.0),
                OrderIntent(client_order_id=f"cold{i}s", opportunity_id=opp.id, venue="gateio", symbol="BTC/USDT",
                            side="sell", order_type="limit", qty=0.001, price=30030.0)]
        t0 = time.perf_counter_ns()
        conn.execute("BEGIN IMMEDIATE")
        for rec in (opp, *legs):
            apply(conn, rec, 0)
        conn.execute("COMMIT")
        return time.perf_counter_ns() - t0

    return once


def _frame_work() -> Callable[[int], int]:
    venue = BinanceVenue(symbols=("BTC/USDT",))
    book = L2Book()
    book.apply_snapshot(BookSnapshot(venue="binance", symbol="BTC/USDT", seq=1,
                                     bids=tuple((29990.0 - i * 0.01, 1.0) for i in range(1000)),
                                     asks=tuple((30010.0 + i * 0.01, 1.0) for i in range(1000)),
                                     exchange_ts_ms=0, recv_ns=0))
    payload = binance_frame()

    def once(i: int) -> int:
        t0 = time.perf_counter_ns()
        delta = venue.decode(payload, i)
        assert isinstance(delta, BookDelta)
        book.apply(delta)
        book.top(20)
        return time.perf_counter_ns() - t0

    return once


def _pause(ms: int, spin: bool) -> None:
    if not spin:
        time.sleep(ms / 1000)
        return
    end = time.perf_counter_ns() + ms * 1_000_000
    while time.perf_counter_ns() < end:
        pass


def measure(work: Callable[[int], int], samples: int) -> list[tuple[str, float]]:
    """``(label, median us)``: back to back, then per pause and idle mode."""
    i = 0

    def run(n: int, gap_ms: int, spin: bool) -> float:
        nonlocal i
        times = []
        for _ in range(n + 3):  # the first few warm the interpreter's caches of this code
            i += 1
            if gap_ms:
                _pause(gap_ms, spin)
            times.append(work(i))
        return statistics.median(times[3:]) / 1000

    rows = [("back to back", run(samples * 10, 0, False))]
    for gap in GAPS_MS:
        for spin in (False, True):
            rows.append((f"after {gap} ms {'spinning' if spin else 'asleep'}", run(samples, gap, spin)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60, help="samples per pause (back to back: 10x)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for name, work in (("journal-intents", _journal_work(Path(tmp))), ("frame-to-view", _frame_work())):
            rows = measure(work, args.samples)
            base = rows[0][1]
            print(f"{name}: median us per run, ratio to back to back")
            for label, us in rows:
                print(f"  {label:28s} {us:9.1f}  {us / base:5.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
