"""Binance REST (binance.md §3.3-3.5) against a tiny venue edge on 127.0.0.1:0: the exact
request (path, query, signature, API key), the documented replies, signing vectors and the
error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest
from aiohttp import web

from protocols import errors
from protocols.binance import BinanceVenue, wire
from protocols.binance.rest import depth_weight, map_error, sign_query, to_update
from protocols.messages import OrderIntent, SymbolInfo
from protocols.ratelimit import RateLimits, TokenBucket
from protocols.signing import hmac_sha256_hex
from protocols.venue import Credentials

# §3.4 documented example
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PAYLOAD = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
               "&timestamp=1499827319559")
DOC_PAYLOAD_NON_ASCII = ("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT"
                         "&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
CREDS = Credentials(DOC_KEY, DOC_SECRET)


def doc_params(symbol: str) -> dict[str, str]:
    return {"symbol": symbol, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
            "price": "0.1", "recvWindow": "5000", "timestamp": "1499827319559"}


@pytest.mark.parametrize(
    ("symbol", "payload", "signature"),
    [
        ("LTCBTC", DOC_PAYLOAD, "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"),
        ("１２３４５６", DOC_PAYLOAD_NON_ASCII, "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"),
    ],
)
def test_documented_signature_vectors_are_reproduced(symbol: str, payload: str, signature: str) -> None:
    assert hmac_sha256_hex(DOC_SECRET, payload) == signature
    assert sign_query(doc_params(symbol), DOC_SECRET) == f"{payload}&signature={signature}"


@pytest.mark.parametrize(
    ("limit", "weight"),
    [(1, 5), (100, 5), (101, 25), (500, 25), (501, 50), (1000, 50), (1001, 250), (5000, 250), (9999, 250)],
)
def test_depth_weight_follows_the_documented_limit_bands(limit: int, weight: int) -> None:
    assert depth_weight(limit) == weight


def err(code: int, msg: str) -> bytes:
    return json.dumps({"code": code, "msg": msg}).encode()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "code"),
    [
        (429, err(-1003, "Too many requests."), {"Retry-After": "7"}, errors.RateLimited, -1003),
        (418, b"", {"Retry-After": "120"}, errors.RateLimited, None),
        (400, err(-1003, "Too much request weight used."), {}, errors.RateLimited, -1003),
        (400, err(-1022, "Signature for this request is not valid."), {}, errors.AuthError, -1022),
        (400, err(-1021, "Timestamp for this request is outside of the recvWindow."), {}, errors.AuthError, -1021),
        (401, err(-2014, "API-key format invalid."), {}, errors.AuthError, -2014),
        (401, err(-2015, "Invalid API-key, IP, or permissions for action."), {}, errors.AuthError, -2015),
        (400, err(-2010, "Account has insufficient balance for requested action."), {},
         errors.InsufficientBalance, -2010),
        (400, err(-2010, "Order would immediately match and take."), {}, errors.OrderRejected, -2010),
        (400, err(-1013, "Filter failure: LOT_SIZE"), {}, errors.OrderRejected, -1013),
        (400, err(-1121, "Invalid symbol."), {}, errors.OrderRejected, -1121),
        (400, err(-2013, "Order does not exist."), {}, errors.OrderNotFound, -2013),
        (400, err(-2011, "Unknown order sent."), {}, errors.OrderNotFound, -2011),
        (400, err(-2011, "Order was canceled or expired."), {}, errors.ExchangeError, -2011),
        (500, b"<html>oops</html>", {}, errors.NetworkError, None),
        (503, err(-1001, "Internal error; unable to process your request."), {}, errors.NetworkError, None),
        (408, err(-1007, "Timeout waiting for response from backend server."), {}, errors.NetworkError, None),
        (403, b"<html>WAF</html>", {}, errors.ExchangeError, None),
        (400, err(-1100, "Illegal characters found in parameter 'symbol'."), {}, errors.ExchangeError, -1100),
    ],
)
def test_every_error_row_maps_to_its_class(status: int, body: bytes, headers: dict, kind: type,
                                           code: int | None) -> None:
    error = map_error(status, body, headers)
    assert type(error) is kind
    assert (error.venue, error.code, error.status) == ("binance", code, status)


def test_rate_limit_error_carries_retry_after_seconds() -> None:
    assert map_error(429, b"", {"Retry-After": "7"}).retry_after_s == 7.0  # type: ignore[attr-defined]
    assert map_error(418, b"", {"Retry-After": "120"}).retry_after_s == 120.0  # type: ignore[attr-defined]


def order_json(**over: object) -> dict:
    base = {"symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "opp1-buy",
            "transactTime": 1507725176595, "price": "30000.10000000", "origQty": "0.12300000",
            "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW",
            "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "fills": []}
    return base | over


@pytest.mark.parametrize(
    ("status", "expected"),
    [("NEW", "new"), ("PARTIALLY_FILLED", "partially_filled"), ("FILLED", "filled"), ("CANCELED", "canceled"),
     ("REJECTED", "rejected"), ("EXPIRED", "expired"), ("EXPIRED_IN_MATCH", "expired")],
)
def test_every_binance_order_status_maps_to_ours(status: str, expected: str) -> None:
    order = wire.ORDER.decode(msgspec.json.encode(order_json(status=status)))
    assert to_update(order, "BTC/USDT").status == expected


def test_unknown_order_status_is_an_exchange_error_not_a_guess() -> None:
    with pytest.raises(errors.ExchangeError, match="PENDING_NEW"):
        to_update(wire.ORDER.decode(msgspec.json.encode(order_json(status="PENDING_NEW"))), "BTC/USDT")


# --- the venue's edge on loopback ------------------------------------------------------------------


class Seen(msgspec.Struct):
    method: str
    path: str
    query: str  # raw, exactly as sent
    api_key: str | None


class Edge:
    """Replies with whatever the test set for (method, path) and records each request."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.replies: dict[tuple[str, str], tuple[int, object, dict[str, str]]] = {}

    def reply(self, method: str, path: str, body: object, status: int = 200, headers: dict | None = None) -> None:
        self.replies[(method, path)] = (status, body, headers or {})

    async def handle(self, request: web.Request) -> web.Response:
        path, _, query = request.raw_path.partition("?")
        self.seen.append(Seen(request.method, path, query, request.headers.get("X-MBX-APIKEY")))
        status, body, headers = self.replies[(request.method, path)]
        return web.Response(status=status, body=json.dumps(body).encode(), headers=headers,
                            content_type="application/json")

    def signed(self, index: int = -1) -> dict[str, str]:
        """The params of a signed request, after checking its signature and API key."""
        seen = self.seen[index]
        payload, _, signature = seen.query.rpartition("&signature=")
        assert hmac_sha256_hex(DOC_SECRET, payload) == signature
        assert seen.api_key == DOC_KEY
        params = dict(pair.split("=", 1) for pair in payload.split("&"))
        assert params.pop("recvWindow") == "5000" and params.pop("timestamp").isdigit()
        return params


