"""The venues of a replay: recorded REST replies, and a paper venue filling against replayed books.

``RecordedRest`` stands in for an adapter's ``RestClient``: a GET is answered with the first
recorded reply to the same request (same path and parameters, ``limit`` aside) received at or
after the virtual now, not served before, after sleeping until its recorded receive time, as
the live fetch took that long; when none was received after now, the newest unserved one
before it, at once (a restart's backoff may make the replay ask a little later than the live
engine did; the book's sync rule decides whether it still continues the stream). A request
nothing recorded answers waits forever (the book stays out of sync; the report counts it); a
signed request raises ``ExchangeError``. ``static=True`` serves static data instead (exchange
info: symbol filters, the listing; 24 h tickers): the first recorded reply to the same request,
else to the same path whatever its parameters, whatever its time, at once; ``NotRecorded``
when the capture holds none.

``PaperVenue`` wraps the real adapter: the public side (decoder, sync rule, snapshots through
``RecordedRest``) is the adapter's own; orders fill against the replayed book. Symbol rules are
the venue's own, parsed by the adapter from the recorded exchange info (a static
``RecordedRest``); a capture without it (cryptofeed's) gets permissive rules (tick/step 1e-12,
no minimums) and ``rules_recorded`` says so. An order is checked and rounded at the order
boundary exactly as the live adapter does (``protocols.rounding.order_fields``: a price off the
tick rounds to it, never worse; a quantity below the minimum or a notional below the minimum
raises ``OrderRejected``), waits ``latency_s`` (virtual), asks the symbol's book actor for its
view, and walks it: an IOC/market order takes every level its limit allows, up to its quantity,
at the levels' prices, and what it took is gone from that book for every later order until the
book changes (its next frame: the venue's truth); an IOC that takes part of its quantity ends
``expired`` with what it filled (a partial fill, as the venues report it). The venue's taker fee
is charged in the quote asset; balances move accordingly. An order on a book out of sync
expires unfilled.

Whole-market mode (``[markets] symbols = "shared"``): ``markets()`` is the venue's recorded
listing (its exchange info, parsed by the adapter) restricted to the capture's markets there (a
market the capture holds no frames of cannot run in a replay), so the engine's ``MarketsActor``
selects from what the venues listed when the capture was made, with the replay's settings;
a captured market the recording does not list (a capture without exchange info: cryptofeed's)
is listed open, as it was streaming. ``quote_volumes_24h()`` is the recorded 24 h tickers
(``NotRecorded`` without them: an activity floor cannot be replayed from such a capture).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from urllib.parse import parse_qsl

import msgspec

from actors import ActorRef
from protocols.errors import ExchangeError, OrderNotFound
from protocols.markets import Listing
from protocols.messages import (
    Balance,
    Balances,
    BookDelta,
    BookSnapshot,
    BookView,
    GetView,
    OrderIntent,
    OrderUpdate,
    SymbolInfo,
)
from protocols.rest import Response, is_public
from protocols.rounding import order_fields
from protocols.venue import Control, Venue, split_symbol, venue_symbol

log = logging.getLogger("arbor.replay")

# Base taker fees of the venues' lowest tier, for captures that carry none (cryptofeed's).
DEFAULT_TAKER_FEES = {"binance": 0.001, "gateio": 0.002, "mexc": 0.0005}
_TINY = Decimal("1e-12")


def request_key(path_query: str) -> tuple[str, frozenset[tuple[str, str]]]:
    """``/api/v3/depth?symbol=X&limit=1000`` → (path, params without ``limit``)."""
    path, _, query = path_query.partition("?")
    return path, frozenset((k, v) for k, v in parse_qsl(query) if k != "limit")


class NotRecorded(ExchangeError):
    """Raised by a static ``RecordedRest`` for a request the capture holds no reply to; caught
    by ``PaperVenue.symbol_info``, which then uses permissive rules."""


class RecordedRest:
    """Duck-types ``protocols.rest.RestClient.request`` from recorded replies (see module doc)."""

    def __init__(self, venue: str, replies: Sequence[tuple[int, str, bytes]], clock: Callable[[], int],
                 *, static: bool = False) -> None:
        self.venue, self.clock, self.static = venue, clock, static
        self._replies: dict[tuple[str, frozenset[tuple[str, str]]], list[tuple[int, bytes]]] = {}
        self._by_path: dict[str, bytes] = {}  # static data: the first reply to each path
        for recv_ns, key, body in sorted(replies, key=lambda r: r[0]):
            req = request_key(key.removeprefix("GET "))
            self._replies.setdefault(req, []).append((recv_ns, body))
            self._by_path.setdefault(req[0], body)
        self._served: dict[tuple[str, frozenset[tuple[str, str]]], int] = {}
        self.tap = None
        self.unanswered = 0

    async def request(self, method: str, path: str, *, query: str = "", body: bytes | None = None,
                      headers: Mapping[str, str] | None = None, bucket: str = "default",
                      weight: float = 1.0) -> Response:
        if method != "GET" or not is_public(query, headers):
            raise ExchangeError(self.venue, "replay", f"{method} {path}: not recorded (a replay sends nothing)")
        if self.static:
            same = self._replies.get(request_key(f"{path}?{query}"))
            if same:
                return Response(200, None, same[0][1])  # type: ignore[arg-type]
            try:
                return Response(200, None, self._by_path[path])  # type: ignore[arg-type]
            except KeyError:
                raise NotRecorded(self.venue, "replay", f"GET {path}: the capture holds no reply") from None
        key = request_key(f"{path}?{query}")
        entries = self._replies.get(key, [])
        now = self.clock()
        served = self._served.get(key, 0)
        i = max(served, bisect.bisect_left(entries, now, key=lambda e: e[0]))
        if i >= len(entries):
            # Nothing recorded after now: the newest unserved reply before it, if any (the replay
            # asked a little later than the live engine did; the sync rule judges whether it
            # still fits the stream). Else never answered: the book stays out of sync.
            if served >= len(entries):
                self.unanswered += 1
                await asyncio.Event().wait()
            i = len(entries) - 1
        recv_ns, reply = entries[i]
        self._served[key] = i + 1
        if recv_ns > now:
            await asyncio.sleep((recv_ns - now) / 1e9)
        return Response(200, None, reply)  # type: ignore[arg-type]

    async def close(self) -> None:
        return None


class PaperVenue:
    """A replay's venue: the adapter's public side, orders filled against the replayed books."""

    def __init__(self, inner: Venue, *, books: Callable[[str], ActorRef | None], latency_s: float,
                 taker_fee: float, balances: Mapping[str, float], clock: Callable[[], int],
                 wall: Callable[[], float], static: Venue | None = None, symbols: Sequence[str] = ()) -> None:
        self.inner, self.books, self.latency_s, self.taker_fee = inner, books, latency_s, taker_fee
        self.static = static  # the adapter over a static RecordedRest (exchange info), if any
        self.symbols = tuple(symbols)  # the capture's markets here: their filters are parsed in one go
        self.rules_recorded: dict[str, bool] = {}  # symbol -> its filters came from the capture
        self._rules: dict[str, SymbolInfo] = {}
        # Liquidity taken from a book since its last change: (symbol, side) -> (view seq, price -> qty)
        self._taken: dict[tuple[str, str], tuple[int, dict[float, float]]] = {}
        self.name = inner.name
        self.max_streams_per_connection = inner.max_streams_per_connection
        self.ping_interval_s = inner.ping_interval_s
        self.sync = inner.sync
        # The adapter's own decoder, bound: a replay calls it once per frame, with no extra hop.
        self.decode: Callable[[bytes | str, int], BookDelta | Control | None] = inner.decode
        self.clock, self.wall = clock, wall
        self._balances = dict(balances)
        self._orders: dict[tuple[str, str], OrderUpdate] = {}
        self._ids = itertools.count(1)

    # --- public side: the adapter's own -------------------------------------------------------
    def ws_url(self, symbols: Sequence[str]) -> str:
        return self.inner.ws_url(symbols)

    def subscribe_frames(self, symbols: Sequence[str]) -> list[str]:
        return self.inner.subscribe_frames(symbols)

    def unsubscribe_frames(self, symbols: Sequence[str]) -> list[str]:
        return self.inner.unsubscribe_frames(symbols)

    def ping_frame(self) -> str | None:
        return self.inner.ping_frame()

    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> BookSnapshot:
        return await self.inner.depth_snapshot(symbol, limit)

    async def symbol_info(self, symbols: Sequence[str]) -> dict[str, SymbolInfo]:
        """The venue's filters from the recorded exchange info, else permissive ones; the
        replay's taker fee either way (the fee the live engine decided with)."""
        if any(s not in self._rules for s in symbols):
            # Every market of the capture at once: the engine asks one symbol at a time, and the
            # recorded exchange info is parsed whole each time it is asked.
            missing = [s for s in dict.fromkeys((*self.symbols, *symbols)) if s not in self._rules]
            recorded: dict[str, SymbolInfo] = {}
            if self.static is not None:
                recorded = await self._recorded_rules(missing)
            for s in missing:
                info = recorded.get(s)
                self.rules_recorded[s] = info is not None
                if info is None:
                    base, quote = split_symbol(s)
                    info = SymbolInfo(symbol=s, venue_symbol=venue_symbol(s), base=base, quote=quote,
                                      tick_size=_TINY, step_size=_TINY, min_qty=Decimal(0), min_notional=Decimal(0),
                                      maker_fee=0.0, taker_fee=0.0)
                self._rules[s] = msgspec.structs.replace(info, maker_fee=self.taker_fee, taker_fee=self.taker_fee)
        return {s: self._rules[s] for s in symbols}

    async def _recorded_rules(self, symbols: list[str]) -> dict[str, SymbolInfo]:
        """The recorded exchange info's rules for those of ``symbols`` it lists."""
        assert self.static is not None
        try:
            return await self.static.symbol_info(symbols)
        except NotRecorded:  # named: no exchange info in the capture, permissive rules
            return {}
        except ExchangeError:  # named: the recorded listing lacks some of them (a venue's "not listed")
            pass
        recorded: dict[str, SymbolInfo] = {}
        for s in symbols:  # one at a time: the listed ones keep their recorded rules
            try:
                recorded.update(await self.static.symbol_info([s]))
            except ExchangeError:
                log.warning("replay: %s %s is not in the recorded exchange info: permissive filters", self.name, s)
        return recorded

    async def markets(self) -> list[Listing]:
        """The recorded listing of the capture's markets here (see the module doc)."""
        listed: dict[str, Listing] = {}
        if self.static is not None:
            try:
                listed = {row.symbol: row for row in await self.static.markets()}
            except NotRecorded:  # named: no exchange info in the capture, its markets listed open
                pass
        return [listed.get(s) or Listing(venue=self.inner.name, symbol=s, venue_symbol=self._venue_symbol(s),
                                         trading=True, api_orders=True) for s in self.symbols]

    async def quote_volumes_24h(self) -> dict[str, float]:
        if self.static is None:
            raise NotRecorded(self.name, "replay", "24 h tickers: the capture holds no reply")
        return await self.static.quote_volumes_24h()

    def _venue_symbol(self, symbol: str) -> str:
        return venue_symbol(symbol, "_" if self.inner.name == "gateio" else "")

    # --- account side: paper ------------------------------------------------------------------
    async def balances(self) -> Balances:
        return Balances(venue=self.name, ts_ns=self.clock(), balances=tuple(
            Balance(venue=self.name, asset=a, free=q, locked=0.0) for a, q in sorted(self._balances.items())))

    async def place_order(self, intent: OrderIntent) -> OrderUpdate:
        info = (await self.symbol_info([intent.symbol]))[intent.symbol]
        price, qty = order_fields(info, intent, self.name)  # the live adapter's boundary: OrderRejected
        rounded: dict[str, float] = {} if price is None else {"price": float(price)}
        if qty is not None:  # a quote-sized market order's amount, else the base quantity
            quote_sized = intent.order_type == "market" and intent.quote_qty is not None
            rounded["quote_qty" if quote_sized else "qty"] = float(qty)
        intent = msgspec.structs.replace(intent, **rounded)
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        ref = self.books(intent.symbol)
        view = await ref.ask(GetView()) if ref is not None else None
        filled, quote_total = self._take(intent, view)
        base, quote = split_symbol(intent.symbol)
        fee = quote_total * self.taker_fee
        sign = 1.0 if intent.side == "buy" else -1.0
        self._balances[base] = self._balances.get(base, 0.0) + sign * filled
        self._balances[quote] = self._balances.get(quote, 0.0) - sign * quote_total - fee
        want = intent.qty if intent.qty is not None else filled
        update = OrderUpdate(
            venue=self.name, symbol=intent.symbol, client_order_id=intent.client_order_id,
            order_id=f"paper-{next(self._ids)}", side=intent.side, order_type=intent.order_type,
            status="filled" if filled > 0 and filled >= (want or 0) * (1 - 1e-12) else "expired",
            price=intent.price, qty=want or 0.0, filled_qty=filled, filled_quote=quote_total, fee=fee,
            fee_asset=quote, ts_ms=int(self.wall() * 1000))
        self._orders[(intent.symbol, intent.client_order_id)] = update
        return update

    def _take(self, intent: OrderIntent, view: BookView | None) -> tuple[float, float]:
        """``walk`` ``view`` net of what earlier orders took from it, and note what this one took."""
        if view is None or not view.in_sync:
            return 0.0, 0.0
        key = (intent.symbol, intent.side)
        seq, taken = self._taken.get(key, (None, {}))
        if seq != view.seq:  # the book changed since: the venue's levels are the truth again
            taken = {}
            self._taken[key] = (view.seq, taken)
        return walk(intent, view.asks if intent.side == "buy" else view.bids, taken)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        return await self.order_by_client_id(symbol, client_order_id)  # IOC: already final

    async def cancel_all(self, symbol: str) -> list[OrderUpdate]:
        return []

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> OrderUpdate:
        try:
            return self._orders[(symbol, client_order_id)]
        except KeyError:
            raise OrderNotFound(self.name, None, f"no paper order {client_order_id}") from None

    async def open_orders(self, symbol: str) -> list[OrderUpdate]:
        return []

    async def close(self) -> None:
        await self.inner.close()
        if self.static is not None:
            await self.static.close()


def walk(intent: OrderIntent, levels: Sequence[tuple[float, float]], taken: dict[float, float]) -> tuple[float, float]:
    """Base filled and quote paid/received when ``intent`` takes ``levels`` (best first), less
    what ``taken`` holds per price; adds what it takes to ``taken``."""
    limit = intent.price if intent.order_type != "market" else None
    left_base = intent.qty if intent.qty is not None else float("inf")
    left_quote = intent.quote_qty if intent.quote_qty is not None else float("inf")
    filled = quote_total = 0.0
    for price, qty in levels:
        if limit is not None and (price > limit if intent.side == "buy" else price < limit):
            break
        if left_base <= 0 or left_quote <= 0:
            break
        left_here = qty - taken.get(price, 0.0)
        if left_here <= qty * 1e-9:
            continue  # an earlier order took this level: the next one
        take = min(left_here, left_base, left_quote / price)
        taken[price] = taken.get(price, 0.0) + take
        filled += take
        quote_total += take * price
        left_base -= take
        left_quote -= take * price
    return filled, quote_total
