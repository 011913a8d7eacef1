"""MEXC spot v3 adapter: the ``Venue`` for MEXC (mexc.md §1 WebSocket, §2 REST).

Endpoints, signing (§2.2: lowercase hex HMAC-SHA256 of query + body, no separator; every
signed parameter goes in the query string, as in the doc's Example 2), the one error mapping
(§2.3, ``map_error``) and per-endpoint token buckets (§2.4). Frame decoding and the sync rule
live in codec.py and sync.py. Nothing real-time is cached; symbol rules (static) are.

Failure modes: every REST call raises from the ``ExchangeError`` tree (``NetworkError`` when
an order's outcome is unknown: timeout, reset, 5xx); a reply that does not parse raises
``DecodeError``; a private call without credentials raises ``AuthError`` before sending.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from protocols.errors import (
    AuthError,
    DecodeError,
    ExchangeError,
    InsufficientBalance,
    NetworkError,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    excerpt,
)
from protocols.fees import with_fills_fee
from protocols.markets import Listing, parse_mexc, volumes_mexc
from protocols.messages import (
    Balance,
    Balances,
    BookDelta,
    BookSnapshot,
    OrderIntent,
    OrderStatus,
    OrderType,
    OrderUpdate,
    SymbolInfo,
)
from protocols.mexc import wire
from protocols.mexc.codec import VENUE, decode_frame, depth_channel
from protocols.mexc.sync import MexcSync
from protocols.numbers import MAX_FLOAT, unusable_update_field
from protocols.ratelimit import RateLimits, TokenBucket, window_bucket
from protocols.rest import RestClient, retry_after
from protocols.rounding import order_fields
from protocols.signing import hmac_sha256_hex, total_params
from protocols.venue import Control, Credentials, venue_symbol

RECV_WINDOW_MS = 5000  # MEXC default; max 60000 (error 700005)

# --- error mapping (§2.3): the one place MEXC's HTTP statuses and codes become Arbor errors ---
AUTH_CODES = frozenset({400, 401, 403, 602, 10072, 10073, 700001, 700002, 700003, 700005,
                        700006, 700007})
BALANCE_CODES = frozenset({10101, 30004})  # insufficient balance / position
REJECT_CODES = frozenset({30002, 30005, 30014, 30016, 30020, 30021, 30029, 33333, 44444,
                          700008})
NOT_FOUND_CODES = frozenset({-2011, -2013})  # "Unknown order sent." / "Order does not exist."


def map_error(status: int, body: bytes, headers: Mapping[str, str]) -> ExchangeError:
    """HTTP status + MEXC ``{"code","msg"}`` body -> the error to raise."""
    try:
        reply = wire.error_decoder.decode(body)
        code, msg = reply.code, reply.msg
    except msgspec.DecodeError:  # HTML from a proxy, empty body...
        code, msg = None, excerpt(body)
    if status in (418, 429) or code == 429:
        return RateLimited(VENUE, code, msg, retry_after_s=retry_after(headers), status=status)
    if status >= 500:  # §2.1: on 5XX the execution status is UNKNOWN
        return NetworkError(VENUE, f"HTTP {status}: code={code} {msg}", status=status)
    if code in AUTH_CODES or (code is None and status == 401):
        return AuthError(VENUE, code, msg, status=status)
    if code in BALANCE_CODES:
        return InsufficientBalance(VENUE, code, msg, status=status)
    if code in NOT_FOUND_CODES or "not exist" in msg.lower() or "unknown order" in msg.lower():
        return OrderNotFound(VENUE, code, msg, status=status)
    if code in REJECT_CODES:
        return OrderRejected(VENUE, code, msg, status=status)
    return ExchangeError(VENUE, code, msg, status=status)


def sign(secret: str, query: str, body: str = "") -> str:
    """§2.2 signature: lowercase hex HMAC-SHA256 of ``query + body`` (no ``&`` between)."""
    return hmac_sha256_hex(secret, total_params(query, body))


# --- status/type vocabulary --------------------------------------------------------------------
_STATUS: dict[str, OrderStatus] = {
    "NEW": "new", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled",
    "CANCELED": "canceled", "PARTIALLY_CANCELED": "canceled",  # final, with some filled
    "REJECTED": "rejected", "EXPIRED": "expired",
}
_TYPE_TO_MEXC: dict[str, str] = {"limit": "LIMIT", "ioc": "IMMEDIATE_OR_CANCEL", "market": "MARKET"}
_TYPE_FROM_MEXC: dict[str, OrderType] = {
    "LIMIT": "limit", "LIMIT_MAKER": "limit", "IMMEDIATE_OR_CANCEL": "ioc",
    "FILL_OR_KILL": "ioc", "MARKET": "market",
}


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(VENUE, f"REST reply: {exc}", body) from exc


def _buckets() -> RateLimits:
    """§2.4: each endpoint has its own 500 per 10 s, spent by the documented weights; the
    account endpoint is also "2 times/s"."""
    per_endpoint = ("exchangeInfo", "depth", "order", "cancel", "query", "openOrders", "cancelAll", "myTrades",
                    "userDataStream", "ticker")
    buckets = {name: window_bucket(500, 10.0) for name in per_endpoint}
    buckets["account"] = TokenBucket(2, 1.0)
    return RateLimits(buckets)


class MexcVenue:
    """The MEXC ``Venue``. WebSocket: at most 30 subscriptions per connection (§1.1), so the
    connection layer opens ``ceil(n / max_streams_per_connection)`` sockets; one
    SUBSCRIPTION frame carries all of a socket's channels."""

    name = VENUE
    max_streams_per_connection = 30
    ping_interval_s = 20.0  # server drops a silent subscribed socket after 1 minute

    def __init__(self, *, rest_url: str = "https://api.mexc.com", ws_url: str = "wss://wbs-api.mexc.com/ws",
                 symbols: Sequence[str] = (), credentials: Credentials | None = None,
                 timeout_s: float = 10.0) -> None:
        self._ws_url = ws_url
        self._credentials = credentials
        self._internal = {venue_symbol(s): s for s in symbols}  # BTCUSDT -> BTC/USDT
        self._channels = {depth_channel(v) for v in self._internal}
        self._rules: dict[str, SymbolInfo] = {}  # static symbol rules, by internal symbol
        self.sync = MexcSync()
        self._rest = RestClient(VENUE, rest_url, limits=_buckets(), map_error=map_error,
                                timeout_s=timeout_s)

    # --- WebSocket, pure -------------------------------------------------------------------------
    def ws_url(self, symbols: Sequence[str]) -> str:
        return self._ws_url

    def _frames(self, method: str, symbols: Sequence[str]) -> list[str]:
        if len(symbols) > self.max_streams_per_connection:
            # MEXC silently invalidates subscriptions above 30 (FAQ Q7): split across sockets
            raise ValueError(f"{len(symbols)} symbols > {self.max_streams_per_connection} per connection")
        if not symbols:
            return []
        params = [depth_channel(venue_symbol(s)) for s in symbols]
        return [msgspec.json.encode({"method": method, "params": params}).decode()]

    def subscribe_frames(self, symbols: Sequence[str]) -> list[str]:
        # A symbol subscribed at run time must decode (and its ack must be recognised) too.
        for s in symbols:
            self._internal[venue_symbol(s)] = s
            self._channels.add(depth_channel(venue_symbol(s)))
        return self._frames("SUBSCRIPTION", symbols)

    def unsubscribe_frames(self, symbols: Sequence[str]) -> list[str]:
        return self._frames("UNSUBSCRIPTION", symbols)

    def ping_frame(self) -> str:
        return '{"method":"PING"}'

    def decode(self, frame: bytes | str, recv_ns: int) -> BookDelta | Control | None:
        return decode_frame(frame, recv_ns, self._internal, self._channels)

    # --- REST, public ----------------------------------------------------------------------------
    async def _get(self, path: str, params: Sequence[tuple[str, str]], bucket: str, weight: float) -> bytes:
        query = urlencode(params, quote_via=quote)
        return (await self._rest.request("GET", path, query=query, bucket=bucket, weight=weight)).body

    async def symbol_info(self, symbols: Sequence[str]) -> dict[str, SymbolInfo]:
        by_venue = {venue_symbol(s): s for s in symbols}
        body = await self._get("/api/v3/exchangeInfo", [("symbols", ",".join(by_venue))], "exchangeInfo", 10)
        found: dict[str, SymbolInfo] = {}
        for rule in _decode(wire.exchange_info_decoder, body).symbols:
            internal = by_venue.get(rule.symbol)
            if internal is None:
                continue
            found[internal] = SymbolInfo(
                symbol=internal, venue_symbol=rule.symbol, base=rule.baseAsset, quote=rule.quoteAsset,
                tick_size=_pow10(rule.quotePrecision), step_size=_pow10(rule.baseAssetPrecision),
                min_qty=rule.baseSizePrecision, min_notional=rule.quoteAmountPrecision,
                maker_fee=rule.makerCommission, taker_fee=rule.takerCommission,
                trading=str(rule.status) in ("1", "ENABLED") and rule.isSpotTradingAllowed)
        self._rules.update(found)
        return found

    async def markets(self) -> list[Listing]:
        """Every symbol of the whole ``exchangeInfo`` (for discovery, ``protocols.markets``)."""
        return parse_mexc(await self._get("/api/v3/exchangeInfo", [], "exchangeInfo", 10))

    async def quote_volumes_24h(self) -> dict[str, float]:
        """``{BTCUSDT: 24 h quote volume}`` of every market (``GET /api/v3/ticker/24hr``, weight 40
        without a symbol)."""
        body = await self._get("/api/v3/ticker/24hr", [], "ticker", 40)
        try:
            return volumes_mexc(body)
        except msgspec.DecodeError as exc:
            raise DecodeError(VENUE, f"24h tickers: {exc}", body) from exc

    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> BookSnapshot:
        body = await self._get("/api/v3/depth", [("symbol", venue_symbol(symbol)), ("limit", str(limit))],
                               "depth", 1)
        recv_ns = time.monotonic_ns()
        reply = _decode(wire.depth_decoder, body)
        return BookSnapshot(venue=VENUE, symbol=symbol, seq=reply.lastUpdateId, bids=tuple(reply.bids),
                            asks=tuple(reply.asks), exchange_ts_ms=reply.timestamp or 0, recv_ns=recv_ns)

    # --- REST, signed ----------------------------------------------------------------------------
    async def _signed(self, method: str, path: str, params: Sequence[tuple[str, str]], bucket: str,
                      weight: float) -> bytes:
        if self._credentials is None:
            raise AuthError(VENUE, None, f"{method} {path} needs credentials")
        query = urlencode([*params, ("recvWindow", str(RECV_WINDOW_MS)),
                           ("timestamp", str(time.time_ns() // 1_000_000))], quote_via=quote)
        query += "&signature=" + sign(self._credentials.secret, query)
        headers = {"X-MEXC-APIKEY": self._credentials.api_key, "Content-Type": "application/json"}
        response = await self._rest.request(method, path, query=query, headers=headers, bucket=bucket,
                                            weight=weight)
        return response.body

    def private_stream(self) -> Any:
        """The private stream's codec (``protocols.private.PrivateCodec``, read by
        ``actors.account``); None without credentials."""
        from protocols.mexc.private import MexcPrivate

        if self._credentials is None:
            return None
        return MexcPrivate(venue=self, ws_url=self._ws_url, symbols=self._internal)

    async def listen_key(self, keepalive: str | None = None) -> str:
        """private.md §3.1: ``POST /api/v3/userDataStream`` (a new key, valid 60 min) or, with
        ``keepalive``, ``PUT`` (that key extended 60 min). Signed, as ccxt does (the doc is silent)."""
        params = () if keepalive is None else (("listenKey", keepalive),)
        body = await self._signed("POST" if keepalive is None else "PUT", "/api/v3/userDataStream", params,
                                  "userDataStream", 1)
        key = msgspec.json.decode(body).get("listenKey")
        if not isinstance(key, str) or not key:
            raise DecodeError(VENUE, "userDataStream reply without a listenKey", body)
        return key

    async def balances(self) -> Balances:
        body = await self._signed("GET", "/api/v3/account", (), "account", 1)
        rows = _decode(wire.account_decoder, body).balances
        return Balances(venue=VENUE, ts_ns=time.monotonic_ns(), balances=tuple(
            Balance(venue=VENUE, asset=r.asset, free=r.free, locked=r.locked) for r in rows))

    async def _rule(self, symbol: str) -> SymbolInfo:
        if symbol not in self._rules:
            await self.symbol_info([symbol])
        if symbol not in self._rules:
            raise OrderRejected(VENUE, "local", f"{symbol}: not listed in exchangeInfo")
        return self._rules[symbol]

    async def place_order(self, intent: OrderIntent) -> OrderUpdate:
        """LIMIT, IMMEDIATE_OR_CANCEL (an order *type* at MEXC: no timeInForce) or MARKET; a
        quote-sized market order sends ``quoteOrderQty``. MEXC's reply carries no status: the
        returned update says "new" with nothing filled; the fills of an IOC/market order are
        read with ``order_by_client_id``."""
        rule = await self._rule(intent.symbol)
        price, qty = order_fields(rule, intent, VENUE)
        params = [("symbol", rule.venue_symbol), ("side", intent.side.upper()),
                  ("type", _TYPE_TO_MEXC[intent.order_type])]
        if intent.order_type == "market" and intent.quote_qty is not None:
            params.append(("quoteOrderQty", qty or ""))
        else:
            params.append(("quantity", qty or ""))
        if price is not None:
            params.append(("price", price))
        params.append(("newClientOrderId", intent.client_order_id))
        body = await self._signed("POST", "/api/v3/order", params, "order", 1)
        return self._update(_decode(wire.order_decoder, body), intent.symbol, intent.client_order_id)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        params = [("symbol", venue_symbol(symbol)), ("origClientOrderId", client_order_id)]
        body = await self._signed("DELETE", "/api/v3/order", params, "cancel", 1)
        return await self._with_fee(self._update(_decode(wire.order_decoder, body), symbol, client_order_id))

    async def cancel_all(self, symbol: str) -> list[OrderUpdate]:
        body = await self._signed("DELETE", "/api/v3/openOrders", [("symbol", venue_symbol(symbol))],
                                  "cancelAll", 1)
        return [self._update(o, symbol) for o in _decode(wire.orders_decoder, body)]

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> OrderUpdate:
        params = [("symbol", venue_symbol(symbol)), ("origClientOrderId", client_order_id)]
        body = await self._signed("GET", "/api/v3/order", params, "query", 2)
        return await self._with_fee(self._update(_decode(wire.order_decoder, body), symbol, client_order_id))

    async def order_trades(self, symbol: str, order_id: str) -> list[wire.Trade]:
        """An order's fills (``GET /api/v3/myTrades``, signed, weight 10)."""
        params = [("symbol", venue_symbol(symbol)), ("orderId", order_id)]
        body = await self._signed("GET", "/api/v3/myTrades", params, "myTrades", 10)
        return [t for t in _decode(wire.trades_decoder, body) if t.orderId == order_id]

    async def _with_fee(self, update: OrderUpdate) -> OrderUpdate:
        """MEXC's order replies carry no commission: a final, filled order's fee comes from its
        fills (``protocols.fees``). Fills not all visible yet, or not readable now (a transient
        error), leave the fee unreported (``fee_asset`` ""), which the executor estimates from
        the fee schedule rather than take as zero."""
        return await with_fills_fee(update, lambda: self.order_trades(update.symbol, update.order_id))

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        body = await self._signed("GET", "/api/v3/openOrders", [("symbol", venue_symbol(symbol))],
                                  "openOrders", 3)
        return [self._update(o, symbol) for o in _decode(wire.orders_decoder, body)]

    def _update(self, o: wire.OrderReply, symbol: str, client_order_id: str = "") -> OrderUpdate:
        status = _STATUS.get(o.status)
        order_type = _TYPE_FROM_MEXC.get(o.type)
        if status is None or order_type is None or o.side not in ("BUY", "SELL"):
            raise DecodeError(VENUE, f"order status/type/side {o.status}/{o.type}/{o.side}",
                              msgspec.json.encode(o))
        update = OrderUpdate(
            venue=VENUE, symbol=symbol, order_id=o.orderId,
            # a cancel's clientOrderId is the cancel's own id: the one we asked about wins
            # "" for an order placed without a client id (MEXC sends null)
            client_order_id=client_order_id or o.origClientOrderId or o.clientOrderId or "",
            side="buy" if o.side == "BUY" else "sell", order_type=order_type, status=status,
            price=_price(o.price), qty=o.origQty, filled_qty=o.executedQty,
            filled_quote=o.cummulativeQuoteQty, ts_ms=o.updateTime or o.time or o.transactTime or 0)
        if (bad := unusable_update_field(update)) is not None:
            raise DecodeError(VENUE, f"order reply gives {bad}", msgspec.json.encode(o))
        return update

    async def close(self) -> None:
        await self._rest.close()


def _price(raw: str | float | None) -> float | None:
    """An order's price: MEXC sends "" or "0" for a market order (no price)."""
    if raw is None or raw == "":
        return None
    try:
        price = float(raw)
    except ValueError as exc:
        raise DecodeError(VENUE, f"order price {raw!r}", str(raw)) from exc
    if not 0.0 <= price <= MAX_FLOAT:  # NaN fails too
        raise DecodeError(VENUE, f"order price {raw!r} is not a finite number >= 0", str(raw))
    return price or None


def _pow10(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


__all__ = ["MexcVenue", "map_error", "sign"]
