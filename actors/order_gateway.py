"""Order entry over a venue's WebSocket API, with REST as the fallback.

``OrderGatewayActor`` (path ``venues/<venue>/orders``) owns one WebSocket API connection and
its own rate limit (the codec's ``orders_bucket``: Binance 100 orders / 10 s, counted like REST
ones, private.md §1.4; Gate.io 10 / s), logs in where the venue wants a session (Gate.io
``spot.login``; Binance signs every request instead), and publishes an ``OrderChannel`` the
executor's sends use directly (a frame written on the socket, a future resolved by the actor's
reader: no mailbox hop on the hot path). The venue's wire format is its codec
(``protocols/<venue>/wsapi.py``, ``OrderWsCodec``): place, status and cancel by client id. An
order's frame is filled from a template compiled once per (market, side, order type) from the
codec's own builders (``place_template``), and compiled again when the venue adapter's rules for
the market are re-fetched: per order only the rounding, the variable fields and the signature.

``WsFirstVenue`` wraps a venue's REST adapter for the executor: ``place_order``,
``order_by_client_id`` and ``cancel_order`` go over the channel while it is connected, over REST
otherwise; everything else is the adapter's. The
client order id is the intent's (derived from the opportunity), so a send retried over the
other path can never make a second order. A socket lost with a request in flight fails that
request with ``NetworkError`` (outcome UNKNOWN): the leg's named recovery queries the order by
client id, never resends blindly. The lost socket crashes the actor; its restart reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

from actors import Actor
from protocols.errors import AuthError, DecodeError, ExchangeError, NetworkError, RateLimited
from protocols.messages import OrderIntent, OrderType, OrderUpdate, Side, SymbolInfo
from protocols.ratelimit import TokenBucket
from protocols.venue import Venue


class OrderWsCodec(Protocol):
    venue: str
    url: str
    orders_bucket: tuple[float, float]  # (orders, window seconds): the venue's order limit

    def login_frame(self, rid: str, now_ms: int) -> str | None:
        """The session login sent first (answered like any request), or None."""
        ...

    def place_template(self, info: SymbolInfo, side: Side, order_type: OrderType,
                       quote_sized: bool) -> PlaceTemplate:
        """The place request compiled for one market's rules, side and order type (each codec's
        ``place_frame`` builds the same frame field by field: the reference its tests compare)."""
        ...

    def status_frame(self, rid: str, symbol: str, client_order_id: str, now_ms: int) -> str: ...

    def cancel_frame(self, rid: str, symbol: str, client_order_id: str, now_ms: int) -> str: ...

    def reply(self, frame: str | bytes,
              symbol_of: dict[str, str]) -> tuple[str, OrderUpdate | ExchangeError | None] | None:
        """(request id, its order -- None for a login -- or the mapped error); None for a frame
        answering nothing of ours. ``symbol_of``: request id -> our symbol ("" for a login)."""
        ...



class PlaceTemplate(Protocol):
    info: SymbolInfo  # the rules it was built for

    def fields(self, intent: OrderIntent) -> Any:
        """The order's variable fields, rounded; raises ``OrderRejected("local")``."""
        ...

    def frame(self, rid: str, fields: Any, now_ms: int) -> str: ...


def order_bucket(limit: float, window_s: float) -> TokenBucket:
    """Never more than ``limit`` orders in any ``window_s`` (a fixed or sliding window), like
    ``window_bucket``, but split for orders: a small burst (a fifth of the limit: an
    opportunity needs one order per venue, a hedge one more) and the rest as the sustained rate,
    burst + rate * window = limit. (Half and half would halve the sustained rate.)"""
    burst = max(1.0, limit / 5)
    return TokenBucket(burst, burst * window_s / (limit - burst))


class PreparedOrder:
    """An order's request frame, built and signed, not sent yet (``OrderChannel.write``)."""

    __slots__ = ("frame", "rid", "symbol")

    def __init__(self, rid: str, symbol: str, frame: str) -> None:
        self.rid, self.symbol, self.frame = rid, symbol, frame


Answer = asyncio.Future[OrderUpdate | None]


