"""``python -m benchmarks market [--markets 30,300,1000] [--steady S] [--updates U] [--frames-per-s F]``:
whole-market mode, measured, with the engine and the simulator in separate processes.

For each size: three processes run the simulated venues (one each) listing a universe of that
many shared markets (``simulator.universe``: 3 venues, most markets on two of them, some on all
three, venue-only and API-closed ones, a few busy markets and a long quiet tail), another runs
the engine against their URLs (the venues configured as real ones: paper mode, kill switch on,
so market data and decisions only) with ``[markets] symbols = "shared"``. Sharing one process
and event loop would bill the simulator's work (thousands of venue books stepping and pushing)
to the engine.

At the market's natural rates by default: every book pushes at most once per 100 ms interval,
a quiet market once per ``simulator.market.cadence`` intervals (``natural_frames_per_s``: 343,
3,662 and 12,044 frames/s for the subscribed books of 30, 300 and 1,000 markets).
``--frames-per-s F`` shortens the simulators' push interval so that those books push about F
frames/s in all (the same churn per second, in more and smaller frames; MEXC's ``@100ms``
channel then pushes faster than the real venue does: a load test, not a wire test).

Reported per size: time from the engine's start until every book is in sync, the simulator's
429/418 answers (must be 0), the engine's RSS and CPU (process time, both cores' worth) after
``--steady`` seconds in sync, the three simulator processes' CPU over the same window (100% =
one core), frames/s, frame -> opportunity latency (a detector's opportunity ``created_ns``
minus the newer of its two views' receive times) p50/p99, and the 1-minute load average at
the end (the box may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

VENUES = ("mexc", "gateio", "binance")  # the order the embedded simulator builds its universe in
SEED = 1


def _toml(directory: Path, urls: dict[str, dict[str, str]]) -> str:
    kill = directory / "kill"
    kill.touch()
    venues = "".join(f'[venues.{v}]\nkind = "{v}"\nsimulated = false\nrest_url = "{urls[v]["rest"]}"\n'
                     f'ws_url = "{urls[v]["ws"]}"\n' for v in VENUES)
    return (venues + '[markets]\nsymbols = "shared"\nrefresh_s = 3600\n'
            f'[risk]\nkill_switch_path = "{kill}"\n[journal]\npath = "{directory / "journal.sqlite"}"\n')


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def natural_frames_per_s(markets: int, interval_s: float = 0.1) -> float:
    """Frames/s the books the engine subscribes (markets open to API orders on two venues or
    more) push at ``interval_s``: each one per interval of its market's cadence."""
    from simulator.market import cadence
    from simulator.universe import universe

    u = universe(markets, VENUES, seed=SEED)
    open_on = {s: [v for v in VENUES if s in u["listings"][v] and s not in u["api_closed"].get(v, ())]
               for s in u["symbols"]}
    return sum(len(on) / (cadence(u["activity"].get(s, 1.0)) * interval_s)
               for s, on in open_on.items() if len(on) >= 2)


