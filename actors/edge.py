"""Walking two books for a cross-venue edge: pure functions, no event loop.

Buying one unit at ask ``a`` on the buy venue costs ``a * (1 + fee_buy)``; selling it at bid
``b`` on the sell venue yields ``b * (1 - fee_sell)``. The *marginal* edge of a unit is
``(b(1-fs) - a(1+fb)) / (a(1+fb))`` in basis points. Asks rise and bids fall as we walk, so the
marginal edge never increases: we take every unit whose marginal edge is still
``>= min_edge_bps`` (so the size-weighted average is too), capped by a base quantity and a
quote notional. The limit prices are the worst levels touched: an IOC at those limits can
fill the whole size against the books we saw, and nothing worse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from protocols.messages import Level

BPS = 1e4
# Fees and prices are floats; an edge computed as exactly the threshold must count as meeting
# it, so comparisons allow this much (1e-9 bps is far below any tick).
EPS_BPS = 1e-9


class Edge(msgspec.Struct, frozen=True, kw_only=True):
    """The executable size of a pair of books and what it is worth after both taker fees."""

    size: float  # base quantity
    buy_price: float  # worst ask touched: the buy leg's limit
    sell_price: float  # worst bid touched: the sell leg's limit
    edge_bps: float  # size-weighted, after fees: pnl / cost * 1e4
    expected_pnl: float  # quote currency, after fees
    cost: float  # quote spent on the buy leg, fee included


def marginal_edge_bps(ask: float, bid: float, fee_buy: float, fee_sell: float) -> float:
    """Edge in bps of one unit bought at ``ask`` and sold at ``bid``, after both taker fees."""
    cost = ask * (1.0 + fee_buy)
    return (bid * (1.0 - fee_sell) - cost) / cost * BPS


def walk(
    asks: Sequence[Level],
    bids: Sequence[Level],
    *,
    fee_buy: float,
    fee_sell: float,
    min_edge_bps: float,
    max_qty: float = math.inf,
    max_notional: float = math.inf,
) -> Edge | None:
    """Largest size buyable on ``asks`` (the buy venue, best first) and sellable on ``bids``
    (the sell venue, best first) with every unit's edge ``>= min_edge_bps``.

    ``max_qty`` caps the base quantity (balances), ``max_notional`` the quote spent before
    fees. Returns None when no positive size qualifies.
    """
    i = j = 0
    ask_left = asks[0][1] if asks else 0.0
    bid_left = bids[0][1] if bids else 0.0
    size = cost = proceeds = notional = 0.0
    buy_price = sell_price = 0.0
    while i < len(asks) and j < len(bids) and size < max_qty and notional < max_notional:
        ask, bid = asks[i][0], bids[j][0]
        # written so that a NaN anywhere stops the walk (every comparison with NaN is False)
        if not (ask > 0.0 and bid > 0.0
                and marginal_edge_bps(ask, bid, fee_buy, fee_sell) >= min_edge_bps - EPS_BPS):
            break
        take = min(ask_left, bid_left, max_qty - size, (max_notional - notional) / ask)
        if take > 0.0:
            size += take
            notional += take * ask
            cost += take * ask * (1.0 + fee_buy)
            proceeds += take * bid * (1.0 - fee_sell)
            buy_price, sell_price = ask, bid
        ask_left -= take
        bid_left -= take
        # Exhausted levels advance; a level left with float dust is treated as exhausted (and
        # a NaN quantity too: `not >` so that the loop always advances).
        if not ask_left > 1e-12 * max(1.0, asks[i][1]):
            i += 1
            ask_left = asks[i][1] if i < len(asks) else 0.0
        if not bid_left > 1e-12 * max(1.0, bids[j][1]):
            j += 1
            bid_left = bids[j][1] if j < len(bids) else 0.0
    pnl = proceeds - cost
    if not (size > 0.0 and math.isfinite(size) and math.isfinite(pnl) and cost > 0.0 and math.isfinite(cost)):
        return None  # nothing to take, or a non-finite number in the books: never an edge
    return Edge(
        size=size,
        buy_price=buy_price,
        sell_price=sell_price,
        edge_bps=pnl / cost * BPS,
        expected_pnl=pnl,
        cost=cost,
    )


def crossed(bids: Sequence[Level], asks: Sequence[Level]) -> bool:
    """A single venue's book whose best bid is at or above its best ask cannot be trusted (nor
    one whose best bid or ask is NaN: ``not <`` is True for it)."""
    return bool(bids and asks and not bids[0][0] < asks[0][0])