class OrderChannel:
    """The live side of one gateway: ``prepare`` + ``write`` (or ``place``), ``status``,
    ``cancel`` while ``connected``. Request ids are the channel's, unique across the gateway's
    restarts, so a frame prepared before a reconnect is still answered on the new socket."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.connected = False
        self.sent = 0
        self._ids = itertools.count(1)
        self._prepare: Callable[[OrderIntent], Awaitable[PreparedOrder]] | None = None
        self._write: Callable[[PreparedOrder], Awaitable[Answer]] | None = None
        self._by_id: Callable[[str, str, str], Awaitable[OrderUpdate]] | None = None

    def next_rid(self, kind: str) -> str:
        return f"{kind}{next(self._ids)}"

    def _live(self) -> None:
        if not self.connected or self._prepare is None or self._write is None or self._by_id is None:
            raise NetworkError(self.venue, "WebSocket order entry not connected")

    def prepare(self, intent: OrderIntent) -> Awaitable[PreparedOrder]:
        """The order's frame, rounded, signed and within the venue's order rate; not sent.
        (``prepare`` and ``write`` hand over the gateway's own awaitable: no coroutine of their
        own on the hot path.)"""
        self._live()
        assert self._prepare is not None
        return self._prepare(intent)

    def write(self, order: PreparedOrder) -> Awaitable[Answer]:
        """Write a prepared order on the socket now; the future is its answer."""
        self._live()
        self.sent += 1
        assert self._write is not None
        return self._write(order)

    async def start(self, intent: OrderIntent) -> Answer:
        return await self.write(await self.prepare(intent))

    async def place(self, intent: OrderIntent) -> OrderUpdate:
        update = await (await self.start(intent))
        assert update is not None
        return update

    async def status(self, symbol: str, client_order_id: str) -> OrderUpdate:
        self._live()
        assert self._by_id is not None
        return await self._by_id("status", symbol, client_order_id)

    async def cancel(self, symbol: str, client_order_id: str) -> OrderUpdate:
        self._live()
        assert self._by_id is not None
        return await self._by_id("cancel", symbol, client_order_id)


class OrderGateways:
    """The engine's order channels, by venue."""

    def __init__(self) -> None:
        self.channels: dict[str, OrderChannel] = {}

    def channel(self, venue: str) -> OrderChannel:
        return self.channels.setdefault(venue, OrderChannel(venue))


class OrderGatewayActor(Actor):
    """See the module docstring. Inbox: nothing (it serves the channel)."""

    def __init__(self, *, venue: Venue, codec: OrderWsCodec, channel: OrderChannel, heartbeat_s: float = 5.0,
                 reply_timeout_s: float = 10.0) -> None:
        self.venue, self.codec, self.channel = venue, codec, channel
        self.bucket = order_bucket(*codec.orders_bucket)
        self.heartbeat_s, self.reply_timeout_s = heartbeat_s, reply_timeout_s
        self._pending: dict[str, asyncio.Future[OrderUpdate | None]] = {}
        self._symbols: dict[str, str] = {}  # request id -> our symbol
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        # (symbol, side, order type, quote-sized) -> the place frame compiled for the rules then
        # current: rebuilt when the adapter's rules for the symbol are no longer those.
        self._templates: dict[tuple[str, str, str, bool], PlaceTemplate] = {}

    async def on_start(self) -> None:
        self.channel.connected = False
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.codec.url, heartbeat=self.heartbeat_s, autoping=True)
        except (aiohttp.ClientError, OSError) as exc:
            await self._session.close()
            raise NetworkError(self.codec.venue, f"cannot open the WebSocket API {self.codec.url}: {exc!r}") from exc
        self.start_task(self._read(), name=f"orders:{self.codec.venue}:reader")
        rid = self.channel.next_rid("login")
        login = self.codec.login_frame(rid, int(time.time() * 1000))
        if login is not None:  # answered before any order: a refusal is AuthError (crash)
            result = await self._request(rid, "", login)
            assert result is None
        self.channel._prepare, self.channel._write, self.channel._by_id = self._prepare, self._write, self._by_id
        self.channel.connected = True

    async def on_stop(self) -> None:
        self._lost("the order gateway stopped")
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def _prepare(self, intent: OrderIntent) -> PreparedOrder:
        """Round, build and sign the order's frame within the venue's order rate, from the
        market's compiled template (``template``). With the rules cached and the bucket not
        empty nothing here suspends, and ``_write`` never does: a caller prepares both legs,
        then writes both back to back."""
        template = self.template(intent)
        if template is None:  # the rules were never fetched: fetch them, then compile
            await self.venue.symbol_info([intent.symbol])
            template = self.template(intent)
            assert template is not None
        fields = template.fields(intent)  # OrderRejected("local") before a token is spent
        if not self.bucket.take_now(1):
            await self.bucket.acquire(1)  # waits only past the venue's order rate
        rid = self.channel.next_rid("o")
        return PreparedOrder(rid, intent.symbol, template.frame(rid, fields, int(time.time() * 1000)))

    def template(self, intent: OrderIntent) -> PlaceTemplate | None:
        """The place frame compiled for ``intent``'s market, side and type and the venue
        adapter's CURRENT rules for it (compiled now if new, or if the rules changed since);
        None while the adapter has no rules for the symbol."""
        info = self.venue.rules_cached(intent.symbol)  # type: ignore[attr-defined]  # the adapter's rules
        if info is None:
            return None
        key = (intent.symbol, intent.side, intent.order_type, intent.quote_qty is not None)
        template = self._templates.get(key)
        if template is None or template.info is not info:  # rules re-fetched: compiled again
            template = self._templates[key] = self.codec.place_template(info, intent.side, intent.order_type,
                                                                        intent.quote_qty is not None)
        return template

    def _write(self, order: PreparedOrder) -> Awaitable[Answer]:
        return self._send(order.rid, order.symbol, order.frame)

    async def _by_id(self, what: str, symbol: str, client_order_id: str) -> OrderUpdate:
        rid = self.channel.next_rid("q")
        frame = (self.codec.status_frame if what == "status" else self.codec.cancel_frame)(
            rid, symbol, client_order_id, int(time.time() * 1000))
        update = await self._request(rid, symbol, frame)
        assert update is not None
        return update

    async def _request(self, rid: str, symbol: str, frame: str) -> OrderUpdate | None:
        return await (await self._send(rid, symbol, frame))

    async def _send(self, rid: str, symbol: str, frame: str) -> Answer:
        """Write one request; its future is answered by the reader, or fails with
        ``NetworkError`` (outcome unknown) when the socket is lost or no reply came within
        ``reply_timeout_s``."""
        ws = self._ws
        if ws is None or ws.closed:
            raise NetworkError(self.codec.venue, "WebSocket API closed before the request was sent")
        loop = asyncio.get_running_loop()
        fut: Answer = loop.create_future()
        self._pending[rid], self._symbols[rid] = fut, symbol  # before the write: the reader may answer it
        try:
            await ws.send_str(frame)
        finally:  # armed once the frame is out (a reply already in: the callback runs at once)
            timer = loop.call_later(self.reply_timeout_s, self._expire, rid)

            def forget(_: object) -> None:
                timer.cancel()
                self._pending.pop(rid, None)
                self._symbols.pop(rid, None)

            fut.add_done_callback(forget)
        return fut

    def _expire(self, rid: str) -> None:
        """Sent, never answered: as a lost socket, the outcome is unknown."""
        fut = self._pending.get(rid)
        if fut is not None and not fut.done():
            fut.set_exception(NetworkError(self.codec.venue, f"no WebSocket API reply in {self.reply_timeout_s:g} s:"
                                                             " outcome unknown"))

    async def _read(self) -> None:
        assert self._ws is not None
        while True:
            msg = await self._ws.receive()
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self._lost(f"WebSocket API lost ({msg.type.name})")
                raise NetworkError(self.codec.venue, f"WebSocket API lost ({msg.type.name}): reconnecting on restart")
            try:
                got = self.codec.reply(msg.data, self._symbols)
            except DecodeError:
                self._lost("an unreadable WebSocket API reply")
                raise
            if got is None:
                continue
            rid, outcome = got
            fut = self._pending.get(rid)
            if fut is None or fut.done():
                continue
            if isinstance(outcome, ExchangeError):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)

    def _lost(self, why: str) -> None:
        """Every request in flight: outcome UNKNOWN (the leg queries it by client id)."""
        self.channel.connected = False
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(NetworkError(self.codec.venue, f"{why}: order outcome unknown"))

    async def receive(self, msg: Any) -> Any:
        raise TypeError(f"orders: unexpected message {type(msg).__name__}")


