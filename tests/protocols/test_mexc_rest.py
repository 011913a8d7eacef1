"""MEXC REST: the documented signing vectors (mexc.md §2.2), every error-mapping row (§2.3), and
each endpoint against a tiny venue edge on 127.0.0.1:0 that checks the exact request sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from protocols.errors import (
    AuthError,
    DecodeError,
    ExchangeError,
    InsufficientBalance,
    NetworkError,
    OrderNotFound,
    OrderRejected,
    RateLimited,
)
from protocols.messages import Balance, BookSnapshot, OrderIntent
from protocols.mexc import MexcVenue
from protocols.mexc.rest import map_error, sign
from protocols.signing import hmac_sha256_hex
from protocols.venue import Credentials

DOC_KEY, DOC_SECRET = "mx0aBYs33eIilxBWC5", "45d0b3c26f2644f19bfb98b07741b2f5"
PLAIN = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"


# --- signing ----------------------------------------------------------------------------------


def test_signature_of_the_documented_plain_string_is_fd3e() -> None:
    assert sign(DOC_SECRET, PLAIN) == "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"


def test_signature_of_query_plus_body_joins_them_without_a_separator() -> None:
    query, body = "symbol=BTCUSDT&side=BUY&type=LIMIT", "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    assert sign(DOC_SECRET, query, body) == "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"


def test_the_docs_example_one_signature_is_wrong_and_does_not_match() -> None:
    # mexc.md §2.2: Examples 1 and 2 sign the same string; Example 1's printed value is a doc error
    assert sign(DOC_SECRET, PLAIN) != "323c96ab85a745712e95e63cad28903dd8292e4a905e99c4ee3932023843a117"


# --- error mapping ----------------------------------------------------------------------------


def _body(code: int, msg: str) -> bytes:
    return json.dumps({"code": code, "msg": msg}).encode()


@pytest.mark.parametrize(("status", "body", "headers", "kind", "code"), [
    (429, _body(429, "Too Many Requests"), {"Retry-After": "7"}, RateLimited, 429),
    (418, b"", {"Retry-After": "120"}, RateLimited, None),
    (429, b"<html>", {}, RateLimited, None),  # 429 with a proxy page, no Retry-After
    (400, _body(429, "Too Many Requests"), {}, RateLimited, 429),
    (500, b"", {}, NetworkError, None),
    (503, _body(1, "busy"), {}, NetworkError, None),
    (400, _body(700002, "Signature for this request is not valid."), {}, AuthError, 700002),
    (400, _body(700003, "Timestamp for this request is outside of the recvWindow"), {}, AuthError, 700003),
    (400, _body(700001, "API-key format invalid."), {}, AuthError, 700001),
    (400, _body(10072, "invalid access key"), {}, AuthError, 10072),
    (400, _body(10073, "invalid Request-Time"), {}, AuthError, 10073),
    (400, _body(602, "Signature verification failed"), {}, AuthError, 602),
    (401, _body(401, "No authority"), {}, AuthError, 401),
    (401, b"", {}, AuthError, None),
    (403, _body(700006, "IP non white list"), {}, AuthError, 700006),
    (403, _body(700007, "No permission to access the endpoint"), {}, AuthError, 700007),
    (400, _body(700005, "recvWindow must less than 60000"), {}, AuthError, 700005),
    (400, _body(10101, "Insufficient balance"), {}, InsufficientBalance, 10101),
    (400, _body(30004, "Insufficient position"), {}, InsufficientBalance, 30004),
    (400, _body(30002, "The minimum transaction volume cannot be less than:0.5USDT"), {}, OrderRejected, 30002),
    (400, _body(30005, "Oversold"), {}, OrderRejected, 30005),
    (400, _body(30014, "invalid symbol"), {}, OrderRejected, 30014),
    (400, _body(30016, "trading disabled"), {}, OrderRejected, 30016),
    (400, _body(30029, "Cannot exceed the maximum order limit"), {}, OrderRejected, 30029),
    (400, _body(33333, "param is error"), {}, OrderRejected, 33333),
    (400, _body(-2011, "Unknown order sent."), {}, OrderNotFound, -2011),
    (400, _body(-2013, "Order does not exist."), {}, OrderNotFound, -2013),
    (400, _body(30000, "order not exist"), {}, OrderNotFound, 30000),
    (400, _body(700004, "Param 'origClientOrderId' or 'orderId' must be sent"), {}, ExchangeError, 700004),
    (404, b"Not Found", {}, ExchangeError, None),
])
def test_every_error_row_maps_to_its_arbor_error(status: int, body: bytes, headers: dict[str, str],
                                                 kind: type[ExchangeError], code: int | None) -> None:
    error = map_error(status, body, headers)
    assert type(error) is kind
    assert (error.venue, error.code, error.status) == ("mexc", code, status)


def test_rate_limit_carries_the_retry_after_header_in_seconds() -> None:
    error = map_error(429, b"", {"Retry-After": "7"})
    assert isinstance(error, RateLimited) and error.retry_after_s == 7.0


# --- the venue's edge -------------------------------------------------------------------------


class Edge:
    """Records each request and answers with the reply programmed for its (method, path)."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.raw_queries: list[str] = []
        self.replies: dict[tuple[str, str], tuple[int, Any, dict[str, str]]] = {}

    def reply(self, method: str, path: str, payload: Any, status: int = 200,
              headers: dict[str, str] | None = None) -> None:
        self.replies[(method, path)] = (status, payload, headers or {})

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        self.raw_queries.append(request.raw_path.partition("?")[2])
        status, payload, headers = self.replies[(request.method, request.path)]
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return web.Response(status=status, body=body, headers=headers, content_type="application/json")

    def signed_query(self, at: int = -1) -> dict[str, str]:
        """A request's parameters (the last by default), after checking its signature and key header."""
        raw, request = self.raw_queries[at], self.requests[at]
        signed, _, signature = raw.rpartition("&signature=")
        assert signature == hmac_sha256_hex(DOC_SECRET, signed)
        assert request.headers["X-MEXC-APIKEY"] == DOC_KEY
        params = dict(request.query)
        assert params["recvWindow"] == "5000" and params["timestamp"].isdigit() and len(params["timestamp"]) == 13
        assert list(params)[-3:] == ["recvWindow", "timestamp", "signature"]
        return {k: v for k, v in params.items() if k not in ("recvWindow", "timestamp", "signature")}


