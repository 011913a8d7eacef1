"""The real engine in-process against the simulator, for the engine integration tests.

``engine_running(dir)`` is ``supervisor.app.assembled`` (what ``python -m supervisor`` runs:
embedded simulator, adapters, taker fees, ``Engine``) plus ``Engine.running()``, with a
config whose journal and control socket live in ``dir``. Every detector is a
``RecordingDetector`` (the real ``DetectorActor``, patched in for the run) that keeps, in
arrival order, each view it was given and each opportunity it fired, so a test can check every
decision against the views it was taken on.

Also: ``wait_until`` (``testkit.eventually``: poll a predicate with a deadline, never a fixed sleep),
read-only journal queries, the venue-side client id, and the config text builder shared with
the subprocess tests.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import config
import supervisor.app as app
import supervisor.engine as engine_mod
from actors.detector import DetectorActor
from protocols.messages import BookView, FlushJournal, GetView, KillSwitch, Opportunity
from testkit import eventually as wait_until

VENUES = ("mexc", "gateio", "binance")
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


def engine_toml(directory: Path, *, venues: dict[str, dict[str, Any]] | None = None, updates_per_s: float = 300.0,
                min_edge_bps: float = 5.0, detector: str = "", extra: str = "") -> str:
    """A config: journal + control socket in ``directory``; by default three simulated venues.

    ``venues`` maps a name to extra keys (rest_url, ws_url, api_key_env, ...); a venue with a
    ``rest_url`` is not simulated. ``detector``: more lines for the ``[detector]`` table."""
    venues = venues if venues is not None else {name: {} for name in VENUES}
    out = []
    for name, keys in venues.items():
        out.append(f"[venues.{name}]\nkind = \"{name}\"\nsymbols = {list(SYMBOLS)!r}\n".replace("'", '"'))
        out.append(f"simulated = {'false' if 'rest_url' in keys else 'true'}\n")
        out.extend(f"{k} = \"{v}\"\n" for k, v in keys.items())
    out.append(f"[detector]\nmin_edge_bps = {min_edge_bps}\n{detector}")
    out.append("[restart]\nmax_restarts = 20\nwithin_s = 10.0\nbackoff_initial_s = 0.02\nbackoff_max_s = 0.5\n")
    out.append(f"[journal]\npath = \"{directory / 'journal.sqlite'}\"\n")
    out.append(f"[simulator]\nseed = 1\nupdates_per_s = {updates_per_s}\n")
    out.append(extra)
    return "".join(out)




def venue_client_id(venue: str, client_id: str) -> str:
    """Our client id as the venue keys it (Gate stores the ``t-`` text)."""
    return "t-" + client_id if venue == "gateio" else client_id


def venue_status(venue: str, order: Any) -> str:
    """A simulator order's status as the venue's API reports it: MEXC has no EXPIRED, an IOC
    remainder killed by the matcher reads CANCELED / PARTIALLY_CANCELED there."""
    return "canceled" if venue == "mexc" and order.status == "expired" else order.status


def journal_rows(path: Path, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """A query on the journal file opened read-only (the engine may be writing it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, tuple(params)).fetchall()
    finally:
        conn.close()


@dataclass
class Event:
    """One thing a detector saw or did, in order: a view received or an opportunity fired."""

    at_ns: int
    view: BookView | None = None
    opportunity: Opportunity | None = None


@dataclass
class Recorder:
    events: dict[str, list[Event]] = field(default_factory=dict)  # symbol -> events in order

    def opportunities(self, venue: str | None = None) -> list[Opportunity]:
        return [e.opportunity for evs in self.events.values() for e in evs
                if e.opportunity is not None and venue in (None, e.opportunity.buy_venue, e.opportunity.sell_venue)]

    def views(self, venue: str, *, in_sync: bool | None = None) -> list[tuple[int, BookView]]:
        return [(e.at_ns, e.view) for evs in self.events.values() for e in evs
                if e.view is not None and e.view.venue == venue and in_sync in (None, e.view.in_sync)]

    def decision_faults(self, max_age_ms: int) -> list[str]:
        """Every opportunity checked against the views its detector had been given before it:
        for both venues, the newest view must be in sync, carry the opportunity's seq and
        receive time, and be at most ``max_book_age_ms`` old when the opportunity was created.
        Returns what is wrong (empty: every decision was taken on fresh, in-sync books)."""
        wrong = []
        for events in self.events.values():
            newest: dict[str, BookView] = {}
            for e in events:
                if e.view is not None:
                    newest[e.view.venue] = e.view
                    continue
                opp = e.opportunity
                assert opp is not None
                for venue, seq, recv_ns in ((opp.buy_venue, opp.buy_seq, opp.buy_recv_ns),
                                            (opp.sell_venue, opp.sell_seq, opp.sell_recv_ns)):
                    view = newest.get(venue)
                    if view is None or not view.in_sync:
                        wrong.append(f"{opp.id}: {venue} book was out of sync")
                    elif (view.seq, view.recv_ns) != (seq, recv_ns):
                        wrong.append(f"{opp.id}: {venue} view seq {view.seq} is not the one used ({seq})")
                    elif opp.created_ns - recv_ns > max_age_ms * 1_000_000:
                        wrong.append(f"{opp.id}: {venue} view {(opp.created_ns - recv_ns) / 1e6:.0f} ms old")
        return wrong


