"""The pipeline case's in-process half for the ``arbor`` rows: the engine under test.

Role: ``run_once(info, params, progress)`` builds an ``EngineConfig`` pointing every venue at
the replayer (``info`` from ``benchmarks.replay``), runs ``BenchEngine`` (the production
``supervisor.engine.Engine`` with a recording executor and timed detectors; see
``benchmarks.pipeline``) under ``supervisor.run`` in this process's loop, and has
``benchmarks.pipeline_driver.Driver`` drive it (``EngineSubject``) through one repetition.

Failure mode: a book not in sync within ``SYNC_TIMEOUT_S``, a replayer error or no Opportunity
at all in the latency segment raise ``RuntimeError`` (the case is reported as an error).
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

from actors import Actor
from actors.book import BookActor
from actors.detector import DetectorActor, DetectorParams
from benchmarks.pipeline import Params
from benchmarks.pipeline_driver import Driver, Latencies
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


class EngineSubject:
    """The engine as ``benchmarks.pipeline_driver.Driver`` drives it: frames counted by the
    connections, books' mailboxes, in-sync books, and the recorded Opportunities' latencies."""

    labels = ("wire->opportunity", "receive->opportunity", "receive->detector", "receive->book")

    def __init__(self, info: dict[str, Any], engine: BenchEngine, tree: Tree) -> None:
        self.info, self.engine, self.tree = info, engine, tree
        self.books = [f"venues/{v}/books/{path_symbol(s)}" for v in info["venues"] for s in info["symbols"]]

    def frames(self) -> int:
        return sum(c.frames for c in self.engine.counters.values())

    def high_water(self) -> int:
        return max(s.mailbox_high_water for s in self.tree.stats() if "/books/" in s.path)

    def not_in_sync(self) -> list[str]:
        return [p for p in self.books if not getattr(self.tree.describe(p), "in_sync", False)]

    async def drained(self) -> None:
        """Every book's mailbox empty (what the last frames left queued is processed). Polls
        ``ActorRef.queued``, not ``tree.stats()``, whose percentiles would stall the engine."""
        refs = [self.tree.lookup(p) for p in self.books]
        while any(ref.queued for ref in refs):  # noqa: ASYNC110 - a mailbox signals no 'emptied' event
            await asyncio.sleep(0.005)

    def clear(self) -> None:
        self.engine.record.clear()

    def latencies(self, trace: dict[str, list[int]]) -> Latencies:
        """Per Opportunity wire -> opportunity and receive -> opportunity, per view receive ->
        detector, per delta receive -> book (ns, sorted)."""
        record = self.engine.record
        wire = wire_latencies(record.opps, trace, list(self.info["venues"]), self.info["symbols"])
        return sorted(wire), sorted(record.opp_ns), sorted(record.view_ns), sorted(record.book_ns)


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
                    outcome = await Driver(info, EngineSubject(info, engine, tree), http, progress).run(params)
                finally:
                    gc.unfreeze()  # the next repetition starts from the harness's gc.collect()
        finally:
            for venue in venues.values():
                await venue.close()
    return outcome.rows(impl)
