"""Internal messages: the only thing actors exchange.

Every message is a frozen, tagged ``msgspec.Struct`` so it can be checked at the call site,
hashed, and (later) cross a process boundary as msgpack. Prices and quantities travel as floats
on the hot path; they become exact decimal strings only at the order boundary
(``protocols.rounding``). Symbols are always in the internal form ``BASE/QUOTE``.

Timestamps: ``*_ts_ms`` are exchange wall-clock milliseconds; ``*_ns`` are
``time.monotonic_ns()`` readings taken inside this process, so latency per hop is measured on
one clock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec


class Msg(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every message between actors.

    Subclass as ``class Ping(Msg, frozen=True, kw_only=True)``: msgspec inherits ``frozen`` and
    ``tag`` (not ``kw_only``), but type checkers (mypy, pyright) only know a subclass is frozen
    when it says so, and reject a non-frozen subclass of a frozen one.
    """


Level = tuple[float, float]  # (price, quantity); quantity 0.0 in a delta removes the level
Side = Literal["buy", "sell"]
OrderType = Literal["limit", "ioc", "market"]
OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected", "expired"]
FINAL_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected", "expired"})


# --- market data ------------------------------------------------------------------------------


class BookSnapshot(Msg, frozen=True, kw_only=True):
    """A full depth snapshot (REST, or a venue push that replaces the book)."""

    venue: str
    symbol: str
    seq: int  # Binance/MEXC lastUpdateId, Gate id
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]  # best first
    exchange_ts_ms: int
    recv_ns: int


class BookDelta(Msg, frozen=True, kw_only=True, gc=False):  # hot path; holds no cycles, so not GC-tracked
    """Changed levels with absolute quantities, covering sequence numbers first_seq..last_seq.

    ``full`` is Gate.io's ``full: true`` push: the levels are the whole book and replace it.
    """

    venue: str
    symbol: str
    first_seq: int
    last_seq: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    exchange_ts_ms: int
    recv_ns: int
    full: bool = False


class BookView(Msg, frozen=True, kw_only=True, gc=False):  # hot path; holds no cycles, so not GC-tracked
    """A bounded read of one book (top K levels per side), published to its detector."""

    venue: str
    symbol: str
    seq: int
    bids: tuple[Level, ...]  # best first, at most K
    asks: tuple[Level, ...]
    exchange_ts_ms: int
    recv_ns: int  # when the frame that produced this state arrived
    in_sync: bool = True


class VenueStatus(Msg, frozen=True, kw_only=True):
    """A venue's (or one of its books') health changed: the detector stops using it when not ok."""

    venue: str
    symbol: str | None = None  # None: the whole venue (its connection)
    ok: bool
    reason: str = ""
    ts_ns: int


# --- decisions and orders ---------------------------------------------------------------------


class Opportunity(Msg, frozen=True, kw_only=True):
    """Buy ``size`` on ``buy_venue`` at up to ``buy_price``, sell it on ``sell_venue`` at down to
    ``sell_price``; ``edge_bps`` is after both taker fees."""

    id: str
    symbol: str
    buy_venue: str
    sell_venue: str
    size: float
    buy_price: float
    sell_price: float
    edge_bps: float
    expected_pnl: float  # quote currency, after fees
    created_ns: int
    expires_ns: int
    buy_seq: int
    sell_seq: int
    buy_recv_ns: int
    sell_recv_ns: int


class OrderIntent(Msg, frozen=True, kw_only=True):
    """One order as the executor means it, before rounding to the venue's filters.

    ``client_order_id`` is derived from the opportunity id and the leg, so a retried send can
    never create a second order. A market buy may be sized in quote currency (``quote_qty``).
    """

    client_order_id: str
    opportunity_id: str
    venue: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: float | None = None
    price: float | None = None
    quote_qty: float | None = None


class Fill(Msg, frozen=True, kw_only=True):
    venue: str
    symbol: str
    client_order_id: str
    side: Side
    price: float
    qty: float
    fee: float
    fee_asset: str
    ts_ms: int


class OrderUpdate(Msg, frozen=True, kw_only=True):
    """The venue's view of one order (a place/cancel/query response)."""

    venue: str
    symbol: str
    client_order_id: str
    order_id: str
    side: Side
    order_type: OrderType
    status: OrderStatus
    price: float | None
    qty: float
    filled_qty: float
    filled_quote: float  # sum of price*qty over fills
    fee: float = 0.0
    fee_asset: str = ""
    ts_ms: int = 0

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def avg_price(self) -> float:
        return self.filled_quote / self.filled_qty if self.filled_qty else 0.0


class Balance(Msg, frozen=True, kw_only=True):
    venue: str
    asset: str
    free: float
    locked: float


