"""``python -m benchmarks market [--markets 30,300,1000] [--steady S] [--updates U]``: whole-market
mode, measured. For each size, a fresh subprocess runs the engine in-process against the
embedded simulator listing a universe of that many shared markets (``simulator.universe``:
3 venues, most markets on two of them, some on all three, venue-only and API-closed ones) with
``[markets] symbols = "shared"`` and the kill switch on (market data and decisions only), and
reports: time until every book is in sync, the simulator's 429/418 answers (must be 0), RSS
after ``--steady`` seconds in sync, and frame -> opportunity latency (a detector's opportunity
``created_ns`` minus the newer of its two views' receive times) p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

VENUES = ("mexc", "gateio", "binance")


def _toml(directory: Path, markets: int, updates: float) -> str:
    kill = directory / "kill"
    kill.touch()
    venues = "".join(f'[venues.{v}]\nkind = "{v}"\nsimulated = true\n' for v in VENUES)
    return (venues + '[markets]\nsymbols = "shared"\nrefresh_s = 3600\n'
            f"[simulator]\nseed = 1\nmarkets = {markets}\nupdates_per_s = {updates}\n"
            f'[risk]\nkill_switch_path = "{kill}"\n[journal]\npath = "{directory / "journal.sqlite"}"\n')


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _one(markets: int, steady_s: float, updates: float) -> dict[str, Any]:
    import config
    import supervisor.app as app
    import supervisor.engine as engine_mod
    from actors.detector import DetectorActor

    latencies: list[int] = []

    class Timed(DetectorActor):
        def on_view(self, view: Any) -> list[Any]:
            fired = super().on_view(view)
            latencies.extend(o.created_ns - max(o.buy_recv_ns, o.sell_recv_ns) for o in fired)
            return fired

    with tempfile.TemporaryDirectory(prefix="arbor-bm-") as d:
        cfg = config.loads(_toml(Path(d), markets, updates), source="benchmark")
        t0 = time.monotonic()
        with mock.patch.object(engine_mod, "DetectorActor", Timed):
            async with app.assembled(cfg, live=False) as (sim, engine), engine.running():
                started = time.monotonic()
                while True:
                    s = engine.summary()
                    if s.books and s.books_in_sync == s.books:
                        break
                    if time.monotonic() - started > 600:
                        raise TimeoutError(f"{s.books_in_sync}/{s.books} in sync after 600 s")
                    await asyncio.sleep(0.05)
                in_sync_s = time.monotonic() - started
                latencies.clear()
                frames0 = s.frames
                await asyncio.sleep(steady_s)
                s = engine.summary()
                lat = sorted(latencies)
                return {
                    "markets": s.markets, "books": s.books, "assemble_s": round(started - t0, 2),
                    "all_in_sync_s": round(in_sync_s, 2),
                    "rate_limited": sum(v.rate_limited for v in sim.venues.values()),
                    "rss_mb": round(_rss_mb(), 1), "frames_per_s": round((s.frames - frames0) / steady_s),
                    "quarantined": s.quarantined, "opportunities": len(lat),
                    "opp_p50_us": round(lat[len(lat) // 2] / 1e3) if lat else None,
                    "opp_p99_us": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e3) if lat else None,
                    "in_sync_at_end": f"{s.books_in_sync}/{s.books}",
                }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks market", description=__doc__.split("\n\n")[0])
    p.add_argument("--markets", default="30,300,1000", help="comma-separated sizes (shared markets)")
    p.add_argument("--steady", type=float, default=10.0, metavar="S", help="seconds measured once in sync")
    p.add_argument("--updates", type=float, default=20.0, metavar="U",
                   help="simulator level updates/s per book before the per-market activity factor")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process
    args = p.parse_args(argv)
    if args.one is not None:
        print(json.dumps(asyncio.run(_one(args.one, args.steady, args.updates))))
        return 0
    rows = []
    for n in (int(x) for x in args.markets.split(",")):
        done = subprocess.run([sys.executable, "-m", "benchmarks", "market", "--one", str(n), "--steady",
                               str(args.steady), "--updates", str(args.updates)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{n} markets: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    cols = ("markets", "books", "all_in_sync_s", "rate_limited", "rss_mb", "frames_per_s", "opportunities",
            "opp_p50_us", "opp_p99_us", "quarantined")
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return 1 if any(r["rate_limited"] for r in rows) else 0
