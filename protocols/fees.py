"""An order's exact fee from its fills, shared by the adapters whose order replies carry none
(MEXC's every reply; Binance's ``GET``/``DELETE /api/v3/order``): both venues list an
order's fills, each with its commission and commission asset, on ``GET /api/v3/myTrades``.

``fee_of`` sums the fills' commissions into the one (fee, asset) of an ``OrderUpdate``.
``with_fills_fee`` reads the fills of a final, filled order whose reply reported no fee.
``one_fee`` is the rule both rest on, for any fee charged in parts: Gate.io reports an order's
fee in up to three (``fee`` in ``fee_currency``, ``gt_fee`` in GT, ``point_fee`` in points).

Failure modes: a transient error reading the fills (``NetworkError``: timeout, reset, 5xx;
``RateLimited``) leaves the fee unreported (``fee_asset`` "") and is logged with the order
id: the order's state is known all the same, and the executor charges an unreported fee the
venue's taker fee and says so (``actors.positions.with_estimated_fee``). Anything else (a
reply that does not decode, an auth error) propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

import msgspec

from protocols.errors import NetworkError, RateLimited
from protocols.messages import OrderUpdate
from protocols.venue import split_symbol

log = logging.getLogger("arbor.fees")


class Charged(Protocol):
    """One fill as a venue lists it: its price and quantity, and what it was charged."""

    @property
    def price(self) -> float: ...
    @property
    def qty(self) -> float: ...
    @property
    def commission(self) -> float: ...
    @property
    def commission_asset(self) -> str: ...


class Charge(msgspec.Struct, frozen=True):
    """One fill and its commission as a private stream pushes it (Binance ``executionReport``,
    MEXC deals): a ``Charged`` the codecs keep per order until ``fee_of`` sums them."""

    price: float
    qty: float
    commission: float
    commission_asset: str


def one_fee(parts: Iterable[tuple[float, str, float]], base: str, quote: str) -> tuple[float, str]:
    """One (fee, asset) from the parts an order was charged: ``(amount, asset, price)``, the price
    valuing a part in base. Parts of 0 are left out; none left: ``(0.0, quote)``. One asset: its
    sum. Base and quote together: all in quote, base at its part's price. A third asset (BNB, MX,
    GT, POINT) alone is returned as is (converted downstream at a live book, where one exists);
    mixed with another asset: ``"MIXED:A,B"``, which no book converts, so the PnL row is flagged
    rather than wrong."""
    charged = [p for p in parts if p[0]]
    assets = {asset for _, asset, _ in charged}
    if not assets:
        return 0.0, quote
    if len(assets) == 1:
        return sum(amount for amount, _, _ in charged), assets.pop()
    if assets <= {base, quote}:
        return sum(amount * (price if asset == base else 1.0) for amount, asset, price in charged), quote
    return sum(amount for amount, _, _ in charged), "MIXED:" + ",".join(sorted(assets))


def fee_of(fills: Sequence[Charged], filled_qty: float, base: str, quote: str) -> tuple[float, str]:
    """An order's fee and its asset from its fills (``one_fee`` of their commissions). Fills
    covering less than ``filled_qty``: ``(0.0, "")`` (unreported)."""
    if sum(f.qty for f in fills) < filled_qty * (1 - 1e-9):
        return 0.0, ""
    return one_fee(((f.commission, f.commission_asset, f.price) for f in fills), base, quote)


async def with_fills_fee(update: OrderUpdate, fills: Callable[[], Awaitable[Sequence[Charged]]]) -> OrderUpdate:
    """``update`` with its exact fee from ``fills()`` when it is final, filled and has no fee
    reported; unchanged otherwise (an open order's fee is still growing, an unfilled one has
    none). A transient error from ``fills()`` keeps the fee unreported: see the module doc."""
    if not update.final or update.filled_qty <= 0 or update.fee_asset:
        return update
    try:
        trades = await fills()
    except (NetworkError, RateLimited) as exc:
        log.warning("%s order %s (%s): its fills could not be read (%s: %s); fee left unreported, to be "
                    "estimated from the fee schedule", update.venue, update.order_id, update.client_order_id,
                    type(exc).__name__, exc)
        return update
    fee, asset = fee_of(trades, update.filled_qty, *split_symbol(update.symbol))
    return msgspec.structs.replace(update, fee=fee, fee_asset=asset)
