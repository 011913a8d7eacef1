"""A venue's REST edge on loopback for the reply-decoding tests: one valid reply per venue and
(method, path), every REST call of the Venue interface with the path it decodes, a stdlib HTTP
server (in a thread) answering each path with the body a test sets, the production adapter on
its own event loop (``Bench``), and what "usable" means for a decoded value (``assert_usable``).
Also: depth frames of each venue built from given levels."""

from __future__ import annotations

import asyncio
import http.server
import json
import math
import threading
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from protocols.binance import BinanceVenue
from protocols.gateio import GateVenue
from protocols.messages import (
    Balances,
    BookDelta,
    BookSnapshot,
    OrderIntent,
    OrderUpdate,
    SymbolInfo,
)
from protocols.mexc import MexcVenue, push_pb2
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
        self.adapter = self._fresh_adapter()
        self.reset()

    def _fresh_adapter(self) -> Any:
        adapter = ADAPTERS[self.name](rest_url=self.edge.url, symbols=("BTC/USDT",),
                                      credentials=Credentials("key", "secret"))
        # the venue's real limits (MEXC's account endpoint: 2/s) would make fuzzing crawl
        names = list(adapter._rest.limits._buckets)
        adapter._rest.limits = RateLimits({n: TokenBucket(1e9, 1e9) for n in names})
        return adapter

    def reset(self) -> None:
        self.edge.bodies = {k: json.dumps(v).encode() for k, v in REPLIES[self.name].items()}

    def call(self, method: str, path: str, body: bytes, fn: Call) -> Any:
        """One request against a fresh adapter: nothing an earlier example cached (symbol rules)
        may change this one's outcome, or hypothesis sees a flaky test."""
        self.reset()
        self.edge.bodies[(method, path)] = body
        self.loop.run_until_complete(self.adapter.close())
        self.adapter = self._fresh_adapter()
        return self.loop.run_until_complete(fn(self.adapter))

    def close(self) -> None:
        self.loop.run_until_complete(self.adapter.close())
        self.loop.close()
        self.edge.shutdown()
        self.edge.server_close()
        self.thread.join()


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


def adapter(venue: str) -> Any:
    """The production adapter of ``venue`` for decoding frames (no server behind it)."""
    return ADAPTERS[venue](symbols=("BTC/USDT",))
