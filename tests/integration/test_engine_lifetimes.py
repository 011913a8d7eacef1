"""Two engine lifetimes on ONE journal (in-process, embedded simulator with the same seed each
time, so the market and its sequence numbers repeat): the second run never reuses an id,
overwrites a row of the first, or doubles a fill, and its money matches its venues."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from engine_harness import (
    assert_accounting_identity,
    assert_journal_matches_venues,
    engine_running,
    quiesce,
    wait_until,
)
from protocols.messages import KillSwitch


async def test_two_engine_lifetimes_on_one_journal_never_share_an_id_overwrite_a_row_or_double_a_fill(
        state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await wait_until(h.all_in_sync, timeout=10, what="every book in sync")
        await wait_until(lambda: h.rows("SELECT 1 FROM opportunities WHERE status = 'executed'"), timeout=12,
                         what="an opportunity executed in the first run")
        await quiesce(h)
        assert_journal_matches_venues(h.journal, h.sim)
        first_opps = h.rows("SELECT * FROM opportunities ORDER BY id")
        first_orders = h.rows("SELECT * FROM orders ORDER BY client_order_id")
        first_fills = h.rows("SELECT * FROM fills ORDER BY id")
        last_first = h.rows("SELECT max(created_ms) FROM orders")[0][0]  # by name: columns get added
        replay = h.recorder.opportunities()[0]  # a detector id of the first run
        executed_before = h.engine.summary().executed

    async with engine_running(state_dir) as h:
        executor = h.tree.lookup("execution/executor")
        assert h.engine.summary().executed == executed_before  # counters come from the journal
        await wait_until(h.all_in_sync, timeout=10, what="every book in sync again")
        # The same detector id again (a restarted venue repeats sequence numbers): a new journal id.
        now = time.monotonic_ns()
        await executor.ask(msgspec.structs.replace(replay, created_ns=now, expires_ns=now + 10**9), timeout=15)
        await wait_until(lambda: h.rows("SELECT 1 FROM orders WHERE created_ms > ?", (last_first,)),
                         timeout=12, what="an order sent by the second run")
        await executor.ask(KillSwitch(on=True, reason="test"), timeout=15)
        await quiesce(h)
        run_ids = [r for (r,) in h.rows("SELECT run_id FROM restarts WHERE run_id != '' ORDER BY id")]
        assert len(run_ids) == len(set(run_ids)) == 2
        # nothing of the first run was overwritten
        assert h.rows(f"SELECT * FROM opportunities WHERE id IN ({','.join('?' * len(first_opps))}) ORDER BY id",
                      [r[0] for r in first_opps]) == first_opps
        assert h.rows(f"SELECT * FROM orders WHERE client_order_id IN ({','.join('?' * len(first_orders))})"
                      " ORDER BY client_order_id", [r[0] for r in first_orders]) == first_orders
        assert h.rows(f"SELECT * FROM fills WHERE id <= {first_fills[-1][0]} ORDER BY id") == first_fills
        replayed = h.rows("SELECT id FROM opportunities WHERE id = ?", (f"{replay.id}-{run_ids[1]}",))
        assert replayed and (f"{replay.id}-{run_ids[0]}",) in [(r[0],) for r in first_opps]
        # every order the second run's venues hold is journaled once, with one fill row at most
        for venue, server in h.sim.venues.items():
            for venue_cid in server.orders:
                cid = venue_cid.removeprefix("t-") if venue == "gateio" else venue_cid
                assert h.rows("SELECT count(*) FROM orders WHERE client_order_id = ?", (cid,)) == [(1,)]
                assert h.rows("SELECT count(*) FROM fills WHERE client_order_id = ?", (cid,))[0][0] <= 1
        assert_accounting_identity(h.journal, h.sim, run_id=run_ids[1])
