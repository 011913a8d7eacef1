"""BookActor: sync, gaps, resync, publishing — first against an in-process venue using the real
sync rules, then against the simulator through the real adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

import actors.book as book_module
from actors import Actor, ActorRef, MailboxSpec, spawn
from actors.book import PUBLISH_AT_LEAST_EVERY, BookActor, BookStatus
from actors.connection import ConnectionActor
from protocols.binance import BinanceVenue
from protocols.binance.sync import BinanceSync
from protocols.errors import ActorStopped, NetworkError, RateLimited, SequenceGap
from protocols.gateio import GateVenue
from protocols.gateio.sync import GateObuSync, GateSync
from protocols.messages import BookDelta, BookSnapshot, BookView, GetView, Msg
from protocols.mexc import MexcVenue
from simulator import SimConfig, Simulator
from supervisor import ChildSpec, Supervisor, run
from testkit import eventually, until

SYMBOL = "BTC/USDT"


class Collector(Actor[BookView]):
    """Keeps every view it is told; tests wait for a predicate over them."""

    def __init__(self) -> None:
        self.views: list[BookView] = []
        self.changed = asyncio.Event()

    async def receive(self, msg: BookView) -> None:
        self.views.append(msg)
        self.changed.set()

    async def until(self, predicate: Callable[[list[BookView]], bool], timeout: float = 10.0) -> None:
        await until(lambda: predicate(self.views), self.changed, timeout=timeout)


async def collector() -> tuple[Collector, ActorRef]:
    c = Collector()
    return c, await spawn(c, name="collector", mailbox=MailboxSpec(capacity=100_000))


class FakeVenue:
    """The Venue surface a book uses: a name, a real sync rule, and scripted snapshots."""

    def __init__(self, sync, snapshots: list[BookSnapshot | Exception]) -> None:
        self.name = "fake"
        self.sync = sync
        self.snapshots = snapshots
        self.fetched = asyncio.Event()
        self.fetches = 0

    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> BookSnapshot:
        self.fetches += 1
        self.fetched.set()
        item = self.snapshots.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def snap(seq: int, bids=((100.0, 1.0), (99.0, 2.0)), asks=((101.0, 1.0), (102.0, 2.0))) -> BookSnapshot:
    return BookSnapshot(venue="fake", symbol=SYMBOL, seq=seq, bids=bids, asks=asks, exchange_ts_ms=1, recv_ns=1)


def delta(first: int, last: int, bids=(), asks=(), full: bool = False, recv_ns: int = 0) -> BookDelta:
    return BookDelta(venue="fake", symbol=SYMBOL, first_seq=first, last_seq=last, bids=tuple(bids),
                     asks=tuple(asks), exchange_ts_ms=1000 + last, recv_ns=recv_ns or last, full=full)


async def start_book(venue, publish: ActorRef | None, **kw) -> ActorRef:
    return await spawn(lambda: BookActor(venue=venue, symbol=SYMBOL, publish=publish, **kw), name="book")


# --- against an in-process venue ----------------------------------------------------------------


async def test_book_publishes_out_of_sync_on_start_then_the_synced_top_of_book():
    col, col_ref = await collector()
    venue = FakeVenue(BinanceSync(), [snap(10)])
    book = await start_book(venue, col_ref, depth=1)
    await col.until(lambda v: len(v) >= 1)
    assert col.views[0].in_sync is False and col.views[0].bids == () and col.views[0].asks == ()
    await book.ask(delta(8, 9, bids=[(100.0, 9.0)]))  # inside the snapshot: dropped by the rule
    await book.ask(delta(10, 12, bids=[(100.5, 3.0)]))  # straddles seq 11: first applied
    await book.ask(delta(13, 13, asks=[(101.0, 0.0)]))
    view = await book.ask(GetView())
    assert view == BookView(venue="fake", symbol=SYMBOL, seq=13, bids=((100.5, 3.0),), asks=((102.0, 2.0),),
                            exchange_ts_ms=1013, recv_ns=13, in_sync=True)
    await col.until(lambda v: v[-1] == view)
    assert [v.in_sync for v in col.views] == [False, True, True]
    await book.stop()
    await col_ref.stop()


async def test_snapshot_older_than_the_buffered_stream_is_fetched_again():
    venue = FakeVenue(BinanceSync(), [snap(5), snap(20)])  # stale: 5 < first buffered U=10
    book = await start_book(venue, None)
    await book.ask(delta(10, 21, bids=[(100.0, 4.0)]))
    view = await book.ask(GetView())
    assert view.in_sync and view.seq == 21 and view.bids[0] == (100.0, 4.0)
    status = book._cell.describe()
    assert isinstance(status, BookStatus) and status.resync_attempts == 2 and venue.fetches == 2
    await book.stop()


async def test_snapshot_newer_than_every_buffered_delta_waits_for_the_delta_that_continues_it():
    venue = FakeVenue(BinanceSync(), [snap(30)])
    book = await start_book(venue, None)
    await book.ask(delta(10, 20))
    assert (await book.ask(GetView())).in_sync is False
    await book.ask(delta(21, 31, asks=[(101.0, 7.0)]))
    view = await book.ask(GetView())
    assert view.in_sync and view.seq == 31 and view.asks[0] == (101.0, 7.0)
    await book.stop()


async def test_gap_after_sync_publishes_out_of_sync_and_crashes_with_sequence_gap():
    col, col_ref = await collector()
    book = await start_book(FakeVenue(BinanceSync(), [snap(10)]), col_ref)
    await book.ask(delta(10, 11))
    with pytest.raises(ActorStopped) as err:
        await book.ask(delta(15, 16))
    assert isinstance(err.value.__cause__, SequenceGap)
    assert (err.value.__cause__.expected, err.value.__cause__.got) == (12, 15)
    await col.until(lambda v: len(v) >= 3)
    assert [v.in_sync for v in col.views] == [False, True, False]
    await asyncio.wait([book._cell.task])  # the incarnation's task has ended: it crashed
    assert not book.alive and book._cell.last_failure.type == "SequenceGap"
    await col_ref.stop()


async def test_duplicate_and_old_deltas_are_ignored_once_in_sync():
    book = await start_book(FakeVenue(BinanceSync(), [snap(10)]), None)
    await book.ask(delta(10, 12, bids=[(100.0, 5.0)]))
    await book.ask(delta(5, 9, bids=[(100.0, 1.0)]))
    view = await book.ask(GetView())
    assert view.seq == 12 and view.bids[0] == (100.0, 5.0)
    assert book._cell.describe().deltas_applied == 1
    await book.stop()


async def test_a_burst_of_queued_deltas_publishes_one_view_of_the_newest_state():
    col, col_ref = await collector()
    book = await start_book(FakeVenue(BinanceSync(), [snap(10)]), col_ref, depth=1)
    await book.ask(delta(10, 11, bids=[(100.0, 1.5)]))
    await col.until(lambda v: len(v) >= 2)
    for seq in range(12, 22):  # told without yielding: all ten are queued before the book runs
        book.tell(delta(seq, seq, bids=[(100.0 + seq / 100, 1.0)]))
    view = await book.ask(GetView())
    await col.until(lambda v: v[-1] == view)
    assert view.seq == 21 and view.bids == ((100.21, 1.0),)
    assert [v.seq for v in col.views] == [0, 11, 21]
    await book.stop()
    await col_ref.stop()


async def test_a_backlog_that_never_drains_still_publishes_a_view_every_so_many_deltas():
    col, col_ref = await collector()
    book = await start_book(FakeVenue(BinanceSync(), [snap(10)]), col_ref, depth=1)
    await book.ask(delta(10, 11))
    await col.until(lambda v: len(v) >= 2)
    n = 2 * PUBLISH_AT_LEAST_EVERY + 10
    for seq in range(12, 12 + n):  # all queued at once: the mailbox drains only at the end
        book.tell(delta(seq, seq, bids=[(100.0, float(seq))]))
    last = 11 + n
    await col.until(lambda v: v[-1].seq == last)
    assert [v.seq for v in col.views] == [0, 11, 11 + PUBLISH_AT_LEAST_EVERY, 11 + 2 * PUBLISH_AT_LEAST_EVERY, last]
    await book.stop()
    await col_ref.stop()


async def test_an_ignored_delta_behind_an_applied_one_still_publishes_the_applied_state():
    col, col_ref = await collector()
    book = await start_book(FakeVenue(BinanceSync(), [snap(10)]), col_ref, depth=1)
    await book.ask(delta(10, 11))
    await col.until(lambda v: len(v) >= 2)
    book.tell(delta(12, 12, bids=[(100.5, 2.0)]))  # applied; the next is queued behind it
    book.tell(delta(5, 9, bids=[(100.0, 9.0)]))  # old: ignored, publishes nothing of its own
    await col.until(lambda v: v[-1].seq == 12)
    assert col.views[-1].bids == ((100.5, 2.0),) and col.views[-1].in_sync
    await book.stop()
    await col_ref.stop()


async def test_rate_limited_snapshot_waits_retry_after_and_fetches_again():
    venue = FakeVenue(BinanceSync(), [RateLimited("fake", 429, "slow down", retry_after_s=0.01), snap(10)])
    book = await start_book(venue, None)
    await book.ask(delta(10, 11))
    assert (await book.ask(GetView())).in_sync
    assert venue.fetches == 2
    await book.stop()


async def test_a_snapshot_that_timed_out_is_fetched_again_in_place_without_a_restart():
    timeout = NetworkError("fake", "GET /depth: TimeoutError")
    venue = FakeVenue(BinanceSync(), [timeout, timeout, snap(10)])
    book = await start_book(venue, None, snapshot_retry_s=0.001)
    await book.ask(delta(10, 11))
    assert (await book.ask(GetView())).in_sync
    assert venue.fetches == 3 and book._cell.restarts == 0 and book.alive
    await book.stop()


async def test_snapshots_failing_on_the_network_attempts_times_in_a_row_crash_the_book():
    venue = FakeVenue(BinanceSync(), [NetworkError("fake", "reset")] * 3)
    book = await start_book(venue, None, snapshot_retry_s=0.001, max_snapshot_attempts=3)
    with pytest.raises(ActorStopped) as err:
        await book.ask(delta(10, 12))
    assert isinstance(err.value.__cause__, NetworkError)
    assert venue.fetches == 3


async def test_snapshot_that_never_fits_raises_sequence_gap_after_bounded_attempts():
    venue = FakeVenue(BinanceSync(), [snap(1), snap(2), snap(3)])
    book = await start_book(venue, None, max_snapshot_attempts=3)
    with pytest.raises(ActorStopped) as err:
        await book.ask(delta(10, 12))
    assert isinstance(err.value.__cause__, SequenceGap)
    assert venue.fetches == 3


async def test_other_snapshot_errors_crash_the_book():
    venue = FakeVenue(BinanceSync(), [ConnectionResetError("boom")])
    book = await start_book(venue, None)
    with pytest.raises(ActorStopped) as err:
        await book.ask(delta(10, 12))
    assert isinstance(err.value.__cause__, ConnectionResetError)


async def test_gate_full_push_replaces_the_book_whatever_its_sequence():
    book = await start_book(FakeVenue(GateSync(), [snap(10)]), None)
    await book.ask(delta(11, 11, bids=[(100.0, 3.0)]))
    await book.ask(delta(500, 500, bids=[(50.0, 1.0)], asks=[(51.0, 1.0)], full=True))
    view = await book.ask(GetView())
    assert (view.seq, view.bids, view.asks) == (500, ((50.0, 1.0),), ((51.0, 1.0),))
    assert book._cell.describe().full_replacements == 1
    await book.ask(delta(501, 501, asks=[(52.0, 2.0)]))
    assert (await book.ask(GetView())).asks == ((51.0, 1.0), (52.0, 2.0))
    await book.stop()


async def test_an_obu_book_passes_over_pushes_until_the_full_one_and_fetches_no_snapshot():
    """spot.obu (gateio.md §4.2): "the first push is always full:true (replace the book, local
    ID = u)". No REST snapshot is asked for (FakeVenue has none to give: a fetch would crash)."""
    venue = FakeVenue(GateObuSync(), [])
    book = await start_book(venue, None)
    await book.ask(delta(5, 6, bids=[(100.0, 1.0)]))  # a push of a book we never had: passed over
    assert (await book.ask(GetView())).in_sync is False
    await book.ask(delta(0, 10, bids=[(99.0, 2.0)], asks=[(101.0, 3.0)], full=True))
    await book.ask(delta(11, 12, asks=[(101.5, 1.0)]))
    view = await book.ask(GetView())
    assert view.in_sync and view.seq == 12 and view.bids == ((99.0, 2.0),)
    assert view.asks == ((101.0, 3.0), (101.5, 1.0))
    assert venue.fetches == 0 and book._cell.describe().resync_attempts == 0
    await book.stop()


