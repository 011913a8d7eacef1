"""No unusable number reaches a decision: every venue's WebSocket and REST reply decoders turn
NaN, infinity, a price <= 0, a negative quantity or a backwards sequence range into
``DecodeError`` (with an excerpt), and hypothesis checks that ANY reply raises only the
documented errors or decodes to finite, valid values.

REST replies come from a real HTTP server on 127.0.0.1:0 (stdlib, in a thread) that answers
each (method, path) with a body the test sets; the adapters are the production ones.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import math
import threading
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from protocols.binance import BinanceVenue
from protocols.binance.rest import map_error as binance_map_error
from protocols.errors import DecodeError, ExchangeError
from protocols.gateio import GateVenue
from protocols.gateio.rest import map_error as gate_map_error
from protocols.messages import (
    Balances,
    BookDelta,
    BookSnapshot,
    OrderIntent,
    OrderUpdate,
    SymbolInfo,
)
from protocols.mexc import MexcVenue, push_pb2
from protocols.mexc.rest import map_error as mexc_map_error
from protocols.numbers import MAX_TS_MS
from protocols.ratelimit import RateLimits, TokenBucket
from protocols.venue import Control, Credentials

# --- valid replies, per venue and (method, path) ---------------------------------------------------

BINANCE_ORDER = {"symbol": "BTCUSDT", "orderId": 28, "clientOrderId": "arb1b", "transactTime": 1507725176595,
                 "price": "100.00", "origQty": "1.0", "executedQty": "1.0", "cummulativeQuoteQty": "100.0",
                 "status": "FILLED", "timeInForce": "IOC", "type": "LIMIT", "side": "BUY",
                 "fills": [{"price": "100.00", "qty": "1.0", "commission": "0.001", "commissionAsset": "BTC"}]}
BINANCE = {
    ("GET", "/api/v3/depth"): {"lastUpdateId": 1027024, "bids": [["4.00000000", "431.00000000"]],
                               "asks": [["4.00000200", "12.00000000"]]},
    ("GET", "/api/v3/exchangeInfo"): {"symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "stepSize": "0.00001000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000"}]}]},
    ("GET", "/api/v3/account/commission"): {"symbol": "BTCUSDT",
                                            "standardCommission": {"maker": "0.001", "taker": "0.001"},
                                            "taxCommission": {"maker": "0", "taker": "0"}},
    ("GET", "/api/v3/account"): {"balances": [{"asset": "BTC", "free": "4723846.89208129", "locked": "0.0"}]},
    ("POST", "/api/v3/order"): BINANCE_ORDER,
    ("GET", "/api/v3/order"): BINANCE_ORDER,
    ("DELETE", "/api/v3/order"): {**BINANCE_ORDER, "status": "CANCELED", "origClientOrderId": "arb1b"},
    ("GET", "/api/v3/openOrders"): [{**BINANCE_ORDER, "status": "NEW", "executedQty": "0"}],
    ("DELETE", "/api/v3/openOrders"): [{**BINANCE_ORDER, "status": "CANCELED"}],
}
GATE_ORDER = {"id": "1852454420", "text": "t-abc123", "update_time_ms": 1710488334074, "status": "closed",
              "currency_pair": "BTC_USDT", "type": "limit", "side": "buy", "amount": "0.001", "price": "65000",
              "time_in_force": "ioc", "left": "0", "filled_amount": "0.001", "filled_total": "63.4693",
              "avg_deal_price": "63469.3", "fee": "0.000002", "fee_currency": "BTC", "finish_as": "filled"}
GATE = {
    ("GET", "/api/v4/spot/order_book"): {"id": 123456, "current": 1623898993123, "update": 1623898993121,
                                         "asks": [["1.52", "1.151"]], "bids": [["1.17", "201.863"]]},
    ("GET", "/api/v4/spot/currency_pairs"): [{"id": "BTC_USDT", "base": "BTC", "quote": "USDT", "fee": "0.2",
                                              "min_base_amount": "0.0001", "min_quote_amount": "3",
                                              "amount_precision": 4, "precision": 2, "trade_status": "tradable"}],
    ("GET", "/api/v4/spot/fee"): {"taker_fee": "0.002", "maker_fee": "0.001"},
    ("GET", "/api/v4/spot/accounts"): [{"currency": "USDT", "available": "1000.5", "locked": "12.25"}],
    ("POST", "/api/v4/spot/orders"): GATE_ORDER,
    ("GET", "/api/v4/spot/orders/t-abc123"): GATE_ORDER,
    ("DELETE", "/api/v4/spot/orders/t-abc123"): {**GATE_ORDER, "finish_as": "cancelled"},
    ("GET", "/api/v4/spot/orders"): [{**GATE_ORDER, "status": "open", "left": "0.001", "filled_amount": "0"}],
    ("DELETE", "/api/v4/spot/orders"): [{**GATE_ORDER, "finish_as": "cancelled"}],
}
MEXC_ORDER = {"symbol": "BTCUSDT", "orderId": "c0ffee", "clientOrderId": "abc123", "price": "100", "origQty": "2",
              "executedQty": "0.5", "cummulativeQuoteQty": "50", "status": "PARTIALLY_CANCELED",
              "type": "IMMEDIATE_OR_CANCEL", "side": "SELL", "time": 5, "updateTime": 6}
MEXC = {
    ("GET", "/api/v3/depth"): {"lastUpdateId": 1112416, "bids": [["15.00000", "49999.00000"]],
                               "asks": [["15.00001", "2.00000"]]},
    ("GET", "/api/v3/exchangeInfo"): {"symbols": [{
        "symbol": "BTCUSDT", "status": "1", "baseAsset": "BTC", "baseAssetPrecision": 6, "quoteAsset": "USDT",
        "quotePrecision": 2, "isSpotTradingAllowed": True, "makerCommission": "0", "takerCommission": "0.0005",
        "baseSizePrecision": "0.000001", "quoteAmountPrecision": "1"}]},
    ("GET", "/api/v3/account"): {"balances": [{"asset": "BTC", "free": "1.5", "locked": "0"}]},
    ("POST", "/api/v3/order"): {"symbol": "BTCUSDT", "orderId": "06a4", "price": "100.01", "origQty": "0.5",
                                "type": "LIMIT", "side": "BUY", "transactTime": 1666676533741},
    ("GET", "/api/v3/order"): MEXC_ORDER,
    ("DELETE", "/api/v3/order"): MEXC_ORDER,
    ("GET", "/api/v3/openOrders"): [{**MEXC_ORDER, "status": "NEW"}],
    ("DELETE", "/api/v3/openOrders"): [{**MEXC_ORDER, "status": "CANCELED"}],
}
REPLIES = {"binance": BINANCE, "gateio": GATE, "mexc": MEXC}


def intent(venue: str) -> OrderIntent:
    return OrderIntent(client_order_id="abc123", opportunity_id="o1", venue=venue, symbol="BTC/USDT", side="buy",
                       order_type="ioc", qty=0.01, price=100.0)


Call = Callable[[Any], Awaitable[Any]]


def _calls(venue: str, depth: str, info: str, balances: str, order: str, one: str, open_: str
           ) -> list[tuple[str, str, Call]]:
    """Every REST call of the Venue interface, and the (method, path) whose reply it decodes."""
    return [
        ("GET", depth, lambda v: v.depth_snapshot("BTC/USDT", 100)),
        ("GET", info, lambda v: v.symbol_info(["BTC/USDT"])),
        ("GET", balances, lambda v: v.balances()),
        ("POST", order, lambda v: v.place_order(intent(venue))),
        ("GET", one, lambda v: v.order_by_client_id("BTC/USDT", "abc123")),
        ("DELETE", one, lambda v: v.cancel_order("BTC/USDT", "abc123")),
        ("GET", open_, lambda v: v.open_orders("BTC/USDT")),
        ("DELETE", open_, lambda v: v.cancel_all("BTC/USDT")),
    ]


CALLS: dict[str, list[tuple[str, str, Call]]] = {
    "binance": _calls("binance", "/api/v3/depth", "/api/v3/exchangeInfo", "/api/v3/account", "/api/v3/order",
                      "/api/v3/order", "/api/v3/openOrders"),
    "gateio": _calls("gateio", "/api/v4/spot/order_book", "/api/v4/spot/currency_pairs", "/api/v4/spot/accounts",
                     "/api/v4/spot/orders", "/api/v4/spot/orders/t-abc123", "/api/v4/spot/orders"),
    "mexc": _calls("mexc", "/api/v3/depth", "/api/v3/exchangeInfo", "/api/v3/account", "/api/v3/order",
                   "/api/v3/order", "/api/v3/openOrders"),
}
CALLS["binance"].append(("GET", "/api/v3/account/commission", lambda v: v.symbol_info(["BTC/USDT"])))
CALLS["gateio"].append(("GET", "/api/v4/spot/fee", lambda v: v.symbol_info(["BTC/USDT"])))
ADAPTERS = {"binance": BinanceVenue, "gateio": GateVenue, "mexc": MexcVenue}


# --- a venue's edge on loopback ---------------------------------------------------------------------


class Edge(http.server.ThreadingHTTPServer):
    """Answers each (method, path) with ``bodies[(method, path)]`` (raw bytes)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: dict[tuple[str, str], bytes] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Edge
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed ACK

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = self.server.bodies.get((self.command, self.path.partition("?")[0]), b'{"label":"NOT_SET"}')
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