@pytest.fixture
async def edge() -> AsyncIterator[tuple[Edge, str]]:
    edge = Edge()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", edge.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield edge, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def frozen_limits() -> RateLimits:
    def clock() -> float:
        return 0.0
    return RateLimits({"weight": TokenBucket(6000, 60.0, clock=clock), "orders": TokenBucket(10, 1.0, clock=clock)})


@pytest.fixture
async def venue(edge: tuple[Edge, str]) -> AsyncIterator[BinanceVenue]:
    venue = BinanceVenue(rest_url=edge[1], symbols=("BTC/USDT",), credentials=CREDS)
    venue._rest.limits = frozen_limits()  # a clock that never moves: weights are exact
    try:
        yield venue
    finally:
        await venue.close()


BTC = SymbolInfo(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=Decimal("0.01"),
                 step_size=Decimal("0.00001"), min_qty=Decimal("0.00001"), min_notional=Decimal("5"),
                 maker_fee=0.001, taker_fee=0.001)


def exchange_info(notional_filter: str = "NOTIONAL") -> dict:
    return {"timezone": "UTC", "serverTime": 1565246363776, "rateLimits": [], "symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
            {"filterType": notional_filter, "minNotional": "5.00000000", "applyMinToMarket": True},
        ]}, {"symbol": "ETHUSDT", "status": "BREAK", "baseAsset": "ETH", "quoteAsset": "USDT", "filters": []}]}


