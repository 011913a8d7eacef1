"""``GateVenue``: Gate.io spot v4 behind ``protocols.venue.Venue`` — WebSocket frames, signed
REST under ``/api/v4``, and the one mapping of Gate's error labels to Arbor's errors.

Failure modes: every REST call raises from ``protocols.errors`` (``map_error`` below for HTTP
errors, ``NetworkError`` from the shared client for transport errors, ``DecodeError`` for a
2xx body that does not parse). Nothing real-time is cached; symbol rules and fees are.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

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
from protocols.fees import one_fee
from protocols.gateio import codec, wire
from protocols.gateio.sync import GateObuSync, GateSync
from protocols.markets import Listing, parse_gateio, volumes_gateio
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
from protocols.rest import RestClient
from protocols.rounding import order_fields
from protocols.signing import gate_sign
from protocols.venue import Control, Credentials, split_symbol, venue_symbol

VENUE = codec.VENUE
API = "/api/v4"

# --- errors: the one mapping ------------------------------------------------------------------

AUTH_LABELS = frozenset({"INVALID_KEY", "INVALID_SIGNATURE", "REQUEST_EXPIRED", "MISSING_REQUIRED_HEADER"})
REJECT_LABELS = frozenset({"INVALID_PARAM_VALUE", "INVALID_PRECISION", "INVALID_CURRENCY_PAIR",
                           "AMOUNT_TOO_LITTLE", "AMOUNT_TOO_MUCH", "POC_FILL_IMMEDIATELY"})
BUSY_LABELS = frozenset({"SERVER_ERROR", "TOO_BUSY"})
RESET_HEADER = "X-Gate-RateLimit-Reset-Timestamp"


def map_error(status: int, body: bytes, headers: Mapping[str, str], *,
              now: Callable[[], float] = time.time) -> ExchangeError:
    """HTTP status + Gate's ``{"label", "message"|"detail"}`` body → the error to raise."""
    try:
        err = wire.API_ERROR.decode(body)
    except msgspec.DecodeError:  # not Gate's JSON (a proxy's HTML page, an empty 502...)
        err = wire.ApiError()
    label = err.label
    message = err.message or err.detail or (excerpt(body) if body else f"HTTP {status}")
    if status == 429:
        return RateLimited(VENUE, label or status, message, retry_after_s=_reset_after(headers, now()),
                           status=status)
    if label in AUTH_LABELS or status == 401:
        return AuthError(VENUE, label or status, message, status=status)
    if label == "BALANCE_NOT_ENOUGH":
        return InsufficientBalance(VENUE, label, message, status=status)
    if label in REJECT_LABELS:
        return OrderRejected(VENUE, label, message, status=status)
    if label == "ORDER_NOT_FOUND":
        return OrderNotFound(VENUE, label, message, status=status)
    if status >= 500 or label in BUSY_LABELS:
        return NetworkError(VENUE, f"{label or status}: {message}", status=status)
    return ExchangeError(VENUE, label or status, message, status=status)


def _reset_after(headers: Mapping[str, str], now_s: float, default_s: float = 1.0) -> float:
    """Seconds until ``X-Gate-RateLimit-Reset-Timestamp`` (unix s, or ms when it is that big)."""
    try:
        reset = float(headers[RESET_HEADER])
    except (KeyError, ValueError):
        return default_s
    if not math.isfinite(reset):  # "inf" would pause every bucket forever
        return default_s
    if reset > 1e11:
        reset /= 1000.0
    return max(0.0, reset - now_s)


def _limits() -> RateLimits:
    """Gate's documented limits (gateio.md §4.4): public 200/10 s per endpoint, order placement
    10/s, cancels 200/s, other private endpoints 200/10 s each."""
    per_10s = ("order_book", "currency_pairs", "tickers", "fee", "accounts", "order", "orders")
    buckets = {name: window_bucket(200, 10.0) for name in per_10s}
    buckets["place"] = TokenBucket(10, 1.0)
    buckets["cancel"] = TokenBucket(200, 1.0)
    return RateLimits(buckets)