@pytest.fixture
async def edge() -> AsyncIterator[tuple[Edge, MexcVenue]]:
    state = Edge()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    venue = MexcVenue(rest_url=f"http://127.0.0.1:{port}", symbols=("BTC/USDT",),
                      credentials=Credentials(DOC_KEY, DOC_SECRET))
    try:
        yield state, venue
    finally:
        await venue.close()
        await runner.cleanup()


EXCHANGE_INFO = {"timezone": "CST", "serverTime": 1, "rateLimits": [], "exchangeFilters": [], "symbols": [
    {"symbol": "BTCUSDT", "status": "1", "baseAsset": "BTC", "baseAssetPrecision": 6, "quoteAsset": "USDT",
     "quotePrecision": 2, "quoteAssetPrecision": 2, "orderTypes": ["LIMIT", "MARKET"], "filters": [],
     "isSpotTradingAllowed": True, "makerCommission": "0", "takerCommission": "0.0005",
     "baseSizePrecision": "0.000001", "quoteAmountPrecision": "1.000000000000000000", "fullName": "Bitcoin"},
    {"symbol": "ETHUSDT", "status": "ENABLED", "baseAsset": "ETH", "baseAssetPrecision": 4, "quoteAsset": "USDT",
     "quotePrecision": 2, "makerCommission": "0.002", "takerCommission": "0.002", "baseSizePrecision": "0.0001",
     "quoteAmountPrecision": "5"},
    {"symbol": "XYZUSDT", "status": "2", "baseAsset": "XYZ", "baseAssetPrecision": 0, "quoteAsset": "USDT",
     "quotePrecision": 8, "baseSizePrecision": "1", "quoteAmountPrecision": "1"},
]}
ORDER_REPLY = {"symbol": "BTCUSDT", "orderId": "06a480e69e604477bfb48dddd5f0b750", "orderListId": -1,
               "price": "100.01", "origQty": "0.5", "type": "LIMIT", "side": "BUY", "transactTime": 1666676533741}