class Balances(Msg, frozen=True, kw_only=True):
    """One venue's balances at one instant: used for one decision, never cached."""

    venue: str
    balances: tuple[Balance, ...]
    ts_ns: int

    def free(self, asset: str) -> float:
        for b in self.balances:
            if b.asset == asset:
                return b.free
        return 0.0


# --- static data (may be cached) --------------------------------------------------------------


class SymbolInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A venue's trading rules for one symbol. Decimals, because they round order fields."""

    symbol: str  # internal BASE/QUOTE
    venue_symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    maker_fee: float
    taker_fee: float
    trading: bool = True


# --- decision-side commands, journal records and queries (detector / executor / journal) ------


class GetLastOpportunity(Msg, frozen=True, kw_only=True):
    """Ask a detector for its newest Opportunity (reply: Opportunity, or None before the first)."""


class KillSwitch(Msg, frozen=True, kw_only=True):
    """Turn the executor's kill switch on (no new opportunity is taken) or off."""

    on: bool
    reason: str = ""


class OrderRejectedRecord(Msg, frozen=True, kw_only=True):
    """Journal record: an order refused by its venue (or never sent: paper mode, not found on
    reconciliation). ``status`` is the final journal status written for it."""

    client_order_id: str
    venue: str
    code: str = ""
    message: str = ""
    status: str = "rejected"  # "rejected" | "paper" | "unknown" (not final: sent, not found yet)


class OpportunityResult(Msg, frozen=True, kw_only=True):
    """Journal record: what became of one opportunity once its legs are final."""

    opportunity_id: str
    status: str  # "executed" | "partial" (unhedged: open_qty) | "unfilled" | "paper" | "rejected_by_risk"
    #              | "venue_unavailable" (a transient venue error while deciding)
    #              | "pending" (a leg's outcome unknown: settled later by reconciliation)
    realised_pnl: float = 0.0  # from matched fills only, net of fees_quote
    detail: str = ""
    matched_qty: float = 0.0  # base bought and sold: what realised the PnL
    fees_quote: float = 0.0  # every fee of the opportunity in quote (unconverted ones excluded)
    fee_unconverted: str = ""  # comma-joined third assets whose fee had no live rate: PnL omits them
    open_qty: float = 0.0  # signed base left unhedged (> 0 long): an open position, never PnL
    open_venue: str = ""
    open_price: float = 0.0  # average price of the unmatched side


class RestartRecord(Msg, frozen=True, kw_only=True):
    """Journal record: an actor (re)started, e.g. the executor before reconciling. The
    executor's ``run_id`` is part of every opportunity id it journals in that run."""

    path: str
    reason: str
    ts_ms: int
    run_id: str = ""


class MarketEvent(Msg, frozen=True, kw_only=True):
    """Journal record: the running market set changed. ``added``/``removed`` (by the markets
    refresher, one per venue-market, ``reason`` e.g. ``delisted``, ``halted``, ``no longer
    shared``) or ``quarantined`` (by the market's detector: ``venues`` the pair whose prices
    disagree, ``prices`` their top of book, ``reason`` the bound exceeded)."""

    event: Literal["added", "removed", "quarantined"]
    symbol: str
    venues: tuple[str, ...]
    reason: str = ""
    prices: dict[str, float] = {}
    ts_ms: int = 0  # wall clock; 0: the journal stamps it when the record is handed over


JournalRecord = (Opportunity | OrderIntent | OrderUpdate | Fill | Balances | OrderRejectedRecord | OpportunityResult
                 | RestartRecord | MarketEvent)


class JournalWrite(Msg, frozen=True, kw_only=True):
    """Ask the journal to make ``records`` durable: the reply (JournalAck) comes only after the
    transaction holding them committed. Telling a bare record queues it without an ack."""

    records: tuple[JournalRecord, ...]


class JournalAck(Msg, frozen=True, kw_only=True):
    committed: int  # records in the group commit that held this write


class JournalRefused(Msg, frozen=True, kw_only=True):
    """Reply to a ``JournalWrite`` the journal refused as a whole (nothing of it written): it
    reused an id the journal holds. ``actors.journal.write`` raises it as a ``DuplicateId``."""

    id: str
    kind: Literal["client_order_id", "opportunity_id"]


class FlushJournal(Msg, frozen=True, kw_only=True):
    """Ask: reply (JournalAck) once every record queued before it is committed."""


class GetOpenOrders(Msg, frozen=True, kw_only=True):
    """Ask the journal for every order without a final status (reconciliation)."""


class JournalOrder(Msg, frozen=True, kw_only=True):
    client_order_id: str
    opportunity_id: str
    venue: str
    symbol: str
    side: Side
    status: str
    qty: float
    price: float | None
    filled_qty: float
    filled_quote: float
    fee: float = 0.0  # appended (reconciliation computes realised PnL from journaled orders)
    fee_asset: str = ""