def recording_detector(recorder: Recorder) -> type[DetectorActor]:
    class RecordingDetector(DetectorActor):
        def on_view(self, view: BookView) -> list[Opportunity]:
            events = recorder.events.setdefault(self.symbol, [])
            events.append(Event(at_ns=self.clock(), view=view))
            fired = super().on_view(view)
            events.extend(Event(at_ns=o.created_ns, opportunity=o) for o in fired)
            return fired

    return RecordingDetector


@dataclass
class Harness:
    cfg: Any
    sim: Any
    engine: engine_mod.Engine
    recorder: Recorder

    @property
    def tree(self) -> Any:
        return self.engine.tree

    @property
    def journal(self) -> Path:
        return Path(self.cfg.journal.path)

    def book(self, venue: str, symbol: str) -> Any:
        try:
            return self.tree.describe(f"venues/{venue}/books/{engine_mod.path_symbol(symbol)}")
        except LookupError:
            return None

    def all_in_sync(self, venues: Iterable[str] = VENUES) -> bool:
        return all((b := self.book(v, s)) is not None and b.in_sync for v in venues for s in SYMBOLS)

    def restarts(self, path: str) -> int:
        return next(row.restarts for row in self.tree.stats() if row.path.strip("/") == path)

    async def view(self, venue: str, symbol: str) -> BookView:
        return await self.tree.lookup(f"venues/{venue}/books/{engine_mod.path_symbol(symbol)}").ask(GetView())

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return journal_rows(self.journal, sql, params)


@contextlib.asynccontextmanager
async def engine_running(directory: Path, *, rest_timeout_s: float | None = None,
                         **toml: Any) -> AsyncIterator[Harness]:
    """``rest_timeout_s``: the venue adapters' REST timeout (their default is 10 s)."""
    cfg = config.loads(engine_toml(directory, **toml), source="engine-harness")
    recorder = Recorder()
    adapters = {} if rest_timeout_s is None else {
        kind: functools.partial(cls, timeout_s=rest_timeout_s) for kind, cls in app.ADAPTERS.items()}
    journal = Path(cfg.journal.path)
    runs_before = set(run_ids(journal)) if journal.exists() else set()
    with (mock.patch.object(engine_mod, "DetectorActor", recording_detector(recorder)),
          mock.patch.dict(app.ADAPTERS, adapters)):
        async with app.assembled(cfg, live=False) as (sim, engine), engine.running():
            h = Harness(cfg=cfg, sim=sim, engine=engine, recorder=recorder)
            yield h
            # Every run ends with the accounting identity checked against this run's simulator
            # (each executor run of this engine; earlier engines' simulators are gone).
            await quiesce(h)
            for run_id in set(run_ids(journal)) - runs_before:
                assert_accounting_identity(journal, sim, run_id=run_id)


def run_ids(journal: Path) -> list[str]:
    return [r for (r,) in journal_rows(journal, "SELECT run_id FROM restarts WHERE run_id != ''")]


async def quiesce(h: Harness) -> None:
    """No new orders from here on: the kill switch is taken after every opportunity queued
    before it has finished its legs, then the journal is flushed. Detectors keep deciding."""
    await h.tree.lookup("execution/executor").ask(KillSwitch(on=True, reason="test"), timeout=15)
    await h.tree.lookup("execution/journal").ask(FlushJournal())


async def book_equals_truth(h: Harness, venue: str, symbol: str) -> bool:
    """The engine's top-``depth`` view equals the simulator's book (call while paused)."""
    view = await h.view(venue, symbol)
    bids, asks = h.sim.venues[venue].book(symbol)
    depth = h.cfg.book.depth
    return view.in_sync and (view.bids, view.asks) == (bids[:depth], asks[:depth])


async def assert_books_equal_truth(h: Harness, venues: Iterable[str], timeout: float = 5.0) -> None:
    """Pause the market, wait for every book of ``venues`` to show the simulator's truth, resume."""
    h.sim.pause()
    try:
        for venue in venues:
            for symbol in SYMBOLS:
                await wait_until(lambda venue=venue, symbol=symbol: book_equals_truth(h, venue, symbol),
                                 timeout=timeout, what=f"{venue} {symbol} equal to the simulator's book")
    finally:
        h.sim.resume()