TRADES = [
    {"symbol": "BTCUSDT", "id": "t1", "orderId": "c0ffee", "orderListId": -1, "price": "100", "qty": "0.3",
     "quoteQty": "30", "commission": "0.015", "commissionAsset": "USDT", "time": 6, "isBuyer": False,
     "isMaker": False, "isBestMatch": True, "isSelfTrade": False, "clientOrderId": None},
    {"symbol": "BTCUSDT", "id": "t2", "orderId": "c0ffee", "orderListId": -1, "price": "100", "qty": "0.2",
     "quoteQty": "20", "commission": "0.01", "commissionAsset": "USDT", "time": 6, "isBuyer": False,
     "isMaker": False, "isBestMatch": True, "isSelfTrade": False, "clientOrderId": None},
]


def _order(status: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "orderId": "c0ffee", "orderListId": -1, "clientOrderId": "cid-1", "price": "100",
            "origQty": "2", "executedQty": "0.5", "cummulativeQuoteQty": "50", "status": status,
            "timeInForce": None, "type": "IMMEDIATE_OR_CANCEL", "side": "SELL", "time": 5, "updateTime": 6} | extra


async def test_depth_snapshot_asks_for_the_symbol_and_limit_and_keeps_last_update_id(
        edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/depth", {"lastUpdateId": 1112416, "bids": [["15.00000", "49999.00000"]],
                                         "asks": [["14.0000", "1.0000"]]})
    snapshot = await venue.depth_snapshot("BTC/USDT", limit=5000)
    assert state.raw_queries[-1] == "symbol=BTCUSDT&limit=5000"
    assert snapshot == BookSnapshot(venue="mexc", symbol="BTC/USDT", seq=1112416, bids=((15.0, 49999.0),),
                                    asks=((14.0, 1.0),), exchange_ts_ms=0, recv_ns=snapshot.recv_ns)


async def test_symbol_info_derives_tick_step_minimums_and_fees_from_precision_fields(
        edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/exchangeInfo", EXCHANGE_INFO)
    info = await venue.symbol_info(["BTC/USDT", "ETH/USDT", "XYZ/USDT"])
    assert state.requests[-1].query["symbols"] == "BTCUSDT,ETHUSDT,XYZUSDT"
    btc = info["BTC/USDT"]
    assert (btc.venue_symbol, btc.base, btc.quote) == ("BTCUSDT", "BTC", "USDT")
    assert (btc.tick_size, btc.step_size) == (Decimal("0.01"), Decimal("0.000001"))
    assert (btc.min_qty, btc.min_notional) == (Decimal("0.000001"), Decimal("1"))
    assert (btc.maker_fee, btc.taker_fee, btc.trading) == (0.0, 0.0005, True)
    assert info["ETH/USDT"].trading is True  # "ENABLED" as in the doc's example
    assert info["XYZ/USDT"].trading is False  # "2" = pause
    assert info["XYZ/USDT"].step_size == Decimal(1)


async def test_balances_are_a_signed_account_request(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/account", {"canTrade": True, "updateTime": None, "accountType": "SPOT",
                                           "balances": [{"asset": "USDT", "free": "10.5", "locked": "1"}],
                                           "permissions": ["SPOT"]})
    balances = await venue.balances()
    assert state.signed_query() == {}
    assert balances.balances == (Balance(venue="mexc", asset="USDT", free=10.5, locked=1.0),)
    assert balances.free("USDT") == 10.5