class WsFirstVenue:
    """A REST adapter whose orders go over the WebSocket API while it is connected. The client
    id is the intent's on either path, so a send retried on the other can never double it."""

    def __init__(self, rest: Venue, channel: OrderChannel) -> None:
        self._rest, self._channel = rest, channel
        self.ws_orders = self.rest_orders = 0

    async def place_order(self, intent: OrderIntent) -> OrderUpdate:
        if self._channel.connected:
            self.ws_orders += 1
            return await self._channel.place(intent)
        self.rest_orders += 1
        return await self._rest.place_order(intent)

    async def prepare_order(self, intent: OrderIntent) -> PreparedOrder | None:
        """The order's frame built and signed ahead of its send, or None while the socket is
        down (the order will go over REST)."""
        if not self._channel.connected:
            return None
        return await self._channel.prepare(intent)

    async def start_order(self, intent: OrderIntent, prepared: PreparedOrder | None = None) -> Answer | None:
        """The order's frame (``prepared``, or built now) written on the socket, its answer to
        await; None while the socket is down (the caller places it over REST)."""
        if not self._channel.connected:
            return None
        self.ws_orders += 1
        return await self._channel.write(prepared if prepared is not None else await self._channel.prepare(intent))

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> OrderUpdate:
        if self._channel.connected:
            return await self._channel.status(symbol, client_order_id)
        return await self._rest.order_by_client_id(symbol, client_order_id)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        if self._channel.connected:
            try:
                return await self._channel.cancel(symbol, client_order_id)
            except (NetworkError, RateLimited, AuthError):
                raise
            except ExchangeError:  # refused (the order finished meanwhile): REST's cancel knows that answer
                pass
        return await self._rest.cancel_order(symbol, client_order_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rest, name)
