"""A leg's first answer is whichever comes first of its WebSocket API reply and its final state
pushed on the private stream, against the real simulator, account actor, order gateway and
SQLite journal: a held reply (``order_latency``) loses to the push, a held push
(``private_delay``) loses to the reply; either way the journal holds the order once, its fill
once, and the leg's timeline names the winner. Binance (executionReport), Gate.io
(spot.orders) and MEXC (REST order entry; privateOrders + privateDeals pushes) alike."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest

from actors import spawn
from actors.account import AccountActor, AccountBoard
from actors.journal import JournalActor, write
from actors.legs import LegSender
from actors.order_gateway import OrderChannel, OrderGatewayActor, WsFirstVenue
from protocols.binance import BinanceVenue
from protocols.gateio import GateVenue
from protocols.messages import FlushJournal, OrderIntent
from protocols.mexc import MexcVenue
from simulator import SimConfig, Simulator
from testkit import eventually

SYMBOL = "BTC/USDT"
ADAPTERS = {"binance": BinanceVenue, "gateio": GateVenue, "mexc": MexcVenue}
HELD_S = 1.0  # a held reply or push: far longer than a loopback round trip, short for a test


@asynccontextmanager
async def rig(tmp_path: Path, venue: str) -> AsyncIterator[tuple]:
    cfg = SimConfig(seed=3, symbols=(SYMBOL,), venues=(venue,), fault_latency_s=HELD_S,
                    fault_order_latency_s=HELD_S)
    async with Simulator(cfg) as sim:
        server = sim.venues[venue]
        adapter = ADAPTERS[venue](rest_url=server.rest_url, ws_url=server.ws_url, symbols=(SYMBOL,),
                                  credentials=server.credentials)
        await adapter.symbol_info([SYMBOL])
        board, channel = AccountBoard(), OrderChannel(venue)
        refs = []
        try:
            refs.append(await spawn(lambda: JournalActor(path=str(tmp_path / "j.sqlite")), name="journal"))
            refs.append(await spawn(lambda: AccountActor(venue=adapter, codec=adapter.private_stream(), board=board),
                                    name=f"{venue}/account"))
            if hasattr(adapter, "ws_orders"):
                refs.append(await spawn(lambda: OrderGatewayActor(venue=adapter, codec=adapter.ws_orders(),
                                                                  channel=channel), name=f"{venue}/orders"))
            legs = LegSender(journal=refs[0], dry_run={venue: False}, leg_timeout_s=5.0,
                             stream=lambda v, c: None, watch=board.watch, unwatch=board.unwatch)
            orders = WsFirstVenue(adapter, channel) if hasattr(adapter, "ws_orders") else adapter  # MEXC: REST
            yield server, orders, legs, refs[0], board
        finally:
            for ref in reversed(refs):
                if ref.alive:
                    await ref.stop()
            await adapter.close()


def rows(tmp_path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(tmp_path / "j.sqlite")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["binance", "gateio", "mexc"])
@pytest.mark.parametrize(("fault", "winner"), [("order_latency", "stream"), ("private_delay", "reply")])
async def test_the_first_of_reply_and_push_settles_the_leg_and_the_journal_records_both_once(
        tmp_path: Path, fault: str, winner: str, name: str) -> None:
    async with rig(tmp_path, name) as (server, venue, legs, journal, board):
        _, asks = server.book(SYMBOL)
        intent = OrderIntent(client_order_id="race-1", opportunity_id="o", venue=name, symbol=SYMBOL,
                             side="buy", order_type="ioc", qty=0.001, price=asks[0][0])
        await write(journal, intent)
        server.faults.inject(fault)
        [update] = await legs.send_all([(venue, intent)], detected_ns=1, intent_ns=2)
        assert isinstance(update, msgspec.Struct) and update.final and update.filled_qty == pytest.approx(0.001)
        assert server.faults.counts[fault] == 1
        assert legs.first_from_stream == (winner == "stream")
        assert len(legs.late) == (winner == "stream")  # the losing reply, still on its way
        await legs.settle_late()  # waits for the held reply, journals it: idempotent
        assert legs.late == []
        await eventually(lambda: (v := board.get(name)) is not None and "race-1" in v.orders, timeout=5,
                         what="the (possibly held) push reached the view")
        await journal.ask(FlushJournal())
        assert rows(tmp_path, "SELECT status, filled_qty FROM orders") == [("filled", pytest.approx(0.001))]
        assert rows(tmp_path, "SELECT client_order_id, qty FROM fills") == [("race-1", pytest.approx(0.001))]
        [(detected, intent_ns, sent, ack, fill, source)] = rows(
            tmp_path, "SELECT detected_ns, intent_ns, sent_ns, ack_ns, fill_ns, ack_source FROM orders")
        assert (detected, intent_ns, source) == (1, 2, winner)
        assert 0 < sent <= ack <= fill
        assert len(server.orders) == 1


@pytest.mark.parametrize("name", ["binance", "gateio", "mexc"])
async def test_a_leg_that_walks_several_levels_and_is_settled_by_the_push_carries_the_whole_fee(
        tmp_path: Path, name: str) -> None:
    """Binance reports each fill's commission on its own ``executionReport``, MEXC on its own
    ``privateDeals`` push (after the order's state): the leg settled by the push (its reply
    held) is charged the sum, what the venue charged, not the last fill's nor an estimate."""
    async with rig(tmp_path, name) as (server, venue, legs, journal, _):
        _, asks = server.book(SYMBOL)
        qty = round(asks[0][1] + asks[1][1] + asks[2][1] / 2, 6)  # three fills, the third partial
        intent = OrderIntent(client_order_id="walk-1", opportunity_id="o", venue=name, symbol=SYMBOL,
                             side="buy", order_type="ioc", qty=qty, price=asks[2][0])
        await write(journal, intent)
        server.faults.inject("order_latency")
        [update] = await legs.send_all([(venue, intent)], detected_ns=1, intent_ns=2)
        assert legs.first_from_stream == 1, "the held reply lost to the push"
        [order] = server.orders.values()
        assert len(order.fills) == 3
        assert isinstance(update, msgspec.Struct) and update.filled_qty > asks[0][1] + asks[1][1]
        assert (update.fee, update.fee_asset) == (pytest.approx(order.fee, rel=1e-6), order.fee_asset)
        await legs.settle_late()  # the held reply (MEXC's: "new", nothing filled) changes nothing
        await journal.ask(FlushJournal())
        fee = (pytest.approx(order.fee, rel=1e-6), order.fee_asset)
        assert rows(tmp_path, "SELECT status, filled_qty, fee, fee_asset FROM orders") == [
            ("filled", pytest.approx(update.filled_qty), *fee)]
        assert rows(tmp_path, "SELECT client_order_id, qty, fee, fee_asset FROM fills") == [
            ("walk-1", pytest.approx(update.filled_qty), *fee)]