class Bench:
    """One venue adapter on its own event loop, against an ``Edge``; ``call`` runs one request."""

    def __init__(self, venue: str) -> None:
        self.edge = Edge()
        self.thread = threading.Thread(target=self.edge.serve_forever, name="edge", daemon=True)
        self.thread.start()
        self.loop = asyncio.new_event_loop()
        self.name = venue
        self.adapter = ADAPTERS[venue](rest_url=self.edge.url, symbols=("BTC/USDT",),
                                       credentials=Credentials("key", "secret"))
        # the venue's real limits (MEXC's account endpoint: 2/s) would make fuzzing crawl
        names = list(self.adapter._rest.limits._buckets)
        self.adapter._rest.limits = RateLimits({n: TokenBucket(1e9, 1e9) for n in names})
        self.reset()

    def reset(self) -> None:
        self.edge.bodies = {k: json.dumps(v).encode() for k, v in REPLIES[self.name].items()}

    def call(self, method: str, path: str, body: bytes, fn: Call) -> Any:
        self.reset()
        self.edge.bodies[(method, path)] = body
        return self.loop.run_until_complete(fn(self.adapter))

    def close(self) -> None:
        self.loop.run_until_complete(self.adapter.close())
        self.loop.close()
        self.edge.shutdown()
        self.edge.server_close()
        self.thread.join()