# --- orders -----------------------------------------------------------------------------------

_TEXT = re.compile(r"[0-9A-Za-z_.-]{1,28}")
_FINISH: dict[str, OrderStatus] = {
    "filled": "filled", "cancelled": "canceled", "liquidate_cancelled": "canceled", "stp": "canceled",
    "ioc": "expired", "fok": "expired", "depth_not_enough": "expired", "trader_not_enough": "expired",
    "small": "expired", "poc": "rejected",
}


def client_text(client_order_id: str) -> str:
    """Gate's ``text``: ``t-`` + at most 28 bytes of ``[0-9A-Za-z_.-]``. An id that does not fit
    is refused locally (never truncated or hashed: two ids must never share one order)."""
    if not _TEXT.fullmatch(client_order_id):
        raise OrderRejected(VENUE, "local", f"client order id {client_order_id!r} does not fit Gate's "
                            "text (t- + up to 28 of 0-9 A-Z a-z _ - .)")
    return "t-" + client_order_id


def order_status(status: str, finish_as: str, filled: float) -> OrderStatus:
    if status == "open":
        return "partially_filled" if filled > 0 else "new"
    return _FINISH.get(finish_as) or ("filled" if status == "closed" else "canceled")


GT, POINT = "GT", "POINT"  # the fee assets of ``gt_fee`` ("GT used to deduct fee") and ``point_fee``


def order_fee(fee: float, fee_currency: str, gt_fee: float, point_fee: float, symbol: str,
              price: float) -> tuple[float, str]:
    """An order's one (fee, asset) from the parts Gate reports (private.md §2.2, the Order model
    [GATE-SDK]): ``fee`` in ``fee_currency``, ``gt_fee`` in GT (GT deduction on: ``fee`` is 0),
    ``point_fee`` in points ("POINT": no book quotes it, so its PnL row is flagged), summed by
    ``protocols.fees.one_fee`` (several non-zero parts in different assets: ``MIXED:``).
    ``price``: the order's average, valuing a base part. ``rebated_fee`` is left out: the doc
    says only "Rebated fee", not who receives it nor whether ``fee`` already nets it.
    No GT/point part: ``fee`` and ``fee_currency`` as reported (no currency: unreported)."""
    if not gt_fee and not point_fee:
        return fee, fee_currency
    return one_fee(((fee, fee_currency, price), (gt_fee, GT, price), (point_fee, POINT, price)),
                   *split_symbol(symbol))


