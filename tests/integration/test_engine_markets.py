"""Whole-market mode ([markets] symbols = "shared") against the embedded simulator listing a
universe shaped like the real listings (simulator.universe): discovery, every book in sync,
markets listed and delisted at run time, a same-ticker-other-token market quarantined."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import config
import supervisor.app as app
from protocols.markets import Listing, Selection, shared_markets
from protocols.messages import FlushJournal, GetMarketEvents
from simulator.market import cadence
from simulator.venues.reference import market_volume
from supervisor.cli import main_async
from supervisor.engine import Engine, path_symbol
from supervisor.markets import GetMarkets, Refresh
from testkit import eventually as wait_until

VENUES = ("mexc", "gateio", "binance")
MARKETS = 24  # shared markets in the simulated universe (CI-sized; the benchmark runs 300/1000)


def markets_toml(directory: Path, markets: int = MARKETS, per_connection: int = 50, updates_per_s: float = 40,
                 extra: str = "", floor: float | None = None) -> str:
    venues = "".join(f'[venues.{v}]\nkind = "{v}"\nsimulated = true\n' for v in VENUES)
    kill = directory / "kill"
    kill.touch()  # no orders: these tests are about market data
    floor_line = f"min_quote_volume_24h = {floor}\n" if floor is not None else ""
    return (venues + '[markets]\nsymbols = "shared"\nquotes = ["USDT"]\nrefresh_s = 3600\n'
            f"per_connection = {per_connection}\n" + floor_line +
            f'[simulator]\nseed = 7\nmarkets = {markets}\nupdates_per_s = {updates_per_s}\n'
            f'[risk]\nkill_switch_path = "{kill}"\n'
            "[restart]\nmax_restarts = 20\nwithin_s = 10.0\nbackoff_initial_s = 0.02\nbackoff_max_s = 0.5\n"
            f'[journal]\npath = "{directory / "journal.sqlite"}"\n' + extra)


@contextlib.asynccontextmanager
async def whole_market(directory: Path, **toml: Any) -> AsyncIterator[tuple[Any, Engine]]:
    cfg = config.loads(markets_toml(directory, **toml), source="test-markets")
    async with app.assembled(cfg, live=False) as (sim, engine), engine.running():
        yield sim, engine


def expected(sim: Any) -> dict[str, tuple[str, ...]]:
    """The simulator's truth, computed from its config, not through the adapters."""
    c = sim.cfg
    listings = {v: [Listing(venue=v, symbol=s, venue_symbol=s, trading=True,
                            api_orders=s not in c.api_closed.get(v, ())) for s in c.listed(v)] for v in VENUES}
    return shared_markets(listings, Selection())


def status_of(markets: Any) -> Any:
    return markets.describe()


async def journaled(engine: Engine, symbol: str) -> list[tuple[str, tuple[str, ...], str]]:
    """The journal's market changes of ``symbol``, oldest first: (event, venues, reason)."""
    journal = engine.tree.lookup("execution/journal")
    await journal.ask(FlushJournal())
    events = (await journal.ask(GetMarketEvents(symbol=symbol))).events
    return [(e.event, e.venues, e.reason) for e in reversed(events)]


def books_in_sync(engine: Engine) -> bool:
    s = engine.summary()
    return s.books > 0 and s.books_in_sync == s.books


async def test_whole_market_mode_runs_every_shared_market_and_no_other_with_every_book_in_sync(
        state_dir: Path) -> None:
    async with whole_market(state_dir) as (sim, engine):
        want = expected(sim)
        assert len(want) >= MARKETS - 5  # MEXC-closed pairs fall out when only MEXC + one other list them
        assert {v: sorted(engine.markets[v]) for v in VENUES} == \
            {v: sorted(s for s, on in want.items() if v in on) for v in VENUES}
        assert "BTC/USDT" not in engine.markets["mexc"]  # listed and trading there, closed to API orders
        venue_only = set(sim.cfg.listed("gateio")) - {s for v in ("mexc", "binance") for s in sim.cfg.listed(v)}
        assert venue_only and not venue_only & set(engine.markets["gateio"])
        await wait_until(lambda: books_in_sync(engine), timeout=45, what="every book of every shared market in sync")
        # every snapshot paced by the venue adapter's shared REST weight bucket: never a 429/418
        assert {v: sim.venues[v].rate_limited for v in VENUES} == dict.fromkeys(VENUES, 0)
        status = await engine.tree.lookup("markets").ask(GetMarkets())
        assert status.shared == len(want) and status.subscribed == {v: len(engine.markets[v]) for v in VENUES}
        summary = engine.summary()
        assert summary.markets_shared == len(want) and summary.markets == len(want)
        assert summary.all_in_sync_s is not None and summary.all_in_sync_s > 0
        await wait_until(lambda: engine.summary().markets_active + engine.summary().quarantined == len(want),
                         what="every market active (two venues in sync) or quarantined")
        socket = engine.cfg.control.unix_path
        out = io.StringIO()
        assert await main_async(["summary", "--socket", socket], out=out) == 0
        assert f"{len(want)} shared" in out.getvalue() and "all in sync after" in out.getvalue()
        out = io.StringIO()
        assert await main_async(["tree", "--socket", socket, "--kind", "BookActor", "--top", "3"], out=out) == 0
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("3 of ") and sum("BookActor" in line for line in lines) == 3


