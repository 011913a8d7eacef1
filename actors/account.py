"""One venue's account as a LIVE VIEW from its private (user data) stream: balances and the
latest state of our orders, as the venue pushes them. Not a cache: it is the venue's own push,
held to the same rule as a book -- used only while in sync.

``AccountActor`` (path ``venues/<venue>/account``) connects the venue's private stream
(``protocols/<venue>/private.py``: Binance ``userDataStream.subscribe.signature`` on the
WebSocket API, Gate.io signed ``spot.orders`` + ``spot.balances``, MEXC listenKey and the
protobuf ``spot@private.orders/deals/account.v3.api.pb``), waits for every subscription's answer, then
REBUILDS from REST (``venue.balances()``) and only then publishes a usable view. MEXC's codec first takes a
listenKey over REST (``prepare``), and the actor keeps it alive (``keepalive`` every 30 min). The rebuild is
taken in a window in which no push arrived (a push during the fetch means the snapshot may be
older than the push: fetch again), and pushes are absolute values applied in stream order, so
the view equals the venue's account once every push sent before a moment has arrived.

The view is published to an ``AccountBoard`` (one per engine): an immutable ``AccountView``
per venue, replaced on every change, which the executor READS SYNCHRONOUSLY for its balance
check (no venue round trip, no ask). It is marked unusable the moment the stream is lost (the
socket closes, a heartbeat goes unanswered, a frame cannot be decoded, the actor stops or
crashes) and stays so until the next rebuild; while it is unusable the executor asks REST, as
before. None of the venues replays private events (private.md §4.2), so every reconnect
rebuilds; and, since none numbers its events either, an AUDIT compares the view with REST every
``audit_s`` (30 s) and corrects a push the venue never sent (until then the view can be wrong
by that push: the residual risk of a venue without event numbers). Reconnecting is the
supervisor's: a lost stream raises ``NetworkError`` and the restart (with backoff) connects and
rebuilds again. A refused subscription is ``AuthError``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

from actors import Actor
from protocols.errors import AuthError, DecodeError, NetworkError
from protocols.messages import Balance, Balances, OrderUpdate
from protocols.private import PrivateCodec, StreamReply
from protocols.venue import Venue

log = logging.getLogger("arbor.account")

SUBSCRIBE_TIMEOUT_S = 10.0
REBUILD_ATTEMPTS = 20  # fetches in a row spoiled by a push before giving up (crash, restart)


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y)) for x, y in zip(a, b, strict=True))


class AccountView(msgspec.Struct, frozen=True, kw_only=True):
    """What the executor reads. ``usable``: connected, subscribed and rebuilt since."""

    venue: str
    usable: bool
    balances: dict[str, tuple[float, float]]  # asset -> (free, locked); never mutated once published
    orders: dict[str, OrderUpdate]  # client id -> latest pushed state (cumulative fills)
    last_event_ns: int  # monotonic receive time of the last push (0: none yet)
    synced_ns: int  # when the last rebuild finished (0: never)
    events: int  # pushes applied since the connection opened

    def snapshot(self, ts_ns: int) -> Balances:
        return Balances(venue=self.venue, ts_ns=ts_ns, balances=tuple(
            Balance(venue=self.venue, asset=a, free=f, locked=lk) for a, (f, lk) in self.balances.items()))


class AccountBoard:
    """The engine's published account views, by venue. Written only by each venue's account
    actor; read synchronously by the executor, which may also ``watch`` an order: a future
    resolved (in the publishing call, no extra hop) the moment a usable view holds its final
    state."""

    def __init__(self) -> None:
        self._views: dict[str, AccountView] = {}
        self._watches: dict[str, dict[str, asyncio.Future[OrderUpdate]]] = {}  # venue -> client id -> future

    def publish(self, view: AccountView) -> None:
        self._views[view.venue] = view
        watches = self._watches.get(view.venue)
        if watches and view.usable:
            for cid, fut in watches.items():
                update = view.orders.get(cid)
                if update is not None and update.final and not fut.done():
                    fut.set_result(update)

    def watch(self, venue: str, client_order_id: str) -> asyncio.Future[OrderUpdate]:
        """A future of the order's final state as pushed on the venue's live stream (already
        resolved when the usable view holds it). ``unwatch`` when done with it."""
        fut: asyncio.Future[OrderUpdate] = asyncio.get_running_loop().create_future()
        self._watches.setdefault(venue, {})[client_order_id] = fut
        view = self.usable(venue)
        update = view.orders.get(client_order_id) if view is not None else None
        if update is not None and update.final:
            fut.set_result(update)
        return fut

    def unwatch(self, venue: str, client_order_id: str) -> None:
        fut = self._watches.get(venue, {}).pop(client_order_id, None)
        if fut is not None and not fut.done():
            fut.cancel()

    def usable(self, venue: str) -> AccountView | None:
        """The venue's view if it may be decided on now, else None (ask REST)."""
        view = self._views.get(venue)
        return view if view is not None and view.usable else None

    def get(self, venue: str) -> AccountView | None:
        return self._views.get(venue)


