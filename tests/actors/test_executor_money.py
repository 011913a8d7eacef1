"""Executor money against the simulator (real adapters, real sockets, the venues' own fees):
realised PnL from matched fills net of fees, unhedged residuals as open positions with an
alert, transient venue errors rejecting one opportunity, and two executor lifetimes on one
journal. Every expected figure is computed HERE from the simulator's own order records, with
arithmetic written in this file, never with the production function under test."""

from __future__ import annotations

import logging
import sqlite3

import msgspec
import pytest

from actors import spawn
from actors.executor import ExecutorActor
from actors.journal import JournalActor
from actors.risk import RiskParams, client_order_id
from actors.static import StaticData
from protocols.messages import FlushJournal, GetView, Opportunity

NOW = 1_000_000_000_000
SYMBOL = "BTC/USDT"


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "journal.db")


@pytest.fixture
async def journal(db):
    ref = await spawn(lambda: JournalActor(path=db), name="execution/journal")
    yield ref
    await ref.stop()


@pytest.fixture
def fee_assets() -> dict[str, str]:
    """Venues charging fees in a third asset, BNB or GT (a test parametrizes it); none by default."""
    return {}


@pytest.fixture
async def sim_venues(fee_assets):
    from protocols.binance import BinanceVenue
    from protocols.gateio import GateVenue
    from protocols.mexc import MexcVenue
    from simulator import SimConfig, Simulator
    from simulator.config import DEFAULT_BALANCES

    classes = {"mexc": MexcVenue, "binance": BinanceVenue, "gateio": GateVenue}
    third = sorted(set(fee_assets.values()))  # each with its <asset>/USDT book, which values it
    cfg = {"symbols": (SYMBOL, *(f"{a}/USDT" for a in third)), "fee_assets": fee_assets,
           "balances": {**DEFAULT_BALANCES, **dict.fromkeys(third, 100.0)}}
    async with Simulator(SimConfig(seed=11, **cfg)) as sim:
        sim.pause()  # the market holds still: the books only change through our orders
        adapters = {name: cls(rest_url=sim.venues[name].rest_url, ws_url=sim.venues[name].ws_url,
                              symbols=(SYMBOL,), credentials=sim.venues[name].credentials)
                    for name, cls in classes.items()}
        try:
            yield sim, adapters
        finally:
            for adapter in adapters.values():
                await adapter.close()


async def start(journal, venues, static=None, **risk):
    params = RiskParams(**{"leg_timeout_s": 2.0, "unwind_slippage_bps": 20.0, **risk})
    return await spawn(lambda: ExecutorActor(venues=venues, journal=journal, risk=params,
                                             dry_run=dict.fromkeys(venues, False), clock=lambda: NOW,
                                             static=static),
                       name="execution/executor")


def rows(db, sql, params=()):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def opportunity(sim, oid: str, buy: str, sell: str, *, buy_factor: float = 1.0,
                sell_factor: float = 1.0) -> Opportunity:
    """At the buy venue's best ask and the sell venue's best bid (times a factor: a factor that
    moves a limit away from the book makes that leg find nothing), for a size both tops hold."""
    _, asks = sim.venues[buy].book(SYMBOL)
    bids, _ = sim.venues[sell].book(SYMBOL)
    size = round(min(asks[0][1], bids[0][1], 50.0 / asks[0][0]) / 2, 4)
    return Opportunity(id=oid, symbol=SYMBOL, buy_venue=buy, sell_venue=sell, size=size,
                       buy_price=round(asks[0][0] * buy_factor, 2), sell_price=round(bids[0][0] * sell_factor, 2),
                       edge_bps=0.0, expected_pnl=0.0, created_ns=NOW, expires_ns=NOW + 10**9, buy_seq=1, sell_seq=2,
                       buy_recv_ns=NOW, sell_recv_ns=NOW)


def sim_order(sim, venue: str, cid: str):
    return sim.venues[venue].orders.get(f"t-{cid}" if venue == "gateio" else cid)


