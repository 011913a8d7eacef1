"""One order leg: an IOC sent with its derived client id, the named recoveries around it, and
every state change journaled. Used by the executor; owns the table of open legs.

``send_all`` sends every leg FROM THE CALLING TASK, one after the other with nothing awaited in
between that can suspend (a WebSocket leg's frame is built, signed and written before the next
leg is looked at; a REST leg becomes a task, the only path that needs one), then sees each leg
through its recoveries concurrently. A leg's first answer is whichever comes first of its reply
(WebSocket or REST) and its final state pushed on the venue's live private stream
(``AccountBoard.watch``); a reply that loses the race is still awaited (``settle_late``) and
journaled: the journal keeps one order row and one fill row per client id, and never replaces a
final status with a non-final one, so recording both is idempotent. Each leg's timeline
(``LegLatency``: detected, intent durable, sent, first answer and its source, first fill) is
journaled once it settles.

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
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors import ActorRef
from protocols.errors import ExchangeError, NetworkError, OrderNotFound, OrderRejected, RateLimited
from protocols.messages import Fill, LegLatency, OrderIntent, OrderRejectedRecord, OrderUpdate
from protocols.venue import Venue

log = logging.getLogger("arbor.legs")

QUERY_PACE_S = 0.05  # between two queries of one order whose state is not final/known yet

Attempt = asyncio.Future[Any]  # one send's answer: a WebSocket reply future, or a REST request task


class _Timeline:
    __slots__ = ("detected_ns", "intent_ns", "sent_ns", "ack_ns", "fill_ns", "ack_source")

    def __init__(self, detected_ns: int, intent_ns: int) -> None:
        self.detected_ns, self.intent_ns = detected_ns, intent_ns
        self.sent_ns = self.ack_ns = self.fill_ns = 0
        self.ack_source = ""


class LegSender:
    """Sends legs and remembers which are open: client id -> (venue, notional)."""

    def __init__(self, *, journal: ActorRef, dry_run: Mapping[str, bool], leg_timeout_s: float,
                 stream: Callable[[str, str], OrderUpdate | None] | None = None,
                 watch: Callable[[str, str], asyncio.Future[OrderUpdate]] | None = None,
                 unwatch: Callable[[str, str], None] | None = None,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.journal, self.dry_run, self.leg_timeout_s = journal, dry_run, leg_timeout_s
        # (venue, client id) -> the order's state as last pushed on a LIVE private stream, or
        # None: a final state there answers a query without a venue round trip.
        self.stream = stream
        # (venue, client id) -> a future of the order's final pushed state: raced with the reply.
        self.watch, self.unwatch = watch, unwatch
        self.clock = clock
        self.open: dict[str, tuple[str, float]] = {}
        self.from_stream = 0  # queries answered by the private stream
        self.first_from_stream = 0  # first answers taken from the stream's push, ahead of the reply
        self.late: list[tuple[OrderIntent, Attempt]] = []  # replies that lost the race, not yet in

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
        result = (await self.send_all([(venue, intent)]))[0]
        if isinstance(result, BaseException):
            raise result
        return result

    async def prepare(self, legs: Sequence[tuple[Venue, OrderIntent]]) -> list[Any]:
        """Per leg, ahead of its send: its request frame built and signed (a venue whose
        WebSocket API is up: ``prepare_order``), the venue error that refused it locally, or
        None (it will go over REST, or is paper). Nothing leaves the process."""
        out: list[Any] = []
        for venue, intent in legs:
            prepare = getattr(venue, "prepare_order", None)
            if prepare is None or self.dry_run.get(intent.venue, True):
                out.append(None)
                continue
            try:
                out.append(await prepare(intent))
            except ExchangeError as exc:  # the leg's outcome, handled with the others after the send
                out.append(exc)
        return out

    async def send_all(self, legs: Sequence[tuple[Venue, OrderIntent]], *, prepared: Sequence[Any] = (),
                       detected_ns: int = 0, intent_ns: int = 0) -> list[OrderUpdate | BaseException | None]:
        """``send_now`` then ``see_through``."""
        return await self.see_through(await self.send_now(legs, prepared=prepared, detected_ns=detected_ns,
                                                          intent_ns=intent_ns))

    async def send_now(self, legs: Sequence[tuple[Venue, OrderIntent]], *, prepared: Sequence[Any] = (),
                       detected_ns: int = 0, intent_ns: int = 0) -> list[Any]:
        """Send every leg now, back to back (see the module docstring; ``prepared``: what
        ``prepare`` returned for them); returns the legs as sent, for ``see_through``."""
        started: list[tuple[Venue, OrderIntent, Attempt, _Timeline] | None] = []
        for i, (venue, intent) in enumerate(legs):
            if self.dry_run.get(intent.venue, True):
                self.journal.tell(OrderRejectedRecord(client_order_id=intent.client_order_id, venue=intent.venue,
                                                      message="dry run: journaled, not sent", status="paper"))
                started.append(None)
                continue
            self.open[intent.client_order_id] = (intent.venue, (intent.qty or 0.0) * (intent.price or 0.0))
            line = _Timeline(detected_ns, intent_ns)
            attempt = await self._start(venue, intent, prepared[i] if i < len(prepared) else None)
            line.sent_ns = self.clock()
            started.append((venue, intent, attempt, line))
        return started

    async def see_through(self, started: Sequence[Any]) -> list[OrderUpdate | BaseException | None]:
        """Every sent leg through its recoveries, concurrently: per leg its final update, None
        (rejected, never sent, or unknown), or the unexpected error it raised (after every leg
        finished)."""
        return list(await asyncio.gather(*(self._see_through(*leg) if leg is not None else _none()
                                           for leg in started), return_exceptions=True))

    async def _start(self, venue: Venue, intent: OrderIntent, prepared: Any = None) -> Attempt:
        """The order handed to its path: written on the venue's WebSocket API when that is up
        (``start_order``, with its ``prepared`` frame), else a REST request task. A venue error
        on the way is the attempt's outcome (handled with the others, after every leg was sent)."""
        failed: Attempt
        if isinstance(prepared, ExchangeError):
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(prepared)
            return failed
        start = getattr(venue, "start_order", None)
        if start is not None:
            try:
                sent: Attempt | None = await start(intent, prepared)
            except ExchangeError as exc:
                failed = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                return failed
            if sent is not None:
                return sent
        return asyncio.create_task(venue.place_order(intent), name=f"place:{intent.client_order_id}")

    async def _see_through(self, venue: Venue, intent: OrderIntent, attempt: Attempt,
                           line: _Timeline) -> OrderUpdate | None:
        deadline = time.monotonic() + self.leg_timeout_s
        try:
            update = await self._send(venue, intent, deadline, attempt, line)
            if update is None:
                return None
            while not update.final and time.monotonic() < deadline:
                # An IOC acknowledged before matching finished: ask again (paced) rather than assume.
                await asyncio.sleep(QUERY_PACE_S)
                update = await self._query(venue, intent, deadline) or update
                self._filled(line, update)
            if not update.final:
                update = await venue.cancel_order(intent.symbol, intent.client_order_id)
            for rec in update_records(update):
                self.journal.tell(rec)
            if update.final:
                self.open.pop(intent.client_order_id, None)
            return update
        finally:
            self.journal.tell(LegLatency(client_order_id=intent.client_order_id, detected_ns=line.detected_ns,
                                         intent_ns=line.intent_ns, sent_ns=line.sent_ns, ack_ns=line.ack_ns,
                                         fill_ns=line.fill_ns, ack_source=line.ack_source))

    def _filled(self, line: _Timeline, update: OrderUpdate) -> None:
        if not line.fill_ns and update.filled_qty > 0:
            line.fill_ns = self.clock()

    async def _race(self, intent: OrderIntent, attempt: Attempt, line: _Timeline) -> OrderUpdate:
        """The attempt's reply, or the order's final state pushed on the live private stream if
        that comes first (the reply is then kept for ``settle_late``)."""
        cid = intent.client_order_id
        pushed = self.watch(intent.venue, cid) if self.watch is not None else None
        source = "reply"
        try:
            if pushed is None:
                update = await attempt
            else:
                await asyncio.wait((attempt, pushed), return_when=asyncio.FIRST_COMPLETED)
                if attempt.done():
                    update = attempt.result()  # its error, if it failed, is the caller's to recover
                else:
                    update, source = pushed.result(), "stream"
                    self.first_from_stream += 1
                    self.late.append((intent, attempt))
        except asyncio.CancelledError:
            attempt.cancel()  # the executor is stopping: the leg's outcome is reconciled on restart
            raise
        finally:
            if pushed is not None and self.unwatch is not None:
                self.unwatch(intent.venue, cid)
        if not line.ack_ns:
            line.ack_ns, line.ack_source = self.clock(), source
        self._filled(line, update)
        return update

    async def settle_late(self) -> None:
        """Await the replies that lost the race to the stream and journal them (idempotent:
        one order row and one fill row per client id; a final status is never downgraded). A
        reply lost on the way changes nothing: the stream already gave the final state."""
        late, self.late = self.late, []
        for intent, attempt in late:
            try:
                update = await attempt
            except (NetworkError, RateLimited) as exc:
                log.info("legs: the reply to %s was lost (%s); its final state came from the stream",
                         intent.client_order_id, exc)
                continue
            except OrderRejected as exc:  # never replaces the pushed final status in the journal
                self.journal.tell(OrderRejectedRecord(client_order_id=intent.client_order_id, venue=intent.venue,
                                                      code=str(exc.code), message=exc.message))
                continue
            for rec in update_records(update):
                self.journal.tell(rec)

    def abandon_late(self) -> None:
        """Stopping: replies still awaited are dropped (their orders are final in the journal)."""
        late, self.late = self.late, []
        for _, attempt in late:
            attempt.cancel()

    async def _send(self, venue: Venue, intent: OrderIntent, deadline: float, attempt: Attempt,
                    line: _Timeline) -> OrderUpdate | None:
        while True:
            try:
                return await self._race(intent, attempt, line)
            except RateLimited as exc:  # wait as told, then make sure it did not land before resending
                await asyncio.sleep(min(exc.retry_after_s, max(0.0, deadline - time.monotonic())))
                found = await self._query(venue, intent, deadline)
                if found is not None:
                    return found
                if time.monotonic() >= deadline:
                    self._give_up(intent, "rate limited until the leg timeout")
                    return None
                attempt = await self._start(venue, intent)  # the SAME client id
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


async def _none() -> None:
    return None


def update_records(update: OrderUpdate) -> list[Any]:
    """The journal records of one venue update: the update, and its fill once final."""
    records: list[Any] = [update]
    if update.final and update.filled_qty > 0:
        records.append(Fill(venue=update.venue, symbol=update.symbol, client_order_id=update.client_order_id,
                            side=update.side, price=update.avg_price, qty=update.filled_qty, fee=update.fee,
                            fee_asset=update.fee_asset, ts_ms=update.ts_ms))
    return records