class AccountStatus(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    usable: bool
    assets: int
    events: int
    rebuilds: int
    mismatches: int
    decode_errors: int
    last_event_age_ms: float | None


class AccountActor(Actor):
    """See the module docstring. Inbox: nothing (it reads its socket)."""

    def __init__(self, *, venue: Venue, codec: PrivateCodec, board: AccountBoard, heartbeat_s: float = 5.0,
                 audit_s: float | None = 30.0, clock: Callable[[], int] = time.monotonic_ns,
                 wall_ms: Callable[[], int] | None = None) -> None:
        self.venue, self.codec, self.board = venue, codec, board
        self.heartbeat_s, self.audit_s, self.clock = heartbeat_s, audit_s, clock
        self.mismatches = 0  # audits that found the view wrong (a push the venue never sent)
        self.wall_ms = wall_ms if wall_ms is not None else (lambda: int(time.time() * 1000))
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._balances: dict[str, tuple[float, float]] = {}
        self._orders: dict[str, OrderUpdate] = {}
        self._usable = False
        self._events = self._rebuilds = self._decode_errors = 0
        self._replies = 0
        self._last_event_ns = self._synced_ns = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def on_start(self) -> None:
        self._publish(usable=False)  # whatever an earlier incarnation left is not usable
        prepare = getattr(self.codec, "prepare", None)
        if prepare is not None:  # MEXC: a fresh listenKey over REST, part of the URL
            await prepare()
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.codec.url, heartbeat=self.heartbeat_s, autoping=True)
        except (aiohttp.ClientError, OSError) as exc:
            await self._session.close()
            raise NetworkError(self.codec.venue, f"cannot open the private stream {self.codec.url}: {exc!r}") from exc
        frames = self.codec.subscribe_frames(self.wall_ms())
        for frame in frames:
            await self._ws.send_str(frame)
        # Every subscription answered before the rebuild (pushes may start right after each).
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                while self._replies < len(frames):
                    await self._take(await self._ws.receive())
        except TimeoutError:
            raise NetworkError(self.codec.venue, f"private stream: no answer to the subscription in "
                                                 f"{SUBSCRIBE_TIMEOUT_S:g} s") from None
        self.start_task(self._read(), name=f"account:{self.codec.venue}:reader")
        await self._rebuild()
        if getattr(self.codec, "keepalive_s", None):
            self.start_task(self._keepalive(), name=f"account:{self.codec.venue}:keepalive")
        if self.audit_s:
            self.start_task(self._audit(), name=f"account:{self.codec.venue}:audit")

    async def _audit(self) -> None:
        """No venue numbers its private events, so a push it never sent is invisible in the
        stream. Every ``audit_s`` the view is compared with REST in a push-free window (as the
        rebuild is taken); a difference is logged, counted, and the REST balances replace it."""
        assert self.audit_s is not None
        while True:
            await asyncio.sleep(self.audit_s)
            before = self._events
            snap = await self.venue.balances()
            if self._events != before:
                continue  # a push during the fetch: not comparable, next time
            truth = {b.asset: (b.free, b.locked) for b in snap.balances}
            wrong = {a for a in truth.keys() | self._balances.keys()
                     if not _close(truth.get(a, (0.0, 0.0)), self._balances.get(a, (0.0, 0.0)))}
            if wrong:
                self.mismatches += 1
                log.warning("account %s: live view differed from REST on %s (a missed push): corrected",
                            self.codec.venue, ", ".join(sorted(wrong)))
                self._balances = truth
                self._publish(usable=self._usable)

    async def _keepalive(self) -> None:
        """MEXC's listenKey lapses 60 min after its last keepalive: one every ``keepalive_s``.
        A failed keepalive raises (crash): the restart takes a new key and rebuilds."""
        while True:
            await asyncio.sleep(self.codec.keepalive_s)  # type: ignore[attr-defined]
            await self.codec.keepalive()  # type: ignore[attr-defined]

    async def on_stop(self) -> None:
        self._publish(usable=False)
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    # --- the stream ---------------------------------------------------------------------------

    async def _rebuild(self) -> None:
        for _ in range(REBUILD_ATTEMPTS):
            before = self._events
            snap = await self.venue.balances()
            if self._events == before:  # no push during the fetch: the snapshot is the newest
                self._balances = {b.asset: (b.free, b.locked) for b in snap.balances}
                self._rebuilds += 1
                self._synced_ns = self.clock()
                self._publish(usable=True)
                return
        raise NetworkError(self.codec.venue, f"account rebuild spoiled by pushes {REBUILD_ATTEMPTS} times in a row")

    async def _read(self) -> None:
        assert self._ws is not None
        while True:
            await self._take(await self._ws.receive())

    async def _take(self, msg: aiohttp.WSMessage) -> None:
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            self._publish(usable=False)  # closed, or a heartbeat went unanswered: events may be lost
            raise NetworkError(self.codec.venue, f"private stream lost ({msg.type.name}): rebuilding on restart")
        try:
            out = self.codec.decode(msg.data)
        except DecodeError:
            # A push we cannot read may have been a balance change: the view is not trusted
            # until rebuilt (the restart does it). The frame's excerpt is in the error.
            self._decode_errors += 1
            self._publish(usable=False)
            raise
        if isinstance(out, StreamReply):
            if not out.ok:
                raise AuthError(self.codec.venue, None, f"private stream subscription refused: {out.message}")
            self._replies += 1
            return
        if not out:
            return
        self._last_event_ns = self.clock()
        self._events += 1
        balances = self._balances
        for event in out:
            if isinstance(event, Balance):
                balances = balances if balances is not self._balances else dict(balances)
                balances[event.asset] = (event.free, event.locked)
            else:
                known = self._orders.get(event.client_order_id)
                if known is None or event.filled_qty >= known.filled_qty:  # cumulative: never go back
                    self._orders = {**self._orders, event.client_order_id: event}
        self._balances = balances
        self._publish(usable=self._usable)

    def _publish(self, *, usable: bool) -> None:
        self._usable = usable
        self.board.publish(AccountView(
            venue=self.codec.venue, usable=usable, balances=self._balances, orders=self._orders,
            last_event_ns=self._last_event_ns, synced_ns=self._synced_ns, events=self._events))

    def describe(self) -> AccountStatus:
        age = (self.clock() - self._last_event_ns) / 1e6 if self._last_event_ns else None
        return AccountStatus(venue=self.codec.venue, usable=self._usable, assets=len(self._balances),
                             events=self._events, rebuilds=self._rebuilds, mismatches=self.mismatches,
                             decode_errors=self._decode_errors,
                             last_event_age_ms=age)

    async def receive(self, msg: Any) -> Any:
        raise TypeError(f"account: unexpected message {type(msg).__name__}")