async def test_an_obu_book_that_never_sees_a_full_push_gives_up_as_a_gap(monkeypatch):
    """Bounded like a buffer: so many pushes passed over without a full one is a broken sync, so
    the book crashes and its restart has the connection resubscribe."""
    monkeypatch.setattr(book_module, "MAX_BUFFERED", 3)
    book = await start_book(FakeVenue(GateObuSync(), []), None)
    await book.ask(delta(5, 6))
    await book.ask(delta(7, 7))
    with pytest.raises(ActorStopped) as err:
        await book.ask(delta(8, 9))
    assert isinstance(err.value.__cause__, SequenceGap) and err.value.__cause__.got == 8


async def test_describe_reports_levels_best_prices_and_age_on_the_injected_clock():
    now = [1_000_000_000]
    book = await start_book(FakeVenue(BinanceSync(), [snap(10)]), None, clock=lambda: now[0])
    await book.ask(delta(10, 11, recv_ns=900_000_000))
    status = book._cell.describe()
    assert status == BookStatus(venue="fake", symbol=SYMBOL, in_sync=True, seq=11, best_bid=100.0, best_ask=101.0,
                                levels_bid=2, levels_ask=2, age_ms=100.0, deltas_applied=1, full_replacements=0,
                                resync_attempts=1)
    await book.stop()


