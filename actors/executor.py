"""Two-leg execution with risk limits, a durable journal first, and reconciliation on start.

``ExecutorActor`` inbox: ``Opportunity`` | ``KillSwitch`` | ``SettleUnknown`` (its own timer).
Talks to the journal (asks for durable writes before any order leaves) and to the venues' REST
adapters.

On start it journals a RestartRecord, fetches symbol rules (static, cached) and RECONCILES
before any message is taken, so nothing new is sent while an old outcome is unknown:
1. every journaled order without a final status (``intent``, ``unknown``, ``new``...) is
   queried on its venue by client id (not found: journaled ``rejected``, it never reached the
   venue; still resting: cancelled);
2. every opportunity left without a final result (``detected``: the process died mid-way;
   ``pending``: a leg's outcome was unknown) whose orders are now all final is SETTLED like a
   finished ``_take``: a leftover base position is hedged with one bounded-price IOC (intent
   journaled first, client id derived with leg ``u``), realised PnL is computed from every
   order of it and counted in today's PnL, and its ``OpportunityResult`` is journaled.
Then today's realised PnL is read back from the journal, so the daily loss limit survives a
restart.

Per opportunity: risk checks (expiry, kill switch file or command, open legs, per-venue
exposure, today's realised loss), balances fetched NOW from both venues (never cached) to cap
the size, opportunity + both intents journaled durably, then both legs sent concurrently as
IOC limits with ids derived from the opportunity id (``actors.legs``). A leg's recoveries are
exactly:
``NetworkError`` (outcome unknown) -> query by client id, never resend blindly; still not found
by the leg deadline -> journaled ``unknown`` (not final: it may land after a slow venue
answers), kept as an open leg with its exposure, the opportunity journaled ``pending`` and a
reconciliation pass scheduled one ``leg_timeout_s`` later (not found then: ``rejected``);
``RateLimited`` -> wait ``retry_after_s``, query, and resend with the SAME id if absent;
``OrderRejected`` -> journaled with the venue's code. Unequal fills are hedged with one
bounded-price IOC. Every update and fill is journaled; realised PnL and exposure updated.

``dry_run[venue]`` is paper mode against a real venue: journaled as ``paper``, never sent, no
balance calls (paper mode may have no credentials). The engine sets it False for simulated
venues, which get real order flow. The venue adapters are owned (and closed) by the engine.

Failure: anything else (AuthError, an unexpected ExchangeError) crashes the actor after both
legs have finished; the restart reconciles from the journal and the venues. Graceful stop
waits for in-flight legs, bounded by ``leg_timeout_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from actors import Actor, ActorRef
from actors.journal import JOURNAL_FINAL
from actors.legs import LegSender, update_records
from actors.risk import (
    Executed,
    RiskParams,
    cap_by_balances,
    client_order_id,
    kill_switch_file_present,
    net_base,
    realised_pnl,
    reject_reason,
    residual_hedge,
)
from protocols.errors import OrderNotFound
from protocols.messages import (
    GetOpenOrders,
    GetRealisedPnl,
    GetUnsettledOpportunities,
    JournalOpportunity,
    JournalWrite,
    KillSwitch,
    Msg,
    Opportunity,
    OpportunityResult,
    OrderIntent,
    OrderRejectedRecord,
    OrderUpdate,
    RestartRecord,
    SymbolInfo,
)
from protocols.venue import Venue, split_symbol


class SettleUnknown(Msg, frozen=True, kw_only=True):
    """Timer message to ourselves: reconcile again (a leg's outcome was unknown)."""


ExecutorInbox = Opportunity | KillSwitch | SettleUnknown


class ExecutorStatus(msgspec.Struct, frozen=True, kw_only=True):
    open_legs: int
    exposure: dict[str, float]  # quote committed to open orders, per venue
    realised_pnl: float
    daily_pnl: float
    opportunities_seen: int
    executed: int
    rejected_by_risk: int
    kill_switch: bool
    reconciled: int
    last_result: str


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
        symbols: Sequence[str] = (),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.venues, self.journal, self.risk = venues, journal, risk
        self.dry_run, self.clock, self.symbols, self.wall = dict(dry_run), clock, tuple(symbols), wall
        self._info: dict[tuple[str, str], SymbolInfo] = {}
        self._legs = LegSender(journal=journal, dry_run=self.dry_run, leg_timeout_s=risk.leg_timeout_s)
        self._inflight: asyncio.Task[None] | None = None
        self.kill_switch = False
        self.realised = self.daily = 0.0
        self._day = int(wall() // 86400)
        self.seen = self.executed = self.rejected_by_risk = self.reconciled = 0
        self.last_result = ""

    # --- lifecycle ---------------------------------------------------------------------------

    async def on_start(self) -> None:
        await self._write(RestartRecord(path=self.ref.path, reason="start", ts_ms=int(self.wall() * 1000)))
        if self.symbols:
            names = list(self.venues)
            infos = await asyncio.gather(*(self.venues[n].symbol_info(self.symbols) for n in names))
            for name, info in zip(names, infos):
                for symbol, si in info.items():
                    self._info[(name, symbol)] = si
        await self._reconcile()
        # Today's PnL as journaled (incl. what was just settled): the loss limit outlives a crash.
        today = await self.journal.ask(GetRealisedPnl(since_ms=self._day * 86_400_000))
        self.daily = today.realised_pnl

    async def _reconcile(self) -> None:
        """Settle every open journaled order from its venue, then every unsettled opportunity."""
        open_orders = (await self.journal.ask(GetOpenOrders())).orders
        records: list[Any] = []
        for order in open_orders:
            venue = self.venues.get(order.venue)
            if venue is None:  # a venue no longer configured: keep it open, visible in the journal
                continue
            if self.dry_run.get(order.venue, True):
                records.append(OrderRejectedRecord(client_order_id=order.client_order_id, venue=order.venue,
                                                   message="dry run: journaled, not sent", status="paper"))
                continue
            try:
                update = await venue.order_by_client_id(order.symbol, order.client_order_id)
            except OrderNotFound:
                records.append(OrderRejectedRecord(client_order_id=order.client_order_id, venue=order.venue,
                                                   code="not_found",
                                                   message="never reached the venue (reconciliation)"))
            else:
                if not update.final:  # an order still resting after our crash: take it off the book
                    update = await venue.cancel_order(order.symbol, order.client_order_id)
                records.extend(update_records(update))
            self._legs.settled(order.client_order_id)
            self.reconciled += 1
        if records:
            await self.journal.ask(JournalWrite(records=tuple(records)))
        for opp in (await self.journal.ask(GetUnsettledOpportunities())).opportunities:
            await self._settle(opp)

    async def _settle(self, opp: JournalOpportunity) -> None:
        """An opportunity whose orders are all final but which has no result: hedge what is
        left, journal its PnL and result. An order still open (its venue not configured here)
        keeps it unsettled and visible in the journal."""
        if any(o.status not in JOURNAL_FINAL for o in opp.orders):
            return
        if all(o.status == "paper" for o in opp.orders):
            self._result(opp, "paper", 0.0, "dry run (reconciliation)")
            return
        if opp.buy_venue not in self.venues or opp.sell_venue not in self.venues:
            return
        await self._close_out(opp, list(opp.orders), {o.client_order_id for o in opp.orders}, "reconciled: ")

    async def on_stop(self) -> None:
        task = self._inflight
        if task is not None and not task.done():
            done, _ = await asyncio.wait((task,), timeout=self.risk.leg_timeout_s)
            if not done:
                task.cancel()
                await asyncio.wait((task,))

    # --- messages ----------------------------------------------------------------------------

    async def receive(self, msg: ExecutorInbox) -> Any:
        match msg:
            case Opportunity():
                self.seen += 1
                # A task the runtime owns (its error crashes us): a stop that cancels this receive
                # does not cancel the legs, which on_stop waits for; what is left is cancelled after.
                self._inflight = self.start_task(self._take(msg), name=f"execute:{msg.id}")
                await asyncio.wait((self._inflight,))
            case KillSwitch(on=on):
                self.kill_switch = on
            case SettleUnknown():
                await self._reconcile()
            case _:
                raise TypeError(f"executor: unexpected message {type(msg).__name__}")
        return None

    async def _take(self, opp: Opportunity) -> None:
        day = int(self.wall() // 86400)
        if day != self._day:
            self._day, self.daily = day, 0.0
        reason = reject_reason(opp, self.risk, now_ns=self.clock(), kill_switch=self.kill_switch,
                               open_legs=len(self._legs.open), exposure=self.exposure(), daily_pnl=self.daily)
        if reason is not None:
            self.rejected_by_risk += 1
            self._result(opp, "rejected_by_risk", 0.0, reason, journal_opp=True)
            return
        buy_v, sell_v = self.venues[opp.buy_venue], self.venues[opp.sell_venue]
        buy_info = await self._symbol_info(opp.buy_venue, opp.symbol)
        sell_info = await self._symbol_info(opp.sell_venue, opp.symbol)
        base, quote = split_symbol(opp.symbol)
        size = opp.size
        live = [v for v in (opp.buy_venue, opp.sell_venue) if not self.dry_run.get(v, True)]
        if live:
            snapshots = await asyncio.gather(*(self.venues[v].balances() for v in live))
            by_venue = {b.venue: b for b in snapshots}
            for b in snapshots:
                self.journal.tell(b)
            size = cap_by_balances(
                opp,
                quote_free_on_buy=by_venue[opp.buy_venue].free(quote) if opp.buy_venue in by_venue else float("inf"),
                base_free_on_sell=by_venue[opp.sell_venue].free(base) if opp.sell_venue in by_venue else float("inf"),
                fee_buy=buy_info.taker_fee)
        step = max(float(buy_info.step_size), float(sell_info.step_size))
        min_notional = max(float(buy_info.min_notional), float(sell_info.min_notional))
        if size < max(step, float(buy_info.min_qty), float(sell_info.min_qty)) or size * opp.sell_price < min_notional:
            self.rejected_by_risk += 1
            self._result(opp, "rejected_by_risk", 0.0, f"balances allow {size:g} only", journal_opp=True)
            return
        buy = self._intent(opp, "b", opp.buy_venue, "buy", size, opp.buy_price)
        sell = self._intent(opp, "s", opp.sell_venue, "sell", size, opp.sell_price)
        await self.journal.ask(JournalWrite(records=(opp, buy, sell)))  # durable before any order leaves
        # Not a TaskGroup: one leg failing must not cancel the other mid-send (its outcome
        # would become unknown). Both are awaited; the first unexpected error is re-raised after.
        legs = [asyncio.create_task(self._legs.send(buy_v, buy), name=f"leg:{buy.client_order_id}"),
                asyncio.create_task(self._legs.send(sell_v, sell), name=f"leg:{sell.client_order_id}")]
        results = await asyncio.gather(*legs, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        updates = [r for r in results if isinstance(r, OrderUpdate)]
        if not errors and not live:
            self._result(opp, "paper", 0.0, "dry run")
            return
        unknown = [i.client_order_id for i in (buy, sell) if i.client_order_id in self._legs.open]
        if unknown or errors:
            # A leg's outcome is not known: no hedge and no PnL on a guess. Reconciliation (the
            # timer below, or the restart after the error) settles the opportunity once known.
            self._result(opp, "pending", 0.0, f"outcome unknown: {', '.join(unknown)}")
            if errors:
                raise errors[0]
            self.send_after(self.risk.leg_timeout_s, SettleUnknown())
            return
        filled = await self._close_out(opp, updates, {buy.client_order_id, sell.client_order_id}, "")
        if live and filled:  # balances after fills: a snapshot for the journal, not a cache
            for b in await asyncio.gather(*(self.venues[v].balances() for v in live)):
                self.journal.tell(b)

    async def _close_out(self, opp: Opportunity | JournalOpportunity, legs: Sequence[Executed], taken: set[str],
                         prefix: str) -> bool:
        """Legs all final: hedge unequal fills with one bounded-price IOC, count the realised
        PnL, journal the result. ``taken``: client ids the opportunity already used. Returns
        whether anything filled."""
        base, quote = split_symbol(opp.symbol)
        infos = [await self._symbol_info(v, opp.symbol) for v in (opp.buy_venue, opp.sell_venue)]
        step = max(float(i.step_size) for i in infos)
        hedge = residual_hedge(opp, sum(u.filled_qty for u in legs if u.side == "buy"),
                               sum(u.filled_qty for u in legs if u.side == "sell"),
                               self.risk.unwind_slippage_bps, step)
        if hedge is not None:
            venue, side, qty, price = hedge
            n, cid = 0, client_order_id(opp.id, "u")
            while cid in taken:  # hedged before (a hedge of a hedge): a fresh, still derived id
                n += 1
                cid = client_order_id(f"{opp.id}#{n}", "u")
            unwind = OrderIntent(client_order_id=cid, opportunity_id=opp.id, venue=venue, symbol=opp.symbol,
                                 side=side, order_type="ioc", qty=qty, price=price)
            await self.journal.ask(JournalWrite(records=(unwind,)))  # durable before it leaves
            u = await self._legs.send(self.venues[venue], unwind)
            if cid in self._legs.open:  # the hedge's outcome is unknown: settled on the next pass
                self._result(opp, "pending", 0.0, f"{prefix}hedge outcome unknown: {cid}")
                self.send_after(self.risk.leg_timeout_s, SettleUnknown())
                return False
            if u is not None:
                legs = [*legs, u]
        pnl = realised_pnl(legs, base, quote)
        self.realised += pnl
        self.daily += pnl
        net = net_base(legs)
        filled = any(u.filled_qty > 0 for u in legs)
        status = "executed" if filled and abs(net) < step else "partial" if filled else "unfilled"
        if status == "executed":
            self.executed += 1
        self._result(opp, status, pnl, f"{prefix}net base {net:g}")
        return filled

    # --- helpers -----------------------------------------------------------------------------

    def _intent(self, opp: Opportunity, leg: Any, venue: str, side: Any, qty: float, price: float) -> OrderIntent:
        return OrderIntent(client_order_id=client_order_id(opp.id, leg), opportunity_id=opp.id, venue=venue,
                           symbol=opp.symbol, side=side, order_type="ioc", qty=qty, price=price)

    async def _symbol_info(self, venue: str, symbol: str) -> SymbolInfo:
        info = self._info.get((venue, symbol))
        if info is None:  # static data: fetched once per venue and symbol
            info = (await self.venues[venue].symbol_info([symbol]))[symbol]
            self._info[(venue, symbol)] = info
        return info

    def _result(self, opp: Opportunity | JournalOpportunity, status: str, pnl: float, detail: str, *,
                journal_opp: bool = False) -> None:
        self.last_result = f"{opp.id}: {status} ({detail})"
        if journal_opp and isinstance(opp, Opportunity):
            self.journal.tell(opp)
        self.journal.tell(OpportunityResult(opportunity_id=opp.id, status=status, realised_pnl=pnl, detail=detail))

    async def _write(self, *records: Any) -> None:
        await self.journal.ask(JournalWrite(records=records))

    def exposure(self) -> dict[str, float]:
        return self._legs.exposure()

    def describe(self) -> ExecutorStatus:
        return ExecutorStatus(open_legs=len(self._legs.open), exposure=self.exposure(), realised_pnl=self.realised,
                              daily_pnl=self.daily, opportunities_seen=self.seen, executed=self.executed,
                              rejected_by_risk=self.rejected_by_risk,
                              kill_switch=self.kill_switch or kill_switch_file_present(self.risk.kill_switch_path),
                              reconciled=self.reconciled, last_result=self.last_result)

