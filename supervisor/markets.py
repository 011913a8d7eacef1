"""Whole-market mode's refresher: which markets run, kept in step with the venues' listings.

``MarketsActor`` (the root's first child, so the set is known before any detector or book is
built) reads every enabled venue's listing (``Venue.markets()``) and, with an activity floor
(``Selection.min_quote_volume_24h``), its 24 h tickers (``Venue.quote_volumes_24h()``), selects
the markets open (and active enough) on at least ``min_venues`` of them
(``protocols.markets.shared_markets``) plus each venue's pinned ``symbols``, and hands the
per-venue set to ``apply`` (the engine's ``apply_markets``). On its first start that only
records the set (the tree then builds from it); afterwards, every ``refresh_s`` (and on a
restart), ``apply`` diffs it against the running tree: a newly shared market gets its books
and detector started, a delisted or halted one is stopped and removed.
Every such change is handed to ``record`` (the engine journals it: ``MarketEvent`` rows, one
per venue-market, with the reason read from the listings: ``delisted``, ``halted``, ``closed to
API orders``, ``no longer shared`` ...).

Inbox: ``Refresh`` (its own timer) | ``GetMarkets`` (ask: the current ``MarketsStatus``).
Failure: a venue's listing that cannot be read (``ExchangeError``: network, rate limit, a body
that does not decode) crashes the actor; its supervisor restarts it with backoff and the
running markets are left as they are meanwhile (nothing is removed on missing information).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import msgspec

from actors import Actor
from protocols.markets import Listing, Selection, below_floor, per_venue, shared_markets, volumes_by_symbol
from protocols.messages import MarketEvent, Msg
from protocols.venue import Venue

log = logging.getLogger("arbor.markets")


class Refresh(Msg, frozen=True, kw_only=True):
    """The refresher's own timer."""


class GetMarkets(Msg, frozen=True, kw_only=True):
    """Ask: the current ``MarketsStatus``."""


class MarketChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``apply`` changed, per venue: symbols added and removed."""

    added: dict[str, tuple[str, ...]] = {}
    removed: dict[str, tuple[str, ...]] = {}


async def apply_market_set(running: Mapping[str, Sequence[str]], wanted: Mapping[str, Sequence[str]],
                           subscribe: Callable[[str, str], Awaitable[None]],
                           unsubscribe: Callable[[str, str], Awaitable[None]]) -> MarketChanges:
    """Bring the ``running`` markets (``{venue: [symbols]}``, kept by the callbacks) to ``wanted``:
    unsubscribe what is gone, then subscribe what is new, venue by venue. A market the venue no
    longer lists when subscribed (LookupError) is skipped with a warning: the next refresh retries."""
    added: dict[str, tuple[str, ...]] = {}
    removed: dict[str, tuple[str, ...]] = {}
    for name in list(running):
        want = wanted.get(name, [])
        gone = tuple(s for s in running[name] if s not in want)
        for symbol in gone:
            await unsubscribe(name, symbol)
        new = []
        for symbol in want:
            if symbol in running[name]:
                continue
            try:
                await subscribe(name, symbol)
            except LookupError as exc:  # listed a moment ago, gone now: the next refresh retries
                log.warning("markets: cannot add %s on %s: %s", symbol, name, exc)
                continue
            new.append(symbol)
        if gone:
            removed[name] = gone
        if new:
            added[name] = tuple(new)
    return MarketChanges(added=added, removed=removed)


class MarketsStatus(msgspec.Struct, frozen=True, kw_only=True):
    shared: int  # markets run (on at least min_venues venues)
    listed: dict[str, int]  # markets each venue lists
    open: dict[str, int]  # of those, trading and open to API orders
    subscribed: dict[str, int]  # markets each venue runs
    refreshes: int
    added: int  # venue-markets added at run time, by this incarnation
    removed: int
    last_refresh_ts: float | None  # wall clock


Apply = Callable[[dict[str, list[str]]], Awaitable[MarketChanges]]


class MarketsActor(Actor[Refresh | GetMarkets]):
    def __init__(self, *, venues: Mapping[str, Venue], selection: Selection, pinned: Mapping[str, Sequence[str]],
                 refresh_s: float, apply: Apply, record: Callable[[MarketEvent], None] | None = None) -> None:
        self.venues, self.selection, self.pinned = dict(venues), selection, pinned
        self.refresh_s, self.apply, self.record = refresh_s, apply, record
        self._listed: dict[str, list[Listing]] = {}
        self._shared: dict[str, tuple[str, ...]] = {}
        self._subscribed: dict[str, list[str]] = {}
        self._refreshes = self._added = self._removed = 0
        self._last: float | None = None

    async def on_start(self) -> None:
        await self._refresh()
        self.send_interval(self.refresh_s, Refresh())

    async def receive(self, msg: Refresh | GetMarkets) -> MarketsStatus | None:
        match msg:
            case Refresh():
                await self._refresh()
                return None
            case GetMarkets():
                return self.describe()
            case _:
                raise TypeError(f"MarketsActor cannot handle {type(msg).__name__}")

    async def _refresh(self) -> None:
        started = time.monotonic()
        listed = {name: await venue.markets() for name, venue in self.venues.items()}
        volumes = None
        if self.selection.min_quote_volume_24h is not None:
            volumes = {name: volumes_by_symbol(listed[name], await venue.quote_volumes_24h())
                       for name, venue in self.venues.items()}
        shared = shared_markets(listed, self.selection, volumes)
        wanted = per_venue(shared, self.venues)
        for venue, symbols in self.pinned.items():
            wanted[venue].extend(s for s in symbols if s not in wanted[venue])
        changes = await self.apply(wanted)
        self._listed, self._shared, self._subscribed = listed, shared, wanted
        self._refreshes += 1
        self._added += sum(len(v) for v in changes.added.values())
        self._removed += sum(len(v) for v in changes.removed.values())
        self._last = time.time()
        if self.record is not None:
            for event in change_events(changes, listed, shared, self.selection, volumes):
                self.record(event)
        log.info("markets: %d shared by >= %d venues (%s) in %.2fs; added %s, removed %s", len(shared),
                 self.selection.min_venues, ", ".join(f"{v} {len(s)}" for v, s in wanted.items()),
                 time.monotonic() - started, dict(changes.added) or "-", dict(changes.removed) or "-",
                 extra={"shared": len(shared), "added": changes.added, "removed": changes.removed})

    def describe(self) -> MarketsStatus:
        return MarketsStatus(
            shared=len(self._shared), listed={v: len(rows) for v, rows in self._listed.items()},
            open={v: sum(r.open for r in rows) for v, rows in self._listed.items()},
            subscribed={v: len(s) for v, s in self._subscribed.items()}, refreshes=self._refreshes,
            added=self._added, removed=self._removed, last_refresh_ts=self._last)


def change_events(changes: MarketChanges, listed: Mapping[str, Sequence[Listing]],
                  shared: Mapping[str, Sequence[str]], selection: Selection,
                  volumes: Mapping[str, Mapping[str, float]] | None = None) -> list[MarketEvent]:
    """One ``MarketEvent`` per venue-market ``changes`` added or removed, with the reason read
    from that refresh's ``listed`` rows, ``volumes`` (with a floor) and ``shared`` set."""
    rows = {(venue, r.symbol): r for venue, rs in listed.items() for r in rs}
    events = []
    for venue, symbols in changes.added.items():
        for symbol in symbols:
            on = shared.get(symbol, ())
            reason = f"shared by {', '.join(on)}" if on else "pinned in the config"
            events.append(MarketEvent(event="added", symbol=symbol, venues=(venue,), reason=reason))
    for venue, symbols in changes.removed.items():
        for symbol in symbols:
            row = rows.get((venue, symbol))
            if row is None:
                reason = "delisted"
            elif not row.trading:
                reason = "halted"
            elif not row.api_orders:
                reason = "closed to API orders"
            elif below_floor(selection, volumes, venue, symbol):
                volume = (volumes or {}).get(venue, {}).get(symbol, 0.0)
                reason = f"24h quote volume {volume:.0f} below the floor {selection.min_quote_volume_24h:.0f}"
            elif symbol in shared:
                reason = "no longer selected"
            else:
                reason = f"no longer shared by {selection.min_venues} venues"
            events.append(MarketEvent(event="removed", symbol=symbol, venues=(venue,), reason=reason))
    return events
