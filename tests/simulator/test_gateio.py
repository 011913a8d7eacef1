"""The simulated Gate.io, driven by an independent client written here from
shared/venues/gateio.md: spot.order_book_update with U/u and full pushes, APIv4 signing."""

from __future__ import annotations

import asyncio
import json
import time

import msgspec
import pytest

from protocols.signing import gate_sign
from simulator import SimConfig, Simulator


class BookClient:
    def __init__(self, http, venue, pair: str = "BTC_USDT") -> None:
        self.http, self.venue, self.pair = http, venue, pair
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.base = 0
        self.fulls = 0

    async def update(self, ws) -> dict:
        msg = await ws.receive(timeout=5)
        frame = msgspec.json.decode(msg.data)
        assert frame["channel"] == "spot.order_book_update" and frame["event"] == "update", frame
        return frame["result"]

    async def sync(self, ws) -> None:
        sub = {"time": int(time.time()), "channel": "spot.order_book_update", "event": "subscribe",
               "payload": [self.pair, "100ms"]}
        await ws.send_str(json.dumps(sub))
        ack = msgspec.json.decode((await ws.receive(timeout=5)).data)
        assert ack["error"] is None and ack["result"] == {"status": "success"}
        first = await self.update(ws)
        while True:
            async with self.http.get(f"{self.venue.rest_url}/api/v4/spot/order_book",
                                     params={"currency_pair": self.pair, "limit": "5000", "with_id": "true"}) as r:
                snap = await r.json()
            if snap["id"] + 1 >= first["U"]:
                break
        self.bids = {float(p): float(q) for p, q in snap["bids"]}
        self.asks = {float(p): float(q) for p, q in snap["asks"]}
        self.base = snap["id"]
        self.apply(first)

    def apply(self, res: dict) -> None:
        if res.get("full"):
            self.bids, self.asks, self.fulls = {}, {}, self.fulls + 1
        elif res["u"] < self.base + 1:
            return
        else:
            assert res["U"] <= self.base + 1, f"gap: U {res['U']} after {self.base}"
        for side, key in ((self.bids, "b"), (self.asks, "a")):
            for p, q in res[key]:
                if float(q) == 0:
                    side.pop(float(p), None)
                else:
                    side[float(p)] = float(q)
        self.base = res["u"]

    def book(self):
        return (tuple(sorted(self.bids.items(), reverse=True)), tuple(sorted(self.asks.items())))


async def call(http, v, method: str, path: str, *, query: str = "", body: dict | None = None,
               secret: str | None = None, ts: int | None = None) -> tuple[int, object]:
    text = json.dumps(body) if body is not None else ""
    stamp = str(ts if ts is not None else int(time.time()))
    full = f"/api/v4{path}"
    headers = {"KEY": v.credentials.api_key, "Timestamp": stamp, "Content-Type": "application/json",
               "SIGN": gate_sign(secret or v.credentials.secret, method, full, query, text, stamp)}
    url = f"{v.rest_url}{full}" + (f"?{query}" if query else "")
    async with http.request(method, url, data=text or None, headers=headers) as r:
        return r.status, await r.json()


async def test_client_following_the_documented_sync_ends_with_the_simulators_book(sim, http):
    v = sim.venues["gateio"]
    client = BookClient(http, v)
    async with http.ws_connect(v.ws_url) as ws:
        await client.sync(ws)
        sim.pause()
        while client.base < v.seq("BTC/USDT"):
            client.apply(await client.update(ws))
        assert client.book() == v.book("BTC/USDT")


async def test_full_pushes_replace_the_book_and_keep_it_equal_to_the_truth(http):
    cfg = SimConfig(seed=3, symbols=("ETH/USDT",), push_interval_s=0.02, gate_full_every=5, venues=("gateio",))
    async with Simulator(cfg) as sim:
        v = sim.venues["gateio"]
        client = BookClient(http, v, "ETH_USDT")
        async with http.ws_connect(v.ws_url) as ws:
            await client.sync(ws)
            while client.fulls < 2:
                client.apply(await client.update(ws))
            sim.pause()
            while client.base < v.seq("ETH/USDT"):
                client.apply(await client.update(ws))
            assert client.book() == v.book("ETH/USDT")


async def test_app_ping_gets_spot_pong(sim, http):
    async with http.ws_connect(sim.venues["gateio"].ws_url) as ws:
        await ws.send_str(json.dumps({"time": int(time.time()), "channel": "spot.ping"}))
        reply = msgspec.json.decode((await ws.receive(timeout=5)).data)
        assert reply["channel"] == "spot.pong" and reply["error"] is None and reply["result"] is None
        await ws.send_str(json.dumps({"time": int(time.time()), "channel": "spot.order_book_update",
                                      "event": "subscribe", "payload": ["NOPE_USDT", "100ms"]}))
        err = msgspec.json.decode((await ws.receive(timeout=5)).data)["error"]
        assert err == {"code": 2, "message": "unknown currency pair NOPE_USDT"}


