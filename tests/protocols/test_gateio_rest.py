"""GateVenue REST against a tiny Gate-shaped server on 127.0.0.1:0 (the venue's edge): the exact
requests it sends (path, raw query, body, KEY/Timestamp/SIGN) and the documented responses."""

import json
from decimal import Decimal

import msgspec
import pytest
from aiohttp import web

from protocols.errors import AuthError, OrderNotFound, OrderRejected, RateLimited
from protocols.gateio import GateVenue
from protocols.messages import Balance, OrderIntent, OrderUpdate
from protocols.signing import gate_sign
from protocols.venue import Credentials

NOW = 1541993715
ORDER_BOOK = {"id": 123456, "current": 1623898993123, "update": 1623898993121,
              "asks": [["1.52", "1.151"], ["1.53", "1.218"]], "bids": [["1.17", "201.863"], ["1.16", "725.464"]]}
PAIRS = [
    {"id": "ETH_USDT", "base": "ETH", "quote": "USDT", "fee": "0.2", "min_base_amount": "0.001",
     "min_quote_amount": "1.0", "amount_precision": 3, "precision": 6, "trade_status": "tradable"},
    {"id": "BTC_USDT", "base": "BTC", "quote": "USDT", "fee": "0.2", "min_base_amount": "0.0001",
     "min_quote_amount": "3", "max_base_amount": "10000", "max_quote_amount": "10000000",
     "amount_precision": 4, "precision": 2, "trade_status": "tradable", "sell_start": 1516378650,
     "buy_start": 1516378650, "delisting_time": 0, "type": "normal"},
]
FEE = {"user_id": 10001, "taker_fee": "0.002", "maker_fee": "0.001", "gt_discount": False,
       "gt_taker_fee": "0", "gt_maker_fee": "0", "loan_fee": "0.18", "point_type": "1"}
ACCOUNTS = [{"currency": "ETH", "available": "968.8", "locked": "0", "update_id": 98},
            {"currency": "USDT", "available": "1000.5", "locked": "12.25", "update_id": 7}]
ORDER = {"id": "1852454420", "text": "t-abc123", "amend_text": "-", "create_time": "1710488334",
         "update_time": "1710488334", "create_time_ms": 1710488334073, "update_time_ms": 1710488334074,
         "status": "closed", "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy",
         "amount": "0.001", "price": "65000", "time_in_force": "gtc", "iceberg": "0", "left": "0",
         "filled_amount": "0.001", "fill_price": "63.4693", "filled_total": "63.4693",
         "avg_deal_price": "63469.3", "fee": "0.000002", "fee_currency": "BTC", "point_fee": "0", "gt_fee": "0",
         "gt_discount": False, "rebated_fee": "0", "rebated_fee_currency": "USDT", "finish_as": "filled"}
OPEN_ORDER = {**ORDER, "id": "1852454421", "text": "t-def456", "status": "open", "amount": "0.002",
              "left": "0.0015", "filled_amount": "0.0005", "filled_total": "32.5", "finish_as": "open"}


class Seen(msgspec.Struct):
    method: str
    path: str
    query: str
    headers: dict
    body: str


