"""Cross-venue opportunity detector for one symbol.

``DetectorActor`` inbox: ``BookView`` | ``VenueStatus`` | ``GetLastOpportunity`` (ask: the
newest ``Opportunity`` or None). Emits ``Opportunity`` to ``executor.tell`` (``executor`` may be
None when embedded as a library: read it with ``GetLastOpportunity`` or ``describe()``).

It keeps the newest view per venue; a view with ``in_sync=False`` (or a ``VenueStatus`` with
``ok=False``) removes that venue, a crossed view is rejected and removes it too. For each
ordered venue pair touched by a new view it skips views older than ``max_book_age_ms``
(``clock() - view.recv_ns``), walks the buy venue's asks against the sell venue's bids after
both taker fees (``actors.edge.walk``, capped by ``max_notional``) and fires when the edge meets
``min_edge_bps``.

Quarantine: a top-of-book edge above ``max_edge_bps`` (a sanity bound, default 500 bp = 5 %)
is not an opportunity but two venues whose ticker names different tokens (or one venue's
broken book). The detector then quarantines its market for good (this incarnation): it logs
the reason at WARNING, reports it in ``describe().quarantined``, tells ``journal`` (when given)
a ``MarketEvent("quarantined")`` with the two venues' prices, and never fires again, so no edge
above the bound is ever reported.

Hysteresis, per (buy, sell) pair: after firing, the pair is disarmed; it fires again only once
it is re-armed (its top-of-book edge fell below ``min_edge_bps - hysteresis_bps``) or
``cooldown_ms`` has passed since it last fired. The same pair of sequence numbers never fires
twice, so every Opportunity id (``BTCUSDT-buy-sell-buyseq-sellseq``) is unique.

Mailbox in the engine: ``MailboxSpec(policy="conflate", key=lambda m: m.venue if
isinstance(m, BookView) else type(m))`` - only the newest view per venue matters, so a slow
detector never works through a backlog of stale books.

Failure: a venue missing from ``taker_fees`` is a config error and raises ``KeyError``; the
executor's mailbox being full drops the opportunity (counted: it would be stale by the time a
backlog drained).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from actors import Actor, ActorRef
from actors.edge import EPS_BPS, crossed, marginal_edge_bps, walk
from protocols.errors import ActorStopped, MailboxFull
from protocols.messages import BookView, GetLastOpportunity, MarketEvent, Opportunity, VenueStatus
from protocols.params import DetectorParams  # the one definition, also the config's [detector]

log = logging.getLogger("arbor.detector")

DetectorInbox = BookView | VenueStatus | GetLastOpportunity


class DetectorStatus(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    venues_in_sync: tuple[str, ...]
    last_opportunity: Opportunity | None
    opportunities: int
    rejected_stale: int
    rejected_crossed: int
    dropped_executor_full: int
    quarantined: str | None = None  # why the market is never traded, or None


class _Pair:
    """Hysteresis state of one ordered (buy venue, sell venue) pair."""

    __slots__ = ("armed", "last_fire_ns", "last_seqs")

    def __init__(self) -> None:
        self.armed = True
        self.last_fire_ns: int | None = None
        self.last_seqs: tuple[int, int] | None = None


class DetectorActor(Actor):
    """One symbol's detector; see the module docstring."""

    def __init__(
        self,
        *,
        symbol: str,
        taker_fees: Mapping[str, float],
        params: DetectorParams,
        executor: ActorRef | None,
        clock: Callable[[], int] = time.monotonic_ns,
        journal: ActorRef | None = None,
    ) -> None:
        self.symbol, self.taker_fees, self.params = symbol, dict(taker_fees), params
        self.journal = journal
        self.executor, self.clock = executor, clock
        self._id_prefix = symbol.replace("/", "")
        self._views: dict[str, BookView] = {}
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._max_age_ns = params.max_book_age_ms * 1_000_000
        # the thresholds every evaluation compares the top edge with (four per view), computed once
        self._rearm_below = params.min_edge_bps - params.hysteresis_bps
        self._fire_from = params.min_edge_bps - EPS_BPS
        self.last_opportunity: Opportunity | None = None
        self.opportunities = self.rejected_stale = self.rejected_crossed = self.dropped = 0
        self.quarantined: str | None = None

    async def receive(self, msg: DetectorInbox) -> Any:
        match msg:
            case BookView():
                self.on_view(msg)
                return None
            case VenueStatus(ok=False, venue=venue, symbol=symbol) if symbol in (None, self.symbol):
                self._views.pop(venue, None)
                return None
            case VenueStatus():
                return None
            case GetLastOpportunity():
                return self.last_opportunity
            case _:
                raise TypeError(f"detector: unexpected message {type(msg).__name__}")

    def on_view(self, view: BookView) -> list[Opportunity]:
        """Take one view; returns (and tells the executor) the opportunities it fired."""
        if view.symbol != self.symbol:
            raise ValueError(f"detector {self.symbol}: got a view of {view.symbol} from {view.venue}")
        if not view.in_sync:
            self._views.pop(view.venue, None)
            return []
        if self.quarantined is not None:
            return []
        if crossed(view.bids, view.asks):
            self.rejected_crossed += 1
            self._views.pop(view.venue, None)
            return []
        self._views[view.venue] = view
        now = self.clock()
        if now - view.recv_ns > self._max_age_ns:
            self.rejected_stale += 1
            return []
        fired: list[Opportunity] = []
        for other, other_view in self._views.items():
            if other == view.venue:
                continue
            if now - other_view.recv_ns > self._max_age_ns:
                self.rejected_stale += 1
                continue
            opp = self._evaluate(view, other_view, now)
            if opp is not None:
                fired.append(opp)
            if self.quarantined is not None:
                return fired
            opp = self._evaluate(other_view, view, now)
            if opp is not None:
                fired.append(opp)
            if self.quarantined is not None:
                return fired
        return fired

    def _evaluate(self, buy: BookView, sell: BookView, now: int) -> Opportunity | None:
        # Four of these per view: the common case (no edge at the top of the books) is kept to
        # a few reads and one ``marginal_edge_bps`` of the two tops, which the hysteresis watches
        # even when there is no executable size.
        asks, bids = buy.asks, sell.bids
        fees = self.taker_fees
        fee_buy, fee_sell = fees[buy.venue], fees[sell.venue]
        key = (buy.venue, sell.venue)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pairs[key] = _Pair()
        if not asks or not bids:
            pair.armed = True
            return None
        top = marginal_edge_bps(asks[0][0], bids[0][0], fee_buy, fee_sell)
        p = self.params
        if top > p.max_edge_bps:
            self._quarantine(buy, sell, top)
            return None
        if top < self._rearm_below:
            pair.armed = True
        if not (top >= self._fire_from and asks[0][0] > 0.0):  # NaN: skip
            # walk() would stop at the first level and find nothing: skip the call (the
            # common case: most views open no edge at the top of the books).
            return None
        edge = walk(asks, bids, fee_buy=fee_buy, fee_sell=fee_sell,
                    min_edge_bps=p.min_edge_bps, max_notional=p.max_notional)
        if edge is None or pair.last_seqs == (buy.seq, sell.seq):
            return None
        cooled = pair.last_fire_ns is None or now - pair.last_fire_ns >= p.cooldown_ms * 1_000_000
        if not (pair.armed or cooled):
            return None
        pair.armed, pair.last_fire_ns, pair.last_seqs = False, now, (buy.seq, sell.seq)
        opp = Opportunity(
            id=f"{self._id_prefix}-{buy.venue}-{sell.venue}-{buy.seq}-{sell.seq}",
            symbol=self.symbol,
            buy_venue=buy.venue,
            sell_venue=sell.venue,
            size=edge.size,
            buy_price=edge.buy_price,
            sell_price=edge.sell_price,
            edge_bps=edge.edge_bps,
            expected_pnl=edge.expected_pnl,
            created_ns=now,
            expires_ns=now + p.ttl_ms * 1_000_000,
            buy_seq=buy.seq,
            sell_seq=sell.seq,
            buy_recv_ns=buy.recv_ns,
            sell_recv_ns=sell.recv_ns,
        )
        self.last_opportunity = opp
        self.opportunities += 1
        if self.executor is not None:
            try:
                self.executor.tell(opp)
            except MailboxFull:  # named recovery: drop it, it would be stale once the backlog drained
                self.dropped += 1
        return opp

    def _quarantine(self, buy: BookView, sell: BookView, top: float) -> None:
        self.quarantined = (f"buy {buy.venue} at {buy.asks[0][0]:.8g}, sell {sell.venue} at {sell.bids[0][0]:.8g}: "
                            f"{top:.0f} bp after fees is above the {self.params.max_edge_bps:.0f} bp sanity bound "
                            f"(different tokens under one ticker?)")
        log.warning("detector %s: quarantined, never traded: %s", self.symbol, self.quarantined,
                    extra={"symbol": self.symbol, "reason": self.quarantined})
        if self.journal is not None:
            event = MarketEvent(event="quarantined", symbol=self.symbol, venues=(buy.venue, sell.venue),
                                reason=self.quarantined,
                                prices={f"{buy.venue}_ask": buy.asks[0][0], f"{sell.venue}_bid": sell.bids[0][0]})
            try:
                self.journal.tell(event)
            except (MailboxFull, ActorStopped) as exc:  # named recovery: the WARNING and describe() keep it
                log.error("detector %s: quarantine not journaled (%s)", self.symbol, type(exc).__name__)

    def describe(self) -> DetectorStatus:
        return DetectorStatus(
            symbol=self.symbol,
            venues_in_sync=tuple(sorted(self._views)),
            last_opportunity=self.last_opportunity,
            opportunities=self.opportunities,
            rejected_stale=self.rejected_stale,
            rejected_crossed=self.rejected_crossed,
            dropped_executor_full=self.dropped,
            quarantined=self.quarantined,
        )