class GateVenue:
    """Gate.io spot. Symbols are ``BTC/USDT`` outside, ``BTC_USDT`` on the wire."""

    name = "gateio"
    max_streams_per_connection = 100  # Gate documents no per-connection limit; ours
    ping_interval_s = 10.0

    def __init__(self, *, rest_url: str = "https://api.gateio.ws", ws_url: str = "wss://api.gateio.ws/ws/v4/",
                 symbols: Sequence[str] = (), credentials: Credentials | None = None, timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.time, book_channel: str = codec.OBU_CHANNEL) -> None:
        """``book_channel``: ``spot.obu`` (default: 50 levels every 20 ms, gateio.md §4.2) or
        ``spot.order_book_update`` (diffs every 100 ms, synced against REST snapshots, §4.3)."""
        if book_channel not in (codec.OBU_CHANNEL, codec.BOOK_CHANNEL):
            raise ValueError(f"book_channel {book_channel!r}: expected {codec.OBU_CHANNEL} or {codec.BOOK_CHANNEL}")
        self.book_channel = book_channel
        self.sync: GateSync | GateObuSync = GateObuSync() if book_channel == codec.OBU_CHANNEL else GateSync()
        self._ws_url = ws_url
        self._clock = clock  # wall clock: WS "time" and the REST Timestamp header (seconds)
        self._credentials = credentials
        self._pairs = {venue_symbol(s, "_"): s for s in symbols}  # BTC_USDT -> BTC/USDT
        self._info: dict[str, SymbolInfo] = {}  # static rules, safe to keep
        self._rest = RestClient(VENUE, rest_url, limits=_limits(), map_error=partial(map_error, now=clock),
                                timeout_s=timeout_s)

    # --- WebSocket, pure ----------------------------------------------------------------------

    def ws_url(self, symbols: Sequence[str]) -> str:
        return self._ws_url

    def private_stream(self) -> Any:
        """The private channels' codec (``protocols.private.PrivateCodec``, read by
        ``actors.account``); None without credentials."""
        from protocols.gateio.private import GatePrivate

        if self._credentials is None:
            return None
        return GatePrivate(ws_url=self._ws_url, credentials=self._credentials, pairs=self._pairs)

    def ws_orders(self) -> Any:
        """The WebSocket API order entry codec (``actors.order_gateway``); None without credentials."""
        from protocols.gateio.wsapi import GateWsOrders

        if self._credentials is None:
            return None
        return GateWsOrders(ws_url=self._ws_url, credentials=self._credentials, update=self._update,
                            clock=self._clock)

    def subscribe_frames(self, symbols: Sequence[str]) -> list[str]:
        return [self._book_frame("subscribe", s) for s in symbols]

    def unsubscribe_frames(self, symbols: Sequence[str]) -> list[str]:
        return [self._book_frame("unsubscribe", s) for s in symbols]

    def _book_frame(self, event: str, symbol: str) -> str:
        pair = venue_symbol(symbol, "_")
        self._pairs[pair] = symbol
        payload = [codec.obu_stream(pair)] if self.book_channel == codec.OBU_CHANNEL else [pair, "100ms"]
        return _json({"time": int(self._clock()), "channel": self.book_channel, "event": event, "payload": payload})

    def ping_frame(self) -> str:
        return _json({"time": int(self._clock()), "channel": "spot.ping"})

    def decode(self, frame: bytes | str, recv_ns: int) -> BookDelta | Control | None:
        return codec.decode(frame, recv_ns, self._pairs)

    # --- REST: public -------------------------------------------------------------------------

    async def symbol_info(self, symbols: Sequence[str]) -> dict[str, SymbolInfo]:
        if any(s not in self._info for s in symbols):
            wanted = {venue_symbol(s, "_"): s for s in symbols}
            pairs = _parse(wire.CURRENCY_PAIRS, await self._call("GET", "/spot/currency_pairs", "currency_pairs"))
            fee = _parse(wire.FEE, await self._call("GET", "/spot/fee", "fee", signed=True)) \
                if self._credentials else None
            for pair in pairs:
                if pair.id in wanted:
                    self._info[wanted[pair.id]] = _symbol_info(wanted[pair.id], pair, fee)
        unknown = [s for s in symbols if s not in self._info]
        if unknown:
            raise ExchangeError(VENUE, "INVALID_CURRENCY_PAIR", f"not listed by the venue: {unknown}")
        return {s: self._info[s] for s in symbols}

    async def markets(self) -> list[Listing]:
        """Every currency pair (for discovery, ``protocols.markets``)."""
        return parse_gateio(await self._call("GET", "/spot/currency_pairs", "currency_pairs"))

    async def quote_volumes_24h(self) -> dict[str, float]:
        """``{BTC_USDT: 24 h quote volume}`` of every pair (``GET /api/v4/spot/tickers``)."""
        body = await self._call("GET", "/spot/tickers", "tickers")
        try:
            return volumes_gateio(body)
        except msgspec.DecodeError as exc:
            raise DecodeError(VENUE, f"24h tickers: {exc}", body) from exc

    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> BookSnapshot:
        pair = venue_symbol(symbol, "_")
        body = await self._call("GET", "/spot/order_book", "order_book",
                                query=f"currency_pair={pair}&limit={limit}&with_id=true")
        book = _parse(wire.ORDER_BOOK, body)
        if book.id < 0:
            raise DecodeError(VENUE, "order book without id (with_id=true)", body)
        return BookSnapshot(venue=VENUE, symbol=symbol, seq=book.id, bids=book.bids, asks=book.asks,
                            exchange_ts_ms=book.update or book.current, recv_ns=time.monotonic_ns())

    # --- REST: private ------------------------------------------------------------------------

    async def balances(self) -> Balances:
        rows = _parse(wire.ACCOUNTS, await self._call("GET", "/spot/accounts", "accounts", signed=True))
        return Balances(venue=VENUE, ts_ns=time.monotonic_ns(), balances=tuple(
            Balance(venue=VENUE, asset=r.currency, free=r.available, locked=r.locked) for r in rows))

    async def place_order(self, intent: OrderIntent) -> OrderUpdate:
        body = await self._call("POST", "/spot/orders", "place", body=await self.order_params(intent), signed=True)
        return self._update(_parse(wire.ORDER, body))

    async def order_params(self, intent: OrderIntent) -> dict[str, str]:
        """The new order of ``intent`` (REST body and WebSocket API ``req_param`` alike), rounded
        to the pair's rules; raises ``OrderRejected("local")`` before anything is sent. A market
        buy is sized in quote currency at Gate (``quote_qty``), a market sell in base (``qty``);
        market orders go as ``time_in_force=ioc`` (Gate accepts only ioc/fok)."""
        text = client_text(intent.client_order_id)
        check_market_sizing(intent)
        info = (await self.symbol_info([intent.symbol]))[intent.symbol]
        price, amount = order_fields(info, intent, VENUE)
        return new_order(info, intent.side, intent.order_type, text, amount or "", price)

    def rules_cached(self, symbol: str) -> SymbolInfo | None:
        """``symbol``'s rules as fetched (what ``order_params`` rounds to), or None: not yet."""
        return self._info.get(symbol)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        """Cancelling an order that already finished returns its final state instead."""
        path = f"/spot/orders/{client_text(client_order_id)}"
        try:
            body = await self._call("DELETE", path, "cancel", query=self._pair_query(symbol), signed=True)
        except ExchangeError as exc:
            if exc.code not in ("ORDER_CLOSED", "ORDER_CANCELLED"):
                raise
            return await self.order_by_client_id(symbol, client_order_id)
        return self._update(_parse(wire.ORDER, body))

    async def cancel_all(self, symbol: str) -> list[OrderUpdate]:
        """The orders Gate cancelled (an entry with ``succeeded: false`` is left out)."""
        body = await self._call("DELETE", "/spot/orders", "cancel", query=self._pair_query(symbol), signed=True)
        return [self._update(o) for o in _parse(wire.ORDERS, body) if o.succeeded]

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> OrderUpdate:
        # Gate accepts the custom "t-..." text in place of order_id for lookups.
        path = f"/spot/orders/{client_text(client_order_id)}"
        body = await self._call("GET", path, "order", query=self._pair_query(symbol), signed=True)
        return self._update(_parse(wire.ORDER, body))

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        body = await self._call("GET", "/spot/orders", "orders", query=self._pair_query(symbol) + "&status=open",
                                signed=True)
        return [self._update(o) for o in _parse(wire.ORDERS, body)]

    async def close(self) -> None:
        await self._rest.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _pair_query(self, symbol: str) -> str:
        return f"currency_pair={venue_symbol(symbol, '_')}"

    async def _call(self, method: str, path: str, bucket: str, *, query: str = "",
                    body: dict[str, Any] | None = None, signed: bool = False) -> bytes:
        """Sign (gateio.md §4.5: path with /api/v4, the raw query, SHA-512 of the body, seconds)
        and send. ``query`` holds only URL-safe values (pairs, ``t-`` ids), so raw is encoded."""
        data = msgspec.json.encode(body) if body is not None else b""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if signed:
            if self._credentials is None:
                raise AuthError(VENUE, "local", f"{method} {path} needs API credentials")
            ts = str(int(self._clock()))
            headers["KEY"] = self._credentials.api_key
            headers["Timestamp"] = ts
            headers["SIGN"] = gate_sign(self._credentials.secret, method, API + path, query, data.decode(), ts)
        resp = await self._rest.request(method, API + path, query=query, body=data or None, headers=headers,
                                        bucket=bucket)
        return resp.body

    def _update(self, o: wire.Order) -> OrderUpdate:
        quote_sized = o.type == "market" and o.side == "buy"  # amount/left are quote currency
        if o.filled_amount is not None:
            filled = o.filled_amount
        elif quote_sized:
            filled = o.filled_total / o.avg_deal_price if o.avg_deal_price else 0.0
        else:
            filled = o.amount - o.left
        symbol = self._pairs.get(o.currency_pair) or o.currency_pair.replace("_", "/")
        fee, fee_asset = order_fee(o.fee, o.fee_currency, o.gt_fee, o.point_fee, symbol,
                                   o.filled_total / filled if filled else 0.0)
        update = OrderUpdate(
            venue=VENUE,
            symbol=symbol,
            client_order_id=o.text[2:] if o.text.startswith("t-") else o.text,
            order_id=o.id,
            side=o.side,
            order_type="market" if o.type == "market" else ("ioc" if o.time_in_force == "ioc" else "limit"),
            status=order_status(o.status, o.finish_as, filled),
            price=o.price or None,
            qty=filled if quote_sized else o.amount,  # a quote-sized buy's base size is what filled
            filled_qty=filled,
            filled_quote=o.filled_total,
            fee=fee,
            fee_asset=fee_asset,
            ts_ms=int(o.update_time_ms),
        )
        if (bad := unusable_update_field(update)) is not None:
            raise DecodeError(VENUE, f"order reply gives {bad}", msgspec.json.encode(o))
        return update