@pytest.fixture(scope="module", params=sorted(REPLIES))
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    b = Bench(request.param)
    try:
        yield b
    finally:
        b.close()


# --- what "usable" means ------------------------------------------------------------------------


def _finite(x: float, *, low: float = 0.0, strict: bool = False) -> bool:
    return math.isfinite(x) and (x > low if strict else x >= low)


def _levels_ok(levels: Any) -> bool:
    return all(_finite(p, strict=True) and _finite(q) for p, q in levels)


def assert_usable(result: Any) -> None:
    """Every number a decision could read is finite, and prices > 0, quantities >= 0."""
    match result:
        case list():
            for item in result:
                assert_usable(item)
        case dict():
            for item in result.values():
                assert_usable(item)
        case OrderUpdate():
            assert all(_finite(x) for x in (result.qty, result.filled_qty, result.filled_quote)), result
            assert result.price is None or _finite(result.price, strict=True), result
            assert math.isfinite(result.fee) and 0 <= result.ts_ms <= MAX_TS_MS, result
        case BookSnapshot() | BookDelta():
            assert _levels_ok(result.bids) and _levels_ok(result.asks), result
            seqs = (result.seq,) if isinstance(result, BookSnapshot) else (result.first_seq, result.last_seq)
            assert all(s >= 0 for s in seqs) and seqs == tuple(sorted(seqs)), result
        case Balances():
            assert all(_finite(b.free) and _finite(b.locked) for b in result.balances), result
        case SymbolInfo():
            for d in (result.tick_size, result.step_size, result.min_qty, result.min_notional):
                assert isinstance(d, Decimal) and d.is_finite() and d >= 0, result
            assert math.isfinite(result.maker_fee) and math.isfinite(result.taker_fee), result
        case Control() | None:
            pass
        case _:
            raise AssertionError(f"unexpected result {result!r}")


