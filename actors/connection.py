"""One venue's public market-data connection: WebSockets, subscriptions, keep-alive, routing.

Inbox (``ConnectionInbox``): ``Subscribe`` | ``Unsubscribe`` (run-time subscription changes),
``Tick`` (its own keep-alive timer).
Routes every decoded ``BookDelta`` to ``route(delta.symbol)`` (a book actor) with ``ref.tell``;
when a book's mailbox is full, reading pauses on that socket (a slow book pushes back onto the
socket instead of growing a queue). The ref is looked up once per symbol and cached (refs are
stable across restarts); Subscribe / Unsubscribe drop the symbol's entry and a ref stopped for
good is looked up again.

on_start opens ``ceil(n / venue.max_streams_per_connection)`` picows sockets to
``venue.ws_url(chunk)`` and sends ``venue.subscribe_frames(chunk)`` on each. There is no reader
task: picows calls ``_Reader.on_ws_frame`` for every frame of a socket read, inside the
transport's read callback, and the frame is decoded and told to its book there (one task
switch per frame fewer than a reader task, and none of aiohttp's per-frame queue and future).
Whatever raises in a read callback is recorded, the socket is dropped, and the one task the
actor starts with ``start_task`` (``_watch``, awaiting a future the callbacks fail) raises it:
the actor crashes at once, and the error never reaches the loop's exception handler. A book
whose mailbox is full pauses reading on that socket: its delta and the rest of the read wait
in the socket's backlog, which a task the actor owns delivers with ``await ref.send`` (in
order) before reading resumes. There is no reconnect loop: reconnection *is* the restart.
With ``resync_books`` (the engine sets it on every incarnation after a shard's first) on_start
first tells each of its symbols' running books ``Resync`` (frames were lost while it was
down), so a venue's connections can be restarted one by one and each resyncs only its own books.
The actor crashes (its ``rest_for_one`` supervisor restarts it, then the books after it resync)
on: a closed or failed socket, or a fragmented message (no venue fragments; ``NetworkError``),
a frame that does not decode (``DecodeError``, counted in ``counters.decode_errors`` first), a
subscription the venue refused (``SubscriptionFailed``), no pong for ``pong_timeout_s`` (venues
with app-level pings only) or no frame at all for ``idle_timeout_s`` (``NetworkError``).

``capture`` (optional, ``supervisor.capture``) is called with every frame as received, before
it is decoded: ``(venue, socket index, recv_ns, data)``. It must not block (the capture writer
appends to a queue and counts what it cannot take).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence

import msgspec
from picows import WSCloseCode, WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from actors import Actor, ActorRef
from protocols.errors import DecodeError, MailboxFull, NetworkError, SubscriptionFailed
from protocols.messages import BookDelta, Msg, Resync, Subscribe, Unsubscribe
from protocols.ratelimit import window_bucket
from protocols.venue import Control, Venue

# picows's message types as module constants: on 3.11 an enum member read goes through
# EnumType.__getattr__, and these are compared on every frame
_TEXT, _BINARY, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CLOSE


class Tick(Msg, frozen=True, kw_only=True):
    """The connection's own timer: send pings when due, check pong and idle deadlines."""


ConnectionInbox = Subscribe | Unsubscribe | Tick


class ConnectionCounters:
    """Counters owned by the engine, injected into every incarnation so they survive restarts."""

    __slots__ = ("connects", "reconnects", "decode_errors", "frames")

    def __init__(self) -> None:
        self.connects = 0
        self.reconnects = 0  # connects after the first: one per restart of the connection actor
        self.decode_errors = 0
        self.frames = 0

    def __repr__(self) -> str:
        return (f"ConnectionCounters(connects={self.connects}, reconnects={self.reconnects}, "
                f"decode_errors={self.decode_errors}, frames={self.frames})")


class ConnectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A connection actor's ``describe()``."""

    venue: str
    connected_since: float | None  # wall-clock seconds (time.time()) when on_start finished
    subscriptions: tuple[str, ...]
    sockets: int
    frames: int  # by this incarnation
    frames_per_s: float  # average since connected
    deltas: int
    dropped_unrouted: int
    last_frame_age_ms: float | None