def truth(sim, db, journal_id: str) -> dict[str, float]:
    """From the SIMULATOR's records of this opportunity's orders: base bought and sold, quote
    paid and received, fees valued in quote (a base fee at its order's own average price)."""
    t = {"bought": 0.0, "sold": 0.0, "paid": 0.0, "received": 0.0, "fees": 0.0}
    for cid, venue in rows(db, "SELECT client_order_id, venue FROM orders WHERE opportunity_id = ?", (journal_id,)):
        o = sim_order(sim, venue, cid)
        if o is None or not o.filled:
            continue
        qty = o.filled * sim.venues[venue].books[SYMBOL].spec.step
        t["bought" if o.side == "buy" else "sold"] += qty
        t["paid" if o.side == "buy" else "received"] += o.filled_quote
        t["fees"] += o.fee * (o.filled_quote / qty) if o.fee_asset == "BTC" else o.fee
    return t


def expected_pnl(t: dict[str, float]) -> float:
    matched = min(t["bought"], t["sold"])
    if not matched:
        return -t["fees"]
    return matched * (t["received"] / t["sold"] - t["paid"] / t["bought"]) - t["fees"]


def journal_id(db, oid: str) -> str:
    [(run_id,)] = rows(db, "SELECT run_id FROM restarts WHERE run_id != '' ORDER BY id DESC LIMIT 1")
    return f"{oid}-{run_id}"


@pytest.mark.parametrize(("buy", "sell"), [("mexc", "binance"), ("binance", "gateio"), ("gateio", "mexc")])
async def test_realised_pnl_is_the_matched_fills_net_of_the_fees_every_venue_charged(
        journal, db, sim_venues, buy, sell):
    sim, adapters = sim_venues
    ex = await start(journal, adapters)
    try:
        opp = opportunity(sim, f"BTCUSDT-{buy}-{sell}-1-2", buy, sell)
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        jid = journal_id(db, opp.id)
        t = truth(sim, db, jid)
        assert t["bought"] == pytest.approx(t["sold"]) and t["bought"] > 0 and t["fees"] > 0
        [(status, pnl, fees, open_qty)] = rows(
            db, "SELECT status, realised_pnl, fees_quote, open_qty FROM opportunities WHERE id = ?", (jid,))
        assert status == "executed"
        assert pnl == pytest.approx(expected_pnl(t), abs=1e-6)
        assert fees == pytest.approx(t["fees"], rel=1e-6)
        assert open_qty == pytest.approx(0.0, abs=1e-12)
        # every fill row carries the fee and asset the venue charged (MEXC's come from myTrades)
        for cid, venue, fee, asset in rows(db, "SELECT client_order_id, venue, fee, fee_asset FROM fills"):
            o = sim_order(sim, venue, cid)
            assert (fee, asset) == (pytest.approx(o.fee, rel=1e-6), o.fee_asset)
            assert fee > 0
        assert ex.describe().realised_pnl == pytest.approx(expected_pnl(t), abs=1e-6)
    finally:
        await ex.stop()


