"""The pipeline case's in-process half: the engine under test and the driver of one repetition.

Role: ``run_once(info, params, progress)`` builds an ``EngineConfig`` pointing every venue at
the replayer (``info`` from ``benchmarks.replay``), runs ``BenchEngine`` (the production
``supervisor.engine.Engine`` with a recording executor and timed detectors; see
``benchmarks.pipeline``) under ``supervisor.run`` in this process's loop, asks the replayer
for segments of the stream at fixed rates over its control endpoint, and returns the rows.

Failure mode: a book not in sync within ``SYNC_TIMEOUT_S``, a replayer error or no Opportunity
at all in the latency segment raise ``RuntimeError`` (the case is reported as an error).
"""

from __future__ import annotations

import asyncio
import gc
import json
import tempfile
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

from actors import Actor
from actors.book import BookActor
from actors.detector import DetectorActor, DetectorParams
from benchmarks.pipeline import HW_FLAT, SYNC_RATE, SYNC_TIMEOUT_S, Outcome, Params, Step, percentile, vm_kib
from config import EngineConfig
from config.schema import ControlConfig, JournalConfig, VenueConfig
from protocols.messages import BookDelta, BookView, Opportunity
from supervisor.app import build_adapters, fetch_taker_fees
from supervisor.engine import Engine, path_symbol
from supervisor.running import Tree
from supervisor.spec import ChildSpec


class Record:
    """What the instrumented actors write, in ns; shared by every incarnation."""

    def __init__(self) -> None:
        self.opp_ns: list[int] = []  # frame receive (recv_ns) -> Opportunity, per Opportunity
        self.opps: list[Opportunity] = []  # to time them from the replayer's write (wire_latencies)
        self.view_ns: list[int] = []
        self.book_ns: list[int] = []  # frame receive -> book receive (the connection -> book hop)
        self.opportunities = 0

    def clear(self) -> None:
        self.opp_ns, self.opps, self.view_ns, self.book_ns = [], [], [], []


class RecordingExecutor(Actor):
    """Stands in for the executor: keeps each Opportunity's frame -> opportunity latency."""

    def __init__(self, record: Record) -> None:
        self.record = record

    async def receive(self, msg: Any) -> None:
        if type(msg) is Opportunity:
            self.record.opportunities += 1
            self.record.opps.append(msg)
            self.record.opp_ns.append(msg.created_ns - max(msg.buy_recv_ns, msg.sell_recv_ns))


