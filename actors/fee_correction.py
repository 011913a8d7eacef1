"""Estimated fees made exact later: the executor's start-up pass over settled opportunities
whose PnL holds a fee the venue did not report when they settled (a Binance or MEXC order read
back while its trades were unreadable: ``protocols.fees``).

Each such order (final, filled, ``fee_asset`` "") is read back by client id again; when the
venue now reports its fee, the order and its fill are journaled with it and the opportunity's
money is settled again (``actors.positions.settle`` over all its orders, the other estimates
kept) and journaled as a ``FeeCorrection``: realised PnL, fees and ``fee_unconverted`` change;
status, quantities, open position and the day the PnL counts for do not. The executor reads
its totals from the journal after this pass.

Recoveries: a transient venue error (``NetworkError``, ``RateLimited``) or an order the venue
no longer finds (``OrderNotFound``) leaves that estimate as it is, logged, for the next start
(after a transient error that venue is not asked again in this pass: a venue outage delays the
start by one failed request, not one per order); anything else propagates (the executor's
start fails; its supervisor restarts it). At most ``GetEstimatedFees.limit`` opportunities,
most recent first, are looked at per pass.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from actors import ActorRef
from actors.journal import write
from actors.legs import update_records
from actors.marks import Marks
from actors.positions import Executed, settle, with_estimated_fee
from actors.static import StaticData
from protocols.errors import NetworkError, OrderNotFound, RateLimited
from protocols.messages import FeeCorrection, GetEstimatedFees, JournalOpportunity
from protocols.venue import Venue, split_symbol

log = logging.getLogger("arbor.executor")

ESTIMATED = "; fee estimated from the fee schedule"  # in a result's detail (``CloseOut.close_out``)
CORRECTED = "; estimated fee corrected from the venue's trades"


async def correct_estimated_fees(journal: ActorRef, venues: Mapping[str, Venue], static: StaticData,
                                 marks: Marks) -> int:
    """The pass described in the module doc over ``venues`` (the live ones: a paper-mode venue
    is never asked); returns how many opportunities it corrected."""
    corrected = 0
    down: set[str] = set()  # venues that failed transiently in this pass: not asked again
    for opp in (await journal.ask(GetEstimatedFees())).opportunities:
        if await _correct(opp, journal, venues, static, marks, down):
            corrected += 1
    return corrected


async def _correct(opp: JournalOpportunity, journal: ActorRef, venues: Mapping[str, Venue], static: StaticData,
                   marks: Marks, down: set[str]) -> bool:
    orders: list[Executed] = []
    exact = []
    for order in opp.orders:
        venue = venues.get(order.venue)
        if order.fee_asset or order.filled_qty <= 0 or venue is None or order.venue in down:
            orders.append(order)
            continue
        try:
            update = await venue.order_by_client_id(order.symbol, order.client_order_id)
        except (NetworkError, RateLimited, OrderNotFound) as exc:
            log.warning("executor: estimated fee of %s (%s) not corrected now: %s: %s", order.client_order_id,
                        order.venue, type(exc).__name__, exc)
            if not isinstance(exc, OrderNotFound):
                down.add(order.venue)
            orders.append(order)
            continue
        if update.fee_asset and update.final:
            exact.append(update)
            orders.append(update)
        else:  # still unreported (logged by the adapter)
            orders.append(order)
    if not exact:
        return False
    base, quote = split_symbol(opp.symbol)
    infos = {v: await static.info(v, opp.symbol) for v in (opp.buy_venue, opp.sell_venue)}
    settled = [with_estimated_fee(o, infos[opp.buy_venue if o.side == "buy" else opp.sell_venue]) for o in orders]
    s = settle(settled, base=base, quote=quote, buy_venue=opp.buy_venue, sell_venue=opp.sell_venue,
               rates=await marks.fee_rates(venues, settled, base, quote))
    still_estimated = any(not o.fee_asset and o.filled_qty > 0 for o in orders)
    detail = opp.detail if still_estimated else opp.detail.replace(ESTIMATED, CORRECTED)
    if s.fee_unconverted and "not converted" not in detail:
        detail += f"; fee in {','.join(s.fee_unconverted)} not converted (no live book): PnL omits it"
    records = [r for u in exact for r in update_records(u)]
    await write(journal, *records, FeeCorrection(opportunity_id=opp.id, realised_pnl=s.realised_pnl,
                                                 fees_quote=s.fees_quote, fee_unconverted=",".join(s.fee_unconverted),
                                                 detail=detail))
    log.info("executor: %s: estimated fee of %s corrected from the venue (realised PnL now %.8g)", opp.id,
             ", ".join(u.client_order_id for u in exact), s.realised_pnl)
    return True