class OpenOrders(Msg, frozen=True, kw_only=True):
    orders: tuple[JournalOrder, ...]


class GetJournalSummary(Msg, frozen=True, kw_only=True):
    """Ask the journal for counts and realised PnL."""


class JournalSummary(Msg, frozen=True, kw_only=True):
    opportunities: int
    orders: int
    fills: int
    orders_by_status: dict[str, int]
    opportunities_by_status: dict[str, int]
    realised_pnl: float
    market_events: dict[str, int] = {}  # MarketEvent rows by event


class GetMarketEvents(Msg, frozen=True, kw_only=True):
    """Ask the journal for the newest ``limit`` market changes (``MarketEvents``, newest first)."""

    limit: int = 50
    symbol: str | None = None  # only this market's


class MarketEvents(Msg, frozen=True, kw_only=True):
    events: tuple[MarketEvent, ...]  # newest first
    counts: dict[str, int]  # every row by event, whatever the limit


# --- market-data actors (book and connection) ----------------------------------------------------


class GetView(Msg, frozen=True, kw_only=True):
    """Ask a book actor for its current ``BookView`` (top ``depth`` levels; in_sync=False if not)."""


class Resync(Msg, frozen=True, kw_only=True):
    """To a book from its connection after that reconnected (frames may have been lost): start
    over from a fresh snapshot, without a restart."""


class Subscribe(Msg, frozen=True, kw_only=True):
    """Tell a connection actor to subscribe ``symbol`` (internal BASE/QUOTE) at run time."""

    symbol: str


class Unsubscribe(Msg, frozen=True, kw_only=True):
    """Tell a connection actor to drop ``symbol``; its deltas stop being routed."""

    symbol: str


# --- executor reconciliation (journal queries) -------------------------------------------------


class GetUnsettledOpportunities(Msg, frozen=True, kw_only=True):
    """Ask the journal for every opportunity that has orders but no final result: status
    ``detected`` (the process died mid-way) or ``pending`` (a leg's outcome was unknown)."""


class JournalOpportunity(Msg, frozen=True, kw_only=True):
    """An opportunity as journaled, with every order of it (legs and hedges)."""

    id: str
    symbol: str
    buy_venue: str
    sell_venue: str
    size: float
    buy_price: float
    sell_price: float
    status: str
    orders: tuple[JournalOrder, ...]
    detail: str = ""  # its result's detail, once settled


class UnsettledOpportunities(Msg, frozen=True, kw_only=True):
    opportunities: tuple[JournalOpportunity, ...]


class GetEstimatedFees(Msg, frozen=True, kw_only=True):
    """Ask the journal for settled opportunities whose PnL holds an ESTIMATED fee: an order
    filled with no fee reported (``fee_asset`` ""), most recent first, at most ``limit``."""

    limit: int = 100


class EstimatedFees(Msg, frozen=True, kw_only=True):
    opportunities: tuple[JournalOpportunity, ...]


class FeeCorrection(Msg, frozen=True, kw_only=True):
    """Journal record: a settled opportunity's money once an estimated fee is replaced by the
    one the venue reports (its status, quantities and settlement day are unchanged)."""

    opportunity_id: str
    realised_pnl: float
    fees_quote: float
    fee_unconverted: str
    detail: str


class GetRealisedPnl(Msg, frozen=True, kw_only=True):
    """Ask the journal for the realised PnL of opportunities settled at or after ``since_ms``
    (wall clock): the executor restores today's figure for its daily loss limit on start."""

    since_ms: int


class RealisedPnl(Msg, frozen=True, kw_only=True):
    realised_pnl: float


class GetOpenPositions(Msg, frozen=True, kw_only=True):
    """Ask the journal for the open positions: the unmatched base of every settled
    opportunity, summed per (venue, symbol). The executor restores them on start."""


class JournalPosition(Msg, frozen=True, kw_only=True):
    venue: str
    symbol: str
    qty: float  # signed base: > 0 long
    cost: float  # signed quote at entry


class OpenPositions(Msg, frozen=True, kw_only=True):
    positions: tuple[JournalPosition, ...]


class LegLatency(Msg, frozen=True, kw_only=True):
    """Journal record: one leg's timeline, monotonic ns on the engine's clock (0: did not
    happen). ``detected_ns``: the opportunity was created (the detector's stamp);
    ``intent_ns``: its intents were durable in the journal; ``sent_ns``: the order was handed
    to the socket (WebSocket frame written, or the REST request started); ``ack_ns``: the venue's
    first answer (the reply or a private-stream push, ``ack_source``); ``fill_ns``: the first
    answer showing a fill."""

    client_order_id: str
    detected_ns: int
    intent_ns: int
    sent_ns: int = 0
    ack_ns: int = 0
    fill_ns: int = 0
    ack_source: str = ""  # "reply" | "stream"