async def test_a_market_listed_at_run_time_is_picked_up_and_a_delisted_one_is_stopped_and_removed(
        state_dir: Path) -> None:
    async with whole_market(state_dir) as (sim, engine):
        await wait_until(lambda: books_in_sync(engine), timeout=45, what="every book in sync")
        pair = next(s for s, on in expected(sim).items() if len(on) == 2 and s not in sim.cfg.price_factor)
        expected_before = expected(sim)
        sim.list_market("NEWCOIN/USDT", ("mexc", "binance"))
        sim.delist_market(pair, (expected(sim)[pair][0],))  # one of its two venues: no longer shared
        markets = engine.tree.lookup("markets")
        markets.tell(Refresh())
        await wait_until(lambda: status_of(markets).refreshes == 2, what="the refresh applied")
        assert engine.lookup("detectors/NEWCOINUSDT") is not None
        assert engine.lookup(f"detectors/{path_symbol(pair)}") is None
        assert all(engine.lookup(f"venues/{v}/books/{path_symbol(pair)}") is None for v in VENUES)
        paths = {row.path.strip("/") for row in engine.tree.stats()}
        assert {"venues/mexc/books/NEWCOINUSDT", "venues/binance/books/NEWCOINUSDT"} <= paths
        await wait_until(lambda: books_in_sync(engine), timeout=30, what="the new market's books in sync")
        status = await markets.ask(GetMarkets())
        assert status.added == 2 and status.removed == 2
        assert await journaled(engine, "NEWCOIN/USDT") == [("added", ("mexc",), "shared by mexc, binance"),
                                                            ("added", ("binance",), "shared by mexc, binance")]
        gone, kept = expected_before[pair]
        assert await journaled(engine, pair) == [("removed", (gone,), "delisted"),
                                                 ("removed", (kept,), "no longer shared by 2 venues")]


async def test_a_halted_market_is_removed_at_the_next_refresh(state_dir: Path) -> None:
    async with whole_market(state_dir) as (sim, engine):
        pair = next(s for s, on in expected(sim).items() if len(on) == 2)
        expected_before = expected(sim)
        sim.venues[expected(sim)[pair][1]].change_listing("halt", pair)
        markets = engine.tree.lookup("markets")
        markets.tell(Refresh())
        await wait_until(lambda: status_of(markets).refreshes == 2, what="the refresh applied")
        assert all(pair not in s for s in engine.markets.values())
        assert engine.lookup(f"detectors/{path_symbol(pair)}") is None
        on = expected_before[pair]
        assert await journaled(engine, pair) == [("removed", (on[0],), "no longer shared by 2 venues"),
                                                 ("removed", (on[1],), "halted")]


async def test_a_ticker_naming_different_tokens_on_two_venues_is_quarantined_and_never_traded(
        state_dir: Path) -> None:
    async with whole_market(state_dir) as (sim, engine):
        mismatched = [s for s in sim.cfg.price_factor if s in expected(sim)]
        assert mismatched, "the universe has a same-ticker-other-token market"
        for symbol in mismatched:
            path = f"detectors/{path_symbol(symbol)}"
            status = await wait_until(lambda p=path: (d := engine.tree.describe(p)).quarantined and d,
                                      timeout=30, what=f"{symbol} quarantined")
            assert status.opportunities == 0 and "sanity bound" in status.quarantined
            [(event, venues, reason)] = await journaled(engine, symbol)
            assert event == "quarantined" and len(venues) == 2 and reason == status.quarantined
        out = io.StringIO()
        socket = engine.cfg.control.unix_path
        assert await main_async(["markets", "--socket", socket, "--symbol", mismatched[0]], out=out) == 0
        assert "journaled changes: quarantined" in out.getvalue() and "sanity bound" in out.getvalue()
        assert f"{venues[0]}_ask=" in out.getvalue()


