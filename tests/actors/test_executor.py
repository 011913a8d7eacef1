"""Executor: two legs journaled first, residual hedge, named recoveries, reconciliation, kill
switch, paper mode. Against an in-process venue that records every call (deterministic), and
against the simulator over real sockets with the real adapters."""

from __future__ import annotations

import gc
import sqlite3
from decimal import Decimal

import msgspec
import pytest

from actors import spawn
from actors.executor import ExecutorActor
from actors.journal import JournalActor
from actors.risk import RiskParams, client_order_id
from protocols.errors import ActorStopped, AuthError, NetworkError, OrderNotFound, RateLimited
from protocols.messages import (
    Balance,
    Balances,
    FlushJournal,
    JournalWrite,
    KillSwitch,
    Opportunity,
    OpportunityResult,
    OrderIntent,
    OrderUpdate,
    SymbolInfo,
)
from testkit import eventually

NOW = 1_000_000_000_000


class FakeVenue:
    """Fills IOCs at their limit up to ``fill_ratio``; records every call; scripted faults."""

    def __init__(self, name: str, log: list[tuple[str, str, str]], fill_ratio: float = 1.0) -> None:
        self.name, self.log, self.fill_ratio = name, log, fill_ratio
        self.orders: dict[str, OrderUpdate] = {}
        self.placed: dict[str, int] = {}
        self.unknown_after_execute = 0  # execute, then raise NetworkError (outcome unknown)
        self.rate_limited = 0  # raise RateLimited before executing
        self.slow = 0  # raise NetworkError before executing; the order is held in ``late`` (a slow venue)
        self.late: dict[str, OrderIntent] = {}

    async def symbol_info(self, symbols):
        return {s: SymbolInfo(symbol=s, venue_symbol=s.replace("/", ""), base="BTC", quote="USDT",
                              tick_size=Decimal("0.01"), step_size=Decimal("0.0001"), min_qty=Decimal("0.0001"),
                              min_notional=Decimal("1"), maker_fee=0.0, taker_fee=0.001) for s in symbols}

    async def balances(self):
        self.log.append((self.name, "balances", ""))
        return Balances(venue=self.name, ts_ns=0, balances=(Balance(venue=self.name, asset="USDT", free=1e6, locked=0),
                                                            Balance(venue=self.name, asset="BTC", free=10.0, locked=0)))

    async def place_order(self, intent: OrderIntent) -> OrderUpdate:
        self.log.append((self.name, "place", intent.client_order_id))
        if self.rate_limited:
            self.rate_limited -= 1
            raise RateLimited(self.name, 429, "too many requests", retry_after_s=0.01, status=429)
        self.placed[intent.client_order_id] = self.placed.get(intent.client_order_id, 0) + 1
        if self.slow:
            self.slow -= 1
            self.late[intent.client_order_id] = intent
            raise NetworkError(self.name, "read timeout")
        if intent.client_order_id in self.orders:  # the venue's duplicate-id rule
            raise NetworkError(self.name, "duplicate client id")
        filled = round(intent.qty * (self.fill_ratio if not intent.client_order_id.endswith("u") else 1.0), 4)
        u = OrderUpdate(venue=self.name, symbol=intent.symbol, client_order_id=intent.client_order_id,
                        order_id=str(len(self.orders) + 1), side=intent.side, order_type="ioc",
                        status="filled" if filled == intent.qty else "canceled", price=intent.price, qty=intent.qty,
                        filled_qty=filled, filled_quote=filled * intent.price, fee=0.0, fee_asset="USDT")
        self.orders[intent.client_order_id] = u
        if self.unknown_after_execute:
            self.unknown_after_execute -= 1
            raise NetworkError(self.name, "503 after execution", status=503)
        return u

    async def land(self) -> None:
        """The held orders reach the matching engine now (after their sender gave up)."""
        late, self.late = self.late, {}
        for intent in late.values():
            self.placed[intent.client_order_id] -= 1
            await self.place_order(intent)

    async def order_by_client_id(self, symbol: str, cid: str) -> OrderUpdate:
        self.log.append((self.name, "query", cid))
        if cid not in self.orders:
            raise OrderNotFound(self.name, -2013, "order does not exist")
        return self.orders[cid]

    async def cancel_order(self, symbol: str, cid: str) -> OrderUpdate:
        raise AssertionError("IOC orders in these tests are final at once")