async def test_a_one_sided_buy_is_an_open_long_never_profit_hedged_a_bounded_number_of_times_then_alerted(
        journal, db, sim_venues, caplog):
    sim, adapters = sim_venues
    ex = await start(journal, adapters, hedge_attempts=3)
    try:
        # The sell limit is 5% above the best bid: the sell leg and every bounded hedge find nothing.
        opp = opportunity(sim, "BTCUSDT-mexc-gateio-5-6", "mexc", "gateio", sell_factor=1.05)
        with caplog.at_level(logging.ERROR, logger="arbor.executor"):
            await ex.ask(opp)
        await journal.ask(FlushJournal())
        jid = journal_id(db, opp.id)
        t = truth(sim, db, jid)
        assert t["bought"] > 0 and t["sold"] == 0
        [(status, pnl, open_qty, open_venue, open_price)] = rows(
            db, "SELECT status, realised_pnl, open_qty, open_venue, open_price FROM opportunities WHERE id = ?", (jid,))
        assert status == "partial"
        assert pnl == pytest.approx(-t["fees"], abs=1e-9)  # only the fee, never the expected edge
        assert (open_qty, open_venue) == (pytest.approx(t["bought"]), "mexc")
        assert open_price == pytest.approx(t["paid"] / t["bought"])
        hedges = [client_order_id(jid, "u")] + [client_order_id(f"{jid}#{n}", "u") for n in (1, 2)]
        assert [sim_order(sim, "gateio", h).filled for h in hedges] == [0, 0, 0]
        assert sim_order(sim, "gateio", client_order_id(f"{jid}#3", "u")) is None  # bounded: three, no more
        for h in hedges:
            assert sim_order(sim, "gateio", h).price * 10**-2 >= opp.sell_price * (1 - 20e-4) - 0.01
        status_now = ex.describe()
        assert status_now.unhedged_alerts == 1 and "mexc" in status_now.last_alert
        assert [(p.venue, p.symbol, p.qty) for p in status_now.open_positions] == [
            ("mexc", SYMBOL, pytest.approx(t["bought"]))]
        assert any("UNHEDGED" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    finally:
        await ex.stop()


async def test_a_one_sided_sell_is_an_open_short_and_no_fictitious_loss_reaches_the_daily_limit(
        journal, db, sim_venues):
    sim, adapters = sim_venues
    ex = await start(journal, adapters, daily_loss_limit=1.0, max_open_position_quote=1e9)
    try:
        opp = opportunity(sim, "BTCUSDT-binance-mexc-7-8", "binance", "mexc", buy_factor=0.95)
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        jid = journal_id(db, opp.id)
        t = truth(sim, db, jid)
        assert t["sold"] > 0 and t["bought"] == 0
        [(pnl, open_qty, open_venue)] = rows(
            db, "SELECT realised_pnl, open_qty, open_venue FROM opportunities WHERE id = ?", (jid,))
        assert pnl == pytest.approx(-t["fees"], abs=1e-9)
        assert (open_qty, open_venue) == (pytest.approx(-t["sold"]), "mexc")
        assert ex.describe().daily_pnl == pytest.approx(-t["fees"], abs=1e-9)  # not -25 USDT of "loss"
    finally:
        await ex.stop()


async def test_an_open_position_no_fresh_book_can_mark_stops_new_risk_and_outlives_a_restart(journal, db, sim_venues):
    sim, adapters = sim_venues
    ex = await start(journal, adapters, max_open_position_quote=1_000.0)
    opp = opportunity(sim, "BTCUSDT-mexc-gateio-9-9", "mexc", "gateio", sell_factor=1.05)
    await ex.ask(opp)
    await ex.stop()
    # A new run: the position comes back from the journal; no book runs here to mark it.
    ex = await start(journal, adapters, max_open_position_quote=1_000.0)
    try:
        assert ex.describe().unhedged_alerts == 1  # from the journal, like every counter
        [pos] = ex.describe().open_positions
        assert (pos.venue, pos.qty) == ("mexc", pytest.approx(opportunity_size := opp.size))
        assert opportunity_size > 0
        nxt = opportunity(sim, "BTCUSDT-binance-gateio-10-10", "binance", "gateio")
        await ex.ask(nxt)
        await journal.ask(FlushJournal())
        assert rows(db, "SELECT status, detail FROM opportunities WHERE id = ?", (journal_id(db, nxt.id),)) == [
            ("rejected_by_risk", "max_open_position_quote")]
        assert ex.describe().open_position_quote is None  # said so: unmarked, counted as over the limit
    finally:
        await ex.stop()


@pytest.mark.parametrize("fault", ["http_5xx", "http_429"])
async def test_a_transient_error_fetching_balances_rejects_that_opportunity_and_the_executor_keeps_trading(
        journal, db, sim_venues, fault):
    sim, adapters = sim_venues
    static = StaticData(adapters)
    for venue in ("mexc", "binance"):
        await static.info(venue, SYMBOL)
    ex = await start(journal, adapters, static=static)
    try:
        sim.venues["mexc"].faults.inject(fault)
        first = opportunity(sim, "BTCUSDT-mexc-binance-11-11", "mexc", "binance")
        await ex.ask(first)
        second = opportunity(sim, "BTCUSDT-mexc-binance-12-12", "mexc", "binance")
        await ex.ask(second)
        await journal.ask(FlushJournal())
        assert ex.alive and ex.describe().venue_unavailable == 1
        [(status, detail)] = rows(db, "SELECT status, detail FROM opportunities WHERE id = ?",
                                  (journal_id(db, first.id),))
        assert status == "venue_unavailable" and detail.startswith("mexc: ")
        assert rows(db, "SELECT count(*) FROM orders WHERE opportunity_id = ?", (journal_id(db, first.id),)) == [(0,)]
        second_status = rows(db, "SELECT status FROM opportunities WHERE id = ?", (journal_id(db, second.id),))
        assert second_status == [("executed",)]
    finally:
        await ex.stop()


async def test_static_data_is_shared_across_executor_restarts_and_fetched_once_per_venue_and_symbol(
        journal, db, sim_venues):
    sim, adapters = sim_venues
    static = StaticData(adapters)
    for _ in range(2):
        ex = await start(journal, adapters, static=static)
        try:
            await ex.ask(opportunity(sim, "BTCUSDT-gateio-mexc-13-13", "gateio", "mexc"))
        finally:
            await ex.stop()
    assert static.fetches == 2  # gateio and mexc, once each, over two executor lifetimes


async def test_two_executor_lifetimes_on_one_journal_never_share_an_id_overwrite_a_row_or_double_a_fill(
        journal, db, sim_venues):
    sim, adapters = sim_venues
    taken = []
    for _ in range(2):
        ex = await start(journal, adapters)
        try:
            # The same detector id in both runs (a restarted venue or seeded market repeats seqs).
            opp = opportunity(sim, "BTCUSDT-mexc-binance-1-1", "mexc", "binance")
            await ex.ask(opp)
            await journal.ask(FlushJournal())
            taken.append(journal_id(db, opp.id))
            status = ex.describe()
        finally:
            await ex.stop()
    assert taken[0] != taken[1]
    assert status.executed == 2 and status.opportunities_seen == 2  # counters from the journal
    assert sorted(r[0] for r in rows(db, "SELECT status FROM opportunities")) == ["executed", "executed"]
    cids = [r[0] for r in rows(db, "SELECT client_order_id FROM orders")]
    assert len(cids) == len(set(cids)) == 4
    assert rows(db, "SELECT count(*), count(DISTINCT client_order_id) FROM fills") == [(4, 4)]
    for cid, venue, qty in rows(db, "SELECT client_order_id, venue, qty FROM fills"):
        assert sim_order(sim, venue, cid).filled * sim.venues[venue].books[SYMBOL].spec.step == pytest.approx(qty)
    total = sum(expected_pnl(truth(sim, db, jid)) for jid in taken)
    assert status.realised_pnl == pytest.approx(total, abs=1e-6)


@pytest.mark.parametrize(("buy", "sell"), [("binance", "mexc"), ("gateio", "binance")])
async def test_an_order_whose_placing_answer_was_lost_is_charged_the_exact_fee_of_its_trades(
        journal, db, sim_venues, buy, sell):
    """Binance's GET /order has no fills: the leg read back after a lost answer takes its fee
    from the order's trades (myTrades), in the asset the venue charged, never an estimate."""
    sim, adapters = sim_venues
    ex = await start(journal, adapters)
    try:
        sim.venues["binance"].faults.inject("order_unknown")
        opp = opportunity(sim, f"BTCUSDT-{buy}-{sell}-22-22", buy, sell)
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        assert sim.venues["binance"].faults.counts["order_unknown"] == 1
        jid = journal_id(db, opp.id)
        [(status, pnl, fees, detail)] = rows(
            db, "SELECT status, realised_pnl, fees_quote, detail FROM opportunities WHERE id = ?", (jid,))
        t = truth(sim, db, jid)
        assert status == "executed" and "fee estimated" not in detail
        assert (pnl, fees) == (pytest.approx(expected_pnl(t), abs=1e-6), pytest.approx(t["fees"], rel=1e-6))
        [(cid, fee, asset)] = rows(db, "SELECT client_order_id, fee, fee_asset FROM fills WHERE venue = 'binance'")
        o = sim_order(sim, "binance", cid)
        assert (fee, asset) == (pytest.approx(o.fee, rel=1e-6), "BTC" if buy == "binance" else "USDT")
    finally:
        await ex.stop()


@pytest.mark.parametrize("fee_assets", [{"binance": "BNB"}])
async def test_a_bnb_fee_read_from_the_trades_reaches_the_journal_and_without_a_book_is_flagged_not_guessed(
        journal, db, sim_venues):
    sim, adapters = sim_venues
    ex = await start(journal, adapters)
    try:
        sim.venues["binance"].faults.inject("order_unknown")
        opp = opportunity(sim, "BTCUSDT-binance-mexc-23-23", "binance", "mexc")
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        jid = journal_id(db, opp.id)
        [(cid, fee, asset)] = rows(db, "SELECT client_order_id, fee, fee_asset FROM fills WHERE venue = 'binance'")
        o = sim_order(sim, "binance", cid)
        # the venue states each trade's commission to 8 decimals
        assert o.fee_asset == "BNB" and (fee, asset) == (pytest.approx(o.fee, abs=5e-9 * len(o.fills)), "BNB")
        [(pnl, unconverted, detail)] = rows(
            db, "SELECT realised_pnl, fee_unconverted, detail FROM opportunities WHERE id = ?", (jid,))
        t = truth(sim, db, jid)
        t["fees"] -= o.fee  # no book runs here to value BNB: the PnL leaves it out, and says so
        assert unconverted == "BNB" and "fee estimated" not in detail
        assert pnl == pytest.approx(expected_pnl(t), abs=1e-6)
    finally:
        await ex.stop()


async def test_a_fee_the_venue_did_not_report_is_estimated_from_its_schedule_and_said_so(journal, db, sim_venues):
    """An order whose placing answer was lost is read back (GET /order: no fills), and its
    trades cannot be read either (a 503): its state is known, its fee is the venue's taker fee
    on the notional, and the result says it was estimated."""
    sim, adapters = sim_venues
    ex = await start(journal, adapters)
    try:
        sim.venues["binance"].faults.inject("order_unknown")
        sim.venues["binance"].faults.inject("trades_5xx")
        opp = opportunity(sim, "BTCUSDT-binance-mexc-21-21", "binance", "mexc")
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        assert sim.venues["binance"].faults.counts["order_unknown"] == 1
        assert sim.venues["binance"].faults.counts["trades_5xx"] == 1
        jid = journal_id(db, opp.id)
        [(status, pnl, detail)] = rows(db, "SELECT status, realised_pnl, detail FROM opportunities WHERE id = ?",
                                       (jid,))
        assert status == "executed" and "fee estimated" in detail
        # the estimate (taker fee on the notional, in quote) is what the simulator charged here
        assert pnl == pytest.approx(expected_pnl(truth(sim, db, jid)), abs=1e-6)
        assert rows(db, "SELECT fee, fee_asset FROM fills WHERE venue = 'binance'") == [(0.0, "")]  # unreported
    finally:
        await ex.stop()


@pytest.mark.parametrize(("buy", "sell", "fee_assets"), [("mexc", "binance", {}),
                                                        ("binance", "mexc", {"binance": "BNB"})])
async def test_an_estimated_fee_is_made_exact_by_a_later_start_once_the_venue_reports_it(
        journal, db, sim_venues, buy, sell, caplog):
    """Run 1: the trades are unreadable, the fee is estimated. Run 2 starts while the venue
    answers 503: the estimate stays, the start does not fail. Run 3: the order is read back
    with its exact fee; the fill and the opportunity's money are corrected in the journal."""
    sim, adapters = sim_venues
    faults = sim.venues["binance"].faults
    faults.inject("order_unknown")
    faults.inject("trades_5xx")
    ex = await start(journal, adapters)
    opp = opportunity(sim, f"BTCUSDT-{buy}-{sell}-24-24", buy, sell)
    try:
        await ex.ask(opp)
    finally:
        await ex.stop()
    await journal.ask(FlushJournal())
    jid = journal_id(db, opp.id)
    [(estimated_pnl, detail)] = rows(db, "SELECT realised_pnl, detail FROM opportunities WHERE id = ?", (jid,))
    assert "fee estimated" in detail
    faults.inject("http_5xx")
    with caplog.at_level(logging.WARNING, logger="arbor.executor"):
        ex = await start(journal, adapters)
        await ex.stop()
    assert faults.counts["http_5xx"] == 1 and "not corrected now" in caplog.text
    assert rows(db, "SELECT fee, fee_asset FROM fills WHERE venue = 'binance'") == [(0.0, "")]
    ex = await start(journal, adapters)
    try:
        await journal.ask(FlushJournal())
        [(cid, fee, asset)] = rows(db, "SELECT client_order_id, fee, fee_asset FROM fills WHERE venue = 'binance'")
        o = sim_order(sim, "binance", cid)
        assert (fee, asset) == (pytest.approx(o.fee, abs=5e-9 * len(o.fills)), o.fee_asset)
        [(status, pnl, unconverted, detail)] = rows(
            db, "SELECT status, realised_pnl, fee_unconverted, detail FROM opportunities WHERE id = ?", (jid,))
        t = truth(sim, db, jid)
        if o.fee_asset == "BNB":  # no book runs here to value BNB: the PnL leaves it out, and says so
            t["fees"] -= o.fee
            assert unconverted == "BNB"
            assert pnl - estimated_pnl == pytest.approx(o.filled_quote * 0.001, rel=1e-6)  # the estimate is gone
        assert status == "executed" and "fee estimated" not in detail and "corrected from the venue" in detail
        assert pnl == pytest.approx(expected_pnl(t), abs=1e-6)
        assert ex.describe().realised_pnl == pytest.approx(pnl, abs=1e-9)  # read back after the correction
    finally:
        await ex.stop()


async def test_the_same_opportunity_twice_in_one_run_is_taken_once_and_its_first_result_is_kept(
        journal, db, sim_venues):
    from protocols.messages import KillSwitch

    sim, adapters = sim_venues
    ex = await start(journal, adapters)
    try:
        opp = opportunity(sim, "BTCUSDT-mexc-binance-31-31", "mexc", "binance")
        await ex.ask(KillSwitch(on=True))
        await ex.ask(opp)  # rejected by the kill switch
        await ex.ask(KillSwitch(on=False))
        await ex.ask(opp)  # the same id again (a restarted detector): not taken
        executed = opportunity(sim, "BTCUSDT-mexc-binance-32-32", "mexc", "binance")
        await ex.ask(executed)
        await ex.ask(executed)  # taken once: no second pair of orders
        await journal.ask(FlushJournal())
        assert rows(db, "SELECT status, detail FROM opportunities WHERE id = ?", (journal_id(db, opp.id),)) == [
            ("rejected_by_risk", "kill_switch")]
        assert rows(db, "SELECT status FROM opportunities WHERE id = ?", (journal_id(db, executed.id),)) == [
            ("executed",)]
        assert len(sim.venues["mexc"].orders) == len(sim.venues["binance"].orders) == 1
        assert ex.alive
    finally:
        await ex.stop()


@pytest.fixture
async def gt_book(sim_venues):
    """The engine's own gateio GT/USDT book (real connection and book actors on the simulator's
    spot.obu stream), in sync: the live book a GT fee is valued at."""
    from actors.book import BookActor
    from actors.connection import ConnectionActor
    from protocols.gateio import GateVenue
    from testkit import eventually

    sim, _ = sim_venues
    server = sim.venues["gateio"]
    market = GateVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=("GT/USDT",))
    book = await spawn(lambda: BookActor(venue=market, symbol="GT/USDT", publish=None), name="books/GTUSDT")
    conn = await spawn(lambda: ConnectionActor(venue=market, symbols=["GT/USDT"], route={"GT/USDT": book}.get),
                       name="connections/0")

    async def synced() -> bool:
        return (await book.ask(GetView())).in_sync

    try:
        await eventually(synced, what="the GT/USDT book in sync")
        yield book
    finally:
        await conn.stop()
        await book.stop()
        await market.close()


