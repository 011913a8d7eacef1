"""An open position left by an earlier run (in-process engine, embedded simulator): restored
from the journal, marked to the engine's own live book (a long at its best bid), counted
against ``max_open_position_quote``, and shown by the summary and ``inspect``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from engine_harness import engine_running, wait_until

from actors import spawn
from actors.journal import JournalActor
from protocols.messages import (
    FlushJournal,
    JournalWrite,
    Opportunity,
    OpportunityResult,
)


def opportunity(oid: str, created_ns: int) -> Opportunity:
    return Opportunity(id=oid, symbol="BTC/USDT", buy_venue="mexc", sell_venue="gateio", size=0.001,
                       buy_price=1.0, sell_price=2.0, edge_bps=9.0, expected_pnl=0.0, created_ns=created_ns,
                       expires_ns=created_ns + 10**10, buy_seq=1, sell_seq=1, buy_recv_ns=created_ns,
                       sell_recv_ns=created_ns)


async def test_an_open_position_from_an_earlier_run_is_marked_to_the_live_book_and_stops_new_risk(
        state_dir: Path) -> None:
    journal = await spawn(lambda: JournalActor(path=str(state_dir / "journal.sqlite")), name="journal")
    try:
        old = opportunity("BTCUSDT-mexc-gateio-1-1-0123456789abcdef", 1)
        await journal.ask(JournalWrite(records=(old, OpportunityResult(
            opportunity_id=old.id, status="partial", open_qty=0.01, open_venue="mexc", open_price=50_000.0))))
    finally:
        await journal.stop()
    risk = "[risk]\nmax_open_position_quote = 5.0\nmax_mark_age_ms = 60000\n"
    async with engine_running(state_dir, extra=risk) as h:
        executor = h.tree.lookup("execution/executor")
        status = h.tree.describe("execution/executor")
        assert [(p.venue, p.symbol, p.qty) for p in status.open_positions] == [("mexc", "BTC/USDT", 0.01)]
        assert h.engine.summary().open_positions == 1
        await wait_until(h.all_in_sync, timeout=10, what="every book in sync")
        h.sim.pause()  # the book holds still: the mark is checkable
        try:
            bid = (await h.view("mexc", "BTC/USDT")).bids[0][0]
            probe = opportunity("probe", time.monotonic_ns())
            await executor.ask(probe, timeout=15)
        finally:
            h.sim.resume()
        await h.tree.lookup("execution/journal").ask(FlushJournal())
        status = h.tree.describe("execution/executor")
        assert status.open_position_quote == pytest.approx(0.01 * bid)
        [(result, detail)] = h.rows("SELECT status, detail FROM opportunities WHERE id LIKE 'probe-%'")
        assert (result, detail) == ("rejected_by_risk", "max_open_position_quote")
