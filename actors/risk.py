"""Pure risk checks for the executor: limits, size caps, client order ids, unwinds.

Nothing here does I/O or keeps state; the executor passes in what it knows right now
(balances fetched for this decision, its open legs and exposure, today's realised PnL).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from typing import Literal

from protocols.messages import JournalOpportunity, Opportunity
from protocols.params import RiskParams  # the one definition, also the config's [risk]

Leg = Literal["b", "s", "u"]  # buy leg, sell leg, unwind/hedge of the residual




def client_order_id(opportunity_id: str, leg: Leg) -> str:
    """Deterministic id of one leg: ``arb`` + 16 hex of a hash of the opportunity id + leg.

    20 characters of ``[a-z0-9]``: fits Gate's ``t-`` + 28 bytes, Binance's 36 and MEXC's 32,
    and the same opportunity always maps to the same ids, so a retried send is deduplicated by
    the venue instead of creating a second order.
    """
    return client_order_ids(opportunity_id, (leg,))[0]


def client_order_ids(opportunity_id: str, legs: Sequence[Leg]) -> list[str]:
    """``client_order_id`` of each of ``legs``, the opportunity id hashed once."""
    digest = hashlib.blake2b(opportunity_id.encode(), digest_size=8).hexdigest()
    return [f"arb{digest}{leg}" for leg in legs]


def kill_switch_file_present(path: str | None) -> bool:
    return path is not None and os.path.exists(path)


def reject_reason(
    opp: Opportunity,
    params: RiskParams,
    *,
    now_ns: int,
    kill_switch: bool,
    open_legs: int,
    exposure: Mapping[str, float],
    daily_pnl: float,
    open_position_quote: float = 0.0,
) -> str | None:
    """Why this opportunity must not be taken, or None. Balances are checked separately."""
    if not _usable_numbers(opp):
        return "non_finite"
    if now_ns >= opp.expires_ns:
        return "expired"
    if kill_switch or kill_switch_file_present(params.kill_switch_path):
        return "kill_switch"
    if open_legs + 2 > params.max_open_legs:
        return "max_open_legs"
    if daily_pnl <= -params.daily_loss_limit:
        return "daily_loss_limit"
    if open_position_quote > params.max_open_position_quote:
        # inf: a position no fresh book can mark counts as over any limit
        return "max_open_position_quote"
    if exposure.get(opp.buy_venue, 0.0) + opp.size * opp.buy_price > params.max_notional_per_venue:
        return "max_notional_per_venue"
    if exposure.get(opp.sell_venue, 0.0) + opp.size * opp.sell_price > params.max_notional_per_venue:
        return "max_notional_per_venue"
    return None


def _usable_numbers(opp: Opportunity) -> bool:
    """Size and prices finite and > 0, expected PnL finite: the decoders refuse NaN and
    infinity, and this refuses them again before money moves."""
    return (0.0 < opp.size < math.inf and 0.0 < opp.buy_price < math.inf and 0.0 < opp.sell_price < math.inf
            and math.isfinite(opp.expected_pnl) and math.isfinite(opp.edge_bps))


def cap_by_balances(opp: Opportunity, *, quote_free_on_buy: float, base_free_on_sell: float,
                    fee_buy: float) -> float:
    """The size both legs can actually fund: quote on the buy venue (fee included, at the buy
    limit) and base on the sell venue."""
    affordable = quote_free_on_buy / (opp.buy_price * (1.0 + fee_buy)) if opp.buy_price > 0 else 0.0
    return max(0.0, min(opp.size, affordable, base_free_on_sell))


def residual_hedge(opp: Opportunity | JournalOpportunity, bought: float, sold: float, slippage_bps: float,
                   step: float) -> tuple[str, Literal["buy", "sell"], float, float] | None:
    """The order that flattens unequal legs: (venue, side, qty, limit price), or None.

    Bought more than sold: sell the excess on the sell venue at the sell limit less the
    slippage allowance. Sold more than bought: buy the difference on the buy venue at the buy
    limit plus it. Either way the hedge completes the arbitrage at a bounded price. A residual
    below one lot step cannot be traded: it is left as (dust of) an open position.
    """
    diff = bought - sold
    if abs(diff) < max(step, 1e-12):
        return None
    k = slippage_bps / 1e4
    if diff > 0:
        return opp.sell_venue, "sell", diff, opp.sell_price * (1.0 - k)
    return opp.buy_venue, "buy", -diff, opp.buy_price * (1.0 + k)
