"""Pure money arithmetic: what an opportunity's fills realised, what they left open, and what an
open position is worth on a live book. No I/O, no state.

Realised PnL comes only from MATCHED base quantity: ``matched = min(bought, sold)`` is valued
at the average sell price less the average buy price, less every fee of the opportunity in
quote. The unmatched rest is an open position (never PnL): long on the buy venue when more
was bought, short on the sell venue when more was sold, at the excess side's average price.
A fee in base is valued at its order's average price; a fee in a third asset (BNB, MX, GT) at
the rate given (from a live book); without a rate it is left out and the asset is reported in
``fee_unconverted``, so the row says its PnL is missing a fee.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from protocols.messages import SymbolInfo


class Executed(Protocol):
    """What settlement needs of an order: a venue's ``OrderUpdate`` or a ``JournalOrder``."""

    @property
    def side(self) -> str: ...
    @property
    def filled_qty(self) -> float: ...
    @property
    def filled_quote(self) -> float: ...
    @property
    def fee(self) -> float: ...
    @property
    def fee_asset(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Settlement:
    bought: float  # base, summed over buy orders
    sold: float
    matched: float  # min(bought, sold): the only quantity that realises PnL
    realised_pnl: float  # quote: matched * (avg sell - avg buy) - fees_quote
    fees_quote: float  # every fee of the opportunity, in quote (unconverted ones excluded)
    fee_unconverted: tuple[str, ...]  # third assets whose fee has no rate: PnL omits them
    open_qty: float  # signed base left open: > 0 long (on the buy venue), < 0 short (sell venue)
    open_venue: str  # "" when flat
    open_price: float  # average price of the excess side (0 when flat)


def fee_in_quote(order: Executed, base: str, quote: str, rates: Mapping[str, float]) -> float | None:
    """One order's fee in quote, or None when it is in a third asset without a rate.
    ``rates``: quote per unit of a third asset, from a live book."""
    if order.fee_asset in ("", quote):
        return order.fee
    if order.fee == 0.0:
        return 0.0
    if order.fee_asset == base:
        return order.fee * (order.filled_quote / order.filled_qty) if order.filled_qty else 0.0
    rate = rates.get(order.fee_asset)
    return None if rate is None else order.fee * rate


def third_fee_assets(orders: Iterable[Executed], base: str, quote: str) -> set[str]:
    """Fee assets that need a rate from a book (neither the base nor the quote)."""
    return {o.fee_asset for o in orders if o.fee and o.fee_asset not in ("", base, quote)}


def settle(orders: Iterable[Executed], *, base: str, quote: str, buy_venue: str, sell_venue: str,
           rates: Mapping[str, float] | None = None) -> Settlement:
    """Settle the final states of one opportunity's orders (legs and hedges). Buys are on the
    buy venue and sells on the sell venue by construction (a hedge buys where the buy leg did)."""
    rates = rates or {}
    bought = sold = buy_quote = sell_quote = fees = 0.0
    unconverted: set[str] = set()
    for o in orders:
        if o.side == "buy":
            bought += o.filled_qty
            buy_quote += o.filled_quote
        else:
            sold += o.filled_qty
            sell_quote += o.filled_quote
        fee = fee_in_quote(o, base, quote, rates)
        if fee is None:
            unconverted.add(o.fee_asset)
        else:
            fees += fee
    avg_buy = buy_quote / bought if bought else 0.0
    avg_sell = sell_quote / sold if sold else 0.0
    matched = min(bought, sold)
    open_qty = bought - sold
    if open_qty > 0:
        venue, price = buy_venue, avg_buy
    elif open_qty < 0:
        venue, price = sell_venue, avg_sell
    else:
        venue, price = "", 0.0
    return Settlement(bought=bought, sold=sold, matched=matched,
                      realised_pnl=matched * (avg_sell - avg_buy) - fees, fees_quote=fees,
                      fee_unconverted=tuple(sorted(unconverted)), open_qty=open_qty, open_venue=venue,
                      open_price=price)


@dataclass(frozen=True, slots=True)
class Position:
    """Net base held open on one venue for one symbol, from unmatched fills."""

    venue: str
    symbol: str
    qty: float  # signed base: > 0 long, < 0 short
    cost: float  # signed quote at entry (sum of qty * entry price)

    @property
    def entry_price(self) -> float:
        return self.cost / self.qty if self.qty else 0.0


def add_position(positions: Mapping[tuple[str, str], Position], venue: str, symbol: str, qty: float,
                 price: float) -> dict[tuple[str, str], Position]:
    """``positions`` with ``qty`` at ``price`` added to (venue, symbol); a flat result is dropped."""
    out = dict(positions)
    if qty == 0.0:
        return out
    old = out.get((venue, symbol), Position(venue=venue, symbol=symbol, qty=0.0, cost=0.0))
    new = Position(venue=venue, symbol=symbol, qty=old.qty + qty, cost=old.cost + qty * price)
    if abs(new.qty) <= 1e-12:
        out.pop((venue, symbol), None)
    else:
        out[(venue, symbol)] = new
    return out


def mark_price(qty: float, best_bid: float | None, best_ask: float | None) -> float | None:
    """The price an open position could be closed at on a live book: a long sells at the bid,
    a short buys back at the ask. None when that side of the book is empty."""
    price = best_bid if qty > 0 else best_ask
    return price if price is not None and price > 0 else None


def position_value(qty: float, mark: float | None) -> float:
    """Quote at risk in an open position: |qty| * mark; infinite when it cannot be marked
    (no fresh in-sync book), so a limit on it stops new risk rather than guessing."""
    return abs(qty) * mark if mark is not None else float("inf")


class EstimatedFee:
    """An order whose venue reported no fee at all, charged its venue's taker fee in quote."""

    def __init__(self, order: Executed, fee: float, fee_asset: str) -> None:
        self.side, self.filled_qty, self.filled_quote = order.side, order.filled_qty, order.filled_quote
        self.fee, self.fee_asset = fee, fee_asset


def with_estimated_fee(order: Executed, info: SymbolInfo) -> Executed:
    """A filled order with no fee reported (``fee_asset`` "": a Binance order read back with
    GET /order, which has no fills; MEXC fills not all visible yet) is charged the taker fee on
    its notional, in quote (what the venue charges, valued in quote, whichever asset it takes)."""
    if order.filled_qty <= 0 or order.fee_asset:
        return order
    return EstimatedFee(order, order.filled_quote * info.taker_fee, info.quote)
