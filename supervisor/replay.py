"""``python -m supervisor replay CAPTURE...``: a recorded market through the live engine's path.

The recorded WebSocket frames are decoded by the venues' own decoders and sent to the real
``BookActor``s (their sync rules; a gap resyncs from the next recorded snapshot, served by
``paper.RecordedRest``), whose views go to the real ``DetectorActor``s, whose opportunities go
to the real ``ExecutorActor`` and ``JournalActor``, the executor trading against ``PaperVenue``s
that fill at the replayed books after ``latency_ms``, with the venues' taker fees. Only the
sockets are gone: the frame source is the capture (``replay_input``), and the connection's
per-frame work (decode, route, ``await book.send``) is done here by ``feed``.

Time is virtual (``virtual_time``): a frame is delivered at its recorded receive time (at the
end of its ``batch_ms`` window: see ``feed``), and the clock moves only when the engine is
idle, so ``--speed max`` and ``--speed 1`` decide the same, and two replays of one capture
write identical journals (the executor's run id is derived from the inputs and settings,
restart backoff has no jitter). The replay's journal is its own
(``OUT/journal.sqlite``, recreated each run), never the live one.

Frames the live engine would never have received (channels it does not subscribe to, symbols
not in the capture's markets) fail to decode and are counted, not fatal.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from actors import Actor, ActorRef
from actors.detector import DetectorActor
from actors.journal import JournalActor
from config import EngineConfig, VenueConfig
from protocols.capture import DROPPED, Market
from protocols.errors import AskTimeout, ConfigError, DecodeError, MailboxFull
from protocols.messages import BookDelta, FlushJournal, GetView, Opportunity
from protocols.venue import Venue
from supervisor import virtual_time
from supervisor.app import ADAPTERS
from supervisor.engine import Engine, path_symbol
from supervisor.paper import DEFAULT_TAKER_FEES, PaperVenue, RecordedRest
from supervisor.replay_input import ReplayInput
from supervisor.spec import ChildSpec, Strategy, exponential_backoff
from supervisor.tree import Supervisor

START_NS = 1_000_000_000  # the virtual clock at the first record (never 0: "no time" elsewhere)
RUN_PREFIX = "replay-"  # every replay's executor run id: what marks a journal as a replay's
BATCH_MS = 1.0  # frames received within one such window reach the books together (see feed)
INVENTORY = 1e9  # every asset on every paper venue: the replay measures the strategy, not the float


class BookSync(msgspec.Struct, kw_only=True):
    first_ns: int = 0  # virtual: the book's first frame
    last_ns: int = 0
    synced_ns: int = 0  # accumulated time in sync
    since_ns: int | None = None  # in sync since (None: out of sync at the last sample)
    in_sync_at_end: bool = False


class ReplayStats(msgspec.Struct, kw_only=True):
    """What the feed and the detectors saw; the journal has the rest."""

    frames: int = 0
    frames_by_venue: dict[str, int] = msgspec.field(default_factory=dict)
    decode_errors: dict[str, int] = msgspec.field(default_factory=dict)
    dropped_in_capture: int = 0
    unrouted: int = 0
    sync: dict[tuple[str, str], BookSync] = msgspec.field(default_factory=dict)  # (venue, symbol)
    detections: list[tuple[int, str, str, str, float, float, int]] = msgspec.field(default_factory=list)
    # (created_ns virtual, symbol, buy venue, sell venue, edge bps, expected pnl, detection latency ns)
    span_ns: int = 0
    wall_s: float = 0.0  # real seconds the replay took
    end_views: dict[str, Any] = msgspec.field(default_factory=dict)  # book path -> BookView at the end
    snapshots_unanswered: int = 0
    rules_recorded: dict[str, bool] = msgspec.field(default_factory=dict)  # venue/symbol -> filters from the capture


def recording_detector(stats: ReplayStats) -> type[DetectorActor]:
    """The real detector, noting what it fires and, from the views it is given, when each book
    went in and out of sync (a view is published on every change of a book's state)."""
    books = stats.sync

    class ReplayDetector(DetectorActor):
        def on_view(self, view: Any) -> list[Opportunity]:
            sync = books.get((view.venue, view.symbol))
            if sync is not None:
                if view.in_sync and sync.since_ns is None:
                    sync.since_ns = self.clock()
                elif not view.in_sync and sync.since_ns is not None:
                    sync.synced_ns += self.clock() - sync.since_ns
                    sync.since_ns = None
            fired = super().on_view(view)
            for o in fired:
                latency = o.created_ns - max(o.buy_recv_ns, o.sell_recv_ns)
                stats.detections.append((o.created_ns, o.symbol, o.buy_venue, o.sell_venue, o.edge_bps,
                                         o.expected_pnl, latency))
            return fired
    return ReplayDetector


class ReplayEngine(Engine):
    """The live ``Engine`` tree minus sockets and control: execution, detectors, and per venue
    its books (``venues/NAME/books/SYM``, the live paths), all on the virtual clock."""

    with_control = False

    def __init__(self, cfg: EngineConfig, venues: dict[str, Any], *, taker_fees: dict[str, float],
                 clock: Callable[[], int], wall: Callable[[], float],
                 run_id: str, stats: ReplayStats) -> None:
        self.replay_run_id = run_id
        self.detector_class = recording_detector(stats)
        super().__init__(cfg, venues, dry_run=dict.fromkeys(venues, False), taker_fees=taker_fees,
                         clock=clock, wall=wall)

    def _sup(self, children: list[ChildSpec], strategy: Strategy) -> Supervisor:
        r = self.cfg.restart  # no jitter: a replay's restarts happen at the same virtual times
        return Supervisor(children, strategy=strategy, max_restarts=r.max_restarts, within_s=r.within_s,
                          backoff=exponential_backoff(r.backoff_initial_s, r.backoff_max_s, jitter_s=0.0),
                          clock=lambda: self.clock() / 1e9, on_restart=self._journal_restart)

    def _journal(self) -> Actor[Any]:
        return JournalActor(path=self.cfg.journal.path, wall=self.wall, inline=True)

    def _executor(self) -> Actor[Any]:
        executor = super()._executor()
        executor.new_run_id = lambda: self.replay_run_id  # type: ignore[attr-defined]
        return executor

    def _venue_factory(self, name: str) -> Callable[[], Actor[Any]]:
        return lambda: self._sup([ChildSpec("books", lambda: self._sup(
            [self._book_spec(name, s) for s in self.markets[name]], "one_for_one"))], "one_for_one")


class Progress:
    """A progress bar on stderr (frames replayed / total, virtual time, real frames/s)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = max(total, 1), enabled
        self._last = 0.0
        self._t0 = time.monotonic()

    def update(self, done: int, virtual_s: float, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.2):
            return
        self._last = now
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * 30)
        rate = done / max(now - self._t0, 1e-9)
        sys.stderr.write(f"\r[{bar:<30}] {frac:6.1%}  {done}/{self.total} frames  "
                         f"t+{virtual_s:8.1f}s  {rate:9.0f} frames/s")
        if force:
            sys.stderr.write("\n")
        sys.stderr.flush()


def replay_config(cfg: EngineConfig, inputs: ReplayInput, journal: Path) -> EngineConfig:
    """``cfg`` with the capture's venues and the replay's own journal. Each venue runs its
    captured markets, or in whole-market mode (``[markets] symbols = "shared"``) those of them
    the engine's selection picks from the venues' recorded listings (``PaperVenue.markets``:
    nothing asks the venues), plus the config's pinned ``symbols`` that were captured."""
    shared = cfg.markets.symbols == "shared"

    def symbols(name: str, captured: tuple[str, ...]) -> tuple[str, ...]:
        if not shared:
            return captured
        pinned = cfg.venues[name].symbols if name in cfg.venues else ()
        return tuple(s for s in pinned if s in captured)

    venues = {name: VenueConfig(kind=m.kind, symbols=symbols(name, tuple(m.symbols)), **m.options)  # type: ignore[arg-type]
              for name, m in inputs.markets.items()}
    if shared and len(venues) < cfg.markets.min_venues:
        raise ConfigError("markets.min_venues", f"<= the capture's venues ({len(venues)}) to replay whole-market mode",
                          cfg.markets.min_venues)
    return msgspec.structs.replace(cfg, venues=venues,
                                   journal=msgspec.structs.replace(cfg.journal, path=str(journal)))


def derive_run_id(inputs: ReplayInput, cfg: EngineConfig, latency_ms: float, batch_ms: float) -> str:
    """The same capture (wherever it lies) and settings: the same id, so journals compare equal."""
    identity = [inputs.first_ns, inputs.frames_total, inputs.markets, len(inputs.rest)]
    settings = [cfg.detector, cfg.risk, latency_ms, batch_ms]
    if cfg.markets.symbols == "shared":  # the markets replayed are the selection's
        settings.append(cfg.markets)
    h = hashlib.sha256(msgspec.json.encode([identity, *settings]))
    return RUN_PREFIX + h.hexdigest()[:12]


async def _replay(inputs: ReplayInput, cfg: EngineConfig, *, latency_ms: float, batch_ms: float,
                  stats: ReplayStats, progress: Progress) -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, virtual_time.VirtualTimeLoop)
    clock = loop.clock_ns
    origin = inputs.first_ns - START_NS
    wall0 = inputs.wall_at_first

    def wall() -> float:
        return wall0 + (clock() - START_NS) / 1e9

    engine: ReplayEngine | None = None

    def book_ref(venue: str, symbol: str) -> ActorRef | None:
        return engine.lookup(f"venues/{venue}/books/{path_symbol(symbol)}") if engine is not None else None

    venues: dict[str, PaperVenue] = {}
    rests: list[RecordedRest] = []
    for name, market in inputs.markets.items():
        def build(rest: RecordedRest, market: Market = market) -> Venue:
            adapter = ADAPTERS[market.kind](rest_url="http://replay.invalid", ws_url="ws://replay.invalid",
                                            symbols=list(market.symbols), credentials=None, **market.options)
            adapter._rest = rest  # its own parsing, over recorded replies (see supervisor.capture.rest_client)
            return adapter

        replies = [(r[3] - origin, r[4], r[5]) for r in inputs.rest if r[1] == name and isinstance(r[5], bytes)]
        recorded = RecordedRest(name, replies, clock)
        rests.append(recorded)
        fee = inputs.taker_fees.get(name, DEFAULT_TAKER_FEES[market.kind])
        assets = sorted({a for s in market.symbols for a in s.split("/")})
        venues[name] = PaperVenue(build(recorded), static=build(RecordedRest(name, replies, clock, static=True)),
                                  symbols=market.symbols, books=functools.partial(book_ref, name),
                                  latency_s=latency_ms / 1000,
                                  taker_fee=fee, balances=dict.fromkeys(assets, INVENTORY), clock=clock, wall=wall)
    fees = {name: v.taker_fee for name, v in venues.items()}
    engine = ReplayEngine(cfg, dict(venues), taker_fees=fees, clock=clock, wall=wall,
                          run_id=derive_run_id(inputs, cfg, latency_ms, batch_ms), stats=stats)
    async with engine.running() as tree:
        gc.freeze()  # as Engine.serve: what start-up built lives to the end, out of gen-2 passes
        waiter = asyncio.create_task(tree.wait(), name="replay:tree-wait")
        try:
            await feed(inputs, venues, book_ref, clock, origin, stats, progress, int(batch_ms * 1e6))
            # Let what the last frames started finish: legs, hedges, journal writes (virtual time).
            await asyncio.sleep(cfg.risk.leg_timeout_s + latency_ms / 1000 + 1.0)
            if waiter.done():
                waiter.result()
            journal = engine.lookup("execution/journal")
            if journal is not None:
                await journal.ask(FlushJournal())
            for name, market in inputs.markets.items():
                for symbol in market.symbols:
                    ref = book_ref(name, symbol)
                    if ref is None:
                        continue
                    try:
                        stats.end_views[f"{name}/{symbol}"] = await ref.ask(GetView())
                    except AskTimeout:  # named: it waits for a snapshot the capture does not hold
                        continue
        finally:
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
    stats.snapshots_unanswered = sum(r.unanswered for r in rests)
    stats.rules_recorded = {f"{name}/{symbol}": recorded for name, v in venues.items()
                            for symbol, recorded in sorted(v.rules_recorded.items())}
    for (venue, symbol), sync in stats.sync.items():
        view = stats.end_views.get(f"{venue}/{symbol}")
        sync.in_sync_at_end = bool(view is not None and view.in_sync)