async def _simulator(markets: int, venue: str, updates: float, interval_s: float) -> None:
    """One venue's simulator process (paused): print its URLs, then obey stdin lines: ``go``
    starts the market, ``stats`` prints the 429/418 count and the snapshots served; EOF ends it.

    One process per venue: at 1,000 markets the three venues' ~2,900 books cost more than one
    core to step every 100 ms. The market stays one market: every process draws the same
    seeded walk per symbol (``simulator.market.MidModel``), and all start stepping together."""
    from simulator import SimConfig, Simulator
    from simulator.universe import universe

    cfg = SimConfig(seed=SEED, venues=(venue,), **universe(markets, VENUES, seed=SEED), updates_per_s=updates,
                    push_interval_s=interval_s)
    async with Simulator(cfg) as sim:
        sim.pause()
        v = sim.venues[venue]
        print(json.dumps({venue: {"rest": v.rest_url, "ws": v.ws_url}}), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "go":
                sim.resume()
            else:
                print(json.dumps({"rate_limited": v.rate_limited, "snapshots": len(v.snapshots),
                                  "cpu_s": time.process_time()}), flush=True)


def _memory_top(n: int = 15) -> list[str]:
    """The ``n`` source lines holding the most traced memory now (``--tracemalloc``)."""
    import tracemalloc

    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    total = sum(s.size for s in snapshot.statistics("filename"))
    rows = [f"total {total / 1e6:.1f} MB"]
    for stat in snapshot.statistics("lineno")[:n]:
        frame = stat.traceback[0]
        rows.append(f"{stat.size / 1e6:7.1f} MB {stat.count:9d}  {'/'.join(frame.filename.rsplit('/', 2)[-2:])}"
                    f":{frame.lineno}")
    return rows


async def _engine(urls: dict[str, dict[str, str]], steady_s: float) -> dict[str, Any]:
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
        cfg = config.loads(_toml(Path(d), urls), source="benchmark")
        t0, cpu0 = time.monotonic(), time.process_time()
        with mock.patch.object(engine_mod, "DetectorActor", Timed):
            async with app.assembled(cfg, live=False) as (_, engine), engine.running():
                gc.freeze()  # as Engine.serve does once the tree is up: start-up's heap out of the collector's walks
                started = time.monotonic()
                while True:
                    s = engine.summary()
                    if s.books and s.books_in_sync == s.books:
                        break
                    if time.monotonic() - started > 900:
                        raise TimeoutError(f"{s.books_in_sync}/{s.books} in sync after 900 s")
                    await asyncio.sleep(0.1)
                in_sync_s, sync_cpu_s = time.monotonic() - started, time.process_time() - cpu0
                print(json.dumps({"steady": True}), flush=True)  # the parent samples the simulators' CPU
                latencies.clear()
                frames0, cpu1, steady0 = s.frames, time.process_time(), time.monotonic()
                await asyncio.sleep(steady_s)
                s = engine.summary()
                elapsed = time.monotonic() - steady0
                ps_ms = await _views_ms(engine, cfg.control.unix_path or "")
                lat = sorted(latencies)
                return {
                    "markets": s.markets, "books": s.books, "assemble_s": round(started - t0, 2),
                    "all_in_sync_s": round(in_sync_s, 2), "sync_cpu_s": round(sync_cpu_s, 1),
                    "rss_mb": round(_rss_mb(), 1), "frames_per_s": round((s.frames - frames0) / elapsed),
                    "cpu_pct": round(100 * (time.process_time() - cpu1) / elapsed),
                    "quarantined": s.quarantined, "opportunities": len(lat),
                    "opp_p50_us": round(lat[len(lat) // 2] / 1e3) if lat else None,
                    "opp_p99_us": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e3) if lat else None,
                    "in_sync_at_end": f"{s.books_in_sync}/{s.books}", **ps_ms,
                    **({"memory_top": _memory_top()} if os.environ.get("ARBOR_BENCH_TRACEMALLOC") else {}),
                }


async def _views_ms(engine: Any, socket: str) -> dict[str, float]:
    """What the operator's views cost the engine: CPU ms of the work behind ``ps --top 20 --sort
    rate``, ``ps`` (every row), ``tree``, ``summary`` and every actor's full stats (``/metrics``),
    each synchronous (so nothing else runs meanwhile); and the wall ms of ``ps --top 20``
    through the control socket and the CLI (waiting its turn on the engine's loop)."""
    import io

    from supervisor import cli
    from supervisor.control import build_tree, ps_reply
    from supervisor.selection import PsQuery

    tree = engine.tree
    out = {}
    for name, view in (("ps_top20_ms", lambda: ps_reply(tree, PsQuery(sort="rate", top=20))),
                       ("ps_all_ms", lambda: ps_reply(tree, PsQuery())), ("tree_ms", lambda: build_tree(tree)),
                       ("summary_ms", engine.summary), ("stats_all_ms", tree.stats)):
        t = time.process_time()
        view()
        out[name] = round((time.process_time() - t) * 1e3, 1)
    t = time.monotonic()
    if await cli.main_async(["ps", "--top", "20", "--sort", "rate", "--socket", socket], out=io.StringIO()) != 0:
        raise RuntimeError("ps --top 20 failed")
    out["ps_top20_wall_ms"] = round((time.monotonic() - t) * 1e3, 1)
    return out


def _one(markets: int, steady_s: float, updates: float, frames_per_s: float | None) -> dict[str, Any]:
    """One size: a simulator process per venue, then the engine process against them."""
    me = [sys.executable, "-m", "benchmarks", "market"]
    interval = 0.1 if frames_per_s is None else 0.1 * natural_frames_per_s(markets) / frames_per_s
    sims = [subprocess.Popen([*me, "--serve-simulator", str(markets), "--venue", v, "--updates", str(updates),
                              "--interval", str(interval)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for v in VENUES]

    def tell(line: str) -> None:
        for sim in sims:
            assert sim.stdin is not None
            sim.stdin.write(line + "\n")
            sim.stdin.flush()

    try:
        urls: dict[str, Any] = {}
        for sim in sims:
            assert sim.stdout is not None
            line = sim.stdout.readline()
            if not line:
                raise RuntimeError(f"a simulator for {markets} markets did not start")
            urls.update(json.loads(line))
        def sim_stats() -> tuple[list[dict[str, Any]], float]:
            tell("stats")
            return [json.loads(sim.stdout.readline()) for sim in sims if sim.stdout is not None], time.monotonic()

        tell("go")
        with tempfile.TemporaryFile("w+") as err:
            engine = subprocess.Popen([*me, "--engine", json.dumps(urls), "--steady", str(steady_s)],
                                      stdout=subprocess.PIPE, stderr=err, text=True)
            assert engine.stdout is not None
            lines = []
            for line in engine.stdout:
                lines.append(line)
                if line.startswith('{"steady"'):
                    steady0 = sim_stats()  # the simulators' CPU over the engine's steady window
            if engine.wait() != 0 or not lines:
                err.seek(0)
                raise RuntimeError(f"{markets} markets: engine failed\n{err.read()[-2000:]}")
        steady1 = sim_stats()
        row = json.loads(lines[-1])
        stats = steady1[0]
        row.update({k: sum(s[k] for s in stats) for k in ("rate_limited", "snapshots")})
        cpu = sum(s["cpu_s"] for s in stats) - sum(s["cpu_s"] for s in steady0[0])
        row["sim_cpu_pct"] = round(100 * cpu / (steady1[1] - steady0[1]))  # the three processes, 100% = a core
        row["load_avg"] = round(os.getloadavg()[0], 1)
        row["push_interval_ms"] = round(interval * 1e3, 1)
        return row
    finally:
        for sim in sims:
            if sim.stdin is not None:
                sim.stdin.close()
        for sim in sims:
            try:
                sim.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks market", description=__doc__.split("\n\n")[0])
    p.add_argument("--markets", default="30,300,1000", help="comma-separated sizes (shared markets)")
    p.add_argument("--steady", type=float, default=10.0, metavar="S", help="seconds measured once in sync")
    p.add_argument("--updates", type=float, default=20.0, metavar="U",
                   help="simulator level updates/s per book before the per-market activity factor")
    p.add_argument("--frames-per-s", type=float, metavar="F",
                   help="push interval shortened for about F frames/s in all (default: the natural rates)")
    p.add_argument("--interval", type=float, default=0.1, help=argparse.SUPPRESS)  # child: push interval
    p.add_argument("--tracemalloc", action="store_true",
                   help="trace the engine's allocations (slower) and report the top source lines by size")
    p.add_argument("--serve-simulator", type=int, metavar="N", help=argparse.SUPPRESS)  # child: one venue's simulator
    p.add_argument("--venue", choices=VENUES, help=argparse.SUPPRESS)
    p.add_argument("--engine", metavar="URLS", help=argparse.SUPPRESS)  # child: the engine
    args = p.parse_args(argv)
    if args.serve_simulator is not None:
        import uvloop

        uvloop.run(_simulator(args.serve_simulator, args.venue, args.updates, args.interval))
        return 0
    if args.engine is not None:
        import uvloop

        if os.environ.get("ARBOR_BENCH_TRACEMALLOC"):  # --tracemalloc: the engine's heap by source line
            import tracemalloc

            tracemalloc.start()
        print(json.dumps(uvloop.run(_engine(json.loads(args.engine), args.steady))))
        return 0
    if args.tracemalloc:
        os.environ["ARBOR_BENCH_TRACEMALLOC"] = "1"  # inherited by the engine process
    rows = []
    for n in (int(x) for x in args.markets.split(",")):
        try:
            rows.append(_one(n, args.steady, args.updates, args.frames_per_s))
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(json.dumps(rows[-1]), flush=True)
    cols = ("markets", "books", "push_interval_ms", "load_avg", "all_in_sync_s", "sync_cpu_s", "rate_limited",
            "rss_mb", "cpu_pct", "sim_cpu_pct", "frames_per_s", "opportunities", "opp_p50_us", "opp_p99_us",
            "quarantined", "ps_top20_ms", "ps_all_ms", "ps_top20_wall_ms")
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return 1 if any(r["rate_limited"] for r in rows) else 0