class _Socket:
    """One WebSocket and the symbols subscribed on it."""

    __slots__ = ("index", "transport", "symbols", "last_frame_ns", "last_pong_ns", "pace", "backlog", "gone")

    def __init__(self, index: int, symbols: list[str], now_ns: int, max_messages_per_s: float | None,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.index, self.symbols = index, symbols
        self.transport: WSTransport | None = None  # set once the handshake is done (on_ws_connected)
        self.last_frame_ns = now_ns
        self.last_pong_ns = now_ns  # a fresh socket gets one full pong_timeout before judging it
        # frames we send, never more than the venue's limit within any second
        self.pace = window_bucket(max_messages_per_s, 1.0) if max_messages_per_s else None
        # deltas read while a book's mailbox was full, in order; reading is paused until empty
        self.backlog: deque[tuple[ActorRef, BookDelta]] = deque()
        self.gone: asyncio.Future[None] = loop.create_future()  # done once the transport is closed


class _Reader(WSListener):
    """One socket's frames, in the transport's read callback: decode, route, tell. Catches
    everything its frame raises and hands it to ``ConnectionActor._fail`` (the actor crashes)."""

    def __init__(self, conn: ConnectionActor, sock: _Socket) -> None:
        super().__init__()
        self.conn, self.sock = conn, sock

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.sock.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        sock, conn = self.sock, self.conn
        if not sock.gone.done():
            sock.gone.set_result(None)
        handshake = transport.close_handshake
        code = handshake.recv.code if handshake is not None and handshake.recv is not None else None
        conn._fail(NetworkError(conn.venue.name, f"socket closed (reader{sock.index}, code {code})"), sock)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        conn = self.conn
        if conn._failure is not None or conn._closing:
            return  # the rest of a read after a failure, or a stop: the restart resyncs
        try:
            self._frame(conn, transport, frame)
        except Exception as exc:  # to the actor boundary: _fail has the watcher task raise it
            conn._fail(exc, self.sock)

    def _frame(self, conn: ConnectionActor, transport: WSTransport, frame: WSFrame) -> None:
        sock, venue, kind = self.sock, conn.venue, frame.msg_type
        if kind == _TEXT:
            if not frame.fin:
                raise NetworkError(venue.name, f"fragmented message (reader{sock.index}): not supported")
            try:
                data: str | bytes = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError as exc:
                conn.counters.decode_errors += 1
                raise DecodeError(venue.name, f"TEXT frame is not UTF-8: {exc}", frame.get_payload_as_bytes()) from exc
        elif kind == _BINARY:
            if not frame.fin:
                raise NetworkError(venue.name, f"fragmented message (reader{sock.index}): not supported")
            data = frame.get_payload_as_bytes()
        elif kind == _CLOSE:
            code = frame.get_close_code()
            transport.send_close(code)  # the closing handshake's answer; _fail drops the socket
            raise NetworkError(venue.name, f"socket closed (reader{sock.index}, code {code})")
        elif kind == WSMsgType.CONTINUATION:
            raise NetworkError(venue.name, f"fragmented message (reader{sock.index}): not supported")
        else:
            return  # a PONG: the venues' keep-alive is at the application level (Tick)
        now = time.monotonic_ns()
        counters = conn.counters
        if conn.capture is not None:
            conn.capture(venue.name, sock.index, now, data)
        sock.last_frame_ns = now
        conn._frames += 1
        counters.frames += 1
        try:
            event = venue.decode(data, now)
        except DecodeError:
            counters.decode_errors += 1
            raise
        if type(event) is BookDelta:
            ref = conn._refs.get(event.symbol)
            if ref is None or not ref.alive:
                ref = conn._resolve(event.symbol)
                if ref is None:
                    conn._dropped += 1  # unsubscribed (or unknown) symbol
                    return
            conn._deltas += 1
            if sock.backlog:  # behind the deltas already waiting: per-book order is kept
                sock.backlog.append((ref, event))
                return
            try:
                ref.tell(event)
            except MailboxFull:  # a slow book pushes back onto the socket
                sock.backlog.append((ref, event))
                transport.underlying_transport.pause_reading()
                conn.start_task(conn._drain(sock), name=f"connection:{venue.name}:drain{sock.index}")
        elif type(event) is Control:
            if event.kind == "error":
                raise SubscriptionFailed(venue.name, event.detail)
            if event.kind == "pong":
                sock.last_pong_ns = now


class ConnectionActor(Actor[ConnectionInbox]):
    """One venue's WebSockets. See the module docstring for what crashes it and why."""

    def __init__(self, *, venue: Venue, symbols: Sequence[str], route: Callable[[str], ActorRef | None],
                 pong_timeout_s: float = 30.0, idle_timeout_s: float = 30.0,
                 counters: ConnectionCounters | None = None,
                 capture: Callable[[str, int, int, bytes | str], None] | None = None,
                 resync_books: bool = False) -> None:
        self.venue, self.route, self.resync_books = venue, route, resync_books
        self.capture = capture  # records every frame as received: (venue, socket, recv_ns, data)
        self.pong_timeout_s, self.idle_timeout_s = pong_timeout_s, idle_timeout_s
        self.counters = counters if counters is not None else ConnectionCounters()
        self._symbols = list(dict.fromkeys(symbols))  # subscribed, in order, no duplicates
        self._subscribed = set(self._symbols)
        self._refs: dict[str, ActorRef] = {}  # subscribed symbol -> its book (see _resolve)
        self._sockets: list[_Socket] = []
        self._connected_ns: int | None = None
        self._connected_wall: float | None = None
        self._last_ping_ns = 0
        self._frames = self._deltas = self._dropped = 0
        self._failure: BaseException | None = None  # the first error of a read callback
        self._failed: asyncio.Future[None] | None = None  # _watch awaits it; _fail sets it
        self._closing = False

    # --- lifecycle ----------------------------------------------------------------------------

    async def on_start(self) -> None:
        self._failed = asyncio.get_running_loop().create_future()
        self.start_task(self._watch(), name=f"connection:{self.venue.name}:watch")
        for symbol in self._symbols if self.resync_books else ():  # before any new frame (FIFO)
            ref = self.route(symbol)
            if ref is not None and ref.alive:
                ref.tell(Resync())
        started = False
        try:
            per_socket = max(1, self.venue.max_streams_per_connection)
            for i in range(math.ceil(len(self._symbols) / per_socket)):
                await self._open(self._symbols[i * per_socket:(i + 1) * per_socket])
            started = True
        finally:
            if not started:  # the runtime may not call on_stop after a failed on_start
                await self._close()
        self.counters.connects += 1
        if self.counters.connects > 1:
            self.counters.reconnects += 1
        self._connected_ns, self._connected_wall = time.monotonic_ns(), time.time()
        self._last_ping_ns = self._connected_ns
        self.send_interval(self._tick_period(), Tick())

    async def on_stop(self) -> None:
        await self._close()

    def _tick_period(self) -> float:
        periods = [self.idle_timeout_s / 4, self.pong_timeout_s / 4]
        if self.venue.ping_interval_s:
            periods.append(self.venue.ping_interval_s)
        return max(0.01, min(periods))

    async def _open(self, symbols: list[str]) -> _Socket:
        url = self.venue.ws_url(symbols)
        sock = _Socket(len(self._sockets), list(symbols), time.monotonic_ns(),
                       getattr(self.venue, "max_messages_per_s", None),  # optional on Venue
                       asyncio.get_running_loop())
        # picows answers the venue's protocol-level PINGs (auto pong: Binance and Gate drop a
        # socket that does not) and verifies TLS for wss:// (the default context); its own
        # auto-ping stays off, the pong and idle deadlines are Tick's. uvloop's own transport, not
        # aiofastnet's: the latter measured no faster here (same-run ratio 0.97-1.01, docs/speed.md)
        try:
            await ws_connect(lambda: _Reader(self, sock), url, enable_auto_pong=True, use_aiofastnet=False)
        except (TimeoutError, WSError, OSError) as exc:
            raise NetworkError(self.venue.name, f"cannot open WebSocket {url}: {exc!r}") from exc
        self._sockets.append(sock)
        for frame in self.venue.subscribe_frames(symbols) if symbols else ():
            await self._send(sock, frame)
        return sock

    async def _close(self) -> None:
        self._closing = True  # from now on a closed socket is expected, not a failure
        for sock in self._sockets:
            if sock.transport is not None and not sock.transport.is_disconnected:
                sock.transport.send_close(WSCloseCode.OK)
                sock.transport.disconnect()
        gone = [s.gone for s in self._sockets if s.transport is not None]
        if gone:
            await asyncio.wait(gone)
        self._sockets = []

    # --- the read callbacks' failures and back-pressure ---------------------------------------

    async def _watch(self) -> None:
        """The task the runtime owns for the read callbacks: raises what they recorded."""
        assert self._failed is not None
        await self._failed

    def _fail(self, exc: BaseException, sock: _Socket) -> None:
        """A read callback failed (or a socket closed under it): the first error crashes the
        actor through ``_watch``; the socket is dropped at once (nothing more is read from
        it). During a stop a closed socket is expected and nothing is recorded."""
        if self._failure is None and not self._closing:
            self._failure = exc
            if self._failed is not None and not self._failed.done():
                self._failed.set_exception(exc)
        if sock.transport is not None and not sock.transport.is_disconnected:
            sock.transport.disconnect(graceful=False)

    async def _drain(self, sock: _Socket) -> None:
        """Deliver a paused socket's backlog in order, awaiting each book's room, then read on."""
        backlog = sock.backlog
        while backlog:
            ref, delta = backlog[0]
            await ref.send(delta)
            backlog.popleft()
        if sock.transport is not None and not sock.transport.is_disconnected:
            sock.transport.underlying_transport.resume_reading()

    # --- routing -----------------------------------------------------------------------------

    def _resolve(self, symbol: str) -> ActorRef | None:
        """The book of a subscribed symbol, cached: the tree lookup is paid once per symbol
        (refs are stable across restarts). A ref that stopped for good is looked up again (its
        book may have been removed, or replaced by a new one); no book is never cached."""
        if symbol not in self._subscribed:
            return None
        ref = self.route(symbol)
        if ref is not None:
            self._refs[symbol] = ref
        return ref

    async def _send(self, sock: _Socket, frame: str) -> None:
        """Send, paced to the venue's ``max_messages_per_s`` per socket when it has one (Binance
        closes a socket that receives more than 5 messages a second)."""
        if sock.pace is not None:
            await sock.pace.acquire()
        if sock.transport is None or sock.transport.is_disconnected or sock.transport.is_close_frame_sent:
            raise NetworkError(self.venue.name, f"cannot send on reader{sock.index}: the socket is closed")
        sock.transport.send(_TEXT, frame.encode())

    # --- the inbox ----------------------------------------------------------------------------

    async def receive(self, msg: ConnectionInbox) -> None:
        match msg:
            case Tick():
                await self._tick()
            case Subscribe(symbol=symbol):
                await self._subscribe(symbol)
            case Unsubscribe(symbol=symbol):
                await self._unsubscribe(symbol)
            case _:
                raise TypeError(f"ConnectionActor cannot handle {type(msg).__name__}")

    async def _tick(self) -> None:
        now = time.monotonic_ns()
        ping = self.venue.ping_frame()
        if ping is not None and self.venue.ping_interval_s and \
                now - self._last_ping_ns >= self.venue.ping_interval_s * 1e9 * 0.99:
            self._last_ping_ns = now
            for sock in self._sockets:
                await self._send(sock, ping)
        for sock in self._sockets:
            if ping is not None and now - sock.last_pong_ns > self.pong_timeout_s * 1e9:
                raise NetworkError(self.venue.name, f"no pong for {self.pong_timeout_s}s (reader{sock.index})")
            if now - sock.last_frame_ns > self.idle_timeout_s * 1e9:
                raise NetworkError(self.venue.name, f"no frame for {self.idle_timeout_s}s (reader{sock.index})")

    async def _subscribe(self, symbol: str) -> None:
        self._refs.pop(symbol, None)  # a book (re)built for it is looked up afresh
        if symbol in self._subscribed:
            return
        self._subscribed.add(symbol)
        self._symbols.append(symbol)
        for sock in self._sockets:
            if len(sock.symbols) < self.venue.max_streams_per_connection:
                sock.symbols.append(symbol)
                for frame in self.venue.subscribe_frames([symbol]):
                    await self._send(sock, frame)
                return
        await self._open([symbol])

    async def _unsubscribe(self, symbol: str) -> None:
        if symbol not in self._subscribed:
            return
        self._subscribed.discard(symbol)  # routing stops now; late frames are dropped and counted
        self._refs.pop(symbol, None)
        self._symbols.remove(symbol)
        for sock in self._sockets:
            if symbol in sock.symbols:
                sock.symbols.remove(symbol)
                for frame in self.venue.unsubscribe_frames([symbol]):
                    await self._send(sock, frame)

    # --- introspection ------------------------------------------------------------------------

    def describe(self) -> ConnectionStatus:
        now = time.monotonic_ns()
        elapsed_s = (now - self._connected_ns) / 1e9 if self._connected_ns else 0.0
        last = max((s.last_frame_ns for s in self._sockets), default=None)
        return ConnectionStatus(
            venue=self.venue.name, connected_since=self._connected_wall, subscriptions=tuple(self._symbols),
            sockets=len(self._sockets), frames=self._frames,
            frames_per_s=self._frames / elapsed_s if elapsed_s > 0 else 0.0, deltas=self._deltas,
            dropped_unrouted=self._dropped,
            last_frame_age_ms=(now - last) / 1e6 if last is not None and self._frames else None)
