"""``BinanceVenue``: Binance spot behind ``protocols.venue.Venue`` (binance.md §3).

Public WebSocket side: combined streams ``<symbol>@depth@100ms`` (the URL carries the initial
set), SUBSCRIBE/UNSUBSCRIBE frames for changes at run time, frames decoded by ``codec``.
REST side: one pooled ``RestClient`` with two buckets, ``weight`` (REQUEST_WEIGHT 6000/min)
and ``orders`` (ORDERS 10/s); signed endpoints per §3.4; every HTTP error goes through
``map_error``. Symbol rules and fees are static and cached; nothing real-time is. An order
read back or cancelled (``GET``/``DELETE /api/v3/order``: no ``fills``) that is final and filled
takes its exact fee from its trades (``GET /api/v3/myTrades?orderId=``, ``protocols.fees``).

Failure modes: ``RateLimited`` (both buckets are paused for Retry-After), ``AuthError``,
``OrderRejected``/``InsufficientBalance``, ``OrderNotFound``, ``NetworkError`` (outcome
unknown: query the order by client id), ``ExchangeError`` for the rest, ``DecodeError`` when
a reply does not parse.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from protocols.binance import codec, wire
from protocols.binance.sync import BinanceSync
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
from protocols.fees import fee_of, with_fills_fee
from protocols.markets import Listing, parse_binance, volumes_binance
from protocols.messages import (
    Balance,
    Balances,
    BookDelta,
    BookSnapshot,
    OrderIntent,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    SymbolInfo,
)
from protocols.numbers import unusable_update_field
from protocols.ratelimit import RateLimits, TokenBucket, window_bucket
from protocols.rest import RestClient, retry_after
from protocols.rounding import order_fields
from protocols.signing import hmac_sha256_hex, total_params
from protocols.venue import Control, Credentials, split_symbol, venue_symbol

VENUE = codec.VENUE
# binance.md §5: 0.1% maker/taker for a regular (VIP0) account; used without credentials.
DEFAULT_FEE = 0.001
RECV_WINDOW_MS = "5000"  # the documented default
_STATUS: dict[str, OrderStatus] = {
    "NEW": "new", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "canceled",
    "REJECTED": "rejected", "EXPIRED": "expired", "EXPIRED_IN_MATCH": "expired",
}
_AUTH_CODES = frozenset({-1021, -1022, -2014, -2015})  # timestamp, signature, key format, key/IP/permissions
_REJECT_CODES = frozenset({-2010, -1013, -1121})  # new order rejected, filter failure, bad symbol


def depth_weight(limit: int) -> int:
    """REQUEST_WEIGHT of ``GET /api/v3/depth`` (§3.3); limits above 5000 are served as 5000."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    return 50 if limit <= 1000 else 250


def map_error(status: int, body: bytes, headers: Mapping[str, str]) -> ExchangeError:
    """The one mapping of a Binance HTTP error (status + ``{"code","msg"}``) to Arbor's."""
    try:
        err = wire.API_ERROR.decode(body)
        code, msg = err.code, err.msg
    except msgspec.DecodeError:  # WAF pages, proxies: keep a bounded excerpt as the message
        code, msg = None, excerpt(body)
    if status in (418, 429) or code == -1003:
        return RateLimited(VENUE, code, msg, retry_after_s=retry_after(headers), status=status)
    if status >= 500 or code == -1007:  # §3.3: execution status UNKNOWN
        return NetworkError(VENUE, f"code {code}: {msg}", status=status)
    if code in _AUTH_CODES:
        return AuthError(VENUE, code, msg, status=status)
    if code == -2010 and "insufficient balance" in msg.lower():
        return InsufficientBalance(VENUE, code, msg, status=status)
    if code in _REJECT_CODES:
        return OrderRejected(VENUE, code, msg, status=status)
    if code == -2013 or (code == -2011 and "unknown order" in msg.lower()):
        return OrderNotFound(VENUE, code, msg, status=status)
    return ExchangeError(VENUE, code, msg, status=status)


def sign_query(params: Mapping[str, str], secret: str) -> str:
    """§3.4: the query string (non-ASCII percent-encoded as UTF-8 *before* signing) with
    ``&signature=`` appended, HMAC-SHA256 over query + body; we send no body."""
    query = urlencode(params, safe="", quote_via=quote)
    return f"{query}&signature={hmac_sha256_hex(secret, total_params(query, ''))}"