# --- explicit cases -------------------------------------------------------------------------------

BAD_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400"]


@pytest.mark.parametrize("bad", BAD_NUMBERS + ["0", "-1"])
def test_depth_snapshot_with_an_unusable_price_raises_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][0]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    reply["bids"][0][0] = bad
    with pytest.raises(DecodeError) as info:
        bench.call(method, path, json.dumps(reply).encode(), fn)
    assert bad in info.value.excerpt


@pytest.mark.parametrize("bad", BAD_NUMBERS + ["-1"])
def test_depth_snapshot_with_an_unusable_quantity_raises_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][0]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    reply["asks"][0][1] = bad
    with pytest.raises(DecodeError):
        bench.call(method, path, json.dumps(reply).encode(), fn)


def test_depth_snapshot_with_a_zero_quantity_level_still_decodes(bench: Bench) -> None:
    method, path, fn = CALLS[bench.name][0]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    reply["asks"][0][1] = "0"
    assert bench.call(method, path, json.dumps(reply).encode(), fn).asks[0][1] == 0.0


ORDER_FIELDS = {"binance": ["executedQty", "cummulativeQuoteQty", "price", "transactTime"],
                "gateio": ["amount", "filled_total", "fee", "update_time_ms"],
                "mexc": ["executedQty", "cummulativeQuoteQty", "price", "updateTime"]}


@pytest.mark.parametrize("bad", BAD_NUMBERS + ["-1"])
def test_order_reply_with_an_unusable_number_raises_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][4]  # order_by_client_id
    for field in ORDER_FIELDS[bench.name]:
        reply = {**REPLIES[bench.name][(method, path)], field: bad}
        if field == "fee" and bad == "-1":
            continue  # a negative fee is a rebate
        with pytest.raises(DecodeError):
            bench.call(method, path, json.dumps(reply).encode(), fn)


def test_gate_order_reply_with_infinite_update_time_is_a_decode_error_not_overflow() -> None:
    b = Bench("gateio")
    try:
        method, path, fn = CALLS["gateio"][4]
        with pytest.raises(DecodeError, match="update_time_ms"):
            b.call(method, path, json.dumps({**GATE_ORDER, "update_time_ms": "inf"}).encode(), fn)
    finally:
        b.close()


def test_gate_quote_sized_fill_that_overflows_is_a_decode_error() -> None:
    b = Bench("gateio")
    try:
        method, path, fn = CALLS["gateio"][4]
        reply = {**GATE_ORDER, "type": "market", "filled_amount": None, "filled_total": "1e300",
                 "avg_deal_price": "1e-300"}
        del reply["filled_amount"]
        with pytest.raises(DecodeError, match="qty=inf"):
            b.call(method, path, json.dumps(reply).encode(), fn)
    finally:
        b.close()


@pytest.mark.parametrize("bad", ["-1", "nan", "inf"])
def test_balances_with_an_unusable_amount_raise_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][2]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    rows = reply if isinstance(reply, list) else reply["balances"]
    rows[0]["locked"] = bad
    with pytest.raises(DecodeError):
        bench.call(method, path, json.dumps(reply).encode(), fn)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-1", "sNaN"])
def test_symbol_rules_with_an_unusable_minimum_raise_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][1]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    match bench.name:
        case "binance":
            reply["symbols"][0]["filters"][1]["minQty"] = bad
        case "gateio":
            reply[0]["min_base_amount"] = bad
        case "mexc":
            reply["symbols"][0]["baseSizePrecision"] = bad
    with pytest.raises(DecodeError):
        bench.call(method, path, json.dumps(reply).encode(), fn)


def _binance_frame(bids: list[list[str]], first: int = 157, last: int = 160) -> bytes:
    data = {"e": "depthUpdate", "E": 1672515782136, "s": "BTCUSDT", "U": first, "u": last, "b": bids, "a": []}
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": data}).encode()


