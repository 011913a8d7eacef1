"""One order leg: an IOC sent with its derived client id, the named recoveries around it, and
every state change journaled. Used by the executor; owns the table of open legs.

Recoveries, exactly: ``NetworkError`` (outcome unknown) -> query by client id (the private
stream's pushed final state first, when the venue's account view is live), never resend;
not found yet -> journaled as the non-final ``unknown`` and kept open (exposure) until the
executor reconciles it. ``RateLimited`` -> wait ``retry_after_s``, query, resend with the SAME
id only if absent. ``OrderRejected`` -> journaled with the venue's code. An IOC acknowledged
before it finished matching is queried (paced) until final, or cancelled at the leg deadline.
Anything else propagates to the executor (and so to its supervisor).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from actors import ActorRef
from protocols.errors import NetworkError, OrderNotFound, OrderRejected, RateLimited
from protocols.messages import Fill, OrderIntent, OrderRejectedRecord, OrderUpdate
from protocols.venue import Venue

QUERY_PACE_S = 0.05  # between two queries of one order whose state is not final/known yet


class LegSender:
    """Sends legs and remembers which are open: client id -> (venue, notional)."""

    def __init__(self, *, journal: ActorRef, dry_run: Mapping[str, bool], leg_timeout_s: float,
                 stream: Callable[[str, str], OrderUpdate | None] | None = None) -> None:
        self.journal, self.dry_run, self.leg_timeout_s = journal, dry_run, leg_timeout_s
        # (venue, client id) -> the order's state as last pushed on a LIVE private stream, or
        # None: a final state there answers a query without a venue round trip.
        self.stream = stream
        self.open: dict[str, tuple[str, float]] = {}
        self.from_stream = 0  # queries answered by the private stream

    def settled(self, client_order_id: str) -> None:
        self.open.pop(client_order_id, None)

    def unresolved(self, client_order_id: str, venue: str, notional: float) -> None:
        """A journaled order whose outcome is not known yet (its venue could not be asked):
        open, with its exposure, until a later reconciliation settles it."""
        self.open[client_order_id] = (venue, notional)

    def exposure(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for venue, notional in self.open.values():
            out[venue] = out.get(venue, 0.0) + notional
        return out

    async def send(self, venue: Venue, intent: OrderIntent) -> OrderUpdate | None:
        """Send one IOC; return its final update (None: rejected, never sent, or unknown)."""
        if self.dry_run.get(intent.venue, True):
            self.journal.tell(OrderRejectedRecord(client_order_id=intent.client_order_id, venue=intent.venue,
                                                  message="dry run: journaled, not sent", status="paper"))
            return None
        self.open[intent.client_order_id] = (intent.venue, (intent.qty or 0.0) * (intent.price or 0.0))
        deadline = time.monotonic() + self.leg_timeout_s
        update = await self._send(venue, intent, deadline)
        if update is None:
            return None
        while not update.final and time.monotonic() < deadline:
            # An IOC acknowledged before matching finished: ask again (paced) rather than assume.
            await asyncio.sleep(QUERY_PACE_S)
            update = await self._query(venue, intent, deadline) or update
        if not update.final:
            update = await venue.cancel_order(intent.symbol, intent.client_order_id)
        for rec in update_records(update):
            self.journal.tell(rec)
        if update.final:
            self.open.pop(intent.client_order_id, None)
        return update

    async def _send(self, venue: Venue, intent: OrderIntent, deadline: float) -> OrderUpdate | None:
        while True:
            try:
                return await venue.place_order(intent)
            except RateLimited as exc:  # wait as told, then make sure it did not land before resending
                await asyncio.sleep(min(exc.retry_after_s, max(0.0, deadline - time.monotonic())))
                found = await self._query(venue, intent, deadline)
                if found is not None:
                    return found
                if time.monotonic() >= deadline:
                    self._give_up(intent, "rate limited until the leg timeout")
                    return None
            except NetworkError:  # outcome unknown: the named recovery is a query, never a resend
                found = await self._query(venue, intent, deadline)
                if found is None:
                    self._unknown(intent, "not found after a network error: may still land")
                    return None
                return found
            except OrderRejected as exc:
                self.open.pop(intent.client_order_id, None)
                self.journal.tell(OrderRejectedRecord(client_order_id=intent.client_order_id, venue=intent.venue,
                                                      code=str(exc.code), message=exc.message))
                return None

    async def _query(self, venue: Venue, intent: OrderIntent, deadline: float) -> OrderUpdate | None:
        """The order by client id; None when the venue does not know it. Retries transient
        errors until the deadline, then raises the last one (outcome still unknown: crash,
        and reconciliation on restart settles it). A final state already pushed on the venue's
        live private stream is taken first: whichever of push and reply comes first wins."""
        while True:
            pushed = self.stream(intent.venue, intent.client_order_id) if self.stream is not None else None
            if pushed is not None and pushed.final:
                self.from_stream += 1
                return pushed
            try:
                return await venue.order_by_client_id(intent.symbol, intent.client_order_id)
            except OrderNotFound:
                return None
            except (NetworkError, RateLimited) as exc:
                if time.monotonic() >= deadline:
                    raise
                wait = exc.retry_after_s if isinstance(exc, RateLimited) else QUERY_PACE_S
                await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))

    def _give_up(self, intent: OrderIntent, why: str) -> None:
        """The venue refused every send (rate limited) and does not know the order: final."""
        self.open.pop(intent.client_order_id, None)
        self.journal.tell(OrderRejectedRecord(client_order_id=intent.client_order_id, venue=intent.venue,
                                              code="not_found", message=why))
        return None

    def _unknown(self, intent: OrderIntent, why: str) -> None:
        """Sent, no answer, not found yet: it may still land (a slow venue). Journaled as the
        non-final ``unknown`` and kept open (a leg, with its exposure) until reconciled."""
        self.journal.tell(OrderRejectedRecord(client_order_id=intent.client_order_id, venue=intent.venue,
                                              code="not_found", message=why, status="unknown"))
        return None


def update_records(update: OrderUpdate) -> list[Any]:
    """The journal records of one venue update: the update, and its fill once final."""
    records: list[Any] = [update]
    if update.final and update.filled_qty > 0:
        records.append(Fill(venue=update.venue, symbol=update.symbol, client_order_id=update.client_order_id,
                            side=update.side, price=update.avg_price, qty=update.filled_qty, fee=update.fee,
                            fee_asset=update.fee_asset, ts_ms=update.ts_ms))
    return records
