"""The simulated MEXC, driven by an independent client written here from shared/venues/mexc.md:
protobuf pushes decoded with protocols/mexc/push_pb2, the 7-step sync rule, signed REST."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

import aiohttp
import msgspec
import pytest
from google.protobuf.message import DecodeError

from protocols.mexc import push_pb2
from protocols.signing import hmac_sha256_hex

CH = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"


class BookClient:
    def __init__(self, http, venue) -> None:
        self.http, self.venue = http, venue
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.version = 0

    async def push(self, ws) -> push_pb2.PushDataV3ApiWrapper:
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type == aiohttp.WSMsgType.BINARY:
                return push_pb2.PushDataV3ApiWrapper.FromString(msg.data)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg  # control replies are text

    async def snapshot(self) -> dict:
        async with self.http.get(f"{self.venue.rest_url}/api/v3/depth",
                                 params={"symbol": "BTCUSDT", "limit": "5000"}) as r:
            return await r.json()

    async def sync(self, ws) -> None:
        await ws.send_str(msgspec.json.encode({"method": "SUBSCRIPTION", "params": [CH]}).decode())
        assert msgspec.json.decode((await ws.receive(timeout=5)).data) == {"id": 0, "code": 0, "msg": CH}
        first = await self.push(ws)
        snap = await self.snapshot()
        while snap["lastUpdateId"] < int(first.publicAggreDepths.fromVersion):  # step 4
            snap = await self.snapshot()
        self.bids = {float(p): float(q) for p, q in snap["bids"]}
        self.asks = {float(p): float(q) for p, q in snap["asks"]}
        self.version = snap["lastUpdateId"]
        self.apply(first)

    def apply(self, wrapper) -> None:
        d = wrapper.publicAggreDepths
        lo, hi = int(d.fromVersion), int(d.toVersion)
        if hi <= self.version:
            return
        assert lo <= self.version + 1, f"gap: fromVersion {lo} after {self.version}"
        for side, items in ((self.bids, d.bids), (self.asks, d.asks)):
            for it in items:
                if float(it.quantity) == 0:
                    side.pop(float(it.price), None)
                else:
                    side[float(it.price)] = float(it.quantity)
        self.version = hi

    def book(self):
        return (tuple(sorted(self.bids.items(), reverse=True)), tuple(sorted(self.asks.items())))


def signed(venue, params: dict, *, secret: str | None = None, ts: int | None = None) -> tuple[str, dict]:
    params = {**params, "recvWindow": "5000", "timestamp": str(ts if ts is not None else int(time.time() * 1000))}
    query = urlencode(params)
    return f"{query}&signature={hmac_sha256_hex(secret or venue.credentials.secret, query)}", {
        "X-MEXC-APIKEY": venue.credentials.api_key}


async def place(http, venue, params: dict, **kw) -> tuple[int, dict]:
    query, headers = signed(venue, {"symbol": "BTCUSDT", **params}, **kw)
    async with http.post(f"{venue.rest_url}/api/v3/order?{query}", headers=headers) as r:
        return r.status, await r.json()


async def test_client_following_the_documented_sync_ends_with_the_simulators_book(sim, http):
    v = sim.venues["mexc"]
    client = BookClient(http, v)
    async with http.ws_connect(v.ws_url) as ws:
        await client.sync(ws)
        for _ in range(5):
            client.apply(await client.push(ws))
        sim.pause()
        while client.version < v.seq("BTC/USDT"):
            client.apply(await client.push(ws))
        assert client.book() == v.book("BTC/USDT")


async def test_push_frames_carry_versions_as_strings_symbol_and_send_time(sim, http):
    v = sim.venues["mexc"]
    async with http.ws_connect(v.ws_url) as ws:
        await ws.send_str(f'{{"method":"SUBSCRIPTION","params":["{CH}"]}}')
        await ws.receive(timeout=5)
        w = await BookClient(http, v).push(ws)
        assert w.channel == CH and w.symbol == "BTCUSDT" and w.sendTime > 0
        assert w.publicAggreDepths.eventType == "spot@public.aggre.depth.v3.api.pb@100ms"
        assert int(w.publicAggreDepths.toVersion) >= int(w.publicAggreDepths.fromVersion)
        await ws.send_str('{"method":"PING"}')
        while (msg := await ws.receive(timeout=5)).type != aiohttp.WSMsgType.TEXT:
            pass
        assert msgspec.json.decode(msg.data) == {"id": 0, "code": 0, "msg": "PONG"}


async def test_subscription_to_an_unknown_symbol_fails_and_several_channels_are_acked_together(sim, http):
    v = sim.venues["mexc"]
    chans = [f"spot@public.aggre.depth.v3.api.pb@{i}@BTCUSDT" for i in ("100ms", "10ms")]  # valid, same symbol
    async with http.ws_connect(v.ws_url) as ws:
        await ws.send_str(msgspec.json.encode(
            {"method": "SUBSCRIPTION", "params": ["spot@public.aggre.depth.v3.api.pb@100ms@NOPEUSDT"]}).decode())
        reply = msgspec.json.decode((await ws.receive(timeout=5)).data)
        assert reply["msg"].startswith("Not Subscribed successfully!")
        await ws.send_str(msgspec.json.encode({"method": "SUBSCRIPTION", "params": chans}).decode())
        assert msgspec.json.decode((await ws.receive(timeout=5)).data)["msg"] == ",".join(chans)


async def test_signed_market_buy_by_quote_amount_fills_and_shows_in_the_stream(sim, http):
    v = sim.venues["mexc"]
    client = BookClient(http, v)
    async with http.ws_connect(v.ws_url) as ws:
        await client.sync(ws)
        sim.pause()
        while client.version < v.seq("BTC/USDT"):
            client.apply(await client.push(ws))
        usdt0 = v.balances["USDT"][0]
        status, body = await place(http, v, {"side": "BUY", "type": "MARKET", "quoteOrderQty": "100000",
                                             "newClientOrderId": "m-1"})
        assert status == 200 and isinstance(body["orderId"], str), body
        assert v.orders["m-1"].status == "filled" and v.balances["USDT"][0] < usdt0 - 90_000
        while client.version < v.seq("BTC/USDT"):
            client.apply(await client.push(ws))
        assert client.book() == v.book("BTC/USDT")
    query, headers = signed(v, {"symbol": "BTCUSDT", "origClientOrderId": "m-1"})
    async with http.get(f"{v.rest_url}/api/v3/order?{query}", headers=headers) as r:
        assert (await r.json())["status"] == "FILLED"


@pytest.mark.parametrize(
    ("params", "kw", "code"),
    [
        ({"quantity": "0.001", "price": "1000.00"}, {"secret": "wrong"}, 700002),
        ({"quantity": "0.001", "price": "1000.00"}, {"ts": 1_000_000}, 700003),
        ({"quantity": "50", "price": "100000.00"}, {}, 10101),
        ({"quantity": "0.00001", "price": "1000.00"}, {}, 30002),
    ],
    ids=["bad signature", "old timestamp", "insufficient balance", "below min notional"],
)
async def test_bad_orders_are_rejected_with_mexc_error_codes(sim, http, params, kw, code):
    status, body = await place(http, sim.venues["mexc"], {"side": "BUY", "type": "LIMIT", **params}, **kw)
    assert status == 400 and body["code"] == code, body


async def test_uppercase_signature_and_reused_client_order_id_are_rejected(sim, http):
    v = sim.venues["mexc"]
    query, headers = signed(v, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "50"})
    q, _, sig = query.rpartition("signature=")
    async with http.post(f"{v.rest_url}/api/v3/order?{q}signature={sig.upper()}", headers=headers) as r:
        assert (await r.json())["code"] == 700002
    order = {"side": "BUY", "type": "MARKET", "quoteOrderQty": "50", "newClientOrderId": "again"}
    assert (await place(http, v, order))[0] == 200
    status, body = await place(http, v, order)
    assert status == 400 and body["code"] == 33333


async def test_malformed_gap_and_429_faults_look_like_mexc_failures(sim, http):
    v = sim.venues["mexc"]
    client = BookClient(http, v)
    async with http.ws_connect(v.ws_url) as ws:
        await client.sync(ws)
        v.faults.inject("malformed")
        while True:  # the good pushes around the malformed frame keep the client's book going
            msg = await ws.receive(timeout=5)
            if msg.type == aiohttp.WSMsgType.BINARY:
                try:
                    client.apply(push_pb2.PushDataV3ApiWrapper.FromString(msg.data))
                except DecodeError:
                    break
        v.faults.inject("gap")
        with pytest.raises(AssertionError, match="gap"):
            while True:
                client.apply(await client.push(ws))
    v.faults.inject("http_429")
    async with http.get(f"{v.rest_url}/api/v3/depth?symbol=BTCUSDT") as r:
        assert r.status == 429 and r.headers["Retry-After"] and (await r.json())["code"] == 429
    assert v.faults.counts["malformed"] == v.faults.counts["gap"] == v.faults.counts["http_429"] == 1


async def test_exchange_info_has_precision_fields_and_no_filters(sim, http):
    v = sim.venues["mexc"]
    async with http.get(f"{v.rest_url}/api/v3/exchangeInfo", params={"symbol": "BTCUSDT"}) as r:
        s = (await r.json())["symbols"][0]
    assert (s["quotePrecision"], s["baseAssetPrecision"], s["filters"]) == (2, 5, [])
    assert s["takerCommission"] == "0.0005" and s["quoteAmountPrecision"] == "1" and s["baseSizePrecision"] == "0.00001"


async def test_order_latency_executes_at_once_and_the_order_is_found_by_client_id_before_its_answer(
        slow_venue, http, wait_until):
    v = slow_venue.venues["mexc"]
    v.faults.inject("order_latency")
    answer = asyncio.create_task(place(http, v, {"side": "BUY", "type": "MARKET", "quoteOrderQty": "50",
                                                 "newClientOrderId": "slow-1"}), name="place:slow-1")
    await wait_until(lambda: "slow-1" in v.orders)
    query, headers = signed(v, {"symbol": "BTCUSDT", "origClientOrderId": "slow-1"})
    async with http.get(f"{v.rest_url}/api/v3/order?{query}", headers=headers) as r:
        assert r.status == 200 and (await r.json())["status"] == "FILLED"
    assert not answer.done(), "the answer came before the held time"
    status, body = await answer
    assert status == 200 and isinstance(body["orderId"], str)
    assert v.faults.counts["order_latency"] == 1


async def test_order_timeout_holds_only_an_order_request_and_the_order_never_executes(slow_venue, http):
    v = slow_venue.venues["mexc"]
    v.faults.inject("order_timeout")
    async with http.get(f"{v.rest_url}/api/v3/depth?symbol=BTCUSDT") as r:
        assert r.status == 200  # not an order: served, the fault stays armed
    status, body = await place(http, v, {"side": "BUY", "type": "MARKET", "quoteOrderQty": "50",
                                         "newClientOrderId": "lost-1"})
    assert status == 504, body
    assert "lost-1" not in v.orders and v.faults.counts["order_timeout"] == 1


async def test_my_trades_lists_an_orders_fills_with_the_fee_the_matching_engine_charged(sim, http):
    v = sim.venues["mexc"]
    status, body = await place(http, v, {"side": "BUY", "type": "MARKET", "quoteOrderQty": "50000",
                                         "newClientOrderId": "f-1"})
    assert status == 200, body
    status, body = await place(http, v, {"side": "SELL", "type": "MARKET", "quantity": "0.5",
                                         "newClientOrderId": "f-2"})
    assert status == 200, body
    for cid, asset in (("f-1", "BTC"), ("f-2", "USDT")):
        order = v.orders[cid]
        query, headers = signed(v, {"symbol": "BTCUSDT", "orderId": order.order_id})
        async with http.get(f"{v.rest_url}/api/v3/myTrades?{query}", headers=headers) as r:
            assert r.status == 200
            trades = await r.json()
        assert len(trades) == len(order.fills) > 0
        assert {t["orderId"] for t in trades} == {order.order_id}
        assert {t["commissionAsset"] for t in trades} == {asset}
        assert sum(float(t["commission"]) for t in trades) == pytest.approx(order.fee, rel=1e-6)
        assert order.fee > 0
        filled = float(v.books["BTC/USDT"].spec.fmt_qty(order.filled))
        assert sum(float(t["qty"]) for t in trades) == pytest.approx(filled)