async def test_depth_snapshot_sends_symbol_and_limit_and_spends_the_limit_weight(edge, venue) -> None:
    edge[0].reply("GET", "/api/v3/depth", {"lastUpdateId": 1027024, "bids": [["4.00000000", "431.00000000"]],
                                           "asks": [["4.00000200", "12.00000000"]]})
    snap = await venue.depth_snapshot("BTC/USDT", limit=1000)
    assert edge[0].seen == [Seen("GET", "/api/v3/depth", "symbol=BTCUSDT&limit=1000", None)]
    assert (snap.venue, snap.symbol, snap.seq) == ("binance", "BTC/USDT", 1027024)
    assert snap.bids == ((4.0, 431.0),) and snap.asks == ((4.000002, 12.0),)
    bucket = venue._rest.limits.bucket("weight")
    assert bucket.wait_time(6000 - 50) == 0 and bucket.wait_time(6000 - 49) > 0


@pytest.mark.parametrize("notional_filter", ["NOTIONAL", "MIN_NOTIONAL"])
async def test_symbol_info_reads_the_filters_and_uses_the_account_commission(edge, venue, notional_filter) -> None:
    edge[0].reply("GET", "/api/v3/exchangeInfo", exchange_info(notional_filter))
    edge[0].reply("GET", "/api/v3/account/commission", {
        "symbol": "BTCUSDT",
        "standardCommission": {"maker": "0.00075000", "taker": "0.00090000", "buyer": "0", "seller": "0"},
        "taxCommission": {"maker": "0.00000100", "taker": "0.00000200", "buyer": "0", "seller": "0"},
        "discount": {"enabledForAccount": True, "enabledForSymbol": True, "discountAsset": "BNB",
                     "discount": "0.75000000"}})
    info = await venue.symbol_info(["BTC/USDT"])
    assert edge[0].seen[0].query == "symbols=%5B%22BTCUSDT%22%5D" and edge[0].seen[0].api_key is None
    assert edge[0].signed(1) == {"symbol": "BTCUSDT"}
    assert info["BTC/USDT"] == msgspec.structs.replace(BTC, maker_fee=0.00075 + 0.000001,
                                                       taker_fee=0.0009 + 0.000002)


async def test_symbol_info_without_credentials_uses_the_default_fee_and_reports_halted_symbols(edge) -> None:
    edge[0].reply("GET", "/api/v3/exchangeInfo", exchange_info())
    venue = BinanceVenue(rest_url=edge[1])
    try:
        info = await venue.symbol_info(["BTC/USDT", "ETH/USDT"])
    finally:
        await venue.close()
    assert [s.path for s in edge[0].seen] == ["/api/v3/exchangeInfo"]
    assert info["BTC/USDT"].taker_fee == 0.001 and info["BTC/USDT"].trading
    assert not info["ETH/USDT"].trading and info["ETH/USDT"].tick_size == 0


async def test_symbol_missing_from_exchange_info_is_an_error(edge) -> None:
    edge[0].reply("GET", "/api/v3/exchangeInfo", exchange_info())
    venue = BinanceVenue(rest_url=edge[1])
    try:
        with pytest.raises(errors.ExchangeError, match="SOLUSDT"):
            await venue.symbol_info(["SOL/USDT"])
    finally:
        await venue.close()


async def test_balances_are_read_from_the_signed_account_endpoint(edge, venue) -> None:
    edge[0].reply("GET", "/api/v3/account", {"makerCommission": 15, "canTrade": True, "balances": [
        {"asset": "BTC", "free": "4723846.89208129", "locked": "0.00000000"},
        {"asset": "LTC", "free": "4763368.68006011", "locked": "1.50000000"}]})
    balances = await venue.balances()
    assert edge[0].seen[0].path == "/api/v3/account" and edge[0].signed() == {"omitZeroBalances": "true"}
    assert balances.free("BTC") == 4723846.89208129 and balances.balances[1].locked == 1.5


