"""The engine's supervision tree, built from an ``EngineConfig``, and what its control
endpoint drives (``EngineHandle``: subscribe/unsubscribe at run time, stop, summary).

Start order is execution → detectors → venues → control, so every actor's downstream exists
before it is built (a book publishes to its detector, a detector tells the executor), and
shutdown runs the other way: the control endpoint and market data stop first (no new
opportunities), then detectors, then the executor finishes its legs and the journal flushes.
Factories read the market set when they (re)start, so a run-time subscription survives a
restart of its venue's subtree. Every restart in the tree is journaled.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from actors import Actor, ActorRef, MailboxSpec
from actors.account import AccountActor, AccountBoard
from actors.book import BookActor
from actors.connection import ConnectionActor, ConnectionCounters
from actors.detector import DetectorActor
from actors.executor import ExecutorActor
from actors.journal import DurableWrites, JournalActor
from actors.order_gateway import OrderGatewayActor, OrderGateways, WsFirstVenue
from actors.snapshots import SnapshotGate
from actors.static import StaticData
from config import EngineConfig
from protocols.errors import ActorStopped, ExchangeError, MailboxFull
from protocols.markets import Selection
from protocols.messages import BookView, MarketEvent, RestartRecord, Subscribe, Unsubscribe
from protocols.venue import Venue
from supervisor.control import ControlActor
from supervisor.engine_status import EngineStatus, EngineSummary
from supervisor.markets import MarketChanges, MarketsActor, apply_market_set
from supervisor.running import Tree, run
from supervisor.spec import ChildSpec, Strategy, exponential_backoff
from supervisor.tree import Supervisor

log = logging.getLogger("arbor.engine")

# A market whose detector fired within this long has a "recent edge": its books fetch their
# snapshots first when many resync at once (actors.snapshots).
RECENT_EDGE_S = 300.0


def detector_key(msg: object) -> object:
    """A detector's conflating mailbox keeps only the newest view per venue; anything else
    (an ask) has a key of its own and is never conflated."""
    return msg.venue if isinstance(msg, BookView) else id(msg)


def path_symbol(symbol: str) -> str:
    """``BTC/USDT`` → ``BTCUSDT``: the path component of a symbol."""
    return symbol.replace("/", "")


class Engine:
    """One running engine: venue adapters, the tree, and the market set (config + run-time
    subscriptions). Factories read the market set when they (re)start, so a run-time
    subscription survives a restart of its venue's subtree."""

    detector_class: type[DetectorActor] | None = None  # None: DetectorActor (a replay's records what it fires)
    with_control = True  # a replay has no control endpoint

    def __init__(self, cfg: EngineConfig, venues: dict[str, Venue], *, dry_run: dict[str, bool],
                 taker_fees: dict[str, float], live: bool = False,
                 capture: Callable[[str, int, int, bytes | str], None] | None = None,
                 clock: Callable[[], int] = time.monotonic_ns, wall: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.clock, self.wall = clock, wall  # every actor's clocks (a replay's are virtual)
        self.capture = capture  # every connection records its raw frames through it
        self.live = live
        self.venues = venues
        self.dry_run = dry_run
        self.taker_fees = taker_fees
        self.markets: dict[str, list[str]] = {name: list(v.symbols) for name, v in cfg.venues.items()
                                              if v.enabled}
        self.counters = {name: ConnectionCounters() for name in self.markets}
        self.shards: dict[str, list[list[str]]] = {}  # venue -> symbols per connection actor
        self._shard_starts: dict[tuple[str, int], int] = {}
        # One snapshot gate per venue, shared by every incarnation of its books.
        self.snapshot_gates = {name: SnapshotGate(cfg.book.snapshots_in_flight) for name in self.markets}
        # Symbol rules and fees: fetched once per venue when first needed, shared by every
        # executor this engine builds (a restart re-fetches nothing).
        self.static = StaticData(venues)
        # Live account views from the venues' private streams, read by the executor.
        self.accounts = AccountBoard()
        # Order entry over the venues' WebSocket APIs where they have one (REST otherwise).
        self.gateways = OrderGateways()
        self.order_venues: dict[str, Venue] = {
            name: WsFirstVenue(v, self.gateways.channel(name)) if self._ws_orders(name) is not None else v
            for name, v in venues.items()}
        # The journal's commit-now path: the executor's intents committed in its own step.
        self.durable = DurableWrites()
        self.restarts_unjournaled = 0
        self.root = self._root()
        self._tree: Tree | None = None
        self._stop = asyncio.Event()
        self.status = EngineStatus(self)

    # --- the tree -----------------------------------------------------------------------------

    def _sup(self, children: list[ChildSpec], strategy: Strategy) -> Supervisor:
        r = self.cfg.restart
        return Supervisor(children, strategy=strategy, max_restarts=r.max_restarts, within_s=r.within_s,
                          backoff=exponential_backoff(r.backoff_initial_s, r.backoff_max_s),
                          on_restart=self._journal_restart)

    def _journal_restart(self, path: str, reason: str, restarts_in_window: int) -> None:
        """Every restart in the tree becomes a row of the journal's ``restarts`` table."""
        if self._tell_journal(RestartRecord(path=path, reason=reason, ts_ms=int(self.wall() * 1000))) is False:
            self.restarts_unjournaled += 1  # the journal is full or gone; the log has the record

    def _journal_market(self, event: MarketEvent) -> None:
        """Every market added or removed at run time becomes a ``market_events`` row."""
        if not self._tell_journal(event):  # the log line below is then the only record
            log.error("markets: %s %s on %s not journaled (the journal is full, stopped or not built)",
                      event.event, event.symbol, ",".join(event.venues))

    def _tell_journal(self, record: Any) -> bool | None:
        """Tell the journal ``record``: True; False when it is full or stopped; None before it exists."""
        journal = self.lookup("execution/journal")
        if journal is None:
            return None
        try:
            journal.tell(record)
        except (MailboxFull, ActorStopped):
            return False
        return True

    def lookup(self, path: str) -> ActorRef | None:
        try:
            return self.root.lookup(path)
        except LookupError:
            return None

    def _root(self) -> Supervisor:
        markets = [ChildSpec("markets", self._markets)] if self.cfg.markets.symbols == "shared" else []
        return self._sup([
            *markets,
            ChildSpec("execution", lambda: self._sup([
                ChildSpec("journal", self._journal, mailbox=MailboxSpec(self.cfg.mailboxes.journal)),
                ChildSpec("executor", self._executor, shutdown_s=self.cfg.risk.leg_timeout_s + 1,
                          mailbox=MailboxSpec(self.cfg.mailboxes.executor, policy="drop_oldest")),
            ], "rest_for_one")),
            ChildSpec("detectors", lambda: self._sup(
                [self._detector_spec(s) for s in self._symbols()], "one_for_one")),
            ChildSpec("venues", lambda: self._sup(
                [ChildSpec(name, self._venue_factory(name)) for name in self.markets], "one_for_one")),
            *([ChildSpec("control", lambda: ControlActor(engine=self, config=self.cfg.control))]
              if self.with_control else []),
        ], "one_for_one")

    def _symbols(self) -> list[str]:
        return sorted({s for symbols in self.markets.values() for s in symbols})

    def _markets(self) -> Actor[Any]:
        m = self.cfg.markets
        return MarketsActor(
            venues={name: self.venues[name] for name in self.markets},
            selection=Selection(quotes=m.quotes, min_venues=m.min_venues, include=m.include, exclude=m.exclude,
                                min_quote_volume_24h=m.min_quote_volume_24h),
            pinned={name: self.cfg.venues[name].symbols for name in self.markets},
            refresh_s=m.refresh_s, apply=self.apply_markets, record=self._journal_market)

    async def apply_markets(self, wanted: dict[str, list[str]]) -> MarketChanges:
        """Make the running markets ``wanted`` (``{venue: [symbols]}``). Before the tree runs
        (the markets actor's first start) this only records the set the tree is built from."""
        if self._tree is None:
            for name in self.markets:
                self.markets[name] = list(wanted.get(name, ()))
            return MarketChanges()
        return await apply_market_set(self.markets, wanted, self.subscribe, self.unsubscribe)

    def _journal(self) -> Actor[Any]:
        return JournalActor(path=self.cfg.journal.path, durable=self.durable)

    def _executor(self) -> Actor[Any]:
        risk = self.cfg.risk
        return ExecutorActor(
            venues=self.order_venues, journal=self.root.lookup("execution/journal"),
            risk=risk, dry_run=self.dry_run, static=self.static, clock=self.clock, wall=self.wall,
            books=lambda venue, symbol: self.lookup(f"venues/{venue}/books/{path_symbol(symbol)}"),
            accounts=self.accounts, warm=self.markets, durable=self.durable)

    def _detector_spec(self, symbol: str) -> ChildSpec:
        d = self.cfg.detector

        def factory() -> Actor[Any]:
            return (self.detector_class or DetectorActor)(symbol=symbol, taker_fees=self.taker_fees,
                                                          params=d,
                                                          executor=self.root.lookup("execution/executor"),
                                                          clock=self.clock,
                                                          journal=self.lookup("execution/journal"))

        return ChildSpec(path_symbol(symbol), factory,
                         mailbox=MailboxSpec(self.cfg.mailboxes.detector, policy="conflate",
                                             key=detector_key))

    def _ws_orders(self, name: str) -> Any:
        """The venue's WebSocket order entry codec, or None (paper mode, no API, no credentials)."""
        if self.dry_run.get(name, True) or not self.cfg.venues[name].ws_order_entry:
            return None
        make = getattr(self.venues[name], "ws_orders", None)
        return make() if make is not None else None

    def _venue_factory(self, name: str) -> Callable[[], Actor[Any]]:
        """``venues/<name>``: ``books`` then ``connections`` (one actor per WebSocket shard, ``0``,
        ``1``, ...: a dropped shard reconnects and tells only its own books to resync). Books
        start first, so no frame waits on a book that does not exist yet (with hundreds of
        books, frames would fill their mailboxes and block the readers); rest_for_one, so a
        failed books supervisor brings fresh subscriptions (Gate's obu then starts with a full
        push), while a failed connections supervisor leaves the books to their Resync."""

        def connections() -> Actor[Any]:
            per = self._per_connection(name)  # (re)built from the market set: reshard
            symbols = self.markets[name]
            self.shards[name] = [symbols[i:i + per] for i in range(0, len(symbols), per)] or [[]]
            return self._sup([self._shard_spec(name, i) for i in range(len(self.shards[name]))], "one_for_one")

        # The account's live view (last: its restarts touch no market data). Not in paper mode
        # against a real venue (never sent, so no account to follow), nor for a venue without
        # a private stream codec or credentials: the executor asks REST there.
        venue = self.venues[name]
        private = getattr(venue, "private_stream", None)
        codec = private() if private is not None and not self.dry_run.get(name, True) else None
        orders = self._ws_orders(name)

        def build() -> Actor[Any]:
            children = [
                ChildSpec("books", lambda: self._sup(
                    [self._book_spec(name, s) for s in self.markets[name]], "one_for_one")),
                ChildSpec("connections", connections),
            ]
            if codec is not None:
                children.append(ChildSpec("account", lambda: AccountActor(
                    venue=venue, codec=codec, board=self.accounts, audit_s=self.cfg.account.audit_s)))
            if orders is not None:
                children.append(ChildSpec("orders", lambda: OrderGatewayActor(
                    venue=venue, codec=orders, channel=self.gateways.channel(name))))
            return self._sup(children, "rest_for_one")

        return build

    def _per_connection(self, name: str) -> int:
        return max(1, min(self.venues[name].max_streams_per_connection, self.cfg.markets.per_connection))

    def _shard_spec(self, name: str, index: int) -> ChildSpec:
        venue = self.venues[name]

        def route(symbol: str) -> ActorRef | None:
            return self.lookup(f"venues/{name}/books/{path_symbol(symbol)}")

        def factory() -> Actor[Any]:
            # every start after this shard's first is a reconnect (also after its supervisor was
            # rebuilt): the books it feeds may have missed frames meanwhile
            starts = self._shard_starts[(name, index)] = self._shard_starts.get((name, index), 0) + 1
            return ConnectionActor(venue=venue, symbols=tuple(self.shards[name][index]), route=route,
                                   counters=self.counters[name], resync_books=starts > 1,
                                   capture=self.capture)

        return ChildSpec(str(index), factory, mailbox=MailboxSpec(self.cfg.mailboxes.connection))

    def recent_edge(self, symbol: str) -> bool:
        """Did ``symbol``'s detector fire within ``RECENT_EDGE_S``?"""
        detector = self.lookup(f"detectors/{path_symbol(symbol)}")
        status = detector.describe() if detector is not None else None
        last = getattr(status, "last_opportunity", None)
        return last is not None and self.clock() - last.created_ns < RECENT_EDGE_S * 1e9

    def _shard_path(self, name: str, symbol: str) -> str | None:
        for index, symbols in enumerate(self.shards.get(name, ())):
            if symbol in symbols:
                return f"venues/{name}/connections/{index}"
        return None

    def _connection_of(self, name: str, symbol: str) -> ActorRef | None:
        path = self._shard_path(name, symbol)
        return self.lookup(path) if path is not None else None

    def _book_spec(self, name: str, symbol: str) -> ChildSpec:
        b = self.cfg.book
        levels, limit = b.max_levels, b.snapshot_limit
        if self.cfg.markets.symbols == "shared":  # whole-market mode: small books
            levels = limit = max(self.cfg.markets.book_levels, b.depth)
        return ChildSpec(path_symbol(symbol), lambda: BookActor(
            venue=self.venues[name], symbol=symbol, publish=self.root.lookup(f"detectors/{path_symbol(symbol)}"),
            depth=b.depth, max_levels=levels, snapshot_limit=limit, clock=self.clock,
            connection=lambda: self._connection_of(name, symbol), snapshot_gate=self.snapshot_gates[name],
            recent_edge=lambda: self.recent_edge(symbol)),
            mailbox=MailboxSpec(self.cfg.mailboxes.book))

    # --- EngineHandle (the control endpoint) ------------------------------------------------

    @property
    def tree(self) -> Tree:
        if self._tree is None:
            raise LookupError("the engine is still starting")
        return self._tree

    async def subscribe(self, venue: str, symbol: str) -> None:
        if venue not in self.markets:
            raise LookupError(f"no venue {venue!r}")
        if symbol in self.markets[venue]:
            return
        try:  # static data: refuse a market the venue does not list before building anything
            await self.venues[venue].symbol_info([symbol])
        except ExchangeError as exc:
            raise LookupError(f"{venue} does not list {symbol}: {exc.message}") from exc
        self.markets[venue].append(symbol)
        if self.lookup(f"detectors/{path_symbol(symbol)}") is None:
            await self.tree.start_child("detectors", self._detector_spec(symbol))
        await self.tree.start_child(f"venues/{venue}/books", self._book_spec(venue, symbol))
        shards = self.shards[venue]
        index = next((i for i, s in enumerate(shards) if len(s) < self._per_connection(venue)), None)
        if index is None:  # every connection is full: one more, started with this symbol
            shards.append([symbol])
            await self.tree.start_child(f"venues/{venue}/connections", self._shard_spec(venue, len(shards) - 1))
        else:
            shards[index].append(symbol)
            await self.tree.lookup(f"venues/{venue}/connections/{index}").send(Subscribe(symbol=symbol))

    async def unsubscribe(self, venue: str, symbol: str) -> None:
        if symbol not in self.markets.get(venue, ()):
            raise LookupError(f"{venue} is not subscribed to {symbol}")
        self.markets[venue].remove(symbol)
        path = self._shard_path(venue, symbol)
        if path is not None:
            self.shards[venue][int(path.rsplit("/", 1)[1])].remove(symbol)
            await self.tree.lookup(path).send(Unsubscribe(symbol=symbol))
        await self.tree.terminate_child(f"venues/{venue}/books/{path_symbol(symbol)}")
        if not any(symbol in symbols for symbols in self.markets.values()):  # no venue left: no detector
            await self.tree.terminate_child(f"detectors/{path_symbol(symbol)}")

    def request_stop(self) -> None:
        self._stop.set()

    def summary(self) -> EngineSummary:
        return self.status.summary()

    def book_paths(self) -> list[str]:
        return [f"venues/{name}/books/{path_symbol(s)}" for name, symbols in self.markets.items() for s in symbols]

    def detector_paths(self) -> list[str]:
        return [f"detectors/{path_symbol(s)}" for s in self._symbols()]

    # --- running ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Tree]:
        async with run(self.root) as tree:
            self._tree = tree
            yield tree

    async def serve(self, duration_s: float | None, status: Callable[[EngineSummary], None] | None) -> None:
        """Run until the duration elapses, a stop is requested, or the root fails."""
        async with self.running() as tree:
            # Everything built so far (modules, the tree, adapters) lives as long as the
            # process: move it out of the collector's reach, so gen-2 passes stay short.
            gc.freeze()
            waiter = asyncio.create_task(tree.wait(), name="engine:tree-wait")
            stopper = asyncio.create_task(self._stop.wait(), name="engine:stop-wait")
            try:
                deadline = None if duration_s is None else time.monotonic() + duration_s
                next_status = time.monotonic() + 1.0
                while not (waiter.done() or stopper.done()):
                    now = time.monotonic()
                    left = None if deadline is None else deadline - now
                    if left is not None and left <= 0:
                        break
                    # every 0.1 s until every book was first in sync (all_in_sync_s to 0.1 s), then 1 s
                    tick = 0.1 if self.status.all_in_sync_s is None else 1.0
                    await asyncio.wait({waiter, stopper}, timeout=min(tick, left) if left is not None else tick)
                    if waiter.done():
                        break
                    if status is not None and time.monotonic() >= next_status:
                        next_status = time.monotonic() + 1.0
                        status(self.summary())
                    elif self.status.all_in_sync_s is None:
                        self.status.note_all_in_sync()
                if waiter.done():
                    waiter.result()  # the root failed: raise its reason
            finally:
                for task in (waiter, stopper):
                    task.cancel()
                await asyncio.gather(waiter, stopper, return_exceptions=True)
                if status is not None and self._tree is not None:
                    with contextlib.suppress(LookupError):
                        final = self.summary()  # frames/s over the whole run, not the last second
                        final = msgspec.structs.replace(
                            final, frames_per_s=round(final.frames / max(final.uptime_s, 1e-9), 1))
                        log.info("final summary: %s", msgspec.json.encode(final).decode())
