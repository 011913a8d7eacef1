"""The embedded default, in-process: books sync on every venue, opportunities fill on both
legs, and the journal, the simulator and the detectors' decisions all agree."""

from __future__ import annotations

from pathlib import Path

from engine_harness import (
    VENUES,
    assert_books_equal_truth,
    assert_journal_matches_venues,
    engine_running,
    quiesce,
    wait_until,
)


async def test_embedded_default_syncs_every_book_fills_both_legs_and_journal_matches_the_venues(
        state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await wait_until(h.all_in_sync, timeout=10, what="every book in sync on 3 venues x 3 symbols")
        await wait_until(lambda: h.rows("SELECT 1 FROM opportunities WHERE status = 'executed'"), timeout=12,
                         what="an opportunity executed (both legs filled)")
        await quiesce(h)

        executed = h.rows("SELECT id, buy_venue, sell_venue FROM opportunities WHERE status = 'executed'")
        for opp_id, buy, sell in executed:
            legs = h.rows("SELECT venue, side, filled_qty FROM orders WHERE opportunity_id = ? ORDER BY side",
                          (opp_id,))
            assert [(v, s) for v, s, _ in legs if s in ("buy", "sell")][:2] == [(buy, "buy"), (sell, "sell")]
            assert all(q > 0 for _, _, q in legs), f"{opp_id}: a leg did not fill: {legs}"
        assert_journal_matches_venues(h.journal, h.sim)
        await assert_books_equal_truth(h, VENUES)

        # a journal id is the detector's id + "-" + the executor's run id
        journaled = {i.rsplit("-", 1)[0] for (i,) in h.rows("SELECT id FROM opportunities")}
        fired = {o.id for o in h.recorder.opportunities()}
        assert journaled and journaled <= fired, "the journal holds an opportunity no detector fired"
        assert h.recorder.decision_faults(h.cfg.detector.max_book_age_ms) == []