async def test_signed_limit_ioc_buy_fills_against_the_book_and_is_found_by_text(sim, http):
    v = sim.venues["gateio"]
    ask = v.book("BTC/USDT")[1][0][0]
    status, order = await call(http, v, "POST", "/spot/orders", body={
        "text": "t-arb1", "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy",
        "amount": "0.00100", "price": f"{ask * 1.01:.2f}", "time_in_force": "ioc"})
    assert status == 201 and order["status"] == "closed" and order["finish_as"] == "filled", order
    assert float(order["fee"]) == pytest.approx(0.001 * 0.001) and order["fee_currency"] == "BTC"
    status, again = await call(http, v, "GET", "/spot/orders/t-arb1", query="currency_pair=BTC_USDT")
    assert status == 200 and again["id"] == order["id"]
    status, accounts = await call(http, v, "GET", "/spot/accounts")
    assert {a["currency"]: float(a["available"]) for a in accounts}["BTC"] > 10.0


async def test_market_buy_amount_is_in_quote_currency(sim, http):
    v = sim.venues["gateio"]
    status, order = await call(http, v, "POST", "/spot/orders", body={
        "text": "t-mkt", "currency_pair": "BTC_USDT", "type": "market", "side": "buy", "amount": "600",
        "time_in_force": "ioc"})
    assert status == 201 and order["finish_as"] == "filled"
    assert float(order["filled_total"]) == pytest.approx(600, rel=0.01)


@pytest.mark.parametrize(
    ("body", "kw", "status", "label"),
    [
        ({"amount": "0.001", "price": "1000.00"}, {"secret": "wrong"}, 401, "INVALID_SIGNATURE"),
        ({"amount": "0.001", "price": "1000.00"}, {"ts": 1_000_000}, 401, "REQUEST_EXPIRED"),
        ({"amount": "50", "price": "100000.00"}, {}, 400, "BALANCE_NOT_ENOUGH"),
        ({"amount": "0.00001", "price": "1000.00"}, {}, 400, "INVALID_PARAM_VALUE"),
    ],
    ids=["bad signature", "old timestamp", "insufficient balance", "below min notional"],
)
async def test_bad_orders_are_rejected_with_gate_labels(sim, http, body, kw, status, label):
    got, reply = await call(http, sim.venues["gateio"], "POST", "/spot/orders", body={
        "currency_pair": "BTC_USDT", "side": "buy", "type": "limit", "time_in_force": "gtc", **body}, **kw)
    assert got == status and reply["label"] == label, reply


async def test_reused_text_is_rejected(sim, http):
    v = sim.venues["gateio"]
    order = {"text": "t-twice", "currency_pair": "BTC_USDT", "type": "market", "side": "buy", "amount": "50",
             "time_in_force": "ioc"}
    assert (await call(http, v, "POST", "/spot/orders", body=order))[0] == 201
    status, reply = await call(http, v, "POST", "/spot/orders", body=order)
    assert status == 400 and reply["label"] == "INVALID_PARAM_VALUE" and "t-twice" in reply["message"]


async def test_malformed_frame_has_wrong_field_types_and_429_has_gate_headers(sim, http):
    v = sim.venues["gateio"]
    client = BookClient(http, v)
    async with http.ws_connect(v.ws_url) as ws:
        await client.sync(ws)
        v.faults.inject("malformed")
        while not isinstance((await client.update(ws))["U"], str):
            pass
    v.faults.inject("http_429")
    async with http.get(f"{v.rest_url}/api/v4/spot/currency_pairs/BTC_USDT") as r:
        assert r.status == 429 and (await r.json())["label"] == "TOO_MANY_REQUESTS"
        assert {"X-Gate-RateLimit-Requests-Remain", "X-Gate-RateLimit-Limit", "Retry-After"} <= set(r.headers)
    assert v.faults.counts["malformed"] == v.faults.counts["http_429"] == 1


async def test_admin_api_injects_faults_and_serves_the_truth(sim, http):
    v = sim.venues["gateio"]
    auth = {"Authorization": f"Bearer {sim.admin_token}"}
    async with http.post(f"{v.admin_url}/faults", json={"kind": "http_5xx", "count": 2}, headers=auth) as r:
        assert (await r.json())["armed"] == {"http_5xx": 2}
    for _ in range(2):
        async with http.get(f"{v.rest_url}/api/v4/spot/currency_pairs") as r:
            assert r.status == 503 and (await r.json())["label"] == "SERVER_ERROR"
    async with http.get(f"{v.admin_url}/faults", headers=auth) as r:
        assert (await r.json())["counts"]["http_5xx"] == 2
    async with http.post(f"{v.admin_url}/faults", json={"kind": "bogus"}, headers=auth) as r:
        assert r.status == 400
    sim.pause()
    async with http.get(f"{v.admin_url}/book", params={"symbol": "BTC_USDT"}, headers=auth) as r:
        truth = await r.json()
    assert truth["seq"] == v.seq("BTC/USDT") and [tuple(x) for x in truth["bids"]] == list(v.book("BTC/USDT")[0])


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
async def test_admin_api_without_the_bearer_token_is_refused_and_injects_nothing(sim, http, headers):
    v = sim.venues["gateio"]
    for method, path in (("POST", "/faults"), ("GET", "/faults"), ("DELETE", "/faults"), ("GET", "/book"),
                         ("POST", "/pause"), ("POST", "/resume")):
        async with http.request(method, f"{v.admin_url}{path}", json={"kind": "http_5xx"}, headers=headers) as r:
            assert r.status == 401, (method, path)
    assert v.faults.armed == {} and not sim.paused