class BinanceVenue:
    """Binance spot adapter; see the module docstring. Symbols are internal ``BASE/QUOTE``."""

    name = VENUE
    max_streams_per_connection = 1024  # §3.1
    # Binance pings *us* every 20 s and aiohttp's autoping answers; ping_frame() is None, so
    # the connection has nothing to send on this period.
    ping_interval_s = 20.0
    # §3.1: 5 incoming messages/s per connection (pings, pongs and JSON control all count, else
    # the socket is closed); 4 leaves room for aiohttp's automatic pong.
    max_messages_per_s = 4
    sync = BinanceSync()

    def __init__(self, *, rest_url: str = "https://api.binance.com", ws_url: str = "wss://stream.binance.com:9443",
                 symbols: Sequence[str] = (), credentials: Credentials | None = None,
                 timeout_s: float = 10.0) -> None:
        self._ws_base = ws_url.rstrip("/")
        # BNBBTC -> BNB/BTC for decoding; symbols passed to ws_url/subscribe_frames are added.
        self._symbols: dict[str, str] = {venue_symbol(s): s for s in symbols}
        self._credentials = credentials
        self._ids = itertools.count(1)
        self._info: dict[str, SymbolInfo] = {}
        limits = RateLimits({"weight": window_bucket(6000, 60.0), "orders": TokenBucket(10, 1.0)})
        self._rest = RestClient(VENUE, rest_url, limits=limits, map_error=map_error, timeout_s=timeout_s)

    # --- public, pure ----------------------------------------------------------------------------

    def _streams(self, symbols: Sequence[str]) -> list[str]:
        names = []
        for symbol in symbols:
            self._symbols[venue_symbol(symbol)] = symbol
            names.append(f"{venue_symbol(symbol).lower()}@depth@100ms")
        return names

    def ws_url(self, symbols: Sequence[str]) -> str:
        """The combined-stream URL already subscribed to ``symbols``' diff depth (100 ms), so the
        initial set needs no SUBSCRIBE frame."""
        streams = self._streams(symbols)
        return f"{self._ws_base}/stream" + (f"?streams={'/'.join(streams)}" if streams else "")

    def private_stream(self) -> Any:
        """The user data stream's codec (``protocols.private.PrivateCodec``, read by
        ``actors.account``); None without credentials."""
        from protocols.binance.private import BinancePrivate  # it reads this module's tables

        if self._credentials is None:
            return None
        return BinancePrivate(ws_url=self._ws_base, credentials=self._credentials, symbols=self._symbols)

    def ws_orders(self) -> Any:
        """The WebSocket API order entry codec (``actors.order_gateway``); None without credentials."""
        from protocols.binance.wsapi import BinanceWsOrders

        if self._credentials is None:
            return None
        return BinanceWsOrders(ws_url=self._ws_base, credentials=self._credentials)

    def _method(self, method: str, symbols: Sequence[str]) -> list[str]:
        if not symbols:
            return []
        request = {"method": method, "params": self._streams(symbols), "id": next(self._ids)}
        return [msgspec.json.encode(request).decode()]

    def subscribe_frames(self, symbols: Sequence[str]) -> list[str]:
        """One SUBSCRIBE frame for a run-time change on an open socket (acked by
        ``{"result":null,"id":N}``). Subscribing to a stream already in the URL is harmless."""
        return self._method("SUBSCRIBE", symbols)

    def unsubscribe_frames(self, symbols: Sequence[str]) -> list[str]:
        return self._method("UNSUBSCRIBE", symbols)

    def ping_frame(self) -> str | None:
        return None

    def decode(self, frame: bytes | str, recv_ns: int) -> BookDelta | Control | None:
        return codec.decode(frame, recv_ns, self._symbols)

    # --- REST ------------------------------------------------------------------------------------

    async def _get(self, path: str, query: str, *, weight: float) -> bytes:
        return (await self._rest.request("GET", path, query=query, bucket="weight", weight=weight)).body

    async def _signed(self, method: str, path: str, params: dict[str, str], *, weight: float) -> bytes:
        """§3.4: every parameter in the query string (the body is empty), HMAC over query+body."""
        if self._credentials is None:
            raise AuthError(VENUE, None, f"{method} {path} needs credentials; none configured")
        params = {**params, "recvWindow": RECV_WINDOW_MS, "timestamp": str(time.time_ns() // 1_000_000)}
        query = sign_query(params, self._credentials.secret)
        headers = {"X-MBX-APIKEY": self._credentials.api_key}
        return (await self._rest.request(method, path, query=query, headers=headers, bucket="weight",
                                        weight=weight)).body

    async def symbol_info(self, symbols: Sequence[str]) -> dict[str, SymbolInfo]:
        wanted = {venue_symbol(s): s for s in symbols}
        listed = msgspec.json.encode(list(wanted)).decode()
        body = await self._get("/api/v3/exchangeInfo", "symbols=" + quote(listed, safe=""), weight=20)
        rules = {r.symbol: r for r in codec.parse(wire.EXCHANGE_INFO, body, body).symbols}
        if missing := sorted(set(wanted) - set(rules)):
            raise ExchangeError(VENUE, -1121, f"exchangeInfo does not list {missing}")
        out = {}
        for name, symbol in wanted.items():
            r = rules[name]
            filters = {f.filter_type: f for f in r.filters}
            price, lot = filters.get("PRICE_FILTER"), filters.get("LOT_SIZE")
            notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL")
            maker, taker = await self._fees(name)
            out[symbol] = self._info[symbol] = SymbolInfo(
                symbol=symbol, venue_symbol=name, base=r.base_asset, quote=r.quote_asset,
                tick_size=_dec(price.tick_size if price else None), step_size=_dec(lot.step_size if lot else None),
                min_qty=_dec(lot.min_qty if lot else None),
                min_notional=_dec(notional.min_notional if notional else None),
                maker_fee=maker, taker_fee=taker, trading=r.status == "TRADING",
            )
        return out

    async def markets(self) -> list[Listing]:
        """Every symbol of the whole ``exchangeInfo`` (for discovery, ``protocols.markets``)."""
        return parse_binance(await self._get("/api/v3/exchangeInfo", "", weight=20))

    async def quote_volumes_24h(self) -> dict[str, float]:
        """``{BTCUSDT: 24 h quote volume}`` of every market (``GET /api/v3/ticker/24hr``, weight 80)."""
        body = await self._get("/api/v3/ticker/24hr", "", weight=80)
        try:
            return volumes_binance(body)
        except msgspec.DecodeError as exc:
            raise DecodeError(VENUE, f"24h tickers: {exc}", body) from exc

    async def _fees(self, name: str) -> tuple[float, float]:
        """The account's commission (standard + tax) with credentials, else the VIP0 default."""
        if self._credentials is None:
            return DEFAULT_FEE, DEFAULT_FEE
        body = await self._signed("GET", "/api/v3/account/commission", {"symbol": name}, weight=20)
        c = codec.parse(wire.COMMISSION, body, body)
        return c.standard.maker + c.tax.maker, c.standard.taker + c.tax.taker

    async def _symbol_rules(self, symbol: str) -> SymbolInfo:
        if symbol not in self._info:  # static data: fetched once
            await self.symbol_info([symbol])
        return self._info[symbol]

    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> BookSnapshot:
        """``GET /api/v3/depth``. The reply has no timestamp: ``exchange_ts_ms`` is 0."""
        query = f"symbol={venue_symbol(symbol)}&limit={limit}"
        body = await self._get("/api/v3/depth", query, weight=depth_weight(limit))
        recv_ns = time.monotonic_ns()
        snap = codec.parse(wire.DEPTH_SNAPSHOT, body, body)
        return BookSnapshot(venue=VENUE, symbol=symbol, seq=snap.last_update_id, bids=snap.bids,
                            asks=snap.asks, exchange_ts_ms=0, recv_ns=recv_ns)

    async def balances(self) -> Balances:
        body = await self._signed("GET", "/api/v3/account", {"omitZeroBalances": "true"}, weight=20)
        account = codec.parse(wire.ACCOUNT, body, body)
        return Balances(venue=VENUE, ts_ns=time.monotonic_ns(), balances=tuple(
            Balance(venue=VENUE, asset=b.asset, free=b.free, locked=b.locked) for b in account.balances))

    async def place_order(self, intent: OrderIntent) -> OrderUpdate:
        params = await self.order_params(intent)
        await self._rest.limits.acquire("orders", 1)
        body = await self._signed("POST", "/api/v3/order", params, weight=1)
        return to_update(codec.parse(wire.ORDER, body, body), intent.symbol)

    async def order_params(self, intent: OrderIntent) -> dict[str, str]:
        """The new-order params of ``intent`` (REST and WebSocket API alike), rounded to the
        symbol's filters; raises ``OrderRejected("local")`` before anything is sent."""
        info = await self._symbol_rules(intent.symbol)
        price, qty = order_fields(info, intent, VENUE)  # raises OrderRejected("local") first
        return new_order_params(info, intent.side, intent.order_type, intent.quote_qty is not None, qty or "", price,
                                intent.client_order_id)

    def rules_cached(self, symbol: str) -> SymbolInfo | None:
        """``symbol``'s rules as last fetched (what ``order_params`` rounds to), or None: not yet."""
        return self._info.get(symbol)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        params = {"symbol": venue_symbol(symbol), "origClientOrderId": client_order_id}
        body = await self._signed("DELETE", "/api/v3/order", params, weight=1)
        return await self._with_fee(to_update(codec.parse(wire.ORDER, body, body), symbol))

    async def cancel_all(self, symbol: str) -> list[OrderUpdate]:
        try:
            body = await self._signed("DELETE", "/api/v3/openOrders", {"symbol": venue_symbol(symbol)}, weight=1)
        except OrderNotFound:  # Binance answers -2011 "Unknown order sent." when none are open
            return []
        updates = []
        for raw in codec.parse(wire.RAW_LIST, body, body):
            if codec.parse(wire.CANCEL_ALL_ENTRY, raw, body).order_id is not None:  # skip OCO lists
                updates.append(to_update(codec.parse(wire.ORDER, raw, body), symbol))
        return updates

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> OrderUpdate:
        params = {"symbol": venue_symbol(symbol), "origClientOrderId": client_order_id}
        body = await self._signed("GET", "/api/v3/order", params, weight=4)
        return await self._with_fee(to_update(codec.parse(wire.ORDER, body, body), symbol))

    async def order_trades(self, symbol: str, order_id: str) -> tuple[wire.Trade, ...]:
        """An order's fills: ``GET /api/v3/myTrades?symbol=&orderId=`` (signed; REQUEST_WEIGHT
        5 with ``orderId``, 20 without: private.md §1.4, "Reconciliation methods")."""
        body = await self._signed("GET", "/api/v3/myTrades", {"symbol": venue_symbol(symbol), "orderId": order_id},
                                  weight=5)
        return tuple(t for t in codec.parse(wire.TRADES, body, body) if str(t.order_id) == order_id)

    async def _with_fee(self, update: OrderUpdate) -> OrderUpdate:
        """GET and DELETE ``/api/v3/order`` carry no ``fills``: a final, filled order's exact fee
        comes from its trades (``protocols.fees``, as MEXC's). Trades not readable now (a
        transient error) leave it unreported, estimated by the executor and said so."""
        return await with_fills_fee(update, lambda: self.order_trades(update.symbol, update.order_id))

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        body = await self._signed("GET", "/api/v3/openOrders", {"symbol": venue_symbol(symbol)}, weight=6)
        return [to_update(o, symbol) for o in codec.parse(wire.ORDERS, body, body)]

    async def close(self) -> None:
        await self._rest.close()


def new_order_params(info: SymbolInfo, side: Side, order_type: OrderType, quote_sized: bool, qty: str,
                     price: str | None, client_order_id: str) -> dict[str, str]:
    """A new order's params (REST and WebSocket API alike, in this order) from its exact strings."""
    params = {"symbol": info.venue_symbol, "side": side.upper()}
    if order_type == "market":
        params["type"] = "MARKET"
        params["quoteOrderQty" if quote_sized else "quantity"] = qty
    else:
        params["type"] = "LIMIT"
        params["timeInForce"] = "IOC" if order_type == "ioc" else "GTC"
        params["quantity"], params["price"] = qty, price or ""
    params["newClientOrderId"] = client_order_id
    return params


def _dec(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)


def to_update(o: wire.Order, symbol: str) -> OrderUpdate:
    """A Binance order reply → ``OrderUpdate``; in a cancel reply the order's own client id is
    ``origClientOrderId``."""
    status = _STATUS.get(o.status)
    if status is None:
        raise ExchangeError(VENUE, None, f"unknown order status {o.status!r} for {o.client_order_id}")
    order_type: OrderType = (
        "market" if o.type == "MARKET" else "ioc" if o.time_in_force == "IOC" else "limit"
    )
    # A FULL reply's fills carry the commission (per fill, maybe in several assets); GET/DELETE
    # replies have none: unreported ("") until read from the order's trades.
    fee, fee_asset = fee_of(o.fills, o.executed_qty, *split_symbol(symbol)) if o.fills else (0.0, "")
    update = OrderUpdate(
        venue=VENUE, symbol=symbol, client_order_id=o.orig_client_order_id or o.client_order_id,
        order_id=str(o.order_id), side="buy" if o.side == "BUY" else "sell", order_type=order_type,
        status=status, price=o.price or None, qty=o.orig_qty, filled_qty=o.executed_qty,
        filled_quote=o.quote_qty, fee=fee, fee_asset=fee_asset, ts_ms=o.transact_time or o.update_time,
    )
    if (bad := unusable_update_field(update)) is not None:
        raise DecodeError(VENUE, f"order reply gives {bad}", msgspec.json.encode(o))
    return update