async def test_deltas_keep_queueing_while_the_snapshot_fetch_is_in_flight():
    release = asyncio.Event()

    class SlowVenue(FakeVenue):
        async def depth_snapshot(self, symbol: str, limit: int = 1000) -> BookSnapshot:
            self.fetched.set()
            await release.wait()
            return await super().depth_snapshot(symbol, limit)

    venue = SlowVenue(BinanceSync(), [snap(11)])
    book = await start_book(venue, None)
    book.tell(delta(10, 10))
    await venue.fetched.wait()
    for seq in range(11, 15):
        book.tell(delta(seq, seq, bids=[(100.0 + seq, 1.0)]))
    assert book.stats().mailbox_depth == 4
    release.set()
    await book.ask(GetView())  # queued behind the deltas
    view = await book.ask(GetView())
    assert view.in_sync and view.seq == 14 and view.bids[0] == (114.0, 1.0)
    await book.stop()


class _Unknown(Msg, kw_only=True):
    pass


async def test_an_unknown_message_crashes_the_book():
    book = await start_book(FakeVenue(BinanceSync(), []), None)
    with pytest.raises(ActorStopped):
        await book.ask(_Unknown())


# --- against the simulator, through the real adapters ---------------------------------------------

ADAPTERS = {"mexc": MexcVenue, "binance": BinanceVenue, "gateio": GateVenue}
FAST = dict(push_interval_s=0.02, updates_per_s=600.0)
OLD_GATE_CHANNEL = {"book_channel": "spot.order_book_update"}




