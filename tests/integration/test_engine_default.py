"""The embedded default, in-process: books sync on every venue, opportunities fill on both
legs, and the journal, the simulator and the detectors' decisions all agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_harness import VENUES, Harness, engine_running, venue_client_id, wait_until

from protocols.messages import FlushJournal, KillSwitch


async def quiesce(h: Harness) -> None:
    """No new orders from here on: the kill switch is taken after every opportunity queued
    before it has finished its legs, then the journal is flushed."""
    await h.tree.lookup("execution/executor").ask(KillSwitch(on=True, reason="test"), timeout=15)
    await h.tree.lookup("execution/journal").ask(FlushJournal())


def assert_journal_matches_venues(h: Harness) -> None:
    """Every order the journal says reached a venue is on that venue once, with the same
    status and filled quantity; the venue has no order the journal does not know; every
    filled order has its one fill row."""
    journal = {(v, cid): (status, filled) for cid, v, status, filled in
               h.rows("SELECT client_order_id, venue, status, filled_qty FROM orders")}
    for venue in VENUES:
        server = h.sim.venues[venue]
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
            assert (status, filled) == (order.status, pytest.approx(order.filled * step)), f"{venue} {cid}"
    fills = dict(h.rows("SELECT client_order_id, count(*) FROM fills GROUP BY client_order_id"))
    for (_, cid), (_, filled) in journal.items():
        assert fills.get(cid, 0) == (1 if filled > 0 else 0), f"{cid}: {fills.get(cid, 0)} fill rows, filled {filled}"


async def test_embedded_default_syncs_every_book_fills_both_legs_and_journal_matches_the_venues(
        state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await wait_until(h.all_in_sync, timeout=10, what="every book in sync on 3 venues x 3 symbols")
        await wait_until(lambda: h.rows("SELECT 1 FROM opportunities WHERE status = 'executed'"), timeout=12,
                         what="an opportunity executed (both legs filled)")
        await quiesce(h)

        for opp_id, buy, sell in h.rows("SELECT id, buy_venue, sell_venue FROM opportunities WHERE status = 'executed'"):
            legs = h.rows("SELECT venue, side, filled_qty FROM orders WHERE opportunity_id = ? ORDER BY side", (opp_id,))
            assert [(v, s) for v, s, _ in legs if s in ("buy", "sell")][:2] == [(buy, "buy"), (sell, "sell")]
            assert all(q > 0 for _, _, q in legs), f"{opp_id}: a leg did not fill: {legs}"
        assert_journal_matches_venues(h)

        journaled = {i for (i,) in h.rows("SELECT id FROM opportunities")}
        fired = {o.id for o in h.recorder.opportunities()}
        assert journaled and journaled <= fired, "the journal holds an opportunity no detector fired"
        assert h.recorder.decision_faults(h.cfg.detector.max_book_age_ms) == []
