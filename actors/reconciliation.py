"""The executor's reconciliation: the journal's open orders settled from their venues, then its
unsettled opportunities settled, on start (before any message is taken) and on every
``SettleUnknown`` pass after.

One pass (``Reconciler.run``):
1. every journaled order without a final status (``intent``, ``unknown``, ``new``...) is
   queried on its venue by client id (``final_state``: not found, journaled ``rejected``: it
   never reached the venue; still resting: cancelled). A paper-mode venue's order is journaled
   ``paper``; a venue no longer configured keeps its order open, visible in the journal.
2. every opportunity left without a final result is handed to the executor's ``settle`` (which
   settles it like a finished ``_take`` once its orders are all final).

Recoveries: a transient venue error (``NetworkError``, ``RateLimited``) does NOT crash the
pass: the order stays open like an unknown leg (its exposure counted by the ``LegSender``), or
the opportunity unsettled, that venue is not asked again in this pass, and ``run`` returns the
delay before the next one: ``leg_timeout_s`` doubling per failed pass in a row, capped at
``RECONCILE_RETRY_MAX_S``. Anything else propagates (the executor crashes; its restart
reconciles again).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from actors import ActorRef
from actors.journal import write
from actors.legs import LegSender, update_records
from protocols.errors import NetworkError, OrderNotFound, RateLimited
from protocols.messages import (
    GetOpenOrders,
    GetUnsettledOpportunities,
    JournalOpportunity,
    JournalOrder,
    OrderRejectedRecord,
    OrderUpdate,
)
from protocols.venue import Venue

log = logging.getLogger("arbor.executor")
RECONCILE_RETRY_MAX_S = 60.0  # the longest wait before a reconciliation pass asks a failing venue again


class Reconciler:
    """One executor's reconciliation passes (see the module doc). ``reconciled``: the open
    orders it settled from their venues, ever."""

    def __init__(self, *, journal: ActorRef, venues: Mapping[str, Venue], dry_run: Mapping[str, bool],
                 legs: LegSender, leg_timeout_s: float) -> None:
        self.journal, self.venues, self.dry_run, self.legs = journal, venues, dry_run, legs
        self.leg_timeout_s = leg_timeout_s
        self.reconciled = 0
        self._passes_failed = 0  # reconciliation passes in a row that met a transient venue error

    async def run(self, settle: Callable[[JournalOpportunity], Awaitable[None]]) -> float | None:
        """Settle every open journaled order from its venue, then every unsettled opportunity
        (``settle``); the delay before the next pass when a venue failed transiently, else None."""
        open_orders = (await self.journal.ask(GetOpenOrders())).orders
        records: list[Any] = []
        unavailable: set[str] = set()  # venues that failed transiently in this pass: not asked again in it
        for order in open_orders:
            venue = self.venues.get(order.venue)
            if venue is None:  # a venue no longer configured: keep it open, visible in the journal
                continue
            if self.dry_run.get(order.venue, True):
                records.append(OrderRejectedRecord(client_order_id=order.client_order_id, venue=order.venue,
                                                   message="dry run: journaled, not sent", status="paper"))
                continue
            try:
                update = None if order.venue in unavailable else await final_state(venue, order)
            except (NetworkError, RateLimited) as exc:
                log.warning("executor: reconciliation could not ask %s about %s (%s: %s); kept open, asked again "
                            "later", order.venue, order.client_order_id, type(exc).__name__, exc)
                unavailable.add(order.venue)
            if order.venue in unavailable:  # outcome unknown, like an unknown leg's: open, with its exposure
                self.legs.unresolved(order.client_order_id, order.venue, order.qty * (order.price or 0.0))
                continue
            records.extend(update_records(update) if update is not None else [OrderRejectedRecord(
                client_order_id=order.client_order_id, venue=order.venue, code="not_found",
                message="never reached the venue (reconciliation)")])
            self.legs.settled(order.client_order_id)
            self.reconciled += 1
        if records:
            await write(self.journal, *records)
        for opp in (await self.journal.ask(GetUnsettledOpportunities())).opportunities:
            try:
                await settle(opp)
            except (NetworkError, RateLimited) as exc:  # left unsettled, for the next pass
                log.warning("executor: %s not settled now (%s: %s)", opp.id, type(exc).__name__, exc)
                unavailable.add(exc.venue)
        # A transient venue error is not a crash (see the module doc): the next pass comes after
        # a growing delay (capped); trading meanwhile counts what is open.
        self._passes_failed = self._passes_failed + 1 if unavailable else 0
        if unavailable:
            return min(RECONCILE_RETRY_MAX_S, self.leg_timeout_s * 2 ** (self._passes_failed - 1))
        return None


async def final_state(venue: Venue, order: JournalOrder) -> OrderUpdate | None:
    """The order's final state on its venue (one still resting is cancelled); None: the venue
    does not know it."""
    try:
        update = await venue.order_by_client_id(order.symbol, order.client_order_id)
    except OrderNotFound:
        return None
    if not update.final:  # an order still resting after our crash: take it off the book
        update = await venue.cancel_order(order.symbol, order.client_order_id)
    return update