async def test_order_latency_executes_at_once_and_the_order_is_found_by_text_before_its_answer(
        slow_venue, http, wait_until):
    v = slow_venue.venues["gateio"]
    v.faults.inject("order_latency")
    ask = v.book("BTC/USDT")[1][0][0]
    answer = asyncio.create_task(call(http, v, "POST", "/spot/orders", body={
        "text": "t-slow1", "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy",
        "amount": "0.00100", "price": f"{ask * 1.01:.2f}", "time_in_force": "ioc"}), name="place:t-slow1")
    await wait_until(lambda: "t-slow1" in v.orders)
    status, found = await call(http, v, "GET", "/spot/orders/t-slow1", query="currency_pair=BTC_USDT")
    assert status == 200 and found["finish_as"] == "filled"
    assert not answer.done(), "the answer came before the held time"
    status, order = await answer
    assert status == 201 and order["id"] == found["id"]
    assert v.faults.counts["order_latency"] == 1


async def test_order_timeout_holds_only_an_order_request_and_the_order_never_executes(slow_venue, http):
    v = slow_venue.venues["gateio"]
    v.faults.inject("order_timeout")
    status, _ = await call(http, v, "GET", "/spot/accounts")
    assert status == 200  # not an order: served, the fault stays armed
    ask = v.book("BTC/USDT")[1][0][0]
    status, body = await call(http, v, "POST", "/spot/orders", body={
        "text": "t-lost1", "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy",
        "amount": "0.00100", "price": f"{ask * 1.01:.2f}", "time_in_force": "ioc"})
    assert status == 504, body
    assert "t-lost1" not in v.orders and v.faults.counts["order_timeout"] == 1


async def test_with_gt_deduction_on_an_order_is_charged_gt_at_the_gt_book_and_reports_it_in_gt_fee(http):
    """SimConfig.fee_assets {"gateio": "GT"}: the order's fee is GT at the GT_USDT book's mid,
    reported as Gate does with GT deduction on (private.md §2.2, the Order model): ``fee`` 0,
    ``gt_fee`` the GT spent; the trades list splits it per fill; the USDT received is whole."""
    cfg = SimConfig(seed=7, symbols=("BTC/USDT", "GT/USDT"), venues=("gateio",), fee_assets={"gateio": "GT"},
                    balances={"BTC": 1.0, "USDT": 100_000.0, "GT": 50.0})
    async with Simulator(cfg) as s:
        s.pause()
        v = s.venues["gateio"]
        gt_bids, gt_asks = v.book("GT/USDT")
        rate = (gt_bids[0][0] + gt_asks[0][0]) / 2
        bid = v.book("BTC/USDT")[0][0][0]
        status, order = await call(http, v, "POST", "/spot/orders", body={
            "text": "t-gt1", "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "sell",
            "amount": "0.01000", "price": f"{bid * 0.99:.2f}", "time_in_force": "ioc"})
        assert status == 201 and order["finish_as"] == "filled", order
        quote = float(order["filled_total"])
        assert (order["fee"], order["gt_discount"]) == ("0", True)
        assert float(order["gt_fee"]) == pytest.approx(quote * 0.001 / rate, rel=1e-6)
        assert v.balances["GT"][0] == pytest.approx(50.0 - float(order["gt_fee"]), abs=1e-8)
        assert v.balances["USDT"][0] == pytest.approx(100_000.0 + quote, rel=1e-12)  # no fee taken here
        status, trades = await call(http, v, "GET", "/spot/my_trades", query="currency_pair=BTC_USDT")
        assert status == 200 and {t["fee"] for t in trades} == {"0"}
        assert sum(float(t["gt_fee"]) for t in trades) == pytest.approx(float(order["gt_fee"]), abs=1e-7)
        status, fee = await call(http, v, "GET", "/spot/fee")
        assert fee["gt_discount"] is True


def test_a_gate_fee_asset_other_than_gt_is_refused() -> None:
    cfg = SimConfig(symbols=("BTC/USDT", "BNB/USDT"), venues=("gateio",), fee_assets={"gateio": "BNB"})
    with pytest.raises(ValueError, match="only in GT"):
        Simulator(cfg)