def _gate_frame(bids: list[list[str]], first: int = 48776301, last: int = 48776306) -> bytes:
    result = {"t": 1606294781123, "s": "BTC_USDT", "U": first, "u": last, "b": bids, "a": []}
    return json.dumps({"channel": "spot.order_book_update", "event": "update", "result": result}).encode()


def _mexc_frame(bids: list[list[str]], first: int = 10, last: int = 12) -> bytes:
    wrapper = push_pb2.PushDataV3ApiWrapper(channel="spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
                                            symbol="BTCUSDT", sendTime=1)
    body = wrapper.publicAggreDepths
    body.fromVersion, body.toVersion = str(first), str(last)
    for price, qty in bids:
        body.bids.add(price=price, quantity=qty)
    return wrapper.SerializeToString()


FRAMES = {"binance": _binance_frame, "gateio": _gate_frame, "mexc": _mexc_frame}


def _adapter(venue: str) -> Any:
    return ADAPTERS[venue](symbols=("BTC/USDT",))


@pytest.mark.parametrize("venue", sorted(FRAMES))
@pytest.mark.parametrize("level", [["nan", "1"], ["inf", "1"], ["0", "1"], ["-2", "1"], ["1", "-1"],
                                   ["1", "nan"], ["1", "inf"], ["1e400", "1"]])
def test_depth_frame_with_an_unusable_level_raises_decode_error_with_an_excerpt(venue: str, level: list[str]) -> None:
    with pytest.raises(DecodeError) as info:
        _adapter(venue).decode(FRAMES[venue]([["100", "1"], level]), 1)
    assert info.value.venue == venue and info.value.excerpt


@pytest.mark.parametrize("venue", sorted(FRAMES))
def test_depth_frame_whose_last_id_precedes_its_first_raises_decode_error(venue: str) -> None:
    with pytest.raises(DecodeError, match="<"):
        _adapter(venue).decode(FRAMES[venue]([["100", "1"]], first=20, last=19), 1)


@pytest.mark.parametrize("venue", sorted(FRAMES))
def test_depth_frame_removing_a_level_with_quantity_zero_still_decodes(venue: str) -> None:
    delta = _adapter(venue).decode(FRAMES[venue]([["100", "0"]]), 1)
    assert isinstance(delta, BookDelta) and delta.bids == ((100.0, 0.0),)


@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "-inf", "1e400"])
@pytest.mark.parametrize("map_error", [binance_map_error, gate_map_error, mexc_map_error],
                         ids=["binance", "gateio", "mexc"])
def test_a_429_whose_retry_after_is_not_finite_waits_a_finite_default(map_error: Any, value: str) -> None:
    headers = {"Retry-After": value, "X-Gate-RateLimit-Reset-Timestamp": value}
    error = map_error(429, b"{}", headers)
    assert math.isfinite(error.retry_after_s) and error.retry_after_s >= 0


# --- fuzzing: any reply raises only the documented errors or decodes to usable values -------------

NASTY = st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e308", "-1", "0",
                         "-0", "", " ", "abc", "1" * 40, "0x10", "1_000", "sNaN", "t-", "FILLED"])
NUMBERISH = st.one_of(NASTY, st.floats(), st.floats().map(repr), st.integers(min_value=-(2**70), max_value=2**70))
LEAF = st.one_of(NASTY, st.floats(), st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=6),
                 st.none(), st.booleans(), st.lists(st.integers(), max_size=2))