class Edge:
    """Answers (method, path) from ``routes`` and records every request exactly as received."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.routes: dict[tuple[str, str], tuple[int, object, dict]] = {}
        self.url = ""

    def route(self, method: str, path: str, payload: object, status: int = 200, headers: dict | None = None):
        self.routes[(method, path)] = (status, payload, headers or {})

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(Seen(request.method, request.rel_url.raw_path, request.rel_url.raw_query_string,
                              dict(request.headers), (await request.read()).decode()))
        status, payload, headers = self.routes[(request.method, request.rel_url.raw_path)]
        return web.Response(status=status, body=json.dumps(payload), headers=headers,
                            content_type="application/json")


@pytest.fixture
async def edge():
    server = Edge()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


@pytest.fixture
async def venue(edge):
    adapter = GateVenue(rest_url=edge.url, symbols=("BTC/USDT",), credentials=Credentials("key", "secret"),
                        clock=lambda: NOW + 0.7)
    yield adapter
    await adapter.close()


@pytest.fixture
async def anonymous(edge):
    adapter = GateVenue(rest_url=edge.url, symbols=("BTC/USDT",))
    yield adapter
    await adapter.close()


def assert_signed(seen: Seen) -> None:
    assert seen.headers["KEY"] == "key" and seen.headers["Timestamp"] == str(NOW)
    assert seen.headers["SIGN"] == gate_sign("secret", seen.method, seen.path, seen.query, seen.body, str(NOW))


def intent(**fields) -> OrderIntent:
    base = dict(client_order_id="abc123", opportunity_id="opp1", venue="gateio", symbol="BTC/USDT", side="buy",
                order_type="limit", qty=0.00123456, price=65000.129)
    return OrderIntent(**{**base, **fields})


async def test_depth_snapshot_sends_with_id_and_returns_the_book_with_its_id_as_seq(anonymous, edge):
    edge.route("GET", "/api/v4/spot/order_book", ORDER_BOOK)
    snap = await anonymous.depth_snapshot("BTC/USDT", limit=100)
    [seen] = edge.seen
    assert (seen.path, seen.query) == ("/api/v4/spot/order_book", "currency_pair=BTC_USDT&limit=100&with_id=true")
    assert "SIGN" not in seen.headers and "KEY" not in seen.headers
    assert (snap.venue, snap.symbol, snap.seq, snap.exchange_ts_ms) == ("gateio", "BTC/USDT", 123456, 1623898993121)
    assert snap.bids == ((1.17, 201.863), (1.16, 725.464)) and snap.asks == ((1.52, 1.151), (1.53, 1.218))


async def test_symbol_info_reads_precisions_minimums_and_the_signed_account_fee(venue, edge):
    edge.route("GET", "/api/v4/spot/currency_pairs", PAIRS)
    edge.route("GET", "/api/v4/spot/fee", FEE)
    info = (await venue.symbol_info(["BTC/USDT"]))["BTC/USDT"]
    pairs_request, fee_request = edge.seen
    assert (pairs_request.path, pairs_request.query) == ("/api/v4/spot/currency_pairs", "")
    assert "SIGN" not in pairs_request.headers
    assert (fee_request.path, fee_request.query) == ("/api/v4/spot/fee", "")
    assert_signed(fee_request)
    assert (info.venue_symbol, info.base, info.quote) == ("BTC_USDT", "BTC", "USDT")
    assert (info.tick_size, info.step_size) == (Decimal("0.01"), Decimal("0.0001"))
    assert (info.min_qty, info.min_notional) == (Decimal("0.0001"), Decimal("3"))
    assert (info.maker_fee, info.taker_fee, info.trading) == (0.001, 0.002, True)
    await venue.symbol_info(["BTC/USDT"])
    assert len(edge.seen) == 2, "static symbol rules are fetched once"


async def test_symbol_info_without_credentials_takes_the_pairs_percentage_fee(anonymous, edge):
    edge.route("GET", "/api/v4/spot/currency_pairs", PAIRS)
    info = await anonymous.symbol_info(["ETH/USDT"])
    assert info["ETH/USDT"].taker_fee == pytest.approx(0.002) and info["ETH/USDT"].tick_size == Decimal("0.000001")
    assert [s.path for s in edge.seen] == ["/api/v4/spot/currency_pairs"]


async def test_balances_are_a_signed_get_of_spot_accounts(venue, edge):
    edge.route("GET", "/api/v4/spot/accounts", ACCOUNTS)
    balances = await venue.balances()
    [seen] = edge.seen
    assert (seen.method, seen.path, seen.query, seen.body) == ("GET", "/api/v4/spot/accounts", "", "")
    assert_signed(seen)
    assert balances.balances == (Balance(venue="gateio", asset="ETH", free=968.8, locked=0.0),
                                 Balance(venue="gateio", asset="USDT", free=1000.5, locked=12.25))


@pytest.mark.parametrize(("fields", "expected_body"), [
    pytest.param({}, {"text": "t-abc123", "currency_pair": "BTC_USDT", "type": "limit", "account": "spot",
                      "side": "buy", "amount": "0.0012", "time_in_force": "gtc", "price": "65000.12"},
                 id="limit buy rounds price down to the tick and amount down to the step"),
    pytest.param({"order_type": "ioc", "side": "sell", "price": 65000.121},
                 {"text": "t-abc123", "currency_pair": "BTC_USDT", "type": "limit", "account": "spot",
                  "side": "sell", "amount": "0.0012", "time_in_force": "ioc", "price": "65000.13"},
                 id="ioc sell is a limit with time_in_force ioc and price rounded up"),
    pytest.param({"order_type": "market", "qty": None, "price": None, "quote_qty": 100.456},
                 {"text": "t-abc123", "currency_pair": "BTC_USDT", "type": "market", "account": "spot",
                  "side": "buy", "amount": "100.45", "time_in_force": "ioc"},
                 id="market buy is sized in quote currency"),
    pytest.param({"order_type": "market", "side": "sell", "price": None},
                 {"text": "t-abc123", "currency_pair": "BTC_USDT", "type": "market", "account": "spot",
                  "side": "sell", "amount": "0.0012", "time_in_force": "ioc"},
                 id="market sell is sized in base currency"),
])
async def test_place_order_posts_exact_decimal_strings_with_the_client_text(venue, edge, fields, expected_body):
    edge.route("GET", "/api/v4/spot/currency_pairs", PAIRS)
    edge.route("GET", "/api/v4/spot/fee", FEE)
    edge.route("POST", "/api/v4/spot/orders", ORDER)
    update = await venue.place_order(intent(**fields))
    post = edge.seen[-1]
    assert (post.method, post.path, post.query) == ("POST", "/api/v4/spot/orders", "")
    assert post.headers["Content-Type"] == "application/json"
    assert_signed(post)
    assert json.loads(post.body) == expected_body
    assert update == OrderUpdate(venue="gateio", symbol="BTC/USDT", client_order_id="abc123", order_id="1852454420",
                                 side="buy", order_type="limit", status="filled", price=65000.0, qty=0.001,
                                 filled_qty=0.001, filled_quote=63.4693, fee=0.000002, fee_asset="BTC",
                                 ts_ms=1710488334074)


@pytest.mark.parametrize("fields", [
    pytest.param({"client_order_id": "x" * 29}, id="a client id longer than 28 bytes"),
    pytest.param({"client_order_id": "abc/123"}, id="a client id with a character Gate refuses"),
    pytest.param({"order_type": "market", "price": None}, id="a market buy sized in base currency"),
    pytest.param({"order_type": "market", "side": "sell", "qty": None, "quote_qty": 10.0},
                 id="a market sell sized in quote currency"),
    pytest.param({"qty": 0.00001}, id="a quantity below min_base_amount"),
])
async def test_orders_gate_cannot_take_are_rejected_locally_before_sending(venue, edge, fields):
    edge.route("GET", "/api/v4/spot/currency_pairs", PAIRS)
    edge.route("GET", "/api/v4/spot/fee", FEE)
    with pytest.raises(OrderRejected) as info:
        await venue.place_order(intent(**fields))
    assert info.value.code == "local"
    assert all(s.method == "GET" for s in edge.seen)


async def test_order_by_client_id_uses_the_text_as_the_order_id(venue, edge):
    edge.route("GET", "/api/v4/spot/orders/t-def456", OPEN_ORDER)
    update = await venue.order_by_client_id("BTC/USDT", "def456")
    [seen] = edge.seen
    assert (seen.method, seen.path, seen.query) == ("GET", "/api/v4/spot/orders/t-def456", "currency_pair=BTC_USDT")
    assert_signed(seen)
    assert (update.client_order_id, update.status, update.qty, update.filled_qty) == (
        "def456", "partially_filled", 0.002, 0.0005)


async def test_an_order_read_back_with_gt_deduction_on_has_its_fee_in_gt(venue, edge):
    """GT deduction on: ``fee`` 0 and the commission in ``gt_fee`` (tests/protocols/test_gateio_fees.py
    has every mix of parts)."""
    edge.route("GET", "/api/v4/spot/orders/t-abc123", {**ORDER, "fee": "0", "gt_fee": "0.0037", "gt_discount": True})
    update = await venue.order_by_client_id("BTC/USDT", "abc123")
    assert (update.fee, update.fee_asset) == (0.0037, "GT")


async def test_an_unknown_client_id_raises_order_not_found(venue, edge):
    edge.route("GET", "/api/v4/spot/orders/t-nope", {"label": "ORDER_NOT_FOUND", "message": "Order not found"}, 404)
    with pytest.raises(OrderNotFound):
        await venue.order_by_client_id("BTC/USDT", "nope")


async def test_cancel_order_deletes_by_client_text(venue, edge):
    edge.route("DELETE", "/api/v4/spot/orders/t-def456",
               {**OPEN_ORDER, "status": "cancelled", "finish_as": "cancelled"})
    update = await venue.cancel_order("BTC/USDT", "def456")
    [seen] = edge.seen
    assert (seen.method, seen.path, seen.query) == ("DELETE", "/api/v4/spot/orders/t-def456", "currency_pair=BTC_USDT")
    assert_signed(seen)
    assert (update.status, update.filled_qty) == ("canceled", 0.0005)


async def test_cancelling_a_finished_order_returns_its_final_state(venue, edge):
    edge.route("DELETE", "/api/v4/spot/orders/t-abc123", {"label": "ORDER_CLOSED", "message": "Order closed"}, 400)
    edge.route("GET", "/api/v4/spot/orders/t-abc123", ORDER)
    update = await venue.cancel_order("BTC/USDT", "abc123")
    assert [s.method for s in edge.seen] == ["DELETE", "GET"]
    assert update.status == "filled"


async def test_cancel_all_deletes_every_order_of_the_pair_and_skips_failed_entries(venue, edge):
    cancelled = {**OPEN_ORDER, "status": "cancelled", "finish_as": "cancelled", "succeeded": True}
    failed = {**OPEN_ORDER, "id": "9", "succeeded": False, "label": "ORDER_NOT_FOUND"}
    edge.route("DELETE", "/api/v4/spot/orders", [cancelled, failed])
    updates = await venue.cancel_all("BTC/USDT")
    [seen] = edge.seen
    assert (seen.method, seen.path, seen.query) == ("DELETE", "/api/v4/spot/orders", "currency_pair=BTC_USDT")
    assert_signed(seen)
    assert [u.order_id for u in updates] == ["1852454421"]


async def test_open_orders_lists_status_open_for_the_pair(venue, edge):
    edge.route("GET", "/api/v4/spot/orders", [OPEN_ORDER])
    [update] = await venue.open_orders("BTC/USDT")
    [seen] = edge.seen
    assert (seen.path, seen.query) == ("/api/v4/spot/orders", "currency_pair=BTC_USDT&status=open")
    assert_signed(seen)
    assert update.status == "partially_filled"


async def test_a_429_becomes_rate_limited_with_the_reset_header(edge):
    adapter = GateVenue(rest_url=edge.url, clock=lambda: 1_700_000_000.0)
    edge.route("GET", "/api/v4/spot/order_book", {"label": "TOO_MANY_REQUESTS", "message": "slow down"}, 429,
               {"X-Gate-RateLimit-Reset-Timestamp": "1700000000250"})
    try:
        with pytest.raises(RateLimited) as info:
            await adapter.depth_snapshot("BTC/USDT")
    finally:
        await adapter.close()
    assert info.value.retry_after_s == pytest.approx(0.25)


async def test_private_calls_without_credentials_fail_before_sending(anonymous, edge):
    with pytest.raises(AuthError):
        await anonymous.balances()
    assert edge.seen == []
