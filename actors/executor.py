"""Two-leg execution with risk limits, a durable journal first, and reconciliation on start.

``ExecutorActor`` inbox: ``Opportunity`` | ``KillSwitch`` | ``SettleUnknown`` (its own timer).
Talks to the journal (asks for durable writes before any order leaves) and to the venues' REST
adapters.

On start it draws a RUN ID (random, journaled in its RestartRecord; every opportunity id of
the run ends with it, so two runs on one journal never share an opportunity or client order
id) and RECONCILES before any message is taken, so nothing new is sent while an old outcome is
unknown (but one its venue cannot tell now, which counts like an unknown leg of this run):
1. every journaled order without a final status (``intent``, ``unknown``, ``new``...) is
   queried on its venue by client id (not found: journaled ``rejected``, it never reached the
   venue; still resting: cancelled). A transient error there (``NetworkError``, ``RateLimited``)
   does NOT crash the start: the order stays open like an unknown leg (its exposure counted by
   risk), that venue is not asked again in this pass, and another pass (``SettleUnknown``) comes
   after ``leg_timeout_s`` doubling per failed pass, capped at ``RECONCILE_RETRY_MAX_S``. (A
   crash would ask again at once: during a venue outage the executor crash-loops, its
   supervisor exceeds its intensity every few seconds and the root restarts journal and
   executor with it, and no opportunity is taken on any venue until the venue is back.)
2. every opportunity left without a final result (``detected``: the process died mid-way;
   ``pending``: a leg's outcome was unknown) whose orders are now all final is SETTLED like a
   finished ``_take`` (``CloseOut.settle``). Steps 1 and 2 are ``actors.reconciliation``.
3. every settled opportunity whose PnL holds an ESTIMATED fee (the venue's trades were
   unreadable then) has that order read back again: an exact fee now replaces the estimate
   (``actors.fee_correction``).
Then its counters, realised PnL (total and today's: the daily loss limit survives a restart)
and open positions are read back from the journal.

Per opportunity: risk checks (expiry, kill switch file or command, open legs, per-venue
exposure, today's realised loss, open positions marked to FRESH books: a position no in-sync
book younger than ``max_mark_age_ms`` can mark counts as over ``max_open_position_quote``),
symbol rules from the engine's shared ``StaticData`` (pre-fetched at start for the configured
markets) and balances to cap the size (``actors.funding``): read synchronously from the venue's
LIVE account view when it is usable, else fetched NOW over REST -- a transient error there
(``RateLimited``, ``NetworkError``: timeouts, 5xx) rejects THIS opportunity as
``venue_unavailable`` (journaled with the reason) and nothing crashes -- then both legs' frames
prepared (rounded, signed), opportunity + both intents journaled durably (committed in this
step when the journal is idle: ``DurableWrites``; the journal refuses a client id it holds: the
opportunity is dropped), then both legs written back to back as IOC limits with ids derived
from the opportunity id, all in the ``receive`` step of the opportunity (no task hop before the
sends), and followed concurrently in a task (``actors.legs``). A leg's recoveries are exactly:
``NetworkError`` (outcome unknown) -> query by client id, never resend blindly; still not found
by the leg deadline -> journaled ``unknown`` (not final: it may land after a slow venue
answers), kept as an open leg with its exposure, the opportunity journaled ``pending`` and a
reconciliation pass scheduled one ``leg_timeout_s`` later (not found then: ``rejected``);
``RateLimited`` -> wait ``retry_after_s``, query, and resend with the SAME id if absent;
``OrderRejected`` -> journaled with the venue's code.

Legs final: ``actors.close_out`` hedges a residual (bounded-price IOCs), settles realised PnL
from the matched quantity only, net of every fee (the rest is an open position, never PnL),
raises an alert for a residual left after the hedges, and journals the result.

``dry_run[venue]`` is paper mode against a real venue: journaled as ``paper``, never sent, no
balance calls (paper mode may have no credentials). The engine sets it False for simulated
venues, which get real order flow. The venue adapters are owned (and closed) by the engine.

Failure: anything else (AuthError, an unexpected ExchangeError) crashes the actor after both
legs have finished; the restart reconciles from the journal and the venues. Graceful stop
waits for in-flight legs, bounded by ``leg_timeout_s``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from actors import Actor, ActorRef
from actors.account import AccountBoard
from actors.close_out import CloseOut
from actors.fee_correction import correct_estimated_fees
from actors.funding import Funder, Read, as_balances
from actors.journal import DurableWrites, write
from actors.legs import LegSender
from actors.marks import BookLookup, Marks
from actors.positions import Position
from actors.reconciliation import Reconciler
from actors.risk import RiskParams, client_order_ids, kill_switch_file_present, reject_reason
from actors.static import StaticData
from protocols.errors import (
    DuplicateId,
    NetworkError,
    OrderRejected,
    RateLimited,
)
from protocols.messages import (
    GetJournalSummary,
    GetOpenPositions,
    GetRealisedPnl,
    KillSwitch,
    Msg,
    Opportunity,
    OrderIntent,
    OrderUpdate,
    RestartRecord,
)
from protocols.venue import Venue

log = logging.getLogger("arbor.executor")

class SettleUnknown(Msg, frozen=True, kw_only=True):
    """Timer message to ourselves: reconcile again (a leg's outcome was unknown)."""


ExecutorInbox = Opportunity | KillSwitch | SettleUnknown


class PositionStatus(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    symbol: str
    qty: float  # signed base: > 0 long
    entry_price: float


class ExecutorStatus(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    open_legs: int
    exposure: dict[str, float]  # quote committed to open orders, per venue
    realised_pnl: float  # since the journal began (from the journal on start)
    daily_pnl: float
    opportunities_seen: int
    executed: int
    rejected_by_risk: int
    venue_unavailable: int  # opportunities rejected on a transient venue error
    kill_switch: bool
    reconciled: int
    last_result: str
    open_positions: list[PositionStatus]  # unmatched fills, per venue and symbol
    open_position_quote: float | None  # as marked at the last decision (None: a position no fresh book marks)
    unhedged_alerts: int  # residuals left open after the bounded hedges (ERROR logged), ever
    last_alert: str
    balances_from_stream: int = 0  # venue balance checks read from a live account view
    balances_from_rest: int = 0  # ... fetched over REST (no usable view)
    legs_from_stream: int = 0  # leg outcomes taken from the private stream's push, not a query
    first_answers_from_stream: int = 0  # legs whose push came before their reply (the race)


class ExecutorActor(Actor):
    """See the module docstring."""

    def __init__(
        self,
        *,
        venues: Mapping[str, Venue],
        journal: ActorRef,
        risk: RiskParams,
        dry_run: Mapping[str, bool],
        clock: Callable[[], int] = time.monotonic_ns,
        wall: Callable[[], float] = time.time,
        static: StaticData | None = None,
        books: BookLookup | None = None,
        accounts: AccountBoard | None = None,
        warm: Mapping[str, Sequence[str]] | None = None,
        run_id: Callable[[], str] = lambda: secrets.token_hex(8),
        durable: DurableWrites | None = None,
    ) -> None:
        self.venues, self.journal, self.risk = venues, journal, risk
        self.durable = durable  # the journal's commit-now path for the intents (None: ask)
        self.dry_run, self.clock, self.wall = dict(dry_run), clock, wall
        self.static = static if static is not None else StaticData(venues)
        self.marks = Marks(books if books is not None else (lambda venue, symbol: None), clock=clock,
                           max_age_ms=risk.max_mark_age_ms)
        self.accounts = accounts if accounts is not None else AccountBoard()
        self._legs = LegSender(journal=journal, dry_run=self.dry_run, leg_timeout_s=risk.leg_timeout_s,
                               stream=self._pushed, watch=self.accounts.watch, unwatch=self.accounts.unwatch,
                               clock=clock)
        self._reconciler = Reconciler(journal=journal, venues=venues, dry_run=self.dry_run, legs=self._legs,
                                      leg_timeout_s=risk.leg_timeout_s)
        self.out = CloseOut(journal=journal, venues=venues, static=self.static, marks=self.marks, legs=self._legs,
                            risk=risk, retry=self._retry_settle)
        self.funder = Funder(static=self.static, accounts=self.accounts, venues=venues, clock=clock)
        self._inflight: asyncio.Task[None] | None = None
        self.new_run_id = run_id  # a replay derives it, so two replays journal the same ids
        self.run_id = ""
        self.kill_switch = False
        self._day = int(wall() // 86400)
        self.seen = self.rejected_by_risk = self.venue_unavailable = 0
        self._marked: float | None = 0.0
        self._warm = {v: list(s) for v, s in (warm or {}).items()}
        self._snapshots: list[Read] = []  # balances the current decision read, to journal

    # --- lifecycle ---------------------------------------------------------------------------

    async def on_start(self) -> None:
        # Part of every opportunity id of this run: two runs on one journal never share an id.
        self.run_id = self.new_run_id()
        if self._warm:  # symbol rules before the first opportunity needs them (not awaited here)
            self.start_task(self._warm_static(), name="executor:warm-static")
        await write(self.journal, RestartRecord(path=self.ref.path, reason="start", ts_ms=int(self.wall() * 1000),
                                                run_id=self.run_id))
        await self._reconcile()
        live = {v: adapter for v, adapter in self.venues.items() if not self.dry_run.get(v, True)}
        await correct_estimated_fees(self.journal, live, self.static, self.marks)
        # Counters, PnL and open positions as journaled (incl. what was just settled): a
        # restart resets none of them, and the daily loss limit outlives a crash.
        s = await self.journal.ask(GetJournalSummary())
        out = self.out
        self.seen, out.realised = s.opportunities, s.realised_pnl
        out.executed = s.opportunities_by_status.get("executed", 0)
        self.rejected_by_risk = s.opportunities_by_status.get("rejected_by_risk", 0)
        self.venue_unavailable = s.opportunities_by_status.get("venue_unavailable", 0)
        out.unhedged_alerts = s.opportunities_by_status.get("partial", 0)  # "partial": a residual left open
        out.daily = (await self.journal.ask(GetRealisedPnl(since_ms=self._day * 86_400_000))).realised_pnl
        out.positions = {}  # the journal's, which include what was just settled
        for p in (await self.journal.ask(GetOpenPositions())).positions:
            out.positions[(p.venue, p.symbol)] = Position(venue=p.venue, symbol=p.symbol, qty=p.qty, cost=p.cost)

    async def _warm_static(self) -> None:
        for venue, symbols in self._warm.items():
            for symbol in symbols:
                try:
                    await self.static.info(venue, symbol)
                except (RateLimited, NetworkError, OrderRejected) as exc:  # fetched again on first use
                    log.warning("executor: symbol rules of %s %s not pre-fetched: %s", venue, symbol, exc)

    async def _reconcile(self) -> None:
        """One reconciliation pass (``actors.reconciliation``); another is scheduled when a venue
        failed transiently."""
        retry_s = await self._reconciler.run(self.out.settle)
        if retry_s is not None:
            self.send_after(retry_s, SettleUnknown())

    async def on_stop(self) -> None:
        task = self._inflight
        if task is not None and not task.done():
            done, _ = await asyncio.wait((task,), timeout=self.risk.leg_timeout_s)
            if not done:
                task.cancel()
                await asyncio.wait((task,))
        self._legs.abandon_late()

    # --- messages ----------------------------------------------------------------------------

    async def receive(self, msg: ExecutorInbox) -> Any:
        match msg:
            case Opportunity():
                self.seen += 1
                opp = msgspec.structs.replace(msg, id=f"{msg.id}-{self.run_id}")
                # Decided and sent right here, in this step (no task to schedule first): a stop
                # cancelling this receive before the sends sends nothing. Once the legs are out,
                # the rest is a task the runtime owns (its error crashes us): a stop that cancels
                # this receive does not cancel the legs, which on_stop waits for.
                sent = await self._take(opp)
                if sent is not None:
                    self._inflight = self.start_task(self._follow(opp, *sent), name=f"execute:{opp.id}")
                    await asyncio.wait((self._inflight,))
            case KillSwitch(on=on):
                self.kill_switch = on
            case SettleUnknown():
                await self._reconcile()
            case _:
                raise TypeError(f"executor: unexpected message {type(msg).__name__}")
        return None

    async def _take(self, opp: Opportunity) -> tuple[list[str], OrderIntent, OrderIntent, list[Any]] | None:
        """Risk, size, journal and send both legs; None when the opportunity is not taken, else
        what ``_follow`` needs: the live venues, both intents, the legs as sent."""
        day = int(self.wall() // 86400)
        if day != self._day:
            self._day, self.out.daily = day, 0.0
        marked = await self.marks.positions(self.out.positions.values())
        total = sum(marked.values())
        self._marked = total if total != float("inf") else None
        exposure = self.exposure()  # open legs, plus open positions at their marks
        for venue, value in marked.items():
            exposure[venue] = exposure.get(venue, 0.0) + value
        reason = reject_reason(opp, self.risk, now_ns=self.clock(), kill_switch=self.kill_switch,
                               open_legs=len(self._legs.open), exposure=exposure, daily_pnl=self.out.daily,
                               open_position_quote=total)
        if reason is not None:
            self.rejected_by_risk += 1
            self.out.result(opp, "rejected_by_risk", reason, journal_opp=True)
            return None
        live = [v for v in (opp.buy_venue, opp.sell_venue) if not self.dry_run.get(v, True)]
        try:
            size, buy_info, sell_info, self._snapshots = await self.funder.size(opp, live)
        except (RateLimited, NetworkError) as exc:
            # Transient: this opportunity is not taken (journaled why); the next one asks again.
            self.venue_unavailable += 1
            self.out.result(opp, "venue_unavailable", f"{exc.venue}: {type(exc).__name__}: {exc.message}",
                         journal_opp=True)
            return None
        except OrderRejected as exc:  # static data says no (the symbol is not listed there)
            self.rejected_by_risk += 1
            self.out.result(opp, "rejected_by_risk", f"{exc.venue}: {exc.message}", journal_opp=True)
            return None
        least, min_notional = self.funder.minimums(buy_info, sell_info)
        if size < least or size * opp.sell_price < min_notional:
            self._journal_snapshots()
            self.rejected_by_risk += 1
            self.out.result(opp, "rejected_by_risk", f"balances allow {size:g} only", journal_opp=True)
            return None
        buy_id, sell_id = client_order_ids(opp.id, ("b", "s"))
        buy = self._intent(opp, buy_id, opp.buy_venue, "buy", size, opp.buy_price)
        sell = self._intent(opp, sell_id, opp.sell_venue, "sell", size, opp.sell_price)
        legs = [(self.venues[opp.buy_venue], buy), (self.venues[opp.sell_venue], sell)]
        # No collection from here until both legs are out (a gen-2 pass costs milliseconds);
        # whatever this step leaves is collected after it.
        collecting = gc.isenabled()
        gc.disable()
        try:
            prepared = await self._legs.prepare(legs)  # frames built and signed now; nothing sent yet
            try:
                await write(self.journal, opp, buy, sell, durable=self.durable)  # durable before any order leaves
            except DuplicateId as exc:  # the same opportunity again (a detector restart): taken once
                self._journal_snapshots()
                log.warning("executor: %s seen before; not taken again (%s)", opp.id, exc)
                return None
            intent_ns = self.clock()
            # Both legs leave now, back to back, their frames already signed (``LegSender.send_now``).
            started = await self._legs.send_now(legs, prepared=prepared, detected_ns=opp.created_ns,
                                                intent_ns=intent_ns)
        finally:
            if collecting:
                gc.enable()
        self._journal_snapshots()
        return live, buy, sell, started

    async def _follow(self, opp: Opportunity, live: list[str], buy: OrderIntent, sell: OrderIntent,
                      started: list[Any]) -> None:
        """Both legs through their recoveries (one failing never cancels the other: its outcome
        would become unknown; the first unexpected error is re-raised after both), then the
        close-out."""
        results = await self._legs.see_through(started)
        errors = [r for r in results if isinstance(r, BaseException)]
        updates = [r for r in results if isinstance(r, OrderUpdate)]
        if not errors and not live:
            self.out.result(opp, "paper", "dry run")
            return
        unknown = [i.client_order_id for i in (buy, sell) if i.client_order_id in self._legs.open]
        if unknown or errors:
            # A leg's outcome is not known: no hedge and no PnL on a guess. Reconciliation (the
            # timer below, or the restart after the error) settles the opportunity once known.
            self.out.result(opp, "pending", f"outcome unknown: {', '.join(unknown)}")
            if errors:
                raise errors[0]
            await self._legs.settle_late()
            self._retry_settle()
            return
        filled = await self.out.close_out(opp, updates, {buy.client_order_id, sell.client_order_id}, "")
        await self._legs.settle_late()  # replies that lost the race to the stream: journaled too
        # Balances after fills, a snapshot for the journal (not a cache), over REST from a venue
        # without a live account view only: a live view is journaled at every decision (and
        # its stream pushes the fills' balances); a REST call here would hold up the next
        # opportunity waiting in the mailbox.
        rest = [v for v in live if self.accounts.usable(v) is None]
        if rest and filled:
            snapshots = await asyncio.gather(*(self.venues[v].balances() for v in rest), return_exceptions=True)
            for b in snapshots:
                if isinstance(b, (RateLimited, NetworkError)):  # only a snapshot for the journal: skipped
                    log.warning("executor: balance snapshot after %s skipped: %s", opp.id, b)
                elif isinstance(b, BaseException):
                    raise b
                else:
                    self.journal.tell(b)

    # --- helpers -----------------------------------------------------------------------------

    def _intent(self, opp: Opportunity, cid: str, venue: str, side: Any, qty: float, price: float) -> OrderIntent:
        return OrderIntent(client_order_id=cid, opportunity_id=opp.id, venue=venue,
                           symbol=opp.symbol, side=side, order_type="ioc", qty=qty, price=price)

    def _retry_settle(self) -> None:
        """Another reconciliation pass one leg timeout from now."""
        self.send_after(self.risk.leg_timeout_s, SettleUnknown())

    def exposure(self) -> dict[str, float]:
        return self._legs.exposure()

    def _journal_snapshots(self) -> None:
        """The balances the last decision read (live view or REST), for the journal."""
        snapshots, self._snapshots = self._snapshots, []
        for b in snapshots:
            self.journal.tell(as_balances(b))

    def _pushed(self, venue: str, client_order_id: str) -> OrderUpdate | None:
        """The order's state as pushed on the venue's live private stream (None: no usable view)."""
        view = self.accounts.usable(venue)
        return view.orders.get(client_order_id) if view is not None else None

    def describe(self) -> ExecutorStatus:
        return ExecutorStatus(
            run_id=self.run_id, open_legs=len(self._legs.open), exposure=self.exposure(),
            realised_pnl=self.out.realised, daily_pnl=self.out.daily, opportunities_seen=self.seen,
            executed=self.out.executed,
            rejected_by_risk=self.rejected_by_risk, venue_unavailable=self.venue_unavailable,
            kill_switch=self.kill_switch or kill_switch_file_present(self.risk.kill_switch_path),
            reconciled=self._reconciler.reconciled, last_result=self.out.last_result,
            open_positions=[PositionStatus(venue=p.venue, symbol=p.symbol, qty=p.qty, entry_price=p.entry_price)
                            for p in self.out.positions.values()],
            open_position_quote=self._marked, unhedged_alerts=self.out.unhedged_alerts,
            last_alert=self.out.last_alert, balances_from_stream=self.funder.from_stream,
            balances_from_rest=self.funder.from_rest,
            legs_from_stream=self._legs.from_stream, first_answers_from_stream=self._legs.first_from_stream)