def _numeric(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    try:
        return isinstance(value, str) and math.isfinite(float(value))
    except ValueError:
        return False


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with some leaves replaced: a number (or numeric string) often by another number
    or a nasty one (NaN, inf, 1e400, -1...), anything else now and then by any leaf; some keys
    dropped, some lists emptied."""
    if isinstance(value, dict):
        return {k: draw(mutated(v)) for k, v in value.items() if draw(st.integers(0, 12))}
    if isinstance(value, list):
        return [draw(mutated(v)) for v in value] if draw(st.integers(0, 8)) else []
    if _numeric(value):
        return draw(NUMBERISH) if draw(st.integers(0, 2)) == 0 else value
    return draw(LEAF) if draw(st.integers(0, 7)) == 0 else value


def _body(draw: st.DrawFn, sample: Any) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=40))
    return json.dumps(draw(mutated(sample))).encode()  # NaN/Infinity literals included: not JSON


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.data())
def test_any_rest_reply_raises_only_documented_errors_or_decodes_to_usable_values(
        bench: Bench, data: st.DataObject) -> None:
    for method, path, fn in CALLS[bench.name]:
        body = _body(data.draw, REPLIES[bench.name][(method, path)])
        try:
            result = bench.call(method, path, body, fn)
        except (DecodeError, ExchangeError):
            continue
        assert_usable(result)


@FUZZ
@given(status=st.sampled_from([418, 429, 429, 429, 503]) | st.integers(400, 599), body=st.one_of(st.binary(max_size=60), st.builds(
    lambda code, msg, label: json.dumps({"code": code, "msg": msg, "label": label, "message": msg}).encode(),
    LEAF, LEAF, LEAF)), retry=NASTY | st.text(max_size=8))
def test_any_error_reply_maps_to_an_exchange_error(status: int, body: bytes, retry: str) -> None:
    headers = {"Retry-After": retry, "X-Gate-RateLimit-Reset-Timestamp": retry}
    for map_error in (binance_map_error, gate_map_error, mexc_map_error):
        error = map_error(status, body, headers)
        assert isinstance(error, ExchangeError)
        retry_after = getattr(error, "retry_after_s", 0.0)
        assert math.isfinite(retry_after) and retry_after >= 0


WS_SAMPLES = {
    "binance": {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1672515782136, "s": "BTCUSDT",
                                                         "U": 157, "u": 160, "b": [["0.0024", "10"]],
                                                         "a": [["0.0026", "100"]]}},
    "gateio": {"time": 1606294781, "channel": "spot.order_book_update", "event": "update",
               "result": {"t": 1606294781123, "s": "BTC_USDT", "U": 48776301, "u": 48776306,
                          "b": [["19137.74", "0.0001"]], "a": [["19137.75", "0.6135"]], "full": False}},
    "mexc": {"id": 0, "code": 0, "msg": "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"},  # text: control
}


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("venue", ["binance", "gateio", "mexc"])
def test_any_json_frame_raises_decode_error_or_decodes_to_usable_values(venue: str, data: st.DataObject) -> None:
    frame: bytes | str = _body(data.draw, WS_SAMPLES[venue])
    if venue == "mexc":  # MEXC's JSON comes as text frames (binary ones are protobuf pushes)
        frame = frame.decode("utf-8", "replace")
    try:
        result = _adapter(venue).decode(frame, 1)
    except DecodeError:
        return
    assert_usable(result)


@FUZZ
@given(first=st.text(max_size=8) | st.integers(-5, 2**70).map(str), last=st.text(max_size=8) | st.integers(-5, 2**70).map(str),
       levels=st.lists(st.tuples(st.one_of(NASTY, st.floats().map(repr), st.text(max_size=6)),
                                 st.one_of(NASTY, st.floats().map(repr), st.text(max_size=6))), max_size=4),
       send_time=st.integers(-(2**63), 2**63 - 1), noise=st.binary(max_size=8))
def test_any_mexc_push_raises_decode_error_or_decodes_to_usable_values(
        first: str, last: str, levels: list[tuple[str, str]], send_time: int, noise: bytes) -> None:
    wrapper = push_pb2.PushDataV3ApiWrapper(channel="spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
                                            symbol="BTCUSDT", sendTime=send_time)
    body = wrapper.publicAggreDepths
    body.fromVersion, body.toVersion = first, last
    for price, qty in levels:
        body.bids.add(price=price, quantity=qty)
    for frame in (wrapper.SerializeToString(), wrapper.SerializeToString() + noise, noise):
        try:
            result = _adapter("mexc").decode(frame, 1)
        except DecodeError:
            continue
        assert_usable(result)
        if isinstance(result, BookDelta):
            assert 0 <= result.exchange_ts_ms <= MAX_TS_MS

