"""The simulated MEXC as ccxt (async REST) and ccxt.pro (WebSocket) see it, with only their
URLs and keys set: a failure here is a simulator bug unless the real venue answers the same."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import ccxt
import pytest
from ccxt_support import FAST_RULES, ccxt_on, simulator, watch_for

from simulator import Simulator

SYMBOL = "BTC/USDT"


@pytest.fixture
async def sim():
    async with simulator() as s:
        yield s


async def test_load_markets_order_book_balance_tickers_and_fee_work_against_loopback_only(sim: Simulator) -> None:
    async with ccxt_on(sim, "mexc") as c:
        markets = await c.ex.load_markets()
        assert {"BTC/USDT", "ETH/USDT"} <= set(markets) and markets[SYMBOL]["active"] and markets[SYMBOL]["spot"]
        assert markets[SYMBOL]["precision"]["price"] == 0.01  # 10^-quotePrecision
        assert c.ex.currencies["USDT"]["networks"]  # from /api/v3/capital/config/getall
        book = await c.ex.fetch_order_book(SYMBOL, 5)
        assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
        assert book["timestamp"] is not None  # the live venue's depth reply has "timestamp"
        balance = await c.ex.fetch_balance()
        assert balance["USDT"]["free"] == 1_000_000.0 and balance["BTC"]["total"] == 10.0
        ticker = await c.ex.fetch_ticker(SYMBOL)
        assert ticker["bid"] < ticker["ask"] and ticker["last"] == ticker["bid"]
        assert set(await c.ex.fetch_tickers()) == {"BTC/USDT", "ETH/USDT"}
        fee = await c.ex.fetch_trading_fee(SYMBOL)
        assert (fee["maker"], fee["taker"]) == (0.0, 0.0005)
        c.assert_loopback_only()


async def test_limit_gtc_is_placed_queried_and_cancelled_and_reports_a_null_client_id(sim: Simulator) -> None:
    async with ccxt_on(sim, "mexc") as c:
        await c.ex.load_markets()
        bid = (await c.ex.fetch_order_book(SYMBOL, 5))["bids"][0][0]
        placed = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(bid * 0.9, 2))
        assert placed["clientOrderId"] is None  # placed without one: the venue answers null
        fetched = await c.ex.fetch_order(placed["id"], SYMBOL)
        assert (fetched["status"], fetched["filled"], fetched["clientOrderId"]) == ("open", 0.0, None)
        assert [o["id"] for o in await c.ex.fetch_open_orders(SYMBOL)] == [placed["id"]]
        await c.ex.cancel_order(placed["id"], SYMBOL)
        assert (await c.ex.fetch_order(placed["id"], SYMBOL))["status"] == "canceled"
        c.assert_loopback_only()


async def test_limit_ioc_takes_the_book_and_keeps_its_client_id(sim: Simulator) -> None:
    async with ccxt_on(sim, "mexc") as c:
        await c.ex.load_markets()
        ask = (await c.ex.fetch_order_book(SYMBOL, 5))["asks"][0][0]
        placed = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(ask * 1.01, 2),
                                         {"timeInForce": "IOC", "clientOrderId": "mine-1"})
        order = await c.ex.fetch_order(placed["id"], SYMBOL)
        assert (order["status"], order["filled"], order["clientOrderId"]) == ("closed", 0.001, "mine-1")
        assert order["timeInForce"] == "IOC"


async def test_post_only_rests_or_is_refused_and_fok_fills_whole_or_nothing(sim: Simulator) -> None:
    async with ccxt_on(sim, "mexc") as c:
        await c.ex.load_markets()
        sim.pause()  # the book holds still between reading it and ordering against it
        book = await c.ex.fetch_order_book(SYMBOL, 5)
        bid, ask = book["bids"][0][0], book["asks"][0][0]
        resting = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, bid, {"postOnly": True})
        assert (await c.ex.fetch_order(resting["id"], SYMBOL))["status"] == "open"
        with pytest.raises(ccxt.ExchangeError, match="would immediately match"):
            await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, ask, {"postOnly": True})
        too_big = await c.ex.create_order(SYMBOL, "limit", "buy", 5.0, ask, {"timeInForce": "FOK"})
        killed = await c.ex.fetch_order(too_big["id"], SYMBOL)
        assert (killed["status"], killed["filled"]) == ("canceled", 0.0)
        whole = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, ask, {"timeInForce": "FOK"})
        assert (await c.ex.fetch_order(whole["id"], SYMBOL))["filled"] == 0.001


async def test_an_unknown_order_is_the_live_venues_minus_2013(sim: Simulator) -> None:
    async with ccxt_on(sim, "mexc") as c:
        await c.ex.load_markets()
        # ccxt 4.5.90 maps no MEXC -2013: ExchangeError with the venue's own body, as live
        with pytest.raises(ccxt.ExchangeError, match=re.escape('"code": -2013, "msg": "Order does not exist."')):
            await c.ex.fetch_order("C02__0000000000000000000000000", SYMBOL)


async def test_my_trades_lists_the_fills(sim: Simulator) -> None:
    async with ccxt_on(sim, "mexc") as c:
        await c.ex.load_markets()
        ask = (await c.ex.fetch_order_book(SYMBOL, 5))["asks"][0][0]
        await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(ask * 1.01, 2), {"timeInForce": "IOC"})
        assert (await c.ex.fetch_my_trades(SYMBOL))[0]["amount"] == 0.001


async def test_watch_order_book_outlives_the_idle_timeouts_on_one_socket(sim: Simulator) -> None:
    """Shortened MEXC rules (0.6 s unsubscribed / no data): ccxt.pro's subscription and the
    pushes keep its one socket open for three times that."""
    venue = sim.venues["mexc"]
    async with ccxt_on(sim, "mexc") as c:
        assert await watch_for(c, SYMBOL, 3 * FAST_RULES.mexc_idle_no_data_s) > 10  # type: ignore[operator]
        assert venue.ws_accepted == 1 and venue.rule_closes == {}
        c.assert_loopback_only()


async def test_ccxt_pro_keepalive_pings_are_answered_and_hold_a_silent_socket_open(sim: Simulator) -> None:
    """The live rule (60 s silent) against ccxt.pro's keepalive (a lower-case ping every 8 s,
    the socket dropped after two missed PONGs), both scaled by 1/100; the market is paused, so
    only the pings and their PONGs flow."""
    venue = sim.venues["mexc"]
    async with ccxt_on(sim, "mexc") as c:
        c.ex.streaming["keepAlive"] = 80  # ms, 8 s / 100
        await watch_for(c, SYMBOL, 0.1)
        (client,) = c.ex.clients.values()
        sim.pause()
        first_pong = client.lastPong
        await asyncio.sleep(3 * FAST_RULES.mexc_idle_no_data_s)  # type: ignore[operator]  # the silence is the test
        assert not client.closed() and client.lastPong > (first_pong or 0)
        assert venue.ws_accepted == 1 and venue.rule_closes == {}


async def test_the_venue_closes_a_socket_without_subscription_and_a_silent_subscribed_one(sim: Simulator) -> None:
    venue = sim.venues["mexc"]
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(venue.ws_url) as idle:
            assert (await idle.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
        sim.pause()  # nothing pushed: only the client can keep the socket alive, by PING
        async with http.ws_connect(venue.ws_url) as quiet:
            await quiet.send_str(
                '{"method":"SUBSCRIPTION","params":["spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"]}')
            assert (await quiet.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT  # the ack
            assert (await quiet.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    assert venue.rule_closes == {"idle_unsubscribed": 1, "idle_no_data": 1}


async def test_a_pinging_subscribed_socket_stays_open_while_nothing_is_pushed(sim: Simulator) -> None:
    venue = sim.venues["mexc"]
    sim.pause()
    async with aiohttp.ClientSession() as http, http.ws_connect(venue.ws_url) as ws:
        await ws.send_str('{"method":"SUBSCRIPTION","params":["spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"]}')
        await ws.receive(timeout=5)
        for _ in range(int(3 * FAST_RULES.mexc_idle_no_data_s / 0.2)):  # type: ignore[operator]
            # ccxt.pro's keepalive frame, lower case; the live venue answers PONG
            await ws.send_str('{"method":"ping"}')
            assert (await ws.receive(timeout=5)).data == '{"id":0,"code":0,"msg":"PONG"}'
            await asyncio.sleep(0.2)  # the idle time is what is tested: a third of the 0.6 s rule
        assert not ws.closed and venue.rule_closes == {}
