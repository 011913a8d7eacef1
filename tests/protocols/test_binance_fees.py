"""Arbor's Binance adapter against the simulator: an order read back (``GET``/``DELETE
/api/v3/order``, whose replies have no fills) carries the exact fee the venue charged, read
from the order's trades, in quote, base or BNB, over every trade of a partial fill; a
transient error reading the trades leaves the fee unreported (the executor estimates it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from protocols.binance import BinanceVenue
from protocols.messages import OrderIntent
from simulator import SimConfig, Simulator

SYMBOL = "BTC/USDT"


@pytest.fixture(params=["received", "BNB"])
async def sim(request) -> AsyncIterator[Simulator]:
    """Fees in the asset received (a buy pays BTC, a sell USDT), or in BNB ("pay fees with BNB")."""
    bnb = request.param == "BNB"
    cfg = SimConfig(seed=5, symbols=(SYMBOL, "BNB/USDT"), venues=("binance",),
                    fee_assets={"binance": "BNB"} if bnb else {},
                    balances={"BTC": 10.0, "USDT": 1_000_000.0, "BNB": 100.0 if bnb else 0.0})
    async with Simulator(cfg) as s:
        s.pause()  # the book only changes through our orders
        yield s


@pytest.fixture
async def venue(sim: Simulator) -> AsyncIterator[BinanceVenue]:
    server = sim.venues["binance"]
    adapter = BinanceVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=(SYMBOL,),
                           credentials=server.credentials)
    try:
        yield adapter
    finally:
        await adapter.close()


def sweeping_ioc(sim: Simulator, cid: str, side: str, levels: int = 3, extra: float = 0.0) -> OrderIntent:
    """An IOC that takes the best ``levels`` levels of the other side (one trade each), asking
    ``extra`` more than they hold (that part expires: a partial fill)."""
    bids, asks = sim.venues["binance"].book(SYMBOL)
    book = asks if side == "buy" else bids
    qty = round(sum(q for _, q in book[:levels]) + extra, 5)
    return OrderIntent(client_order_id=cid, opportunity_id="o", venue="binance", symbol=SYMBOL, side=side,
                       order_type="ioc", qty=qty, price=book[levels - 1][0])


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("extra", [0.0, 0.5])
async def test_an_order_read_back_carries_the_exact_fee_summed_over_its_trades(sim, venue, side, extra) -> None:
    server = sim.venues["binance"]
    placed = await venue.place_order(sweeping_ioc(sim, "fee-1", side, extra=extra))
    read = await venue.order_by_client_id(SYMBOL, "fee-1")
    o = server.orders["fee-1"]
    assert len(o.fills) == 3 and read.status == ("filled" if not extra else "expired")
    asset = "BNB" if sim.cfg.fee_assets else "BTC" if side == "buy" else "USDT"
    assert o.fee_asset == asset  # the simulator charged what the parameter says
    # the read back (no fills in the reply) and the placing answer (FULL fills) agree with the venue
    for update in (read, placed):
        assert (update.fee, update.fee_asset) == (pytest.approx(o.fee, rel=1e-6), asset)
        assert update.filled_qty == pytest.approx(o.filled * server.books[SYMBOL].spec.step)


async def test_a_cancelled_partly_filled_order_carries_the_fee_of_what_filled(sim, venue) -> None:
    server = sim.venues["binance"]
    # a GTC buy through the best two asks for more than they hold: two trades, the rest rests
    sweep = sweeping_ioc(sim, "rest-1", "buy", levels=2, extra=0.5)
    placed = await venue.place_order(msgspec.structs.replace(sweep, order_type="limit"))
    assert placed.status == "partially_filled"
    cancelled = await venue.cancel_order(SYMBOL, "rest-1")
    o = server.orders["rest-1"]
    assert cancelled.status == "canceled" and len(o.fills) == 2 and o.fee > 0
    assert (cancelled.fee, cancelled.fee_asset) == (pytest.approx(o.fee, rel=1e-6), o.fee_asset)


async def test_trades_unreadable_leave_the_fee_unreported_with_a_warning_and_a_later_read_is_exact(
        sim, venue, caplog) -> None:
    server = sim.venues["binance"]
    await venue.place_order(sweeping_ioc(sim, "fee-2", "sell"))
    server.faults.inject("trades_5xx")
    with caplog.at_level("WARNING", logger="arbor.fees"):
        read = await venue.order_by_client_id(SYMBOL, "fee-2")
    o = server.orders["fee-2"]
    assert server.faults.counts["trades_5xx"] == 1
    assert (read.status, read.fee, read.fee_asset) == ("filled", 0.0, "")  # state known, fee unreported
    assert f"binance order {o.order_id} (fee-2)" in caplog.text
    again = await venue.order_by_client_id(SYMBOL, "fee-2")
    assert (again.fee, again.fee_asset) == (pytest.approx(o.fee, rel=1e-6), o.fee_asset)