async def test_a_dropped_connection_resyncs_only_its_own_books_while_the_other_shards_keep_streaming(
        state_dir: Path) -> None:
    async with whole_market(state_dir, per_connection=4) as (sim, engine):
        await wait_until(lambda: books_in_sync(engine), timeout=45, what="every book in sync")
        shards = [list(s) for s in engine.shards["mexc"]]
        assert len(shards) >= 3 and all(len(s) <= 4 for s in shards)
        dropped, kept = shards[1], [s for i, shard in enumerate(shards) if i != 1 for s in shard]

        def book(symbol: str) -> Any:
            return engine.tree.describe(f"venues/mexc/books/{path_symbol(symbol)}")

        fetches = {s: book(s).resync_attempts for s in dropped + kept}
        applied = {s: book(s).deltas_applied for s in kept}
        assert sim.venues["mexc"].drop_connections(dropped[0]) == 1
        stats = lambda: {r.path.strip("/"): r.restarts for r in engine.tree.stats()}  # noqa: E731
        await wait_until(lambda: stats()["venues/mexc/connections/1"] == 1, what="shard 1 reconnected")
        await wait_until(lambda: all(book(s).resync_attempts > fetches[s] for s in dropped),
                         what="the dropped shard's books fetched fresh snapshots")
        await wait_until(lambda: books_in_sync(engine), timeout=30, what="every book in sync again")
        after = stats()
        assert [after[f"venues/mexc/connections/{i}"] for i in range(len(shards))] == \
            [1 if i == 1 else 0 for i in range(len(shards))]
        assert all(after[f"venues/mexc/books/{path_symbol(s)}"] == 0 for s in dropped + kept)  # no restarts
        assert all(book(s).resync_attempts == fetches[s] for s in kept), "another shard's book resynced"
        await wait_until(lambda: sum(book(s).deltas_applied > applied[s] for s in kept) >= len(kept) // 2,
                         what="the other shards' books kept applying deltas")


async def test_reconnected_shards_books_fetch_their_snapshots_recent_edge_first_then_the_busiest(
        state_dir: Path) -> None:
    # One snapshot in flight per venue, so the order of the simulator's snapshot log is the
    # gate's order; few updates per second, so the markets' frame rates differ.
    async with whole_market(state_dir, per_connection=12, updates_per_s=4,
                            extra="[book]\nsnapshots_in_flight = 1\n") as (sim, engine):
        await wait_until(lambda: books_in_sync(engine), timeout=45, what="every book in sync")
        venue = "binance"
        await wait_until(lambda: any(engine.recent_edge(s) for s in engine.markets[venue]), timeout=30,
                         what="an opportunity in a market on binance")
        gate, server = engine.snapshot_gates[venue], sim.venues[venue]
        # frames/s per book, what the gate ranks by: a market moves every cadence(activity)
        # intervals, so every market of activity >= 2/3 pushes at the same 10 frames/s
        rate = {s: 1 / cadence(sim.cfg.activity.get(s, 1.0)) for s in engine.markets[venue]}
        # the shard with the busiest market reconnects last: first come, first served would
        # fetch every book of the quieter shards before it
        shards = sorted((list(s) for s in engine.shards[venue]), key=lambda s: max(rate[x] for x in s))
        assert len(shards) >= 2
        hold, held = asyncio.Event(), asyncio.Event()

        async def occupy() -> None:  # one more fetch in flight: the books queue behind it
            async with gate.turn(lambda: (9.0, 0.0)):
                held.set()
                await hold.wait()

        occupier = asyncio.create_task(occupy(), name="test:occupy-gate")
        await held.wait()
        edge_before = {s for s in engine.markets[venue] if engine.recent_edge(s)}
        mark = len(server.snapshots)
        queued = 0
        for shard in shards:
            assert server.drop_connections(shard[0]) == 1
            queued += len(shard)
            await wait_until(lambda n=queued: gate.waiting == n, timeout=30, what=f"{queued} books queued at the gate")
        hold.set()
        await occupier
        await wait_until(lambda: books_in_sync(engine), timeout=30, what="every book in sync again")
        order = [symbol for _, symbol in server.snapshots[mark:]]
        assert sorted(order) == sorted(engine.markets[venue])  # one fetch per book, once each
        never_edge = {s for s in order if not engine.recent_edge(s)}
        assert edge_before and never_edge
        assert max(order.index(s) for s in edge_before) < min(order.index(s) for s in never_edge), order
        # the others by activity: of two markets whose frame rates differ 3x, the busier first
        inverted = [(a, b) for a in never_edge for b in never_edge
                    if rate[a] >= 3 * rate[b] and order.index(a) > order.index(b)]
        assert not inverted, f"a quieter market fetched before a 3x busier one: {inverted} ({order}, {rate})"


async def test_an_activity_floor_keeps_only_markets_that_traded_it_on_at_least_two_venues(state_dir: Path) -> None:
    floor = 150_000.0
    async with whole_market(state_dir, floor=floor) as (sim, engine):
        c = sim.cfg
        volumes = {v: {s: market_volume(c.seed, v, s, c.activity.get(s, 1.0)) for s in c.listed(v)} for v in VENUES}
        listings = {v: [Listing(venue=v, symbol=s, venue_symbol=s, trading=True,
                                api_orders=s not in c.api_closed.get(v, ())) for s in c.listed(v)] for v in VENUES}
        want = shared_markets(listings, Selection(min_quote_volume_24h=floor), volumes)
        without = expected(sim)
        assert 0 < len(want) < len(without)  # the floor drops the quietest, keeps the rest
        assert {v: sorted(engine.markets[v]) for v in VENUES} == \
            {v: sorted(s for s, on in want.items() if v in on) for v in VENUES}
        assert {v: sim.venues[v].rate_limited for v in VENUES} == dict.fromkeys(VENUES, 0)