async def feed(inputs: ReplayInput, venues: dict[str, PaperVenue], book_ref: Callable[[str, str], ActorRef | None],
               clock: Callable[[], int], origin: int, stats: ReplayStats, progress: Progress,
               batch_ns: int) -> None:
    """The connections' per-frame work over the recorded frames, each at its receive time.

    Frames are delivered in windows of ``batch_ns`` of recorded time: every frame received
    within one window is decoded and queued to its book at the window's end, as a socket read
    hands over whatever arrived meanwhile, so a book publishes one view per burst and the
    detector's mailbox conflates, as live. ``batch_ns=0``: each frame alone, at its own time."""
    refs: dict[tuple[str, str], ActorRef] = {}
    books = stats.sync
    errors = stats.decode_errors
    decoders = {name: venue.decode for name, venue in venues.items()}  # the adapters' own, bound once
    counts = dict.fromkeys(venues, 0)
    shown = 0
    now = clock()
    for kind, venue_name, conn, recv_ns, _, data in inputs.frames():
        t = recv_ns - origin
        if t > now:
            due = t if batch_ns <= 0 else -(-t // batch_ns) * batch_ns  # the end of t's window
            await asyncio.sleep((due - now) / 1e9)
            now = clock()
            if stats.frames - shown >= 1024:
                shown = stats.frames
                progress.update(shown, (now - START_NS) / 1e9)
        if kind == DROPPED:
            stats.dropped_in_capture += conn
            continue
        decode = decoders.get(venue_name)
        if decode is None:
            continue
        stats.frames += 1
        counts[venue_name] += 1
        try:
            event = decode(data, t)
        except DecodeError:
            errors[venue_name] = errors.get(venue_name, 0) + 1
            continue
        if type(event) is not BookDelta:
            continue
        key = (venue_name, event.symbol)
        ref = refs.get(key)
        if ref is None or not ref.alive:
            ref = book_ref(venue_name, event.symbol)
            if ref is None:
                stats.unrouted += 1
                continue
            refs[key] = ref
            if key not in books:
                books[key] = BookSync(first_ns=now)
        try:  # ``await ref.send`` without a coroutine per frame while the book has room (as live)
            ref.tell(event)
        except MailboxFull:
            await ref.send(event)
    stats.frames_by_venue.update((name, n) for name, n in counts.items() if n)
    await asyncio.sleep(max(batch_ns, 1) / 1e9)
    end = clock()
    for sync in books.values():
        if sync.since_ns is not None:
            sync.synced_ns += end - sync.since_ns
            sync.since_ns = None
        sync.last_ns = end
    stats.span_ns = end - START_NS
    progress.update(stats.frames, stats.span_ns / 1e9, force=True)


def refuse_live_journal(journal: Path, cfg: EngineConfig) -> None:
    """A replay recreates its journal: never one the engine writes, nor any file holding a run
    that is not a replay's."""
    if journal.resolve() == Path(cfg.journal.path).expanduser().resolve():
        raise ConfigError("--out", f"a directory other than the live journal's ({journal} is the engine's journal)")
    if not journal.exists():
        return
    try:
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            runs = [r for (r,) in conn.execute("SELECT run_id FROM restarts WHERE run_id != ''")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ConfigError("--out", f"a replay's own directory: {journal} is not a replay journal ({exc})") from None
    if any(not r.startswith(RUN_PREFIX) for r in runs):
        raise ConfigError("--out", f"a replay's own directory: {journal} holds live runs, it is not replaced")


def run_replay(inputs: ReplayInput, cfg: EngineConfig, out: Path, *, speed: float | None = None,
               latency_ms: float = 50.0, batch_ms: float = BATCH_MS,
               progress: bool = False) -> tuple[ReplayStats, Path]:
    """One replay into ``out`` (its journal is recreated); the stats and the journal's path."""
    out.mkdir(parents=True, exist_ok=True)
    journal = out / "journal.sqlite"
    refuse_live_journal(journal, cfg)
    for suffix in ("", "-wal", "-shm"):
        Path(str(journal) + suffix).unlink(missing_ok=True)
    rcfg = replay_config(cfg, inputs, journal)
    stats = ReplayStats()
    started = time.monotonic()
    gc.freeze()  # what the process held before (modules, the inputs' replies) stays out of the replay's gen-2 passes
    try:
        virtual_time.run(_replay(inputs, rcfg, latency_ms=latency_ms, batch_ms=batch_ms, stats=stats,
                                 progress=Progress(inputs.frames_total, progress)),
                         start_ns=START_NS, speed=speed)
    finally:
        gc.unfreeze()  # a sweep replays again in this process: nothing stays frozen for good
    stats.wall_s = time.monotonic() - started
    return stats, journal