def assert_journal_matches_venues(journal_path: Path, sim: Any) -> None:
    """Every order the journal says reached a venue is on that venue once, with the same
    status and filled quantity; the venue has no order the journal does not know; every
    filled order has exactly one fill row."""
    journal = {(v, cid): (status, filled) for cid, v, status, filled in
               journal_rows(journal_path, "SELECT client_order_id, venue, status, filled_qty FROM orders")}
    for venue, server in sim.venues.items():
        on_venue = dict(server.orders)
        known = {venue_client_id(venue, cid) for (v, cid) in journal if v == venue}
        assert set(on_venue) <= known, f"{venue} has orders the journal does not know: {set(on_venue) - known}"
        for (v, cid), (status, filled) in journal.items():
            if v != venue:
                continue
            order = on_venue.get(venue_client_id(venue, cid))
            if order is None:
                assert status == "rejected", f"{venue} {cid}: journal says {status}, the venue never saw it"
                continue
            step = server.books[order.symbol].spec.step
            on = venue_status(venue, order)
            assert (status, filled) == (on, pytest.approx(order.filled * step)), \
                f"{venue} {cid}: journal {status} {filled}, venue {on} {order.filled * step}"
    fills = dict(journal_rows(journal_path, "SELECT client_order_id, count(*) FROM fills GROUP BY client_order_id"))
    for (_, cid), (_, filled) in journal.items():
        assert fills.get(cid, 0) == (1 if filled > 0 else 0), f"{cid}: {fills.get(cid, 0)} fill rows, filled {filled}"
    assert_accounting_identity(journal_path, sim)


def assert_accounting_identity(journal_path: Path, sim: Any, run_id: str = "") -> None:
    """Money, from the SIMULATOR's own order records with arithmetic written here: for every
    settled opportunity, journal realised PnL = matched base x (average sell - average buy) -
    every fee (a base fee valued at its order's average price), and open qty = bought - sold;
    the open positions per venue and symbol = the sum of the unmatched fills. ``run_id``: only
    the opportunities of that executor run (the simulator of an earlier run is gone)."""
    where = "status NOT IN ('detected', 'pending') AND id LIKE ?"
    settled = journal_rows(journal_path, "SELECT id, symbol, realised_pnl, open_qty, open_venue, buy_venue, sell_venue"
                                         f" FROM opportunities WHERE {where}", (f"%{run_id}",))
    positions: dict[tuple[str, str], float] = {}
    for opp_id, symbol, pnl, open_qty, open_venue, buy_venue, sell_venue in settled:
        bought = sold = paid = received = fees = 0.0
        for cid, venue in journal_rows(journal_path,
                                       "SELECT client_order_id, venue FROM orders WHERE opportunity_id = ?",
                                       (opp_id,)):
            order = sim.venues[venue].orders.get(venue_client_id(venue, cid))
            if order is None or not order.filled:
                continue
            qty = order.filled * sim.venues[venue].books[order.symbol].spec.step
            if order.side == "buy":
                bought, paid = bought + qty, paid + order.filled_quote
            else:
                sold, received = sold + qty, received + order.filled_quote
            fees += order.fee * order.filled_quote / qty if order.fee_asset == symbol.split("/")[0] else order.fee
        matched = min(bought, sold)
        expected = (matched * (received / sold - paid / bought) if matched else 0.0) - fees
        assert (pnl or 0.0) == pytest.approx(expected, rel=1e-6, abs=1e-6), \
            f"{opp_id}: journal PnL {pnl}, the venues' fills give {expected}"
        assert open_qty == pytest.approx(bought - sold, abs=1e-9), f"{opp_id}: open {open_qty}, fills {bought - sold}"
        if bought != sold:
            venue = buy_venue if bought > sold else sell_venue
            assert open_venue == venue, f"{opp_id}: open on {open_venue}, the excess filled on {venue}"
            positions[(venue, symbol)] = positions.get((venue, symbol), 0.0) + bought - sold
    journaled = {(v, s): q for v, s, q in journal_rows(
        journal_path, f"SELECT open_venue, symbol, sum(open_qty) FROM opportunities WHERE open_qty != 0 AND {where}"
                      " GROUP BY open_venue, symbol", (f"%{run_id}",))}
    assert journaled.keys() == positions.keys()
    for key, qty in positions.items():
        assert journaled[key] == pytest.approx(qty, abs=1e-9), f"{key}: journal {journaled[key]}, fills {qty}"


# --- fault helpers shared by the fault test modules ------------------------------------------


def book_paths(venue: str) -> list[str]:
    return [f"venues/{venue}/books/{engine_mod.path_symbol(s)}" for s in SYMBOLS]


def all_running(h: Harness) -> bool:
    return all(row.state == "running" for row in h.tree.stats())


def out_of_sync_seen_since(h: Harness, venue: str, since_ns: int) -> bool:
    return any(at >= since_ns for at, _ in h.recorder.views(venue, in_sync=False))


async def started(h: Harness) -> None:
    """Every book in sync, then no more orders (the detectors keep deciding)."""
    await wait_until(h.all_in_sync, timeout=10, what="every book in sync")
    await quiesce(h)


async def fire(h: Harness, venue: str, kind: str, count: int = 1, timeout: float = 5.0) -> int:
    """Arm ``count`` of one fault and wait until the simulator reports them all fired; returns
    the monotonic ns just before they were armed."""
    t0 = time.monotonic_ns()
    faults = h.sim.venues[venue].faults
    before = faults.counts[kind]
    faults.inject(kind, count)
    await wait_until(lambda: faults.counts[kind] >= before + count, timeout=timeout, what=f"{venue} {kind} fired")
    return t0


def assert_decisions_sound(h: Harness) -> None:
    assert h.recorder.decision_faults(h.cfg.detector.max_book_age_ms) == []