PLACE = [
    (OrderIntent(client_order_id="opp1-buy", opportunity_id="opp1", venue="binance", symbol="BTC/USDT", side="buy",
                 order_type="limit", qty=0.123456, price=30000.129),
     {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.12345",
      "price": "30000.12", "newClientOrderId": "opp1-buy"}),
    (OrderIntent(client_order_id="opp1-sell", opportunity_id="opp1", venue="binance", symbol="BTC/USDT",
                 side="sell", order_type="ioc", qty=0.5, price=30000.121),
     {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "IOC", "quantity": "0.5",
      "price": "30000.13", "newClientOrderId": "opp1-sell"}),
    (OrderIntent(client_order_id="opp2-buy", opportunity_id="opp2", venue="binance", symbol="BTC/USDT", side="buy",
                 order_type="market", quote_qty=100.0),
     {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "100",
      "newClientOrderId": "opp2-buy"}),
    (OrderIntent(client_order_id="opp2-sell", opportunity_id="opp2", venue="binance", symbol="BTC/USDT",
                 side="sell", order_type="market", qty=0.001),
     {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001", "newClientOrderId": "opp2-sell"}),
]


@pytest.mark.parametrize(("intent", "params"), PLACE)
async def test_place_order_sends_exact_decimal_fields_signed(edge, venue, intent, params) -> None:
    venue._info["BTC/USDT"] = BTC  # static rules already fetched
    edge[0].reply("POST", "/api/v3/order", order_json(clientOrderId=intent.client_order_id))
    await venue.place_order(intent)
    assert [s.path for s in edge[0].seen] == ["/api/v3/order"]
    sent = edge[0].signed()
    assert list(sent) == list(params) and sent == params  # documented parameter order, too
    assert venue._rest.limits.bucket("orders").wait_time(10) > 0  # one ORDERS token spent


async def test_filled_order_reply_becomes_an_update_with_fees_summed(edge, venue) -> None:
    venue._info["BTC/USDT"] = BTC
    edge[0].reply("POST", "/api/v3/order", order_json(
        type="MARKET", price="0.00000000", origQty="1.00000000", executedQty="1.00000000",
        cummulativeQuoteQty="30000.50000000", status="FILLED", fills=[
            {"price": "30000.00", "qty": "0.5", "commission": "0.0005", "commissionAsset": "BTC", "tradeId": 1},
            {"price": "30001.00", "qty": "0.5", "commission": "0.0005", "commissionAsset": "BTC", "tradeId": 2}]))
    update = await venue.place_order(PLACE[3][0])
    assert (update.status, update.order_type, update.price, update.order_id) == ("filled", "market", None, "28")
    assert (update.filled_qty, update.filled_quote, update.fee, update.fee_asset) == (1.0, 30000.5, 0.001, "BTC")
    assert update.avg_price == 30000.5 and update.ts_ms == 1507725176595


async def test_order_below_min_notional_is_rejected_locally_without_a_request(edge, venue) -> None:
    venue._info["BTC/USDT"] = BTC
    tiny = msgspec.structs.replace(PLACE[0][0], qty=0.0001, price=10.0)
    with pytest.raises(errors.OrderRejected) as info:
        await venue.place_order(tiny)
    assert info.value.code == "local" and edge[0].seen == []


async def test_place_order_fetches_symbol_rules_once(edge, venue) -> None:
    edge[0].reply("GET", "/api/v3/exchangeInfo", exchange_info())
    edge[0].reply("GET", "/api/v3/account/commission", {"standardCommission": {"maker": "0.001", "taker": "0.001"}})
    edge[0].reply("POST", "/api/v3/order", order_json())
    await venue.place_order(PLACE[0][0])
    await venue.place_order(PLACE[0][0])
    assert [s.path for s in edge[0].seen] == [
        "/api/v3/exchangeInfo", "/api/v3/account/commission", "/api/v3/order", "/api/v3/order"]


def trade_json(qty: str, commission: str, asset: str, *, order_id: int = 28, price: str = "30000.10000000") -> dict:
    """One row of GET /api/v3/myTrades, the documented shape."""
    return {"symbol": "BTCUSDT", "id": 28457, "orderId": order_id, "orderListId": -1, "price": price, "qty": qty,
            "quoteQty": "0", "commission": commission, "commissionAsset": asset, "time": 1499865549590,
            "isBuyer": True, "isMaker": False, "isBestMatch": True}


async def test_cancel_order_names_the_original_client_id_and_reads_the_fee_of_what_filled(edge, venue) -> None:
    edge[0].reply("DELETE", "/api/v3/order", order_json(
        clientOrderId="cancelMyOrder1", origClientOrderId="opp1-buy", status="CANCELED", executedQty="0.00100000"))
    edge[0].reply("GET", "/api/v3/myTrades", [trade_json("0.00100000", "0.00000100", "BTC")])
    update = await venue.cancel_order("BTC/USDT", "opp1-buy")
    assert edge[0].signed(0) == {"symbol": "BTCUSDT", "origClientOrderId": "opp1-buy"}
    assert edge[0].signed(1) == {"symbol": "BTCUSDT", "orderId": "28"}
    assert (update.client_order_id, update.status, update.filled_qty) == ("opp1-buy", "canceled", 0.001)
    assert (update.fee, update.fee_asset) == (0.000001, "BTC")


async def test_a_final_filled_order_read_back_gets_its_exact_fee_from_its_trades_at_weight_5(edge, venue) -> None:
    """GET /api/v3/order has no fills: the fee is the order's trades' commissions (another
    order's trade in the reply is not counted), and myTrades with orderId spends weight 5."""
    edge[0].reply("GET", "/api/v3/order", order_json(status="FILLED", executedQty="0.12300000",
                                                     cummulativeQuoteQty="3690.01230000"))
    edge[0].reply("GET", "/api/v3/myTrades", [
        trade_json("0.10000000", "0.00010000", "BNB"), trade_json("0.02300000", "0.00002300", "BNB"),
        trade_json("0.50000000", "0.50000000", "BNB", order_id=29)])
    update = await venue.order_by_client_id("BTC/USDT", "opp1-buy")
    assert [s.path for s in edge[0].seen] == ["/api/v3/order", "/api/v3/myTrades"]
    assert (update.fee, update.fee_asset) == (pytest.approx(0.000123), "BNB")
    bucket = venue._rest.limits.bucket("weight")
    assert bucket.wait_time(6000 - 9) == 0 and bucket.wait_time(6000 - 8) > 0  # 4 (order) + 5 (myTrades)


async def test_a_filled_full_reply_with_base_and_quote_commissions_is_one_fee_in_quote(edge, venue) -> None:
    venue._info["BTC/USDT"] = BTC
    edge[0].reply("POST", "/api/v3/order", order_json(
        type="MARKET", price="0.00000000", origQty="1.00000000", executedQty="1.00000000",
        cummulativeQuoteQty="30000.50000000", status="FILLED", fills=[
            {"price": "30000.00", "qty": "0.5", "commission": "0.0005", "commissionAsset": "BTC", "tradeId": 1},
            {"price": "30001.00", "qty": "0.5", "commission": "15.0005", "commissionAsset": "USDT", "tradeId": 2}]))
    update = await venue.place_order(PLACE[3][0])
    assert (update.fee, update.fee_asset) == (pytest.approx(0.0005 * 30000.0 + 15.0005), "USDT")


@pytest.mark.parametrize(("status", "body", "headers"), [
    (503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}, {}),
    (429, {"code": -1003, "msg": "Too much request weight used"}, {"Retry-After": "1"}),
])
async def test_trades_unreadable_for_a_transient_reason_leave_the_fee_unreported_and_say_so(
        edge, venue, caplog, status, body, headers) -> None:
    """The order's state is known: the read back still answers; the fee is left for the
    executor to estimate (fee_asset "") and a warning names the order."""
    edge[0].reply("GET", "/api/v3/order", order_json(status="FILLED", executedQty="0.12300000",
                                                     cummulativeQuoteQty="3690.01230000"))
    edge[0].reply("GET", "/api/v3/myTrades", body, status=status, headers=headers)
    with caplog.at_level("WARNING", logger="arbor.fees"):
        update = await venue.order_by_client_id("BTC/USDT", "opp1-buy")
    assert (update.status, update.filled_qty, update.fee, update.fee_asset) == ("filled", 0.123, 0.0, "")
    assert "binance order 28 (opp1-buy)" in caplog.text and "fee left unreported" in caplog.text


async def test_an_unfilled_or_open_order_read_back_does_not_ask_for_trades(edge, venue) -> None:
    for status, executed in (("EXPIRED", "0.00000000"), ("PARTIALLY_FILLED", "0.00100000")):
        edge[0].reply("GET", "/api/v3/order", order_json(status=status, executedQty=executed))
        await venue.order_by_client_id("BTC/USDT", "opp1-buy")
    assert [s.path for s in edge[0].seen] == ["/api/v3/order", "/api/v3/order"]


async def test_cancel_all_returns_each_canceled_order_and_skips_order_lists(edge, venue) -> None:
    edge[0].reply("DELETE", "/api/v3/openOrders", [
        order_json(clientOrderId="c1", origClientOrderId="a", status="CANCELED"),
        {"orderListId": 1929, "contingencyType": "OCO", "listStatusType": "ALL_DONE", "orders": []},
        order_json(clientOrderId="c2", origClientOrderId="b", status="CANCELED", timeInForce="IOC")])
    updates = await venue.cancel_all("BTC/USDT")
    assert edge[0].seen[0].method == "DELETE" and edge[0].signed() == {"symbol": "BTCUSDT"}
    assert [(u.client_order_id, u.order_type) for u in updates] == [("a", "limit"), ("b", "ioc")]


async def test_cancel_all_with_nothing_open_is_an_empty_list(edge, venue) -> None:
    edge[0].reply("DELETE", "/api/v3/openOrders", {"code": -2011, "msg": "Unknown order sent."}, status=400)
    assert await venue.cancel_all("BTC/USDT") == []


async def test_order_by_client_id_queries_by_orig_client_order_id(edge, venue) -> None:
    edge[0].reply("GET", "/api/v3/order", order_json(status="PARTIALLY_FILLED", executedQty="0.1",
                                                     cummulativeQuoteQty="3000.01", updateTime=1499827319559))
    update = await venue.order_by_client_id("BTC/USDT", "opp1-buy")
    assert edge[0].signed() == {"symbol": "BTCUSDT", "origClientOrderId": "opp1-buy"}
    assert (update.status, update.filled_qty, update.client_order_id) == ("partially_filled", 0.1, "opp1-buy")


async def test_unknown_order_query_raises_order_not_found(edge, venue) -> None:
    edge[0].reply("GET", "/api/v3/order", {"code": -2013, "msg": "Order does not exist."}, status=400)
    with pytest.raises(errors.OrderNotFound):
        await venue.order_by_client_id("BTC/USDT", "never-sent")


async def test_open_orders_lists_every_order(edge, venue) -> None:
    edge[0].reply("GET", "/api/v3/openOrders", [order_json(clientOrderId="a"), order_json(clientOrderId="b")])
    updates = await venue.open_orders("BTC/USDT")
    assert edge[0].signed() == {"symbol": "BTCUSDT"} and [u.client_order_id for u in updates] == ["a", "b"]


async def test_429_with_retry_after_raises_rate_limited_and_pauses_the_buckets(edge, venue) -> None:
    edge[0].reply("GET", "/api/v3/depth", {"code": -1003, "msg": "Too many requests."}, status=429,
                  headers={"Retry-After": "7"})
    with pytest.raises(errors.RateLimited) as info:
        await venue.depth_snapshot("BTC/USDT")
    assert info.value.retry_after_s == 7.0 and info.value.status == 429
    assert venue._rest.limits.bucket("weight").wait_time(1) == 7.0  # the frozen clock: exactly the pause
    assert venue._rest.limits.bucket("orders").wait_time(1) == 7.0


async def test_signed_calls_without_credentials_fail_before_sending(edge) -> None:
    venue = BinanceVenue(rest_url=edge[1])
    try:
        with pytest.raises(errors.AuthError):
            await venue.balances()
    finally:
        await venue.close()
    assert edge[0].seen == []


async def test_undecodable_reply_is_a_decode_error_with_an_excerpt(edge, venue) -> None:
    edge[0].reply("GET", "/api/v3/depth", {"lastUpdateId": "soon"})
    with pytest.raises(errors.DecodeError) as info:
        await venue.depth_snapshot("BTC/USDT")
    assert "soon" in info.value.excerpt