def opportunity(oid: str = "BTCUSDT-mexc-gateio-1-2", size: float = 0.5, expires_ns: int = NOW + 10**9) -> Opportunity:
    return Opportunity(id=oid, symbol="BTC/USDT", buy_venue="mexc", sell_venue="gateio", size=size,
                       buy_price=100.0, sell_price=101.0, edge_bps=80.0, expected_pnl=0.4, created_ns=NOW,
                       expires_ns=expires_ns, buy_seq=1, sell_seq=2, buy_recv_ns=NOW, sell_recv_ns=NOW)


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "journal.db")


@pytest.fixture
async def journal(db):
    ref = await spawn(lambda: JournalActor(path=db), name="execution/journal")
    yield ref
    await ref.stop()


async def start_executor(journal, venues, *, dry=False, **risk):
    params = RiskParams(**{"leg_timeout_s": 2.0, "unwind_slippage_bps": 20.0, **risk})
    return await spawn(lambda: ExecutorActor(venues=venues, journal=journal, risk=params,
                                             dry_run=dict.fromkeys(venues, dry), clock=lambda: NOW),
                       name="execution/executor")


def rows(db, sql):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def jid(db, oid: str) -> str:
    """The journal id of an opportunity the latest executor run took: the id + its run id."""
    [(run_id,)] = rows(db, "SELECT run_id FROM restarts WHERE run_id != '' ORDER BY id DESC LIMIT 1")
    return f"{oid}-{run_id}"


def cid(db, oid: str, leg) -> str:
    return client_order_id(jid(db, oid), leg)


async def test_an_opportunity_fills_both_legs_and_the_journal_holds_matching_rows(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    ex = await start_executor(journal, venues)
    try:
        await ex.ask(opportunity())
        await journal.ask(FlushJournal())
        status = ex.describe()
        orders = rows(db, "SELECT client_order_id, venue, side, status, filled_qty, price FROM orders ORDER BY side")
        b, s = cid(db, opportunity().id, "b"), cid(db, opportunity().id, "s")
        assert orders == [(b, "mexc", "buy", "filled", 0.5, 100.0), (s, "gateio", "sell", "filled", 0.5, 101.0)]
        assert rows(db, "SELECT client_order_id, qty FROM fills ORDER BY side") == [(b, 0.5), (s, 0.5)]
        assert rows(db, "SELECT status, realised_pnl FROM opportunities") == [("executed", pytest.approx(0.5))]
        assert {v for v, what, _ in log if what == "balances"} == {"mexc", "gateio"}
        assert rows(db, "SELECT count(*) FROM balances")[0][0] >= 4
        assert (status.executed, status.open_legs, status.realised_pnl) == (1, 0, pytest.approx(0.5))
    finally:
        await ex.stop()


class GcWitness(FakeVenue):
    """Records whether the garbage collector was on when each leg was handed to its path (a
    WebSocket venue writes its frame there; this one has none: the leg goes over REST)."""

    def __init__(self, name: str, log: list, seen: list[bool]) -> None:
        super().__init__(name, log)
        self.seen = seen

    async def start_order(self, intent: OrderIntent, prepared: object = None) -> None:
        self.seen.append(gc.isenabled())


@pytest.mark.parametrize("collecting", [True, False])
async def test_no_collection_can_run_while_the_legs_are_sent_and_the_collector_is_left_as_it_was(
        journal, db, collecting):
    log: list = []
    seen: list[bool] = []
    venues = {"mexc": GcWitness("mexc", log, seen), "gateio": GcWitness("gateio", log, seen)}
    ex = await start_executor(journal, venues)
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        await ex.ask(opportunity())
        assert seen == [False, False]  # off for both sends
        assert gc.isenabled() is collecting
        await journal.ask(FlushJournal())
        assert rows(db, "SELECT status FROM opportunities") == [("executed",)]
    finally:
        (gc.enable if was else gc.disable)()
        await ex.stop()


async def test_a_partially_filled_leg_is_hedged_with_a_bounded_price_ioc(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log, fill_ratio=0.6)}
    ex = await start_executor(journal, venues, unwind_slippage_bps=20.0)
    try:
        await ex.ask(opportunity())
        await journal.ask(FlushJournal())
        u = cid(db, opportunity().id, "u")
        assert rows(db, f"SELECT venue, side, qty, price, status FROM orders WHERE client_order_id='{u}'") == [
            ("gateio", "sell", pytest.approx(0.2), pytest.approx(101.0 * (1 - 20e-4)), "filled")]
        [(status, pnl)] = rows(db, "SELECT status, realised_pnl FROM opportunities")
        assert status == "executed"
        assert pnl == pytest.approx(0.3 * 101.0 + 0.2 * 101.0 * (1 - 20e-4) - 0.5 * 100.0)
    finally:
        await ex.stop()


