"""The simulated Gate.io as ccxt (async REST) and ccxt.pro (WebSocket) see it, with only their
URLs and keys set: a failure here is a simulator bug unless the real venue answers the same."""

from __future__ import annotations

import time

import aiohttp
import ccxt
import msgspec
import pytest
from ccxt_support import FAST_RULES, ccxt_on, simulator, watch_for

from simulator import Simulator

SYMBOL = "BTC/USDT"


@pytest.fixture
async def sim():
    async with simulator() as s:
        yield s


async def test_load_markets_order_book_balance_tickers_fees_and_trades_work_against_loopback_only(
        sim: Simulator) -> None:
    async with ccxt_on(sim, "gate") as c:
        markets = await c.ex.load_markets()  # currency_pairs, margin/currency_pairs, spot/currencies
        assert {"BTC/USDT", "ETH/USDT"} <= set(markets) and markets[SYMBOL]["active"]
        assert markets[SYMBOL]["precision"]["price"] == 0.01
        assert "USDT" in c.ex.currencies
        book = await c.ex.fetch_order_book(SYMBOL, 5)
        assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
        assert (await c.ex.fetch_balance())["USDT"]["free"] == 1_000_000.0
        ticker = await c.ex.fetch_ticker(SYMBOL)
        assert ticker["bid"] < ticker["ask"]
        assert (await c.ex.fetch_trading_fee(SYMBOL))["taker"] == 0.001  # GET /wallet/fee
        ask = book["asks"][0][0]
        placed = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(ask * 1.01, 2), {"timeInForce": "IOC"})
        trades = await c.ex.fetch_my_trades(SYMBOL)
        assert {t["order"] for t in trades} == {placed["id"]}
        assert sum(t["amount"] for t in trades) == pytest.approx(0.001)
        c.assert_loopback_only()


async def test_limit_gtc_and_ioc_are_placed_queried_and_cancelled_and_no_text_reads_apiv4(sim: Simulator) -> None:
    async with ccxt_on(sim, "gate") as c:
        await c.ex.load_markets()
        book = await c.ex.fetch_order_book(SYMBOL, 5)
        gtc = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(book["bids"][0][0] * 0.9, 2))
        fetched = await c.ex.fetch_order(gtc["id"], SYMBOL)
        assert (fetched["status"], fetched["clientOrderId"]) == ("open", "apiv4")  # GATEIO.rest.ccxt.json
        await c.ex.cancel_order(gtc["id"], SYMBOL)
        assert (await c.ex.fetch_order(gtc["id"], SYMBOL))["status"] == "canceled"
        ioc = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(book["asks"][0][0] * 1.01, 2),
                                      {"timeInForce": "IOC", "clientOrderId": "t-mine1"})
        done = await c.ex.fetch_order(ioc["id"], SYMBOL)
        assert (done["status"], done["filled"], done["clientOrderId"]) == ("closed", 0.001, "t-mine1")
        c.assert_loopback_only()


async def test_poc_and_fok_behave_as_documented(sim: Simulator) -> None:
    async with ccxt_on(sim, "gate") as c:
        await c.ex.load_markets()
        sim.pause()
        book = await c.ex.fetch_order_book(SYMBOL, 5)
        bid, ask = book["bids"][0][0], book["asks"][0][0]
        maker = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, bid, {"postOnly": True})
        assert (await c.ex.fetch_order(maker["id"], SYMBOL))["info"]["time_in_force"] == "poc"
        with pytest.raises(ccxt.ExchangeError, match="POC_FILL_IMMEDIATELY"):
            await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, ask, {"postOnly": True})
        killed = await c.ex.create_order(SYMBOL, "limit", "buy", 5.0, ask, {"timeInForce": "FOK"})
        # Gate: status "cancelled", finish_as "fok" (not filled at once); ccxt 4.5.90 reports
        # finish_as as the status there, as it would for the live venue's answer
        assert (killed["info"]["status"], killed["info"]["finish_as"], killed["filled"]) == ("cancelled", "fok", 0.0)


async def test_an_unknown_order_is_order_not_found(sim: Simulator) -> None:
    async with ccxt_on(sim, "gate") as c:
        await c.ex.load_markets()
        with pytest.raises(ccxt.OrderNotFound, match="ORDER_NOT_FOUND"):
            await c.ex.fetch_order("123", SYMBOL)


async def test_watch_order_book_on_spot_obu_outlives_the_server_ping_interval_on_one_socket(sim: Simulator) -> None:
    """ccxt.pro subscribes spot.obu ob.BTC_USDT.50; server pings every 0.3 s here."""
    venue = sim.venues["gateio"]
    async with ccxt_on(sim, "gate") as c:
        assert await watch_for(c, SYMBOL, 5 * FAST_RULES.ws_ping_interval_s) > 5
        assert venue.ws_accepted == 1
        assert [n for conn in venue.conns for n in conn.names.values()] == ["ob.BTC_USDT.50"]
        c.assert_loopback_only()


async def test_obu_stream_first_push_is_full_then_contiguous_and_subscribing_twice_is_refused(sim: Simulator) -> None:
    venue = sim.venues["gateio"]
    sub = {"time": 0, "channel": "spot.obu", "event": "subscribe", "payload": ["ob.BTC_USDT.50"]}
    async with aiohttp.ClientSession() as http, http.ws_connect(venue.ws_url) as ws:
        sub["time"] = int(time.time())
        await ws.send_str(msgspec.json.encode(sub).decode())
        ack = msgspec.json.decode((await ws.receive(timeout=5)).data)
        assert ack["error"] is None and ack["result"] == {"status": "success"}
        first = msgspec.json.decode((await ws.receive(timeout=5)).data)["result"]
        assert first["full"] is True and "U" not in first and len(first["b"]) == len(first["a"]) == 50
        last = first["u"]
        for _ in range(10):
            push = msgspec.json.decode((await ws.receive(timeout=5)).data)["result"]
            assert "full" not in push and push["U"] == last + 1 and push["u"] >= push["U"]
            last = push["u"]
        await ws.send_str(msgspec.json.encode(sub).decode())
        while (reply := msgspec.json.decode((await ws.receive(timeout=5)).data))["event"] != "subscribe":
            pass
        assert reply["error"] == {"code": 2, "message": "Alert sub ob.BTC_USDT.50"}