@asynccontextmanager
async def market(venue: str, adapter_kw: dict | None = None, **cfg) -> AsyncIterator[tuple[Simulator, object, object]]:
    """A one-venue, one-symbol simulator and the real adapter pointed at it."""
    async with Simulator(SimConfig(seed=3, symbols=(SYMBOL,), venues=(venue,), **(FAST | cfg))) as sim:
        server = sim.venues[venue]
        adapter = ADAPTERS[venue](rest_url=server.rest_url, ws_url=server.ws_url, symbols=[SYMBOL],
                                  **(adapter_kw or {}))
        try:
            yield sim, server, adapter
        finally:
            await adapter.close()


def in_sync(book: ActorRef) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await book.ask(GetView())).in_sync
    return check


def equals_truth(book: ActorRef, server, depth: int = 20) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        view = await book.ask(GetView())
        bids, asks = server.book(SYMBOL)
        return view.in_sync and view.bids == bids[:depth] and view.asks == asks[:depth]
    return check


async def feed(adapter, book: ActorRef) -> ActorRef:
    """The real connection actor, routing the symbol's deltas to ``book``."""
    return await spawn(lambda: ConnectionActor(venue=adapter, symbols=[SYMBOL], route={SYMBOL: book}.get),
                       name="connection")


@pytest.mark.parametrize("venue", ["mexc", "binance", "gateio"])
async def test_book_syncs_through_the_real_adapter_and_equals_the_simulator_truth_once_paused(venue):
    async with market(venue) as (sim, server, adapter):
        col, col_ref = await collector()
        book = await start_book(adapter, col_ref)
        conn = await feed(adapter, book)
        await eventually(in_sync(book))
        sim.pause()
        await eventually(equals_truth(book, server))
        view = await book.ask(GetView())
        assert view.venue == venue and view.seq > 0 and len(view.bids) == 20 and not book._cell.actor.book.crossed()
        await col.until(lambda v: v[-1].seq == view.seq)
        assert col.views[0].in_sync is False and col.views[-1] == view
        await conn.stop()
        await book.stop()
        await col_ref.stop()


