"""An opportunity's legs are final: the executor's close-out, and the money it keeps.

``CloseOut.close_out``: unequal fills are hedged with at most ``hedge_attempts`` IOCs at a
bounded price (the leg's limit +/- ``unwind_slippage_bps``; intents journaled first, ids
derived with leg ``u``). Then ``actors.positions.settle``: realised PnL comes ONLY from the
matched quantity, net of every fee in quote (a fee the venue did not report is estimated from
its taker fee and said so; a third-asset fee is converted at a fresh book or flagged
``fee_unconverted``); the unmatched rest is an OPEN POSITION (journaled with the result,
restored on start, in the executor's ``describe()``, limited by risk), never PnL. A residual of
at least one lot left after the hedges is an ALERT: ERROR log, ``unhedged_alerts``/``last_alert``,
and the opportunity journaled ``partial`` with its ``open_qty``. A hedge whose outcome is
unknown leaves the opportunity ``pending`` and asks for another reconciliation pass (``retry``).

``CloseOut.settle``: the same for an opportunity reconciliation found with every order final
but no result. ``CloseOut.result`` journals any opportunity's result. The executor owns one,
restores its money (realised, today's, open positions, counters) from the journal on start, and
reads it for its risk checks and ``describe()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors import ActorRef
from actors.fee_correction import ESTIMATED
from actors.journal import write
from actors.journal_schema import JOURNAL_FINAL
from actors.legs import LegSender
from actors.marks import Marks
from actors.positions import EstimatedFee, Executed, Position, Settlement, add_position, settle, with_estimated_fee
from actors.risk import RiskParams, client_order_id, residual_hedge
from actors.static import StaticData
from protocols.messages import JournalOpportunity, Opportunity, OpportunityResult, OrderIntent
from protocols.venue import Venue, split_symbol

log = logging.getLogger("arbor.executor")


class CloseOut:
    """See the module docstring."""

    def __init__(self, *, journal: ActorRef, venues: Mapping[str, Venue], static: StaticData, marks: Marks,
                 legs: LegSender, risk: RiskParams, retry: Callable[[], None]) -> None:
        self.journal, self.venues, self.static, self.marks, self.legs = journal, venues, static, marks, legs
        self.risk, self.retry = risk, retry
        self.realised = self.daily = 0.0
        self.positions: dict[tuple[str, str], Position] = {}
        self.executed = self.unhedged_alerts = 0
        self.last_result = self.last_alert = ""

    async def settle(self, opp: JournalOpportunity) -> None:
        """An opportunity whose orders are all final but which has no result: hedge what is
        left, journal its PnL and result. An order still open (its venue not configured here)
        keeps it unsettled and visible in the journal."""
        if any(o.status not in JOURNAL_FINAL for o in opp.orders):
            return
        if all(o.status == "paper" for o in opp.orders):
            self.result(opp, "paper", "dry run (reconciliation)")
            return
        if opp.buy_venue not in self.venues or opp.sell_venue not in self.venues:
            return
        await self.close_out(opp, list(opp.orders), {o.client_order_id for o in opp.orders}, "reconciled: ")

    async def close_out(self, opp: Opportunity | JournalOpportunity, legs: Sequence[Executed], taken: set[str],
                        prefix: str) -> bool:
        """Legs all final: hedge a residual with up to ``hedge_attempts`` bounded-price IOCs,
        settle (realised PnL from matched fills only; the rest is an open position), journal
        the result. A residual still open after the hedges raises an alert. ``taken``: client
        ids the opportunity already used. Returns whether anything filled."""
        base, quote = split_symbol(opp.symbol)
        infos = [await self.static.info(v, opp.symbol) for v in (opp.buy_venue, opp.sell_venue)]
        step = max(float(i.step_size) for i in infos)
        orders = [with_estimated_fee(u, infos[0] if u.side == "buy" else infos[1]) for u in legs]
        for _ in range(self.risk.hedge_attempts):
            hedge = residual_hedge(opp, sum(u.filled_qty for u in orders if u.side == "buy"),
                                   sum(u.filled_qty for u in orders if u.side == "sell"),
                                   self.risk.unwind_slippage_bps, step)
            if hedge is None:
                break
            venue, side, qty, price = hedge
            n, cid = 0, client_order_id(opp.id, "u")
            while cid in taken:  # hedged before (a hedge of a hedge): a fresh, still derived id
                n += 1
                cid = client_order_id(f"{opp.id}#{n}", "u")
            taken.add(cid)
            unwind = OrderIntent(client_order_id=cid, opportunity_id=opp.id, venue=venue, symbol=opp.symbol,
                                 side=side, order_type="ioc", qty=qty, price=price)
            await write(self.journal, unwind)  # durable before it leaves
            u = await self.legs.send(self.venues[venue], unwind)
            if cid in self.legs.open:  # the hedge's outcome is unknown: settled on the next pass
                self.result(opp, "pending", f"{prefix}hedge outcome unknown: {cid}")
                self.retry()
                return False
            if u is not None:
                orders.append(with_estimated_fee(u, infos[0] if u.side == "buy" else infos[1]))
        s = settle(orders, base=base, quote=quote, buy_venue=opp.buy_venue, sell_venue=opp.sell_venue,
                   rates=await self.marks.fee_rates(self.venues, orders, base, quote))
        self.realised += s.realised_pnl
        self.daily += s.realised_pnl
        self.positions = add_position(self.positions, s.open_venue, opp.symbol, s.open_qty, s.open_price)
        filled = s.bought > 0 or s.sold > 0
        unhedged = abs(s.open_qty) >= step
        status = "partial" if unhedged else "executed" if filled else "unfilled"
        if status == "executed":
            self.executed += 1
        detail = f"{prefix}matched {s.matched:g}, open {s.open_qty:+g}"
        if unhedged:
            detail += f" UNHEDGED on {s.open_venue} after {self.risk.hedge_attempts} hedge attempts"
            self.unhedged_alerts += 1
            self.last_alert = f"{opp.id}: {s.open_qty:+g} {base} open on {s.open_venue} at {s.open_price:g}"
            log.error("executor: UNHEDGED position left for the operator: %s %s %+g %s at %g (opportunity %s)",
                      s.open_venue, opp.symbol, s.open_qty, base, s.open_price, opp.id)
        if any(isinstance(u, EstimatedFee) for u in orders):
            detail += ESTIMATED
        if s.fee_unconverted:
            detail += f"; fee in {','.join(s.fee_unconverted)} not converted (no live book): PnL omits it"
        self.result(opp, status, detail, s)
        return filled

    def result(self, opp: Opportunity | JournalOpportunity, status: str, detail: str, s: Settlement | None = None,
               *, journal_opp: bool = False) -> None:
        """Journal the opportunity's result (``journal_opp``: the opportunity first, one never
        journaled before: rejected before its intents)."""
        self.last_result = f"{opp.id}: {status} ({detail})"
        if journal_opp and isinstance(opp, Opportunity):
            self.journal.tell(opp)
        money: dict[str, Any] = {} if s is None else {
            "realised_pnl": s.realised_pnl, "matched_qty": s.matched, "fees_quote": s.fees_quote,
            "fee_unconverted": ",".join(s.fee_unconverted), "open_qty": s.open_qty, "open_venue": s.open_venue,
            "open_price": s.open_price}
        self.journal.tell(OpportunityResult(opportunity_id=opp.id, status=status, detail=detail, **money))