def check_market_sizing(intent: OrderIntent) -> None:
    """A Gate market buy is sized in quote (``quote_qty``), a market sell in base: else
    ``OrderRejected("local")``."""
    if intent.order_type == "market" and (intent.side == "buy") != (intent.quote_qty is not None):
        raise OrderRejected(VENUE, "local", f"{intent.client_order_id}: a Gate market buy needs "
                            "quote_qty and a market sell needs qty (and no quote_qty)")


def new_order(info: SymbolInfo, side: Side, order_type: OrderType, text: str, amount: str,
              price: str | None) -> dict[str, str]:
    """A new order (REST body and WebSocket API ``req_param`` alike, in this order) from its exact strings."""
    order: dict[str, str] = {
        "text": text, "currency_pair": info.venue_symbol, "type": "market" if order_type == "market" else "limit",
        "account": "spot", "side": side, "amount": amount, "time_in_force": "gtc" if order_type == "limit" else "ioc",
    }
    if price is not None:
        order["price"] = price
    return order


def _symbol_info(symbol: str, pair: wire.CurrencyPair, fee: wire.Fee | None) -> SymbolInfo:
    """Tick 10^-precision, step 10^-amount_precision; fees from ``/spot/fee`` (fractions) when
    signed in, else the pair's ``fee`` (a percentage)."""
    return SymbolInfo(
        symbol=symbol, venue_symbol=pair.id, base=pair.base, quote=pair.quote,
        tick_size=Decimal(1).scaleb(-pair.precision), step_size=Decimal(1).scaleb(-pair.amount_precision),
        min_qty=pair.min_base_amount or Decimal(0), min_notional=pair.min_quote_amount or Decimal(0),
        maker_fee=fee.maker_fee if fee else pair.fee / 100, taker_fee=fee.taker_fee if fee else pair.fee / 100,
        trading=pair.trade_status == "tradable",
    )


def _parse(decoder: msgspec.json.Decoder, body: bytes) -> Any:
    """A 2xx body that does not match Gate's documented model: the one translation point."""
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(VENUE, str(exc), body) from exc


_ENCODER = msgspec.json.Encoder()


def _json(obj: object) -> str:
    return _ENCODER.encode(obj).decode()
