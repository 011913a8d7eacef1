"""What every simulated venue shares: one aiohttp server (REST + WebSocket + ``/_sim`` admin) on
127.0.0.1:0, the WebSocket fan-out with push faults, the REST fault/rate-limit middleware, and
the venue's book, account and fault state. A venue module subclasses ``VenueServer`` with its
routes, its frames and its error bodies.

Each WebSocket connection has one writer task draining a FIFO of frames (control replies and
pushes share it, so a subscription ack precedes the first push). A connection whose queue
exceeds ``MAX_QUEUE`` frames is closed, as real venues drop slow consumers. Its bytes are
stamped (``Conn.rx_ns``) when the loop reads them off the socket, before any handler runs: a
WebSocket API request's arrival time (tick-to-trade) is that stamp, not the time its handler
got the loop (every venue shares this process and loop, and a busy one would delay it).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from protocols.venue import Credentials, split_symbol
from simulator.admin import admin_routes
from simulator.config import SimConfig, fmt_units
from simulator.faults import Faults
from simulator.market import Delta, VenueBook
from simulator.matching import Exchange

MAX_QUEUE = 20_000
ARRIVAL_NS = web.RequestKey("arrival_ns", int)  # when a REST request reached the venue (monotonic)
Frame = str | bytes
_CLOSE = object()


def now_ms() -> int:
    return int(time.time() * 1000)


def to_units(text: str | None, decimals: int) -> int | None:
    """Exact decimal string -> integer units of 10^-decimals; None if off-grid or not a number."""
    if text is None:
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    v = d.scaleb(decimals)
    if v != v.to_integral_value():
        return None
    return int(v)


def to_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def pad8(units: int, decimals: int) -> str:
    """Binance-style 8-decimal string of ``units * 10^-decimals``."""
    return fmt_units(units * 10 ** (8 - decimals), 8) if decimals <= 8 else fmt_units(units, decimals)


class Conn:
    """One client WebSocket: its subscriptions (internal symbols), its outgoing queue, and when
    its last bytes were read (``rx_ns``, ``time.monotonic_ns``; see ``_Stamped``). ``sent``
    counts the frames written; the write of frame number ``watch`` is stamped in ``watch_ns``
    (tick to trade: when the frame that makes an opportunity was written, not queued)."""

    __slots__ = ("ws", "subs", "style", "queue", "names", "last_in", "last_out", "inbound", "rx_ns", "sent",
                 "watch", "watch_ns")

    def __init__(self, ws: web.WebSocketResponse, style: str = "") -> None:
        self.ws = ws
        self.subs: set[str] = set()
        self.style = style
        self.queue: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        self.names: dict[str, str] = {}  # symbol -> the stream/channel name the client used
        self.last_in = self.last_out = asyncio.get_running_loop().time()  # last frame each way
        self.inbound: list[float] = []  # receive times of recent client messages (rate rules)
        self.rx_ns = 0
        self.sent = self.watch = self.watch_ns = 0

    def send(self, frame: Frame | object, at: float = 0.0) -> None:
        if self.queue.qsize() >= MAX_QUEUE:
            frame, at = _CLOSE, 0.0
        self.queue.put_nowait((at, frame))


class _Stamped(asyncio.Protocol):
    """Between a WebSocket's transport and aiohttp's protocol: stamps ``conn.rx_ns`` when the
    loop reads bytes off the socket, then hands them on unchanged. A request's frame is complete
    in the last read that carried it, so its handler (however late it runs) knows when it
    arrived: a later read on the same connection can only make that stamp later, never earlier."""

    def __init__(self, inner: asyncio.BaseProtocol, conn: Conn) -> None:
        self.inner, self.conn = inner, conn

    def data_received(self, data: bytes) -> None:
        self.conn.rx_ns = time.monotonic_ns()
        self.inner.data_received(data)  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class FixedWindow:
    """Request weight per key in fixed windows of ``period_s`` (the venues' "per minute")."""

    def __init__(self, limit: int, period_s: float) -> None:
        self.limit, self.period = limit, period_s
        self._used: dict[str, tuple[int, int]] = {}  # key -> (window index, used)

    def hit(self, key: str, weight: int) -> tuple[int, float]:
        """Add ``weight``; returns (used in this window, seconds until the window resets)."""
        t = time.time()
        idx = int(t // self.period)
        win, used = self._used.get(key, (idx, 0))
        used = (used if win == idx else 0) + weight
        self._used[key] = (idx, used)
        return used, (idx + 1) * self.period - t


class VenueServer:
    """Base of the three venues. Subclasses set ``name``, ``heartbeat_s`` and implement the hooks."""

    name = ""
    ws_path = ""
    order_path = ""  # POST here places an order (the order faults look for it)
    trades_path = ""  # GET here lists the account's own trades (the trades_5xx fault looks for it)
    heartbeat_s: float | None = None

    def __init__(
        self,
        cfg: SimConfig,
        books: dict[str, VenueBook],
        *,
        pause: Callable[[], None],
        resume: Callable[[], None],
        new_order_id: Callable[[], str],
    ) -> None:
        from simulator.config import MIN_NOTIONAL

        self.cfg = cfg
        self.books = books
        self.faults = Faults()
        self.faults.on_arm.append(self._armed)
        self.exchange = Exchange(
            books=books,
            fee=cfg.fees.get(self.name, 0.001),
            min_notional=MIN_NOTIONAL.get(self.name, 1.0),
            balances=cfg.balances,
            new_order_id=new_order_id,
            fee_asset=cfg.fee_assets.get(self.name),
        )
        self.credentials = Credentials(secrets.token_hex(16), secrets.token_hex(32))
        self.conns: set[Conn] = set()
        self.pause_market, self.resume_market = pause, resume  # the shared market clock (admin API)
        # list(symbol) / delist(symbol) on this venue, wired by the Simulator (admin API)
        self.list_market: Callable[[str], None] | None = None
        self.delist_market: Callable[[str], None] | None = None
        self._held: dict[Conn, list[Frame]] = {}
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.ws_accepted = 0  # WebSocket connections accepted, ever
        self.rate_limited = 0  # 429/418 answers for exceeding the request weight (not injected faults)
        self.rule_closes: dict[str, int] = {}  # sockets closed for breaking a venue rule, by rule
        self.by_venue_symbol = {self.venue_symbol(s): s for s in books}
        self.halted: set[str] = set()  # listed, not trading (Binance BREAK, MEXC status 2, Gate untradable)
        self.api_closed: set[str] = set(cfg.api_closed.get(self.name, ()))  # trading, but not to API orders

        # Every request as it arrives: (time.monotonic_ns(), kind, what): kind "REST" (what =
        # "METHOD path") or "WS" (what = the WS API method or channel). The tests read it to
        # prove what was (not) asked between two instants; benchmarks read arrival times.
        self.requests: list[tuple[int, str, str]] = []
        self.snapshots: list[tuple[int, str]] = []  # every REST depth answer: (monotonic_ns, symbol), in order
        self.private: dict[Conn, object] = {}  # connections subscribed to the user data stream

    def listing_changed(self) -> None:
        """The market listed or delisted a symbol here: names resolve, and a delisted symbol's
        subscriptions end (its sockets stay open, as a venue's do)."""
        self.by_venue_symbol = {self.venue_symbol(s): s for s in self.books}
        for conn in self.conns:
            conn.subs.intersection_update(self.books)

    def drop_connections(self, symbol: str) -> int:
        """Close every client socket subscribed to ``symbol`` (a network drop of one of a
        client's connections); returns how many."""
        dropped = [c for c in self.conns if symbol in c.subs]
        for conn in dropped:
            conn.send(_CLOSE)
            self.conns.discard(conn)
        return len(dropped)

    def change_listing(self, action: str, symbol: str) -> None:
        """``list`` / ``delist`` / ``halt`` / ``resume`` ``symbol`` here; ValueError when it cannot."""
        if action == "list" and self.list_market is not None:
            split_symbol(symbol)
            self.list_market(symbol)
        elif action in ("delist", "halt", "resume") and symbol not in self.books:
            raise ValueError(f"{self.name} does not list {symbol!r}")
        elif action == "delist" and self.delist_market is not None:
            self.delist_market(symbol)
        elif action == "halt":
            self.halted.add(symbol)
        elif action == "resume":
            self.halted.discard(symbol)
        else:
            raise ValueError(f"unknown action {action!r}: expected list, delist, halt or resume")
        self.listing_changed()

    def open_to_api(self, symbol: str) -> bool:
        return symbol not in self.halted and symbol not in self.api_closed

    # --- public API -------------------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        return f"http://{self.cfg.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.cfg.host}:{self.port}{self.ws_path}"

    @property
    def admin_url(self) -> str:
        return f"{self.rest_url}/_sim"

    def book(self, symbol: str) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        return self.books[symbol].levels()

    def seq(self, symbol: str) -> int:
        return self.books[symbol].seq

    @property
    def orders(self) -> dict[str, Any]:
        return self.exchange.orders

    @property
    def balances(self) -> dict[str, tuple[float, float]]:
        """asset -> (free, locked), a copy."""
        return {a: (free, locked) for a, (free, locked) in self.exchange.balances.items()}

    # --- hooks for subclasses ---------------------------------------------------------------
    def venue_symbol(self, symbol: str) -> str:
        raise NotImplementedError

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def encode(self, symbol: str, delta: Delta, conn: Conn) -> Frame | None:
        """One push frame, or None when this stream has nothing to say (a top-N view the change
        did not touch); cached per ``frame_key`` within a push."""
        raise NotImplementedError

    def frame_key(self, symbol: str, conn: Conn) -> tuple[object, ...]:
        """Connections with equal keys get the same frame for ``symbol`` in one push."""
        return symbol, conn.style, conn.names.get(symbol, "")

    def malformed(self, conn: Conn) -> Frame:
        raise NotImplementedError

    def account_frames(self, conn: Conn, assets: list[str], order: Any | None) -> list[Frame]:
        """The private-stream frames for a change of ``assets`` (and ``order``'s state, if
        any) on one subscribed connection. Venues without a private stream push nothing."""
        return []

    async def on_text(self, conn: Conn, text: str) -> None:
        raise NotImplementedError

    def on_connect(self, conn: Conn, request: web.Request) -> None:
        """Subscriptions given in the URL (Binance), before any frame."""

    def on_disconnect(self, conn: Conn) -> None:
        """The connection is gone: forget what the venue kept for it."""

    async def watchdog(self, conn: Conn) -> None:
        """Runs beside each connection: enforce the venue's idle rules (``close_for``)."""
        await self._closing.wait()

    def drop(self, conn: Conn) -> None:
        """Close ``conn`` as a fault does (after what is already queued for it)."""
        conn.send(_CLOSE)

    def close_for(self, conn: Conn, rule: str) -> None:
        """Close ``conn`` for breaking ``rule`` (counted in ``rule_closes``)."""
        self.rule_closes[rule] = self.rule_closes.get(rule, 0) + 1
        conn.send(_CLOSE)

    def prepare_delta(self, symbol: str, delta: Delta) -> Delta:
        """Last chance to reshape a push (Gate turns some into ``full: true``)."""
        return delta

    def rate(self, request: web.Request) -> tuple[dict[str, str], float | None]:
        """Account the request: (headers for the response, retry-after if over the limit)."""
        return {}, None

    def error(self, status: int, kind: str, headers: dict[str, str] | None = None) -> web.Response:
        """The venue's error body for ``kind`` in ("rate", "server", "timeout")."""
        raise NotImplementedError

    def limited_status(self) -> int:
        """HTTP status of a rate-limited answer: 429, or 418 for a venue that bans the IP."""
        return 429

    # --- server lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        app.add_routes(admin_routes(self))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing.set()
        for conn in list(self.conns):
            conn.send(_CLOSE)
        if self._runner is not None:
            await self._runner.cleanup()

    # --- WebSocket --------------------------------------------------------------------------
    async def ws_handler(self, request: web.Request, style: str = "") -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self.heartbeat_s)
        await ws.prepare(request)
        conn = Conn(ws, style)
        transport = request.transport
        if transport is not None:
            transport.set_protocol(_Stamped(transport.get_protocol(), conn))
        self.ws_accepted += 1
        self.on_connect(conn, request)
        self.conns.add(conn)
        writer = asyncio.create_task(self._writer(conn), name=f"sim-{self.name}-ws-writer")
        watchdog = asyncio.create_task(self.watchdog(conn), name=f"sim-{self.name}-ws-watchdog")
        try:
            async for msg in ws:
                conn.last_in = asyncio.get_running_loop().time()
                if msg.type == WSMsgType.TEXT:
                    await self.on_text(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self.on_text(conn, msg.data.decode("utf-8", "replace"))
        finally:
            self.conns.discard(conn)
            self.private.pop(conn, None)
            self._held.pop(conn, None)
            self.on_disconnect(conn)
            writer.cancel()
            watchdog.cancel()
            await asyncio.wait([writer, watchdog])
        return ws

    async def _writer(self, conn: Conn) -> None:
        loop = asyncio.get_running_loop()
        ws = conn.ws
        while True:
            at, frame = await conn.queue.get()
            if frame is _CLOSE:
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulated disconnect")
                return
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            if ws.closed:
                return
            conn.sent += 1
            if conn.sent == conn.watch:
                conn.watch_ns = time.monotonic_ns()
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
            conn.last_out = loop.time()

    def push(self) -> None:
        """Drain every book's pending delta and fan it out, applying armed push faults. (A quiet
        market changes every few intervals only: ``simulator.market.cadence``.)"""
        if self.conns and self.faults.take("disconnect"):
            for conn in list(self.conns):
                conn.send(_CLOSE)
            self.conns.clear()
        subscribed = any(c.subs for c in self.conns)
        if subscribed and self.faults.armed_for("stall") and self.faults.take("stall"):
            return  # nothing drained: the changes wait, merged, for the next push
        deltas: dict[str, Delta] = {}
        for symbol, book in self.books.items():
            d = book.drain()
            if d is not None:
                deltas[symbol] = self.prepare_delta(symbol, d)
        out: dict[Conn, list[Frame]] = {}
        cache: dict[tuple[object, ...], Frame | None] = {}
        for conn in self.conns:
            frames = []
            for symbol in conn.subs:
                d = deltas.get(symbol)
                if d is None:
                    continue
                key = self.frame_key(symbol, conn)
                if key not in cache:
                    cache[key] = self.encode(symbol, d, conn)
                frame = cache[key]
                if frame is not None:
                    frames.append(frame)
            if frames or conn in self._held:
                out[conn] = frames
        if not any(out.values()):
            self._send_held(out)
            return
        f = self.faults
        if f.armed and f.take("gap"):
            return  # the push is lost: its sequence numbers never reach anyone
        if f.armed and f.take("duplicate"):
            out = {c: fr + fr for c, fr in out.items()}
        if f.armed and f.take("malformed"):
            out = {c: [*fr, self.malformed(c)] for c, fr in out.items()}
        if f.armed and f.take("reorder"):
            self._send_held(out)  # anything already held goes first
            self._held = {c: fr for c, fr in out.items() if fr}
            return
        at = 0.0
        if f.armed and f.take("latency"):
            at = asyncio.get_running_loop().time() + self.cfg.fault_latency_s
        for conn, frames in out.items():
            for frame in frames:
                conn.send(frame, at)
        self._send_held(out)

    def _send_held(self, out: dict[Conn, list[Frame]]) -> None:
        held, self._held = self._held, {}
        for conn, frames in held.items():
            if conn in self.conns:
                for frame in frames:
                    conn.send(frame)

    # --- private stream ---------------------------------------------------------------------
    def log_request(self, kind: str, what: str, at: int = 0) -> int:
        """Log one arriving request; returns its arrival time (``time.monotonic_ns``): ``at``,
        when its bytes were read (a WebSocket request: ``Conn.rx_ns``), else now."""
        at = at or time.monotonic_ns()
        self.requests.append((at, kind, what))
        return at

    async def arrived(self, kind: str, what: str, at: int = 0) -> int:
        """``log_request``, then one turn of the loop before the request is processed: every
        venue shares this process and loop, so a request arriving on another venue meanwhile
        is read (and stamped) before this one is matched."""
        at = self.log_request(kind, what, at)
        await asyncio.sleep(0)
        return at

    def account_changed(self, assets: list[str], order: Any | None = None) -> None:
        """Push the account change to every private subscriber, honouring the private faults:
        ``private_drop`` closes those connections instead (events are lost, as on a real drop),
        ``private_miss`` loses this one event, ``private_delay`` holds it ``fault_latency_s``.
        The order's fills since its last push are this push's (``Order.fills_pushed``), whether
        it reaches anyone or not."""
        try:
            self._push_account(assets, order)
        finally:
            if order is not None:
                order.fills_pushed = len(order.fills)

    def _push_account(self, assets: list[str], order: Any | None) -> None:
        if not self.private:
            return
        if self.faults.take("private_drop"):
            for conn in list(self.private):
                conn.send(_CLOSE)
            self.private.clear()
            return
        if self.faults.take("private_miss"):
            return
        at = 0.0
        if self.faults.take("private_delay"):
            at = asyncio.get_running_loop().time() + self.cfg.fault_latency_s
        for conn in list(self.private):
            for frame in self.account_frames(conn, assets, order):
                conn.send(frame, at)

    def set_balance(self, asset: str, free: float) -> None:
        """A change made outside Arbor (a deposit, a withdrawal): pushed like any other."""
        row = self.exchange.balances.setdefault(asset, [0.0, 0.0])
        row[0] = free
        self.account_changed([asset])

    def order_assets(self, order: Any) -> list[str]:
        spec = self.books[order.symbol].spec
        return [spec.base, spec.quote] + ([order.fee_asset] if order.fee_rate is not None else [])

    # --- REST plumbing ----------------------------------------------------------------------
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_sim") or request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        request[ARRIVAL_NS] = await self.arrived("REST", f"{request.method} {request.path}")
        headers, retry_after = self.rate(request) if self.cfg.rate_limits else ({}, None)
        if retry_after is not None:
            self.rate_limited += 1  # a client that paces its requests never sees one
        if retry_after is not None or self.faults.take("http_429"):
            headers["Retry-After"] = str(max(1, int(retry_after or 1)))
            return self.error(self.limited_status(), "rate", headers)
        if self.faults.take("http_5xx"):
            return self.error(503, "server", headers)
        if request.path == self.trades_path and self.faults.take("trades_5xx"):
            return self.error(503, "server", headers)
        placing = request.method == "POST" and request.path == self.order_path
        if self.faults.take("timeout") or (placing and self.faults.take("order_timeout")):
            try:
                await asyncio.wait_for(self._closing.wait(), self.cfg.fault_timeout_s)
            except TimeoutError:
                pass  # held as long as configured; answer like a gateway timeout
            return self.error(504, "timeout", headers)
        response = await handler(request)
        response.headers.update(headers)
        return response

    def _armed(self, kind: str) -> None:
        if kind == "stale_snapshot":
            # The snapshot the client will get is the book as of now: older than the stream by
            # the time it is served.
            for symbol, book in self.books.items():
                self.faults.stale[symbol] = (book.seq, dict(book.bids), dict(book.asks))

    def snapshot(self, symbol: str) -> tuple[int, dict[int, int], dict[int, int]]:
        """(seq, bids, asks) for a REST depth answer, honouring ``stale_snapshot``."""
        book = self.books[symbol]
        self.snapshots.append((time.monotonic_ns(), symbol))
        if symbol in self.faults.stale and self.faults.take("stale_snapshot"):
            stale = self.faults.stale
            result = stale.pop(symbol)
            if not self.faults.armed_for("stale_snapshot"):
                stale.clear()
            return result
        return book.seq, book.bids, book.asks

    async def after_execution(self) -> web.Response | None:
        """After an order executed, before its answer is sent. ``order_latency`` holds the
        answer (the order is already on the venue: a query by client id finds it meanwhile);
        ``order_unknown`` replaces the answer with a 503. None: answer as usual."""
        if self.faults.take("order_latency"):
            delay = self.cfg.fault_order_latency_s
            try:  # cut short when the venue stops, so a held answer never outlives the server
                await asyncio.wait_for(self._closing.wait(), self.cfg.fault_latency_s if delay is None else delay)
            except TimeoutError:
                pass
        if self.faults.take("order_unknown"):
            return self.error(503, "server")
        return None


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Remove ``signature=...`` from a raw query/body string: (rest, signature or None)."""
    if not raw:
        return raw, None
    parts = raw.split("&")
    kept = [p for p in parts if not p.startswith("signature=")]
    sig = next((p[len("signature=") :] for p in parts if p.startswith("signature=")), None)
    return "&".join(kept), sig


async def signed_params(request: web.Request) -> tuple[dict[str, str], str, str | None]:
    """MEXC/Binance: (params with the query winning over the body, the signed payload
    ``query + body`` without the signature, the signature)."""
    from urllib.parse import parse_qsl

    body = await request.text() if request.can_read_body else ""
    query, sig_q = strip_signature(request.rel_url.raw_query_string)
    form, sig_b = strip_signature(body)
    params = dict(parse_qsl(body, keep_blank_values=True))
    params.update(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
    params.pop("signature", None)
    return params, query + form, sig_q or sig_b
