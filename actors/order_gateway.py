"""Order entry over a venue's WebSocket API, with REST as the fallback.

``OrderGatewayActor`` (path ``venues/<venue>/orders``) owns one WebSocket API connection and
its own rate limit (``TokenBucket``: Binance counts WS API orders like REST ones, private.md
§1.4), and publishes an ``OrderChannel`` the executor's sends use directly (a frame written on
the socket, a future resolved by the actor's reader: no mailbox hop on the hot path).

``WsFirstVenue`` wraps a venue's REST adapter for the executor: ``place_order`` goes over the
channel while it is connected, over REST otherwise; everything else is the adapter's. The
client order id is the intent's (derived from the opportunity), so a send retried over the
other path can never make a second order. A socket lost with a request in flight fails that
request with ``NetworkError`` (outcome UNKNOWN): the leg's named recovery queries the order by
client id, never resends blindly. The lost socket crashes the actor; its restart reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from actors import Actor
from protocols.errors import DecodeError, ExchangeError, NetworkError
from protocols.messages import OrderIntent, OrderUpdate
from protocols.ratelimit import TokenBucket
from protocols.venue import Venue


class OrderWsCodec(Protocol):
    venue: str
    url: str

    def place_frame(self, rid: str, params: dict[str, str], now_ms: int) -> str: ...

    def reply(self, frame: str | bytes, symbol_of: dict[str, str]) -> tuple[str, OrderUpdate | ExchangeError] | None:
        ...


class OrderChannel:
    """The live side of one gateway: ``place`` while ``connected``."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.connected = False
        self.sent = 0
        self._send: Callable[[OrderIntent], Any] | None = None

    async def place(self, intent: OrderIntent) -> OrderUpdate:
        if self._send is None or not self.connected:
            raise NetworkError(self.venue, "WebSocket order entry not connected")
        self.sent += 1
        return await self._send(intent)


class OrderGateways:
    """The engine's order channels, by venue."""

    def __init__(self) -> None:
        self.channels: dict[str, OrderChannel] = {}

    def channel(self, venue: str) -> OrderChannel:
        return self.channels.setdefault(venue, OrderChannel(venue))


class OrderGatewayActor(Actor):
    """See the module docstring. Inbox: nothing (it serves the channel)."""

    def __init__(self, *, venue: Venue, codec: OrderWsCodec, channel: OrderChannel, orders: float = 100.0,
                 per_s: float = 10.0, heartbeat_s: float = 5.0, reply_timeout_s: float = 10.0) -> None:
        self.venue, self.codec, self.channel = venue, codec, channel
        self.bucket = TokenBucket(orders, per_s)  # Binance ORDERS: 100 per 10 s
        self.heartbeat_s, self.reply_timeout_s = heartbeat_s, reply_timeout_s
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[OrderUpdate]] = {}
        self._symbols: dict[str, str] = {}  # request id -> our symbol
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def on_start(self) -> None:
        self.channel.connected = False
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.codec.url, heartbeat=self.heartbeat_s, autoping=True)
        except (aiohttp.ClientError, OSError) as exc:
            await self._session.close()
            raise NetworkError(self.codec.venue, f"cannot open the WebSocket API {self.codec.url}: {exc!r}") from exc
        self.start_task(self._read(), name=f"orders:{self.codec.venue}:reader")
        self.channel._send = self._place
        self.channel.connected = True

    async def on_stop(self) -> None:
        self._lost("the order gateway stopped")
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def _place(self, intent: OrderIntent) -> OrderUpdate:
        params = await self.venue.order_params(intent)  # type: ignore[attr-defined]
        await self.bucket.acquire(1)  # waits only past the venue's order rate
        rid = f"o{next(self._ids)}"
        fut: asyncio.Future[OrderUpdate] = asyncio.get_running_loop().create_future()
        self._pending[rid], self._symbols[rid] = fut, intent.symbol
        ws = self._ws
        try:
            if ws is None or ws.closed:
                raise NetworkError(self.codec.venue, "WebSocket API closed before the order was sent")
            await ws.send_str(self.codec.place_frame(rid, params, int(time.time() * 1000)))
            try:
                return await asyncio.wait_for(fut, self.reply_timeout_s)
            except TimeoutError:  # sent, never answered: as a lost socket, the outcome is unknown
                raise NetworkError(self.codec.venue, f"no WebSocket API reply in {self.reply_timeout_s:g} s: "
                                                     "order outcome unknown") from None
        finally:
            self._pending.pop(rid, None)
            self._symbols.pop(rid, None)

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
    """A REST adapter whose ``place_order`` goes over the WebSocket API while connected."""

    def __init__(self, rest: Venue, channel: OrderChannel) -> None:
        self._rest, self._channel = rest, channel
        self.ws_orders = self.rest_orders = 0

    async def place_order(self, intent: OrderIntent) -> OrderUpdate:
        if self._channel.connected:
            self.ws_orders += 1
            return await self._channel.place(intent)
        self.rest_orders += 1
        return await self._rest.place_order(intent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rest, name)