class TimedDetector(DetectorActor):
    """The production detector plus one clock read per view: frame receive -> detector receive."""

    def __init__(self, record: Record, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._views_ns = record

    async def receive(self, msg: Any) -> Any:
        if type(msg) is BookView and msg.in_sync:
            self._views_ns.view_ns.append(time.monotonic_ns() - msg.recv_ns)
        return await super().receive(msg)


class TimedBook(BookActor):
    """The production book plus one clock read per delta: frame receive -> book receive."""

    def __init__(self, record: Record, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deltas_ns = record

    async def receive(self, msg: Any) -> Any:
        if type(msg) is BookDelta:
            self._deltas_ns.book_ns.append(time.monotonic_ns() - msg.recv_ns)
        return await super().receive(msg)


class BenchEngine(Engine):
    """``supervisor.engine.Engine`` with ``RecordingExecutor`` and ``TimedDetector``; all else as built."""

    def __init__(self, *args: Any, record: Record, **kwargs: Any) -> None:
        self.record = record
        super().__init__(*args, **kwargs)

    def _executor(self) -> Actor[Any]:
        return RecordingExecutor(self.record)

    def _detector_spec(self, symbol: str) -> ChildSpec:
        spec = super()._detector_spec(symbol)
        d = self.cfg.detector

        def factory() -> Actor[Any]:
            return TimedDetector(self.record, symbol=symbol, taker_fees=self.taker_fees,
                                 params=DetectorParams(**msgspec.structs.asdict(d)),
                                 executor=self.root.lookup("execution/executor"))

        return msgspec.structs.replace(spec, factory=factory)

    def _book_spec(self, name: str, symbol: str) -> ChildSpec:
        spec = super()._book_spec(name, symbol)
        b = self.cfg.book

        def factory() -> Actor[Any]:
            return TimedBook(self.record, venue=self.venues[name], symbol=symbol,
                             publish=self.root.lookup(f"detectors/{path_symbol(symbol)}"),
                             depth=b.depth, max_levels=b.max_levels, snapshot_limit=b.snapshot_limit)

        return msgspec.structs.replace(spec, factory=factory)


def engine_config(info: dict[str, Any], tmp: str) -> EngineConfig:
    symbols = tuple(info["symbols"])
    # The replayer writes Gate's spot.order_book_update frames: the engine must subscribe to (and
    # sync by the rule of) that channel, not the adapter's default spot.obu.
    venues = {name: VenueConfig(kind=name, symbols=symbols, rest_url=v["rest_url"], ws_url=v["ws_url"],
                                book_channel="spot.order_book_update" if name == "gateio" else None)
              for name, v in info["venues"].items()}
    return EngineConfig(venues=venues, journal=JournalConfig(path=f"{tmp}/journal.sqlite"),
                        control=ControlConfig(unix_path=f"{tmp}/control.sock", state_dir=tmp))


class Driver:
    def __init__(self, info: dict[str, Any], engine: BenchEngine, tree: Tree, http: aiohttp.ClientSession,
                 progress: Callable[[str], None]) -> None:
        self.info, self.engine, self.tree, self.http, self.progress = info, engine, tree, http, progress
        self.pos = 0  # next frame of the stream
        self.cpu_us_per_frame = 0.0  # this process's CPU time per frame over the last segment
        self.books = [f"venues/{v}/books/{path_symbol(s)}" for v in info["venues"] for s in info["symbols"]]

    def frames_received(self) -> int:
        return sum(c.frames for c in self.engine.counters.values())

    def book_high_water(self) -> int:
        return max(s.mailbox_high_water for s in self.tree.stats() if "/books/" in s.path)

    async def segment(self, count: int, rate: float, arrivals: str = "poisson",
                      trace: bool = False) -> tuple[float, float, dict[str, Any]]:
        """Frames ``pos..pos+count`` at ``rate``: (achieved rate, engine lag in ms after the last
        write, the replayer's answer)."""
        target = self.frames_received() + count
        cpu0 = time.process_time()
        async with self.http.post(f"{self.info['control_url']}/segment",
                                  json={"start": self.pos, "count": count, "rate": rate,
                                        "arrivals": arrivals, "trace": trace}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"replayer: {resp.status} {await resp.text()}")
            body = await resp.read()  # decoded once the engine has the frames: not on their path
        self.pos += count
        deadline = time.monotonic() + 30.0
        while self.frames_received() < target:  # cross-process state: poll with a deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"the engine received {self.frames_received()} of {target} frames")
            await asyncio.sleep(0.002)
        received_ns = time.monotonic_ns()
        sent = json.loads(body)
        lag_ms = (received_ns - sent["t1_ns"]) / 1e6
        self.cpu_us_per_frame = (time.process_time() - cpu0) * 1e6 / max(1, count)
        achieved = count / max(1e-9, (sent["t1_ns"] - sent["t0_ns"]) / 1e9)
        return achieved, lag_ms, sent

    async def latency(self, p: Params, arrivals: str) -> tuple[list[int], list[int], list[int], list[int]]:
        """One latency segment at ``p.lat_rate``: per Opportunity wire -> opportunity and
        receive -> opportunity, per view receive -> detector, per delta receive -> book (ns)."""
        await self.segment(int(p.lat_rate * p.warm_s), p.lat_rate, arrivals)
        await self.drained()
        record = self.engine.record
        record.clear()
        achieved, lag_ms, sent = await self.segment(int(p.lat_rate * p.lat_s), p.lat_rate, arrivals, trace=True)
        await self.drained()
        wire = wire_latencies(record.opps, sent["trace"], list(self.info["venues"]), self.info["symbols"])
        out = sorted(wire), sorted(record.opp_ns), sorted(record.view_ns), sorted(record.book_ns)
        record.clear()
        self.progress(f"{arrivals} arrivals at {p.lat_rate:,.0f}/s (achieved {achieved:,.0f}/s, writer late "
                      f"p99 {sent['late_p99_us']:.0f} us, lag {lag_ms:.1f} ms): {len(wire)} opportunities; "
                      f"p50/p99 us: wire->opportunity {_p(out[0])}, receive->book {_p(out[3])}, "
                      f"receive->detector {_p(out[2])}, receive->opportunity {_p(out[1])}; "
                      f"engine CPU {self.cpu_us_per_frame:.1f} us/frame")
        if not wire:
            raise RuntimeError(f"no Opportunity in {p.lat_s}s at {p.lat_rate:,.0f} frames/s ({arrivals})")
        return out

    async def sync(self) -> None:
        await self.segment(self.info["sync_frames"], SYNC_RATE, "tick")
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while not all(getattr(self.tree.describe(p), "in_sync", False) for p in self.books):
            if time.monotonic() > deadline:
                behind = [p for p in self.books if not getattr(self.tree.describe(p), "in_sync", False)]
                raise RuntimeError(f"{len(behind)} books not in sync after {SYNC_TIMEOUT_S}s: {behind[:3]}")
            await asyncio.sleep(0.02)

    async def drained(self) -> None:
        """Every book's mailbox empty (what the last frames left queued is processed). Polls
        ``ActorRef.queued``, not ``tree.stats()``, whose percentiles would stall the engine."""
        refs = [self.tree.lookup(p) for p in self.books]
        while any(ref.queued for ref in refs):  # noqa: ASYNC110 - a mailbox signals no 'emptied' event
            await asyncio.sleep(0.005)

    async def run(self, p: Params) -> Outcome:
        out = Outcome()
        t0 = time.monotonic()
        await self.sync()
        self.progress(f"{len(self.books)} books in sync after {time.monotonic() - t0:.1f}s")
        out.wire_us, out.opp_us, out.view_us, _ = await self.latency(p, "poisson")
        out.cpu_us = self.cpu_us_per_frame
        out.rss_mb = vm_kib("VmRSS") / 1024
        out.tick_us, *_ = await self.latency(p, "tick")
        self.progress(f"RSS {out.rss_mb:.1f} MB")
        out.steps = await self.ladder(p)
        return out

    async def ladder(self, p: Params) -> list[Step]:
        """``p.ladder``'s rates in turn, ``p.step_s`` each, up to the first not sustained."""
        steps: list[Step] = []
        stream_end = self.info["frames"]
        for rate in p.ladder:
            count = int(rate * p.step_s)
            if self.pos + count > stream_end:
                self.progress(f"stream exhausted before {rate:,.0f}/s")
                break
            hw_before = self.book_high_water()
            achieved, lag_ms, _ = await self.segment(count, rate)
            await self.drained()
            hw = self.book_high_water()
            why = []
            if achieved < 0.95 * rate:
                why.append(f"replayer delivered {achieved:,.0f}/s")
            if lag_ms > max(20.0, 0.05 * p.step_s * 1000):
                why.append(f"engine {lag_ms:.0f} ms behind")
            if hw > max(hw_before, HW_FLAT):
                why.append(f"book mailbox high-water {hw}")
            step = Step(rate, achieved, lag_ms, hw, not why, "; ".join(why))
            steps.append(step)
            self.progress(f"{rate:,.0f}/s: achieved {achieved:,.0f}/s, lag {lag_ms:.1f} ms, book high-water {hw}, "
                          f"CPU {self.cpu_us_per_frame:.1f} us/frame"
                          f" -> {'sustained' if step.sustained else 'NOT sustained: ' + step.why}")
            if not step.sustained:
                break
        return steps


def wire_latencies(opps: list[Opportunity], trace: dict[str, list[int]], venues: list[str],
                   symbols: list[str]) -> list[int]:
    """Per Opportunity, ``created_ns`` minus the moment the replayer wrote the newer of its two
    views' frames (the frame that made it: a view's ``seq`` is its last frame's). A view whose
    frame is not in ``trace`` came from an earlier segment, so the other one is the newer."""
    written = {(venues[v], symbols[s], seq): ns
               for v, s, seq, ns in zip(trace["venue"], trace["symbol"], trace["seq"], trace["written_ns"])}
    out = []
    for o in opps:
        newest = max(written.get((o.buy_venue, o.symbol, o.buy_seq), 0),
                     written.get((o.sell_venue, o.symbol, o.sell_seq), 0))
        if newest:
            out.append(o.created_ns - newest)
    return out


def _p(ns: list[int]) -> str:
    if not ns:
        return "-"
    return f"{percentile(ns, 0.5) / 1000:.0f}/{percentile(ns, 0.99) / 1000:.0f}"


async def run_once(info: dict[str, Any], params: Params, progress: Callable[[str], None],
                   impl: str = "arbor") -> list[dict]:
    """One repetition: a fresh engine against the replayer, from frame 0."""
    with tempfile.TemporaryDirectory(prefix="arbor-pipeline-") as tmp:
        cfg = engine_config(info, tmp)
        venues, dry_run = build_adapters(cfg, None, live=False)
        try:
            fees = await fetch_taker_fees(venues, cfg)
            engine = BenchEngine(cfg, venues, dry_run=dry_run, taker_fees=fees, record=Record())
            async with aiohttp.ClientSession() as http, engine.running() as tree:
                gc.freeze()  # as ``Engine.serve`` does once the tree is up
                try:
                    outcome = await Driver(info, engine, tree, http, progress).run(params)
                finally:
                    gc.unfreeze()  # the next repetition starts from the harness's gc.collect()
        finally:
            for venue in venues.values():
                await venue.close()
    return outcome.rows(impl)