@pytest.mark.parametrize("fee_assets", [{"gateio": "GT"}])
@pytest.mark.parametrize("live_gt_book", [True, False], ids=["gt-book", "no-gt-book"])
async def test_a_gt_fee_is_valued_at_the_live_gt_book_in_the_realised_pnl_and_flagged_without_one(
        journal, db, sim_venues, gt_book, live_gt_book):
    """Gate with GT deduction on reports the order's fee as ``gt_fee`` (``fee`` 0). The fill is
    journaled with its GT fee; the opportunity's realised PnL is net of it, valued at the
    engine's live GT/USDT book (here the same mid the simulator charged at, the market being
    paused); with no GT book the PnL leaves it out and the row says so, never counting it as 0."""
    import time

    sim, adapters = sim_venues
    params = RiskParams(leg_timeout_s=2.0, unwind_slippage_bps=20.0)
    books = {("gateio", "GT/USDT"): gt_book} if live_gt_book else {}
    ex = await spawn(lambda: ExecutorActor(venues=adapters, journal=journal, risk=params,
                                           dry_run=dict.fromkeys(adapters, False),
                                           books=lambda venue, symbol: books.get((venue, symbol))),
                     name="execution/executor")
    try:
        now = time.monotonic_ns()  # the executor's clock here: the GT book's views are stamped with it
        opp = msgspec.structs.replace(opportunity(sim, "BTCUSDT-mexc-gateio-41-41", "mexc", "gateio"),
                                      created_ns=now, expires_ns=now + 10**10, buy_recv_ns=now, sell_recv_ns=now)
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        jid = journal_id(db, opp.id)
        [(cid, fee, asset)] = rows(db, "SELECT client_order_id, fee, fee_asset FROM fills WHERE venue = 'gateio'")
        o = sim_order(sim, "gateio", cid)
        assert o.fee_asset == "GT" and o.fee > 0
        assert (fee, asset) == (pytest.approx(o.fee, abs=1e-8), "GT")  # Gate states gt_fee to 8 decimals
        gt_bids, gt_asks = sim.venues["gateio"].book("GT/USDT")
        gt_mid = (gt_bids[0][0] + gt_asks[0][0]) / 2
        assert o.fee * gt_mid == pytest.approx(o.filled_quote * 0.001, rel=1e-6)  # what Gate charged, in USDT
        t = truth(sim, db, jid)
        t["fees"] += (o.fee * gt_mid if live_gt_book else 0.0) - o.fee  # truth() took the GT amount as USDT
        [(status, pnl, fees, unconverted, detail)] = rows(
            db, "SELECT status, realised_pnl, fees_quote, fee_unconverted, detail FROM opportunities WHERE id = ?",
            (jid,))
        assert status == "executed" and "fee estimated" not in detail
        assert pnl == pytest.approx(expected_pnl(t), abs=1e-6) and fees == pytest.approx(t["fees"], rel=1e-6)
        assert unconverted == ("" if live_gt_book else "GT")
        assert ("not converted" in detail) is not live_gt_book
    finally:
        await ex.stop()
