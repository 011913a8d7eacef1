"""A/B of the market-data reader: picows callback (``actors.connection._Reader``) against the
aiohttp reader task (``ARBOR_WS_READER=aiohttp``), alternated in ONE process against ONE
replayer, so that the neighbours' load falls on both alike.

``python -m benchmarks.ws_reader_ab micro [--runs 3]``: the real ``ConnectionActor`` of each
venue (3 venues x 50 symbols, the replayer's real frames over loopback) routing to no-op
actors; per segment, this process's CPU time per frame (``time.process_time``: decode, tell,
the no-op actor's wake-up and the reader's own machinery; the replayer is another process).
Segments: 5k frames/s Poisson (about one frame per socket read) and 20k/s in 1 ms ticks
(bursts of ~7 frames per socket per read).

``python -m benchmarks.ws_reader_ab lockstep [--runs 3]``: no replayer process and no load
from it: the replayer's frames (``benchmarks.replay.Replayer``, built in this process) written
by an in-process loopback server to each venue's real ``ConnectionActor`` in lockstep, the
next write once the previous one's deltas reached the no-op book (one frame per socket read
exactly, or bursts of 20 per write); this thread's CPU time per frame (``time.thread_time``:
the server's one ``transport.write`` per write is in it, the same for both readers).

``python -m benchmarks.ws_reader_ab pipeline [--runs 3]``: the pipeline case's engine
(``benchmarks.pipeline_engine.BenchEngine``), a fresh one per run: sync, Poisson latency
segments at 5k/s (the light rate: the engine keeps up) and 20k/s, then the ladder from 10k/s.
Prints one JSON line per run and a summary of same-run ratios (callback / task).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import uvloop

from actors import Actor, MailboxSpec, spawn
from actors.connection import ConnectionActor, ConnectionCounters
from benchmarks.pipeline import FULL, Outcome, Params, percentile, start_replayer

READERS = tuple(os.environ.get("AB_READERS", "aiohttp,picows").split(","))


class Nothing(Actor[Any]):
    async def receive(self, msg: Any) -> None:
        return None


async def post_segment(http: aiohttp.ClientSession, info: dict[str, Any], start: int, count: int, rate: float,
                       arrivals: str) -> dict[str, Any]:
    async with http.post(f"{info['control_url']}/segment", json={"start": start, "count": count, "rate": rate,
                                                                 "arrivals": arrivals}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"replayer: {resp.status} {await resp.text()}")
        return json.loads(await resp.read())


async def micro_once(info: dict[str, Any], segments: list[tuple[int, float, str]]) -> dict[str, float]:
    from benchmarks.pipeline_engine import engine_config
    from supervisor.app import build_adapters

    with tempfile.TemporaryDirectory(prefix="arbor-ws-ab-") as tmp:
        cfg = engine_config(info, tmp)
        venues, _ = build_adapters(cfg, None, live=False)
        sinks = {}
        for name in venues:
            for s in info["symbols"]:
                sinks[(name, s)] = await spawn(Nothing(), name=f"{name}/{s}", mailbox=MailboxSpec(capacity=100_000))
        counters = {name: ConnectionCounters() for name in venues}

        def make(n: str, v: Any) -> Callable[[], ConnectionActor]:
            return lambda: ConnectionActor(venue=v, symbols=info["symbols"], route=lambda s: sinks[(n, s)],
                                           counters=counters[n])

        conns = [await spawn(make(name, venue), name=f"connection/{name}") for name, venue in venues.items()]
        out: dict[str, float] = {}
        pos = 0
        async with aiohttp.ClientSession() as http:
            for count, rate, arrivals in segments:
                target = sum(c.frames for c in counters.values()) + count
                cpu0, t0 = time.process_time(), os.times()
                await post_segment(http, info, pos, count, rate, arrivals)
                pos += count
                while sum(c.frames for c in counters.values()) < target:  # noqa: ASYNC110
                    await asyncio.sleep(0.002)
                while any(r.queued for r in sinks.values()):  # noqa: ASYNC110
                    await asyncio.sleep(0.002)
                t1, key = os.times(), f"{arrivals}@{rate / 1000:g}k"
                out[key] = (time.process_time() - cpu0) * 1e6 / count
                out[key + " user"] = (t1.user - t0.user) * 1e6 / count
                out[key + " sys"] = (t1.system - t0.system) * 1e6 / count
        for c in conns:
            await c.stop()
        for r in sinks.values():
            await r.stop()
        for v in venues.values():
            await v.close()
    return out


class Count(Actor[Any]):
    """A no-op book for every symbol: counts the deltas and sets ``reached`` at ``want``."""

    def __init__(self) -> None:
        self.n, self.want, self.reached = 0, 0, asyncio.Event()

    async def receive(self, msg: Any) -> None:
        self.n += 1
        if self.n >= self.want:
            self.reached.set()


async def lockstep_once(rp: Any, bursts: tuple[int, ...]) -> dict[str, float]:
    from aiohttp import web

    from benchmarks.pipeline_breakdown import _ADAPTERS
    from benchmarks.replay import VENUES

    out: dict[str, float] = {}
    for vi, name in enumerate(VENUES):
        frames = [f for f, v in zip(rp.frames, rp.venue_of) if v == vi][:10_000]
        accepted: list[asyncio.Transport] = []
        arrived = asyncio.Event()

        async def handler(request: web.Request, accepted: list[asyncio.Transport] = accepted,
                          arrived: asyncio.Event = arrived) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            assert request.transport is not None
            accepted.append(request.transport)
            arrived.set()
            async for _ in ws:  # the subscriptions; until the client closes
                pass
            return ws

        app = web.Application()
        app.add_routes([web.get("/{path:.*}", handler)])  # every venue's own WebSocket path
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"  # the adapters add their own paths
        venue = _ADAPTERS[name](rest_url="http://127.0.0.1:9", ws_url=url, symbols=rp.symbols,
                                **({"book_channel": "spot.order_book_update"} if name == "gateio" else {}))
        sink = Count()
        sink_ref = await spawn(sink, name=f"count/{name}", mailbox=MailboxSpec(capacity=100_000))
        def make(v: Any = venue, r: Any = sink_ref) -> ConnectionActor:
            return ConnectionActor(venue=v, symbols=rp.symbols, route=lambda s: r)

        conn = await spawn(make, name=f"connection/{name}")
        while not accepted:
            await arrived.wait()
        transport = accepted[0]
        for burst in bursts:
            writes = [b"".join(frames[i:i + burst]) for i in range(0, len(frames), burst)]
            t0 = time.thread_time_ns()
            for i, chunk in enumerate(writes):
                sink.want = min(len(frames), (i + 1) * burst) + sink.n - min(len(frames), i * burst)
                sink.reached.clear()
                transport.write(chunk)
                await sink.reached.wait()
            out[f"{name}@burst{burst}"] = (time.thread_time_ns() - t0) / 1000 / len(frames)
        await conn.stop()
        await sink_ref.stop()
        await venue.close()
        await runner.cleanup()
    for burst in bursts:
        out[f"mean@burst{burst}"] = statistics.mean(out[f"{n}@burst{burst}"] for n in VENUES)
    return out


def progress(text: str) -> None:
    sys.stderr.write(text + "\n")


async def pipeline_once(info: dict[str, Any], params: Params) -> dict[str, Any]:
    import gc

    from benchmarks.pipeline_engine import BenchEngine, Driver, Record, engine_config
    from supervisor.app import build_adapters, fetch_taker_fees

    class StepDriver(Driver):
        """Keeps each segment's CPU per frame by rate (the ladder's steps)."""

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.cpu_by_rate: dict[float, float] = {}

        async def segment(self, count: int, rate: float, arrivals: str = "poisson",
                          trace: bool = False) -> tuple[float, float, dict[str, Any]]:
            out = await super().segment(count, rate, arrivals, trace)
            self.cpu_by_rate[rate] = self.cpu_us_per_frame
            return out

    with tempfile.TemporaryDirectory(prefix="arbor-ws-ab-") as tmp:
        cfg = engine_config(info, tmp)
        venues, dry_run = build_adapters(cfg, None, live=False)
        try:
            fees = await fetch_taker_fees(venues, cfg)
            engine = BenchEngine(cfg, venues, dry_run=dry_run, taker_fees=fees, record=Record())
            async with aiohttp.ClientSession() as http, engine.running() as tree:
                gc.freeze()
                try:
                    d = StepDriver(info, engine, tree, http, progress)
                    await d.sync()
                    res: dict[str, Any] = {}
                    for rate in (5_000.0, 20_000.0):
                        p = Params(symbols=params.symbols, lat_rate=rate, lat_s=params.lat_s, warm_s=params.warm_s,
                                   ladder=(), step_s=params.step_s)
                        wire, *_ = await d.latency(p, "poisson")
                        k = f"{rate / 1000:g}k"
                        res[f"cpu@{k}"] = d.cpu_us_per_frame
                        res[f"p50@{k}"] = percentile(wire, 0.5) / 1000
                        res[f"p99@{k}"] = percentile(wire, 0.99) / 1000
                    out = Outcome()
                    out.steps = await d.ladder(params)
                    for step in out.steps:
                        res[f"ladder-lag-ms@{step.rate / 1000:g}k"] = step.lag_ms
                    res["max-rate"] = out.max_rate()
                    res.update({f"cpu-ladder@{s.rate / 1000:g}k": d.cpu_by_rate[s.rate] for s in out.steps})
                finally:
                    gc.unfreeze()
        finally:
            for venue in venues.values():
                await venue.close()
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ws_reader_ab")
    parser.add_argument("what", choices=["micro", "lockstep", "pipeline"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.what == "lockstep":
        from benchmarks.replay import Replayer

        rp = Replayer(50, 80, seed=1)
    elif args.what == "micro":
        segments = [(20_000, 5_000.0, "poisson"), (40_000, 20_000.0, "tick")]
        need = sum(c for c, _, _ in segments)
        params = Params(symbols=50, lat_rate=need / 2, lat_s=1.0, warm_s=0.0, ladder=(), step_s=0.0)
    else:
        params = FULL
        extra = int(5_000 * (FULL.lat_s + FULL.warm_s))  # the 5k/s segment beside the 20k/s one
        params = Params(symbols=50, lat_rate=FULL.lat_rate, lat_s=FULL.lat_s + extra / FULL.lat_rate,
                        warm_s=FULL.warm_s, ladder=FULL.ladder, step_s=FULL.step_s)
    if args.what != "lockstep":
        _, info = start_replayer(params)
    results: dict[str, list[dict[str, Any]]] = {r: [] for r in READERS}
    for i in range(args.runs):
        order = READERS if i % 2 == 0 else READERS[::-1]  # alternated: neither always goes first
        for reader in order:
            os.environ["ARBOR_WS_READER"] = reader
            if args.what == "lockstep":
                res = uvloop.run(lockstep_once(rp, (1, 20)))
            elif args.what == "micro":
                res = uvloop.run(micro_once(info, segments))
            else:
                res = uvloop.run(pipeline_once(info, FULL))
            res["load1"] = os.getloadavg()[0]
            results[reader].append(res)
            print(json.dumps({"run": i + 1, "reader": reader, **res}), flush=True)
    base = READERS[0]
    for other in READERS[1:]:
        for k in [k for k in results[other][0] if k != "load1"]:
            a = [r.get(k, float("nan")) for r in results[base]]
            b = [r.get(k, float("nan")) for r in results[other]]
            ratios = [y / x if x else float("nan") for x, y in zip(a, b)]
            print(f"{k:24} {base} {' '.join(f'{x:8.1f}' for x in a)} | {other} {' '.join(f'{y:8.1f}' for y in b)}"
                  f" | {other}/{base} same run {' '.join(f'{r:.2f}' for r in ratios)}"
                  f" (median {statistics.median(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