async def test_an_order_with_unknown_outcome_is_queried_by_client_id_and_never_resent(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    venues["mexc"].unknown_after_execute = 1
    ex = await start_executor(journal, venues)
    try:
        await ex.ask(opportunity())
        await journal.ask(FlushJournal())
        b = cid(db, opportunity().id, "b")
        assert venues["mexc"].placed == {b: 1}
        assert ("mexc", "query", b) in log
        assert rows(db, f"SELECT status, filled_qty FROM orders WHERE client_order_id='{b}'") == [("filled", 0.5)]
    finally:
        await ex.stop()


async def test_a_rate_limited_leg_waits_and_is_retried_with_the_same_client_id(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    venues["gateio"].rate_limited = 1
    ex = await start_executor(journal, venues)
    try:
        await ex.ask(opportunity())
        s = cid(db, opportunity().id, "s")
        assert [(what, cid) for v, what, cid in log if v == "gateio" and what != "balances"] == [
            ("place", s), ("query", s), ("place", s)]
        assert venues["gateio"].placed == {s: 1}
    finally:
        await ex.stop()


async def test_restart_reconciliation_queries_unfinished_orders_before_sending_new_ones(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    old = opportunity("BTCUSDT-mexc-gateio-0-0")
    landed = OrderIntent(client_order_id=client_order_id(old.id, "b"), opportunity_id=old.id, venue="mexc",
                         symbol="BTC/USDT", side="buy", order_type="ioc", qty=0.5, price=100.0)
    lost = OrderIntent(client_order_id=client_order_id(old.id, "s"), opportunity_id=old.id, venue="gateio",
                       symbol="BTC/USDT", side="sell", order_type="ioc", qty=0.5, price=101.0)
    # The previous incarnation journaled both intents; only the buy reached its venue before kill -9.
    await journal.ask(JournalWrite(records=(old, landed, lost)))
    await venues["mexc"].place_order(landed)
    log.clear()
    ex = await start_executor(journal, venues)
    try:
        await ex.ask(opportunity())
        first_place = next(i for i, (_, what, _) in enumerate(log) if what == "place")
        queries = {cid for _, what, cid in log[:first_place] if what == "query"}
        assert queries == {landed.client_order_id, lost.client_order_id}
        await journal.ask(FlushJournal())
        u = client_order_id(old.id, "u")
        assert dict(rows(db, f"SELECT client_order_id, status FROM orders WHERE opportunity_id='{old.id}'")) == {
            landed.client_order_id: "filled", lost.client_order_id: "rejected", u: "filled"}
        assert rows(db, "SELECT path, reason FROM restarts") == [("execution/executor", "start")]
    finally:
        await ex.stop()


async def test_the_kill_switch_file_or_command_blocks_new_opportunities(journal, db, tmp_path):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    switch = tmp_path / "KILL"
    ex = await start_executor(journal, venues, kill_switch_path=str(switch))
    try:
        switch.touch()
        await ex.ask(opportunity("o-1"))
        switch.unlink()
        await ex.ask(KillSwitch(on=True, reason="operator"))
        await ex.ask(opportunity("o-2"))
        await ex.ask(KillSwitch(on=False))
        await ex.ask(opportunity("o-3"))
        await journal.ask(FlushJournal())
        assert dict(rows(db, "SELECT id, status FROM opportunities")) == {
            jid(db, "o-1"): "rejected_by_risk", jid(db, "o-2"): "rejected_by_risk", jid(db, "o-3"): "executed"}
        assert {cid for _, what, cid in log if what == "place"} == {
            cid(db, "o-3", "b"), cid(db, "o-3", "s")}
    finally:
        await ex.stop()


async def test_an_expired_opportunity_is_dropped_without_an_order(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    ex = await start_executor(journal, venues)
    try:
        await ex.ask(opportunity(expires_ns=NOW))
        await journal.ask(FlushJournal())
        assert rows(db, "SELECT status, detail FROM opportunities") == [("rejected_by_risk", "expired")]
        assert [entry for entry in log if entry[1] == "place"] == []
    finally:
        await ex.stop()


async def test_dry_run_journals_both_legs_as_paper_without_sending(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    ex = await start_executor(journal, venues, dry=True)
    try:
        await ex.ask(opportunity())
        await journal.ask(FlushJournal())
        assert log == []  # not even balances: paper mode may run without credentials
        assert rows(db, "SELECT side, status FROM orders ORDER BY side") == [("buy", "paper"), ("sell", "paper")]
        assert rows(db, "SELECT status FROM opportunities") == [("paper",)]
    finally:
        await ex.stop()


async def test_an_unexpected_error_on_one_leg_lets_the_other_finish_then_crashes_the_executor(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}

    async def refuse(intent):
        raise AuthError("mexc", 10072, "api key expired")

    venues["mexc"].place_order = refuse
    ex = await start_executor(journal, venues)
    with pytest.raises(ActorStopped):
        await ex.ask(opportunity())
    await journal.ask(FlushJournal())
    s = cid(db, opportunity().id, "s")
    assert rows(db, f"SELECT status, filled_qty FROM orders WHERE client_order_id='{s}'") == [("filled", 0.5)]
    assert not ex.alive


# --- against the simulator, over real sockets, with the real adapters -----------------------


@pytest.fixture
async def sim_venues():
    from protocols.binance import BinanceVenue
    from protocols.gateio import GateVenue
    from protocols.mexc import MexcVenue
    from simulator import SimConfig, Simulator

    classes = {"mexc": MexcVenue, "binance": BinanceVenue, "gateio": GateVenue}
    async with Simulator(SimConfig(seed=7, symbols=("BTC/USDT",))) as sim:
        sim.pause()  # the market holds still: the books only change through our orders
        adapters = {name: cls(rest_url=sim.venues[name].rest_url, ws_url=sim.venues[name].ws_url,
                              symbols=("BTC/USDT",), credentials=sim.venues[name].credentials)
                    for name, cls in classes.items()}
        try:
            yield sim, adapters
        finally:
            for adapter in adapters.values():
                await adapter.close()


def sim_opportunity(sim, oid: str, buy: str = "mexc", sell: str = "binance") -> Opportunity:
    """Buy at the buy venue's best ask, sell at the sell venue's best bid, for a size both top
    levels hold (not necessarily profitable: the executor's job is to execute it)."""
    _, asks = sim.venues[buy].book("BTC/USDT")
    bids, _ = sim.venues[sell].book("BTC/USDT")
    size = round(min(asks[0][1], bids[0][1], 50.0 / asks[0][0]) / 2, 4)
    return Opportunity(id=oid, symbol="BTC/USDT", buy_venue=buy, sell_venue=sell, size=size,
                       buy_price=asks[0][0], sell_price=bids[0][0], edge_bps=0.0, expected_pnl=0.0, created_ns=NOW,
                       expires_ns=NOW + 10**9, buy_seq=1, sell_seq=2, buy_recv_ns=NOW, sell_recv_ns=NOW)


@pytest.mark.parametrize(("buy", "sell"), [("mexc", "binance"), ("binance", "gateio"), ("gateio", "mexc")])
async def test_against_the_simulator_both_legs_fill_and_the_journal_matches_the_venues(
        journal, db, sim_venues, buy, sell):
    sim, adapters = sim_venues
    ex = await start_executor(journal, adapters)
    try:
        opp = sim_opportunity(sim, f"BTCUSDT-{buy}-{sell}-1-2", buy, sell)
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        b, s = cid(db, opp.id, "b"), cid(db, opp.id, "s")
        journaled = {cid: (status, qty) for cid, status, qty in rows(
            db, "SELECT client_order_id, status, filled_qty FROM orders")}
        assert journaled == {b: ("filled", pytest.approx(opp.size)), s: ("filled", pytest.approx(opp.size))}
        def on_venue(venue, cid):  # Gate keeps the wire form of the id, "t-" + ours
            return (f"t-{cid}" if venue == "gateio" else cid) in sim.venues[venue].orders

        assert on_venue(buy, b) and on_venue(sell, s)
        assert rows(db, "SELECT count(*) FROM fills") == [(2,)]
        assert rows(db, "SELECT status FROM opportunities") == [("executed",)]
    finally:
        await ex.stop()


async def test_against_the_simulator_an_unknown_outcome_is_queried_and_no_duplicate_order_exists(
        journal, db, sim_venues):
    sim, adapters = sim_venues
    ex = await start_executor(journal, adapters)
    try:
        sim.venues["mexc"].faults.inject("order_unknown")
        opp = sim_opportunity(sim, "BTCUSDT-mexc-binance-3-4")
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        assert sim.venues["mexc"].faults.counts["order_unknown"] == 1
        b = cid(db, opp.id, "b")
        assert [cid for cid in sim.venues["mexc"].orders if cid == b] == [b]
        assert len(sim.venues["mexc"].orders) == 1
        assert rows(db, f"SELECT status, filled_qty FROM orders WHERE client_order_id='{b}'") == [
            ("filled", pytest.approx(opp.size))]
    finally:
        await ex.stop()


async def test_against_the_simulator_reconciliation_settles_journaled_orders_from_the_venues(journal, db, sim_venues):
    sim, adapters = sim_venues
    old = sim_opportunity(sim, "BTCUSDT-gateio-binance-0-0", "gateio", "binance")
    landed = OrderIntent(client_order_id=client_order_id(old.id, "b"), opportunity_id=old.id, venue="gateio",
                         symbol="BTC/USDT", side="buy", order_type="ioc", qty=old.size, price=old.buy_price)
    lost = OrderIntent(client_order_id=client_order_id(old.id, "s"), opportunity_id=old.id, venue="binance",
                       symbol="BTC/USDT", side="sell", order_type="ioc", qty=old.size, price=old.sell_price)
    await journal.ask(JournalWrite(records=(old, landed, lost)))
    await adapters["gateio"].place_order(landed)  # reached its venue; the process died before journaling it
    ex = await start_executor(journal, adapters)
    try:
        assert ex.describe().reconciled == 2
        await journal.ask(FlushJournal())
        u = client_order_id(old.id, "u")  # the lone buy, hedged on the sell venue
        assert dict(rows(db, "SELECT client_order_id, status FROM orders")) == {
            landed.client_order_id: "filled", lost.client_order_id: "rejected", u: "filled"}
        assert list(sim.venues["binance"].orders) == [u]
        assert rows(db, "SELECT status FROM opportunities") == [("executed",)]
    finally:
        await ex.stop()


@pytest.mark.parametrize("fault", ["http_5xx", "http_429"])
async def test_a_venue_failing_during_start_up_reconciliation_leaves_its_order_open_and_a_later_pass_settles_it(
        journal, db, sim_venues, fault, caplog):
    """No crash (a restart would ask the failing venue again at once: during an outage the
    executor would crash-loop and take nothing on any venue). The order stays open like an
    unknown leg, with its exposure; passes come after a growing delay until the venue
    answers, then the opportunity is settled as usual."""
    sim, adapters = sim_venues
    old = sim_opportunity(sim, "BTCUSDT-binance-gateio-0-1", "binance", "gateio")
    landed = OrderIntent(client_order_id=client_order_id(old.id, "b"), opportunity_id=old.id, venue="binance",
                         symbol="BTC/USDT", side="buy", order_type="ioc", qty=old.size, price=old.buy_price)
    lost = OrderIntent(client_order_id=client_order_id(old.id, "s"), opportunity_id=old.id, venue="gateio",
                       symbol="BTC/USDT", side="sell", order_type="ioc", qty=old.size, price=old.sell_price)
    await journal.ask(JournalWrite(records=(old, landed, lost)))
    await adapters["binance"].place_order(landed)
    faults = sim.venues["binance"].faults
    faults.inject(fault, count=3)  # the start's pass and the next two fail
    with caplog.at_level("WARNING", logger="arbor.executor"):
        ex = await start_executor(journal, adapters, leg_timeout_s=0.1)
    try:
        assert ex.alive and "could not ask binance" in caplog.text
        status = ex.describe()
        assert status.open_legs == 1 and status.exposure == {"binance": pytest.approx(old.size * old.buy_price)}
        await eventually(lambda: rows(db, "SELECT status FROM opportunities") == [("executed",)], timeout=20,
                         what="a later pass settles the opportunity once binance answers")
        assert faults.counts[fault] == 3 and ex.alive
        assert ex.describe().open_legs == 0
        await journal.ask(FlushJournal())
        u = client_order_id(old.id, "u")
        assert dict(rows(db, "SELECT client_order_id, status FROM orders")) == {
            landed.client_order_id: "filled", lost.client_order_id: "rejected", u: "filled"}
    finally:
        await ex.stop()


# --- reconciliation settles opportunities; unknown outcomes stay open -------------------------


def leg(opp: Opportunity, which: str) -> OrderIntent:
    buy = which == "b"
    return OrderIntent(client_order_id=client_order_id(opp.id, which), opportunity_id=opp.id,
                       venue=opp.buy_venue if buy else opp.sell_venue, symbol=opp.symbol,
                       side="buy" if buy else "sell", order_type="ioc", qty=opp.size,
                       price=opp.buy_price if buy else opp.sell_price)


async def test_reconciliation_hedges_a_lone_landed_leg_and_journals_the_opportunitys_result_and_pnl(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    old = opportunity("BTCUSDT-mexc-gateio-0-0")
    buy, sell = leg(old, "b"), leg(old, "s")
    await journal.ask(JournalWrite(records=(old, buy, sell)))
    await venues["mexc"].place_order(buy)  # only the buy landed before the kill -9
    log.clear()
    ex = await start_executor(journal, venues, unwind_slippage_bps=20.0)
    try:
        await journal.ask(FlushJournal())
        u = client_order_id(old.id, "u")
        hedge_price = 101.0 * (1 - 20e-4)
        assert [(v, what, cid) for v, what, cid in log if what == "place"] == [("gateio", "place", u)]
        assert rows(db, f"SELECT venue, side, qty, price, status FROM orders WHERE client_order_id='{u}'") == [
            ("gateio", "sell", pytest.approx(0.5), pytest.approx(hedge_price), "filled")]
        pnl = 0.5 * hedge_price - 0.5 * 100.0
        assert rows(db, "SELECT status, realised_pnl FROM opportunities") == [("executed", pytest.approx(pnl))]
        status = ex.describe()
        assert (status.reconciled, status.open_legs, status.executed) == (2, 0, 1)
        assert (status.realised_pnl, status.daily_pnl) == (pytest.approx(pnl), pytest.approx(pnl))
    finally:
        await ex.stop()


async def test_reconciliation_settles_an_opportunity_whose_legs_were_final_but_had_no_result(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    old = opportunity("BTCUSDT-mexc-gateio-0-0")
    buy, sell = leg(old, "b"), leg(old, "s")
    filled = [await venues["mexc"].place_order(buy), await venues["gateio"].place_order(sell)]
    fee = msgspec.structs.replace(filled[1], fee=0.05, fee_asset="USDT")
    await journal.ask(JournalWrite(records=(old, buy, sell, filled[0], fee)))  # killed before the result
    log.clear()
    ex = await start_executor(journal, venues)
    try:
        await journal.ask(FlushJournal())
        assert [entry for entry in log if entry[1] in ("place", "query")] == []  # nothing open, nothing to hedge
        assert rows(db, "SELECT status, realised_pnl FROM opportunities") == [
            ("executed", pytest.approx(0.5 * 101.0 - 0.5 * 100.0 - 0.05))]
    finally:
        await ex.stop()


async def test_today_s_realised_loss_from_before_a_restart_still_counts_for_the_daily_limit(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    before = opportunity("BTCUSDT-mexc-gateio-0-0")
    await journal.ask(JournalWrite(records=(before, OpportunityResult(opportunity_id=before.id, status="partial",
                                                                      realised_pnl=-150.0))))
    ex = await start_executor(journal, venues, daily_loss_limit=100.0)
    try:
        assert ex.describe().daily_pnl == pytest.approx(-150.0)
        await ex.ask(opportunity())
        await journal.ask(FlushJournal())
        assert rows(db, f"SELECT status, detail FROM opportunities WHERE id='{jid(db, opportunity().id)}'") == [
            ("rejected_by_risk", "daily_loss_limit")]
    finally:
        await ex.stop()




async def test_a_leg_not_found_after_a_network_error_stays_open_and_is_settled_when_it_lands_late(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    venues["mexc"].slow = 1
    ex = await start_executor(journal, venues, leg_timeout_s=1.0)  # the re-check comes after land()
    try:
        opp = opportunity()
        b = cid(db, opp.id, "b")
        await ex.ask(opp)
        await journal.ask(FlushJournal())
        assert rows(db, f"SELECT status, venue_code FROM orders WHERE client_order_id='{b}'") == [
            ("unknown", "not_found")]
        assert rows(db, "SELECT status FROM opportunities") == [("pending",)]
        status = ex.describe()
        assert (status.open_legs, status.exposure) == (1, {"mexc": pytest.approx(50.0)})
        await venues["mexc"].land()  # the slow venue executes it after all
        # the leg settles first, then the opportunity: wait for both
        await eventually(lambda: ex.describe().open_legs == 0 and ex.describe().executed == 1)
        await journal.ask(FlushJournal())
        assert rows(db, f"SELECT status, filled_qty FROM orders WHERE client_order_id='{b}'") == [("filled", 0.5)]
        assert rows(db, "SELECT status, realised_pnl FROM opportunities") == [("executed", pytest.approx(0.5))]
        assert venues["mexc"].placed == {b: 1}  # queried, never resent
        assert [cid for _, what, cid in log if what == "place" and cid.endswith("u")] == []  # flat: no hedge
        assert ex.describe().daily_pnl == pytest.approx(0.5)
    finally:
        await ex.stop()


async def test_a_leg_still_not_found_a_leg_timeout_later_is_rejected_and_the_other_leg_is_hedged(journal, db):
    log: list = []
    venues = {"mexc": FakeVenue("mexc", log), "gateio": FakeVenue("gateio", log)}
    venues["gateio"].slow = 1  # the sell never lands
    ex = await start_executor(journal, venues, leg_timeout_s=0.3)
    try:
        opp = opportunity()
        s, u = cid(db, opp.id, "s"), cid(db, opp.id, "u")
        await ex.ask(opp)
        assert ex.describe().open_legs == 1
        # the rejection ends the open leg, then the hedge settles the opportunity: wait for both
        await eventually(lambda: ex.describe().open_legs == 0 and ex.describe().executed == 1)
        await journal.ask(FlushJournal())
        assert dict(rows(db, "SELECT client_order_id, status FROM orders")) == {
            cid(db, opp.id, "b"): "filled", s: "rejected", u: "filled"}
        hedge_price = 101.0 * (1 - 20e-4)
        assert rows(db, "SELECT status, realised_pnl FROM opportunities") == [
            ("executed", pytest.approx(0.5 * hedge_price - 50.0))]
    finally:
        await ex.stop()
