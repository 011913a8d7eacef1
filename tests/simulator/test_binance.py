"""The simulated Binance, driven by an independent client written here from
shared/venues/binance.md (not the engine's adapter)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

import aiohttp
import msgspec
import pytest

from protocols.signing import hmac_sha256_hex


class BookClient:
    """Binance §3.2: buffer the stream, snapshot, drop u <= lastUpdateId, apply with U/u checks."""

    def __init__(self, http: aiohttp.ClientSession, venue, symbol: str = "BTCUSDT") -> None:
        self.http, self.venue, self.symbol = http, venue, symbol
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.last = 0
        self.events: list[dict] = []
        self.raw: list[str] = []
        self.gaps = 0

    async def connect(self):
        return await self.http.ws_connect(f"{self.venue.ws_url}/stream?streams={self.symbol.lower()}@depth@100ms")

    async def next_event(self, ws) -> dict:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        self.raw.append(msg.data)
        return msgspec.json.decode(msg.data)["data"]

    async def sync(self, ws) -> None:
        first = await self.next_event(ws)
        buffered = [first]
        snap = await (await self.http.get(f"{self.venue.rest_url}/api/v3/depth",
                                          params={"symbol": self.symbol, "limit": "5000"})).json()
        while snap["lastUpdateId"] < first["U"]:
            snap = await (await self.http.get(f"{self.venue.rest_url}/api/v3/depth",
                                              params={"symbol": self.symbol, "limit": "5000"})).json()
        self.bids = {float(p): float(q) for p, q in snap["bids"]}
        self.asks = {float(p): float(q) for p, q in snap["asks"]}
        self.last = snap["lastUpdateId"]
        for ev in buffered:
            self.apply(ev)

    def apply(self, ev: dict) -> bool:
        if ev["u"] <= self.last:
            return True
        if ev["U"] > self.last + 1:
            self.gaps += 1
            return False
        for side, key in ((self.bids, "b"), (self.asks, "a")):
            for p, q in ev[key]:
                if float(q) == 0:
                    side.pop(float(p), None)
                else:
                    side[float(p)] = float(q)
        self.last = ev["u"]
        return True

    async def follow_until(self, ws, seq: int) -> None:
        while self.last < seq:
            assert self.apply(await self.next_event(ws)), "gap while following"

    def book(self):
        return (tuple(sorted(self.bids.items(), reverse=True)), tuple(sorted(self.asks.items())))


def signed(venue, params: dict, *, secret: str | None = None, ts: int | None = None) -> tuple[str, dict]:
    params = {**params, "recvWindow": "5000", "timestamp": str(ts if ts is not None else int(time.time() * 1000))}
    query = urlencode(params)
    sig = hmac_sha256_hex(secret or venue.credentials.secret, query)
    return f"{query}&signature={sig}", {"X-MBX-APIKEY": venue.credentials.api_key}


async def place(http, venue, params: dict, **kw) -> tuple[int, dict]:
    query, headers = signed(venue, params, **kw)
    async with http.post(f"{venue.rest_url}/api/v3/order?{query}", headers=headers) as r:
        return r.status, await r.json()


async def test_client_following_the_documented_sync_ends_with_the_simulators_book(sim, http):
    v = sim.venues["binance"]
    client = BookClient(http, v)
    async with await client.connect() as ws:
        await client.sync(ws)
        for _ in range(10):  # live updates keep applying without gaps
            assert client.apply(await client.next_event(ws))
        sim.pause()
        await client.follow_until(ws, v.seq("BTC/USDT"))
        assert client.book() == v.book("BTC/USDT")
        assert len(client.bids) > 500 and client.gaps == 0


async def test_signed_market_buy_fills_changes_balances_and_consumed_liquidity_shows_in_the_stream(sim, http):
    v = sim.venues["binance"]
    client = BookClient(http, v)
    async with await client.connect() as ws:
        await client.sync(ws)
        sim.pause()
        await client.follow_until(ws, v.seq("BTC/USDT"))
        best_ask = client.book()[1][0]
        usdt0, btc0 = v.balances["USDT"][0], v.balances["BTC"][0]
        status, body = await place(http, v, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                             "quoteOrderQty": "200000", "newClientOrderId": "arb-1"})
        assert status == 200, body
        assert body["status"] == "FILLED" and body["clientOrderId"] == "arb-1" and isinstance(body["orderId"], int)
        assert len(body["fills"]) > 1  # walked several levels
        assert v.balances["USDT"][0] < usdt0 - 150_000 and v.balances["BTC"][0] > btc0
        await client.follow_until(ws, v.seq("BTC/USDT"))
        assert client.book() == v.book("BTC/USDT")
        assert client.book()[1][0][0] > best_ask[0]  # the touch was consumed
        async with http.get(f"{v.rest_url}/api/v3/order?" + signed(v, {"symbol": "BTCUSDT",
                            "origClientOrderId": "arb-1"})[0], headers=signed(v, {})[1]) as r:
            assert (await r.json())["status"] == "FILLED"


async def test_limit_gtc_rests_then_cancels_and_ioc_expires(sim, http):
    v = sim.venues["binance"]
    bid = v.book("BTC/USDT")[0][0][0]
    far = f"{bid * 0.98:.2f}"
    status, body = await place(http, v, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                         "quantity": "0.01000", "price": far, "newClientOrderId": "rest-1"})
    assert status == 200 and body["status"] == "NEW"
    assert v.balances["USDT"][1] > 0  # locked
    query, headers = signed(v, {"symbol": "BTCUSDT", "origClientOrderId": "rest-1"})
    async with http.delete(f"{v.rest_url}/api/v3/order?{query}", headers=headers) as r:
        assert r.status == 200 and (await r.json())["status"] == "CANCELED"
    assert v.balances["USDT"][1] == pytest.approx(0.0, abs=1e-6)
    status, body = await place(http, v, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "IOC",
                                         "quantity": "0.01000", "price": f"{bid * 1.02:.2f}"})
    assert status == 200 and body["status"] == "EXPIRED" and body["executedQty"] == "0.00000000"


@pytest.mark.parametrize(
    ("params", "kw", "code"),
    [
        ({"quantity": "0.001", "price": "1000.00"}, {"secret": "wrong"}, -1022),
        ({"quantity": "0.001", "price": "1000.00"}, {"ts": 1_000_000}, -1021),
        ({"quantity": "50.00000", "price": "100000.00"}, {}, -2010),  # 5M USDT: insufficient
        ({"quantity": "0.00001", "price": "1000.00"}, {}, -1013),  # 0.01 USDT: below NOTIONAL
    ],
    ids=["bad signature", "old timestamp", "insufficient balance", "below min notional"],
)
async def test_bad_orders_are_rejected_with_binance_error_codes(sim, http, params, kw, code):
    v = sim.venues["binance"]
    status, body = await place(http, v, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                         **params}, **kw)
    assert status in (400, 401) and body["code"] == code, body


async def test_reused_client_order_id_is_rejected_as_duplicate(sim, http):
    v = sim.venues["binance"]
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "100", "newClientOrderId": "dup"}
    assert (await place(http, v, order))[0] == 200
    status, body = await place(http, v, order)
    assert status == 400 and body == {"code": -2010, "msg": "Duplicate order sent."}


async def test_every_response_carries_used_weight_and_depth_weight_follows_limit(sim, http):
    v = sim.venues["binance"]
    async with http.get(f"{v.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "5000"}) as r:
        w1 = int(r.headers["X-MBX-USED-WEIGHT-1M"])
    async with http.get(f"{v.rest_url}/api/v3/exchangeInfo") as r:
        info = await r.json()
        assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) == w1 + 20
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000" and filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert w1 >= 250


async def test_http_faults_answer_like_binance_and_are_counted(sim, http):
    v = sim.venues["binance"]
    url = f"{v.rest_url}/api/v3/depth?symbol=BTCUSDT"
    v.faults.inject("http_429")
    async with http.get(url) as r:
        assert r.status == 429 and "Retry-After" in r.headers and "X-MBX-USED-WEIGHT-1M" in r.headers
        assert (await r.json())["code"] == -1003
    v.faults.inject("http_5xx")
    async with http.get(url) as r:
        assert r.status == 503 and (await r.json())["code"] == -1001
    v.faults.inject("timeout")
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=0.3)):
            pass
    v.faults.inject("order_unknown")
    status, _ = await place(http, v, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "100",
                                      "newClientOrderId": "lost-1"})
    assert status == 503 and v.orders["lost-1"].status == "filled"  # executed, answer lost
    assert {k: v.faults.counts[k] for k in ("http_429", "http_5xx", "timeout", "order_unknown")} == dict.fromkeys(
        ("http_429", "http_5xx", "timeout", "order_unknown"), 1)


async def test_stale_snapshot_is_older_than_the_first_pushed_update(sim, http, wait_until):
    v = sim.venues["binance"]
    v.faults.inject("stale_snapshot")
    client = BookClient(http, v)
    async with await client.connect() as ws:
        first = await client.next_event(ws)
        async with http.get(f"{v.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "5000"}) as r:
            snap = await r.json()
        assert snap["lastUpdateId"] < first["U"]
    assert v.faults.counts["stale_snapshot"] == 1


async def test_gap_fault_makes_the_next_event_skip_update_ids(sim, http):
    v = sim.venues["binance"]
    client = BookClient(http, v)
    async with await client.connect() as ws:
        await client.sync(ws)
        v.faults.inject("gap")
        while client.gaps == 0:
            client.apply(await client.next_event(ws))
    assert v.faults.counts["gap"] == 1


async def test_duplicate_reorder_malformed_and_disconnect_faults_show_on_the_wire(sim, http):
    v = sim.venues["binance"]
    client = BookClient(http, v)
    async with await client.connect() as ws:
        await client.next_event(ws)
        v.faults.inject("duplicate")
        seen: list[int] = []
        while len(seen) < 2 or seen[-1] != seen[-2]:
            seen.append((await client.next_event(ws))["U"])
        v.faults.inject("reorder")
        prev = (await client.next_event(ws))["U"]
        while True:
            u = (await client.next_event(ws))["U"]
            if u < prev:
                break
            prev = u
        v.faults.inject("malformed")
        while True:
            msg = await ws.receive(timeout=5)
            try:
                msgspec.json.decode(msg.data)
            except msgspec.DecodeError:
                break
        v.faults.inject("disconnect")
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            pass
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert all(v.faults.counts[k] == 1 for k in ("duplicate", "reorder", "malformed", "disconnect"))


async def test_stall_and_latency_delay_pushes_without_losing_updates(sim, http):
    v = sim.venues["binance"]
    client = BookClient(http, v)
    async with await client.connect() as ws:
        await client.sync(ws)
        v.faults.inject("stall", count=5)
        v.faults.inject("latency", count=2)
        for _ in range(5):
            assert client.apply(await client.next_event(ws))  # merged, continuous
    assert v.faults.counts["stall"] == 5 and v.faults.counts["latency"] == 2


async def test_subscribe_frame_on_a_raw_connection_is_acknowledged_and_streams(sim, http):
    v = sim.venues["binance"]
    async with http.ws_connect(f"{v.ws_url}/ws") as ws:
        await ws.send_str('{"method":"SUBSCRIBE","params":["ethusdt@depth@100ms"],"id":7}')
        assert msgspec.json.decode((await ws.receive(timeout=5)).data) == {"result": None, "id": 7}
        ev = msgspec.json.decode((await ws.receive(timeout=5)).data)
        assert ev["e"] == "depthUpdate" and ev["s"] == "ETHUSDT" and ev["u"] >= ev["U"]


async def test_order_latency_executes_at_once_and_the_order_is_found_by_client_id_before_its_answer(
        slow_venue, http, wait_until):
    v = slow_venue.venues["binance"]
    v.faults.inject("order_latency")
    answer = asyncio.create_task(place(http, v, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                 "quoteOrderQty": "50", "newClientOrderId": "slow-1"}),
                                 name="place:slow-1")
    await wait_until(lambda: "slow-1" in v.orders)
    query, headers = signed(v, {"symbol": "BTCUSDT", "origClientOrderId": "slow-1"})
    async with http.get(f"{v.rest_url}/api/v3/order?{query}", headers=headers) as r:
        assert r.status == 200 and (await r.json())["status"] == "FILLED"
    assert not answer.done(), "the answer came before the held time"
    status, body = await answer
    assert status == 200 and body["clientOrderId"] == "slow-1"
    assert v.faults.counts["order_latency"] == 1


async def my_trades(http, venue, params: dict) -> tuple[int, object, int]:
    """(status, body, X-MBX-USED-WEIGHT-1M) of GET /api/v3/myTrades."""
    query, headers = signed(venue, params)
    async with http.get(f"{venue.rest_url}/api/v3/myTrades?{query}", headers=headers) as r:
        return r.status, await r.json(), int(r.headers.get("X-MBX-USED-WEIGHT-1M", "0"))


async def test_my_trades_of_one_order_lists_only_its_fills_at_weight_5_and_the_symbols_at_20(sim, http):
    v = sim.venues["binance"]
    for cid in ("t-1", "t-2"):
        status, _ = await place(http, v, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "100",
                                          "newClientOrderId": cid})
        assert status == 200
    one = v.orders["t-2"]
    _, _, before = await my_trades(http, v, {"symbol": "BTCUSDT"})
    status, rows, after = await my_trades(http, v, {"symbol": "BTCUSDT", "orderId": one.order_id})
    assert status == 200 and after - before == 5  # private.md §1.4: 5 with orderId (20 without)
    assert {r["orderId"] for r in rows} == {int(one.order_id)} and len(rows) == len(one.fills)
    assert sum(float(r["commission"]) for r in rows) == pytest.approx(one.fee, abs=1e-8)
    assert {r["commissionAsset"] for r in rows} == {"BTC"}  # a buy pays in what it receives
    _, everything, again = await my_trades(http, v, {"symbol": "BTCUSDT"})
    assert again - after == 20 and len(everything) == len(v.orders["t-1"].fills) + len(one.fills)


async def test_trades_5xx_answers_the_next_trades_request_only_with_503(sim, http):
    v = sim.venues["binance"]
    v.faults.inject("trades_5xx")
    async with http.get(f"{v.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT"}) as r:
        assert r.status == 200  # another endpoint: the fault waits for a trades request
    status, body, _ = await my_trades(http, v, {"symbol": "BTCUSDT"})
    assert (status, body["code"]) == (503, -1001)
    assert (await my_trades(http, v, {"symbol": "BTCUSDT"}))[0] == 200
    assert v.faults.counts["trades_5xx"] == 1


async def test_with_fees_paid_in_bnb_an_order_is_charged_bnb_at_the_bnb_book_and_receives_in_full():
    from simulator import SimConfig, Simulator

    cfg = SimConfig(seed=7, symbols=("BTC/USDT", "BNB/USDT"), venues=("binance",), fee_assets={"binance": "BNB"},
                    balances={"BTC": 1.0, "USDT": 100_000.0, "BNB": 10.0})
    async with Simulator(cfg) as s, aiohttp.ClientSession() as http:
        s.pause()
        v = s.venues["binance"]
        bnb_bids, bnb_asks = v.book("BNB/USDT")
        rate = (bnb_bids[0][0] + bnb_asks[0][0]) / 2
        status, body = await place(http, v, {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                                             "quantity": "0.01000", "newClientOrderId": "bnb-1"})
        assert status == 200
        o = v.orders["bnb-1"]
        assert o.fee_asset == "BNB" and o.fee == pytest.approx(o.filled_quote * 0.001 / rate, rel=1e-9)
        assert v.balances["BNB"][0] == pytest.approx(10.0 - o.fee, rel=1e-12)
        assert v.balances["USDT"][0] == pytest.approx(100_000.0 + o.filled_quote, rel=1e-12)  # no fee taken here
        assert {f["commissionAsset"] for f in body["fills"]} == {"BNB"}


async def test_a_watched_frame_is_stamped_when_it_is_written_to_the_client_not_when_it_is_queued(sim, http):
    """Tick to trade starts when the frame that makes the opportunity is WRITTEN (``Conn.watch``):
    a frame queued while the simulator's loop is busy leaves, and is stamped, later."""
    v = sim.venues["binance"]
    sim.pause()  # only the change below moves the book
    async with http.ws_connect(f"{v.ws_url}/ws") as ws:
        await ws.send_str('{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}')
        assert msgspec.json.decode((await ws.receive(timeout=5)).data) == {"result": None, "id": 1}
        [conn] = [c for c in v.conns if "BTC/USDT" in c.subs]
        book = v.books["BTC/USDT"]
        price = book.asks.peekitem(0)[0]
        book.set_level(False, price, book.asks[price] + 1)
        conn.watch = conn.sent + conn.queue.qsize() + 1  # the frame the push below queues
        queued = time.monotonic_ns()
        v.push()
        time.sleep(0.02)  # noqa: ASYNC251 - the loop busy on purpose: the frame waits in the queue
        while not conn.watch_ns:
            assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT
        assert conn.watch_ns - queued >= 20_000_000
