"""The simulated Binance as ccxt (async REST) and ccxt.pro (WebSocket) see it, with only their
URLs and keys set: a failure here is a simulator bug unless the real venue answers the same."""

from __future__ import annotations

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
    async with ccxt_on(sim, "binance") as c:
        markets = await c.ex.load_markets()  # exchangeInfo, capital/config/getall, margin pair lists
        assert {"BTC/USDT", "ETH/USDT"} <= set(markets) and markets[SYMBOL]["active"]
        assert markets[SYMBOL]["precision"]["price"] == 0.01 and markets[SYMBOL]["limits"]["cost"]["min"] == 5.0
        assert c.ex.currencies["BTC"]["networks"]
        book = await c.ex.fetch_order_book(SYMBOL, 5)
        assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0] and book["nonce"] > 0
        assert (await c.ex.fetch_balance())["USDT"]["free"] == 1_000_000.0
        ticker = await c.ex.fetch_ticker(SYMBOL)
        assert ticker["bid"] < ticker["ask"]
        assert (await c.ex.fetch_trading_fee(SYMBOL))["taker"] == 0.001
        assert set(await c.ex.fetch_trading_fees()) >= {"BTC/USDT", "ETH/USDT"}
        ask = book["asks"][0][0]
        placed = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(ask * 1.01, 2), {"timeInForce": "IOC"})
        trades = await c.ex.fetch_my_trades(SYMBOL)
        assert [t["order"] for t in trades] == [placed["id"]] * len(trades)
        assert sum(t["amount"] for t in trades) == pytest.approx(0.001)
        assert trades[0]["fee"]["currency"] == "BTC" and trades[0]["fee"]["cost"] > 0
        c.assert_loopback_only()


async def test_limit_gtc_and_ioc_are_placed_queried_and_cancelled(sim: Simulator) -> None:
    async with ccxt_on(sim, "binance") as c:
        await c.ex.load_markets()
        book = await c.ex.fetch_order_book(SYMBOL, 5)
        gtc = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(book["bids"][0][0] * 0.9, 2))
        assert (await c.ex.fetch_order(gtc["id"], SYMBOL))["status"] == "open"
        await c.ex.cancel_order(gtc["id"], SYMBOL)
        assert (await c.ex.fetch_order(gtc["id"], SYMBOL))["status"] == "canceled"
        ioc = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, round(book["asks"][0][0] * 1.01, 2),
                                      {"timeInForce": "IOC"})
        done = await c.ex.fetch_order(ioc["id"], SYMBOL)
        assert (done["status"], done["filled"], done["timeInForce"]) == ("closed", 0.001, "IOC")
        c.assert_loopback_only()


async def test_post_only_limit_maker_and_fok_behave_as_advertised(sim: Simulator) -> None:
    async with ccxt_on(sim, "binance") as c:
        await c.ex.load_markets()
        assert "LIMIT_MAKER" in c.ex.markets[SYMBOL]["info"]["orderTypes"]
        sim.pause()
        book = await c.ex.fetch_order_book(SYMBOL, 5)
        bid, ask = book["bids"][0][0], book["asks"][0][0]
        maker = await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, bid, {"postOnly": True})
        assert (await c.ex.fetch_order(maker["id"], SYMBOL))["info"]["type"] == "LIMIT_MAKER"
        with pytest.raises(ccxt.InvalidOrder, match="Order would immediately match and take"):
            await c.ex.create_order(SYMBOL, "limit", "buy", 0.001, ask, {"postOnly": True})
        killed = await c.ex.create_order(SYMBOL, "limit", "buy", 5.0, ask, {"timeInForce": "FOK"})
        assert (killed["status"], killed["filled"]) == ("expired", 0.0)


async def test_an_unknown_order_is_order_not_found(sim: Simulator) -> None:
    async with ccxt_on(sim, "binance") as c:
        await c.ex.load_markets()
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            await c.ex.fetch_order("999", SYMBOL)
        with pytest.raises(ccxt.OrderNotFound, match="-2011"):  # binance.md §3.3: CANCEL_REJECTED
            await c.ex.cancel_order("999", SYMBOL)


async def test_watch_order_book_outlives_the_server_ping_interval_on_one_socket(sim: Simulator) -> None:
    """Server pings every 0.3 s here (20 s live): ccxt.pro answers them and keeps its socket."""
    venue = sim.venues["binance"]
    async with ccxt_on(sim, "binance") as c:
        assert await watch_for(c, SYMBOL, 5 * FAST_RULES.ws_ping_interval_s) > 5
        assert venue.ws_accepted == 1 and venue.rule_closes == {}
        c.assert_loopback_only()


async def test_more_than_five_messages_a_second_close_the_socket(sim: Simulator) -> None:
    venue = sim.venues["binance"]
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{venue.ws_url}/ws") as ws:
        for i in range(6):
            await ws.send_str(msgspec.json.encode({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
        kinds = [(await ws.receive(timeout=5)).type for _ in range(6)]
        assert kinds == [aiohttp.WSMsgType.TEXT] * 5 + [aiohttp.WSMsgType.CLOSE]
    assert venue.rule_closes == {"ws_messages_per_s": 1}


async def test_requests_made_while_rate_limited_end_in_a_418_ban() -> None:
    cfg = msgspec.structs.replace(FAST_RULES, binance_weight_per_min=20, binance_requests_after_429=2)
    async with simulator(cfg) as sim, aiohttp.ClientSession() as http:
        url = f"{sim.venues['binance'].rest_url}/api/v3/exchangeInfo"  # weight 20: the window is full
        statuses = []
        for _ in range(5):
            async with http.get(url) as r:
                statuses.append(r.status)
                body, retry = await r.json(), int(r.headers.get("Retry-After", "0"))
        assert statuses == [200, 429, 429, 418, 418]
        assert body["code"] == -1003 and "IP banned until" in body["msg"] and retry >= 100