async def test_limit_order_sends_exact_decimal_strings_and_the_client_id(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/exchangeInfo", EXCHANGE_INFO)
    state.reply("POST", "/api/v3/order", ORDER_REPLY)
    update = await venue.place_order(OrderIntent(client_order_id="opp1-buy", opportunity_id="opp1", venue="mexc",
                                                 symbol="BTC/USDT", side="buy", order_type="limit", qty=0.5000004,
                                                 price=100.019))
    assert state.signed_query() == {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.5",
                                    "price": "100.01", "newClientOrderId": "opp1-buy"}
    assert await state.requests[-1].read() == b""  # every parameter is in the signed query string
    assert (update.order_id, update.client_order_id, update.status) == (
        "06a480e69e604477bfb48dddd5f0b750", "opp1-buy", "new")
    assert (update.price, update.qty, update.filled_qty, update.ts_ms) == (100.01, 0.5, 0.0, 1666676533741)


async def test_ioc_is_an_order_type_with_no_time_in_force(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/exchangeInfo", EXCHANGE_INFO)
    state.reply("POST", "/api/v3/order", ORDER_REPLY | {"type": "IMMEDIATE_OR_CANCEL", "side": "SELL"})
    update = await venue.place_order(OrderIntent(client_order_id="c2", opportunity_id="o", venue="mexc",
                                                 symbol="BTC/USDT", side="sell", order_type="ioc", qty=1.0,
                                                 price=99.991))
    assert state.signed_query() == {"symbol": "BTCUSDT", "side": "SELL", "type": "IMMEDIATE_OR_CANCEL",
                                    "quantity": "1", "price": "100", "newClientOrderId": "c2"}
    assert (update.order_type, update.side) == ("ioc", "sell")


async def test_quote_sized_market_buy_sends_quote_order_qty_only(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/exchangeInfo", EXCHANGE_INFO)
    state.reply("POST", "/api/v3/order", ORDER_REPLY | {"type": "MARKET", "price": ""})
    update = await venue.place_order(OrderIntent(client_order_id="c3", opportunity_id="o", venue="mexc",
                                                 symbol="BTC/USDT", side="buy", order_type="market", quote_qty=25.129))
    assert state.signed_query() == {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "25.12",
                                    "newClientOrderId": "c3"}
    assert (update.order_type, update.price) == ("market", None)


async def test_an_order_below_the_minimum_is_rejected_before_anything_is_sent(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/exchangeInfo", EXCHANGE_INFO)
    with pytest.raises(OrderRejected) as info:
        await venue.place_order(OrderIntent(client_order_id="c4", opportunity_id="o", venue="mexc", symbol="BTC/USDT",
                                            side="buy", order_type="limit", qty=0.001, price=100.0))  # 0.1 USDT < 1
    assert info.value.code == "local"
    assert [r.path for r in state.requests] == ["/api/v3/exchangeInfo"]


async def test_cancel_by_client_id_maps_a_partially_canceled_order_to_canceled(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("DELETE", "/api/v3/order",
                _order("PARTIALLY_CANCELED", clientOrderId="cancel-id", origClientOrderId="cid-1"))
    state.reply("GET", "/api/v3/myTrades", TRADES)
    update = await venue.cancel_order("BTC/USDT", "cid-1")
    assert state.requests[0].method == "DELETE"
    assert state.signed_query(0) == {"symbol": "BTCUSDT", "origClientOrderId": "cid-1"}
    assert (update.status, update.final, update.client_order_id, update.filled_qty, update.avg_price) == (
        "canceled", True, "cid-1", 0.5, 100.0)


@pytest.mark.parametrize(("mexc_status", "status"), [
    ("NEW", "new"), ("PARTIALLY_FILLED", "partially_filled"), ("FILLED", "filled"), ("CANCELED", "canceled"),
    ("PARTIALLY_CANCELED", "canceled"),
])
async def test_order_query_by_client_id_maps_each_mexc_status(edge: tuple[Edge, MexcVenue], mexc_status: str,
                                                              status: str) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/order", _order(mexc_status))
    state.reply("GET", "/api/v3/myTrades", TRADES)
    update = await venue.order_by_client_id("BTC/USDT", "cid-1")
    assert state.signed_query(0) == {"symbol": "BTCUSDT", "origClientOrderId": "cid-1"}
    assert (update.status, update.order_id, update.ts_ms) == (status, "c0ffee", 6)


async def test_an_order_the_venue_does_not_know_raises_order_not_found(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/order", {"code": -2013, "msg": "Order does not exist."}, status=400)
    with pytest.raises(OrderNotFound):
        await venue.order_by_client_id("BTC/USDT", "never-sent")


async def test_open_orders_and_cancel_all_return_one_update_per_order(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/openOrders",
                [_order("NEW", clientOrderId="a"), _order("PARTIALLY_FILLED", clientOrderId="b")])
    state.reply("DELETE", "/api/v3/openOrders", [_order("CANCELED", clientOrderId="a")])
    opened = await venue.open_orders("BTC/USDT")
    assert state.signed_query() == {"symbol": "BTCUSDT"}
    assert [(u.client_order_id, u.status) for u in opened] == [("a", "new"), ("b", "partially_filled")]
    canceled = await venue.cancel_all("BTC/USDT")
    assert state.signed_query() == {"symbol": "BTCUSDT"}
    assert [(u.client_order_id, u.status) for u in canceled] == [("a", "canceled")]


async def test_a_429_raises_rate_limited_with_the_venues_retry_after(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/depth", {"code": 429, "msg": "Too Many Requests"}, status=429,
                headers={"Retry-After": "3"})
    with pytest.raises(RateLimited) as info:
        await venue.depth_snapshot("BTC/USDT")
    assert info.value.retry_after_s == 3.0


async def test_a_5xx_on_an_order_raises_network_error_because_the_outcome_is_unknown(
        edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/exchangeInfo", EXCHANGE_INFO)
    state.reply("POST", "/api/v3/order", b"upstream error", status=502)
    with pytest.raises(NetworkError):
        await venue.place_order(OrderIntent(client_order_id="c5", opportunity_id="o", venue="mexc", symbol="BTC/USDT",
                                            side="buy", order_type="limit", qty=1.0, price=100.0))


async def test_a_reply_that_does_not_parse_raises_decode_error(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/depth", {"lastUpdateId": "x", "bids": [], "asks": []})
    with pytest.raises(DecodeError, match="lastUpdateId"):
        await venue.depth_snapshot("BTC/USDT")


async def test_private_calls_without_credentials_raise_auth_error_before_sending(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    anonymous = MexcVenue(rest_url=venue._rest.base_url, symbols=("BTC/USDT",))
    try:
        with pytest.raises(AuthError):
            await anonymous.balances()
    finally:
        await anonymous.close()
    assert state.requests == []


@pytest.mark.parametrize(("reply", "reason"), [
    (_order("WEIRD"), "order status"),
    (_order("NEW", side="BOTH"), "order status"),
    (_order("NEW", price="abc"), "order price"),
])
async def test_an_order_reply_with_unknown_vocabulary_raises_decode_error(edge: tuple[Edge, MexcVenue],
                                                                          reply: dict[str, Any], reason: str) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/order", reply)
    with pytest.raises(DecodeError, match=reason):
        await venue.order_by_client_id("BTC/USDT", "cid-1")


# --- fees: MEXC's order replies carry none; an order's fills (myTrades) do ---------------------

async def test_a_final_filled_order_query_reads_its_fee_and_fee_asset_from_my_trades(
        edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/order", _order("PARTIALLY_CANCELED"))
    state.reply("GET", "/api/v3/myTrades", TRADES)
    update = await venue.order_by_client_id("BTC/USDT", "cid-1")
    assert state.requests[-1].path == "/api/v3/myTrades"
    assert state.signed_query() == {"symbol": "BTCUSDT", "orderId": "c0ffee"}
    assert (update.fee, update.fee_asset) == (pytest.approx(0.025), "USDT")


async def test_an_open_order_query_does_not_ask_for_fills(edge: tuple[Edge, MexcVenue]) -> None:
    state, venue = edge
    state.reply("GET", "/api/v3/order", _order("PARTIALLY_FILLED"))
    update = await venue.order_by_client_id("BTC/USDT", "cid-1")
    assert [r.path for r in state.requests] == ["/api/v3/order"]
    assert (update.fee, update.fee_asset) == (0.0, "")