async def test_gap_restarts_the_book_under_its_supervisor_and_it_resyncs_from_a_new_snapshot():
    async with market("binance") as (sim, server, adapter):
        col, col_ref = await collector()
        sup = Supervisor([ChildSpec("book", lambda: BookActor(venue=adapter, symbol=SYMBOL, publish=col_ref))],
                         strategy="one_for_one", max_restarts=5, within_s=10.0)
        async with run(sup) as tree:
            book = tree.lookup("book")
            conn = await feed(adapter, book)
            await eventually(in_sync(book))
            synced_views = len(col.views)
            server.faults.inject("gap")
            await tree.restarted("book", after=0)
            await eventually(in_sync(book))
            sim.pause()
            await eventually(equals_truth(book, server))
            assert server.faults.counts["gap"] == 1
            assert book.stats().last_failure.type == "SequenceGap"
            assert any(not v.in_sync for v in col.views[synced_views:])  # the detector was told
            await conn.stop()
        await col_ref.stop()


async def test_stale_snapshot_is_fetched_again_and_the_book_syncs():
    async with market("gateio", OLD_GATE_CHANNEL, gate_full_every=0) as (sim, server, adapter):
        armed_at = server.seq(SYMBOL)
        server.faults.inject("stale_snapshot")
        await eventually(lambda: _true(server.seq(SYMBOL) > armed_at + 5))  # the armed book ages
        book = await start_book(adapter, None)
        conn = await feed(adapter, book)
        await eventually(in_sync(book))
        assert server.faults.counts["stale_snapshot"] == 1
        assert book._cell.describe().resync_attempts >= 2
        sim.pause()
        await eventually(equals_truth(book, server))
        await conn.stop()
        await book.stop()


@pytest.mark.parametrize("adapter_kw", [None, OLD_GATE_CHANNEL], ids=["obu", "order_book_update"])
async def test_gate_full_push_replaces_the_book_and_it_still_equals_the_truth(adapter_kw):
    async with market("gateio", adapter_kw, gate_full_every=3) as (sim, server, adapter):
        book = await start_book(adapter, None)
        conn = await feed(adapter, book)
        await eventually(in_sync(book))
        await eventually(lambda: _true(book._cell.describe().full_replacements >= 2))
        sim.pause()
        await eventually(equals_truth(book, server))
        await conn.stop()
        await book.stop()


async def test_gate_obu_book_restarted_after_a_gap_resubscribes_and_resyncs_from_the_new_full_push():
    """spot.obu has no REST sync: a restarted book has the connection resubscribe, and the
    subscription's first push (full) starts it again (gateio.md §4.2)."""
    async with market("gateio", gate_full_every=0) as (sim, server, adapter):
        trees: list = []  # the tree, once run() has returned it (the first start needs no lookup)

        def lookup(path: str) -> ActorRef | None:
            return trees[0].lookup(path) if trees else None

        sup = Supervisor([
            ChildSpec("connection", lambda: ConnectionActor(venue=adapter, symbols=[SYMBOL],
                                                            route=lambda s: lookup("book"))),
            ChildSpec("book", lambda: BookActor(venue=adapter, symbol=SYMBOL, publish=None,
                                                connection=lambda: lookup("connection"))),
        ], strategy="one_for_one", max_restarts=5, within_s=10.0)
        async with run(sup) as tree:
            trees.append(tree)
            book = tree.lookup("book")
            await eventually(in_sync(book))
            server.faults.inject("gap")
            await eventually(lambda: _true(book.stats().restarts == 1))
            await eventually(in_sync(book))
            assert book.stats().last_failure.type == "SequenceGap"
            assert tree.lookup("connection").stats().restarts == 0  # only the subscription was renewed
            sim.pause()
            await eventually(equals_truth(book, server))
            assert server.snapshots == []  # the stream's own full pushes synced it, twice


async def test_gate_obu_books_resync_after_a_reconnect_from_the_new_subscriptions_full_push():
    """A dropped socket: the connection restarts, tells its book to resync (no restart), and the
    new subscription's first push (full) syncs it. No REST snapshot at any point."""
    async with market("gateio", gate_full_every=0) as (sim, server, adapter):
        book = await start_book(adapter, None)
        sup = Supervisor([ChildSpec("connection", lambda: ConnectionActor(
            venue=adapter, symbols=[SYMBOL], route={SYMBOL: book}.get, resync_books=True))],
            strategy="one_for_one", max_restarts=5, within_s=10.0)
        async with run(sup) as tree:
            await eventually(in_sync(book))
            server.faults.inject("disconnect")
            await tree.restarted("connection", after=0)
            await eventually(in_sync(book))
            sim.pause()
            await eventually(equals_truth(book, server))
            assert server.faults.counts["disconnect"] == 1 and book.stats().restarts == 0
            assert book._cell.describe().full_replacements >= 2  # the first subscription's, the new one's
            assert server.snapshots == [] and not [r for r in server.requests if "order_book" in r[2]]
        await book.stop()


async def _true(value: bool) -> bool:
    return value
