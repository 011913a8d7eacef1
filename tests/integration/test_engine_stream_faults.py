"""More faults through the simulator into the running engine: a REST snapshot that hangs past
the client's timeout, duplicated, reordered, stalled and delayed pushes.

The rule for every push fault: it is IGNOREd or it causes a clean GAP and a resync, never a
wrong book; every test ends with the faulted venue's books equal to the simulator's truth and
every decision taken on in-sync views no older than ``max_book_age_ms`` (the decision check of
``engine_harness.Recorder``). Run with the executor's kill switch on, as in test_engine_faults.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine_harness import (
    SYMBOLS,
    VENUES,
    Harness,
    all_running,
    assert_books_equal_truth,
    assert_decisions_sound,
    book_paths,
    engine_running,
    fire,
    out_of_sync_seen_since,
    started,
    wait_until,
)


def book_restarts(h: Harness, venue: str) -> int:
    return sum(h.restarts(b) for b in book_paths(venue))


async def test_a_snapshot_hanging_past_the_client_timeout_is_fetched_again_by_the_book_which_resyncs(
        state_dir: Path) -> None:
    async with engine_running(state_dir, rest_timeout_s=0.5) as h:
        await started(h)
        venue, path = "binance", book_paths("binance")[0]
        server = h.sim.venues[venue]
        restarts, conn = h.restarts(path), h.restarts(f"venues/{venue}/connections/0")
        t0 = time.monotonic_ns()
        server.faults.inject("timeout")  # the next REST request is held for 30 s: the client gives up at 0.5 s
        await h.tree.restart(path, reason="test: refetch the snapshot")
        await wait_until(lambda: server.faults.counts["timeout"] == 1, what="the snapshot request held")
        # NetworkError on a snapshot is a named recovery of the book's: it fetches again in place
        await wait_until(lambda: h.all_in_sync() and all_running(h), what="every book in sync again")
        assert h.restarts(path) == restarts + 1, "only the restart the test asked for"
        assert h.book(venue, SYMBOLS[0]).resync_attempts >= 2
        assert h.restarts(f"venues/{venue}/connections/0") == conn, "a REST timeout is the book's business"
        assert out_of_sync_seen_since(h, venue, t0)
        await assert_books_equal_truth(h, [venue])
        assert_decisions_sound(h)


async def test_duplicated_pushes_are_ignored_on_every_venue_without_a_restart_or_a_wrong_book(
        state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await started(h)
        before = {v: (book_restarts(h, v), h.restarts(f"venues/{v}/connections/0")) for v in VENUES}
        for venue in VENUES:
            await fire(h, venue, "duplicate", count=3)
        await assert_books_equal_truth(h, VENUES)
        after = {v: (book_restarts(h, v), h.restarts(f"venues/{v}/connections/0")) for v in VENUES}
        assert after == before, "a push seen twice must be ignored, not restart anything"
        assert h.all_in_sync() and all_running(h)
        assert_decisions_sound(h)


async def test_a_reordered_push_is_a_clean_gap_and_resync_on_every_venue_never_a_wrong_book(
        state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await started(h)
        before = {v: (book_restarts(h, v), h.restarts(f"venues/{v}/connections/0")) for v in VENUES}
        t0 = time.monotonic_ns()
        for venue in VENUES:
            await fire(h, venue, "reorder")
        # the newer push arrives first: its versions skip the held one's, a gap; the late one is old
        await wait_until(lambda: all(book_restarts(h, v) > before[v][0] for v in VENUES),
                         what="a book restarted on every venue")
        await wait_until(lambda: h.all_in_sync() and all_running(h), what="every book in sync again")
        for venue in VENUES:
            assert h.restarts(f"venues/{venue}/connections/0") == before[venue][1]
            assert out_of_sync_seen_since(h, venue, t0)
        await assert_books_equal_truth(h, VENUES)
        assert_decisions_sound(h)


async def test_a_stalled_venue_is_not_used_for_a_decision_while_older_than_max_book_age_then_is_again(
        state_dir: Path) -> None:
    """The market is paused, so books change only by hand. MEXC's push is stalled (a change is
    held) while Binance is made to ask 50 bp under MEXC's bid: a fresh Binance view against a
    MEXC view older than ``max_book_age_ms`` must fire nothing. Once the stall is over MEXC's
    held change has arrived (merged, no gap), and with both views fresh the same prices fire."""
    max_age_ms = 300
    async with engine_running(state_dir, detector=f"max_book_age_ms = {max_age_ms}\n") as h:
        await started(h)
        symbol, restarts = SYMBOLS[0], book_restarts(h, "mexc")
        h.sim.pause()
        try:
            mexc, binance = h.sim.venues["mexc"].books[symbol], h.sim.venues["binance"].books[symbol]
            h.sim.venues["mexc"].faults.inject("stall", count=round(4 * max_age_ms / 1000 / h.sim.cfg.push_interval_s))
            deep, qty = mexc.bids.peekitem(-10)
            mexc.set_level(True, deep, qty + 1)  # held by the stall
            await wait_until(lambda: time.monotonic_ns() - max(r for _, v in h.recorder.views("mexc")
                                                               if (r := v.recv_ns)) > 2 * max_age_ms * 1_000_000,
                             what="MEXC's newest view older than twice max_book_age_ms")
            assert h.sim.venues["mexc"].faults.armed_for("stall"), "the stall ended too early for the test"
            grid = binance.spec.grid
            target = int(mexc.bids.peekitem(-1)[0] * (1 - 0.005)) // grid * grid
            for price in [p for p in binance.bids if p >= target]:
                binance.set_level(True, price, 0)
            binance.set_level(False, target, 10 * max(1, binance.asks.peekitem(0)[1]))
            t0 = time.monotonic_ns()
            cheap = target * binance.spec.tick
            await wait_until(lambda: any(v.asks and abs(v.asks[0][0] - cheap) < binance.spec.tick / 2
                                         for at, v in h.recorder.views("binance") if at >= t0),
                             what="the cheap Binance ask seen by the detector")
            assert h.sim.venues["mexc"].faults.armed_for("stall"), "the stall ended too early for the test"
            assert [o.id for o in h.recorder.opportunities("binance") if o.created_ns >= t0] == [], \
                "an opportunity was taken on a MEXC view older than max_book_age_ms"
            await wait_until(lambda: not h.sim.venues["mexc"].faults.armed_for("stall"), what="the stall over")
            # Paused, both views age from here: one more change on each venue makes both fresh.
            mexc.set_level(True, deep, qty + 2)
            binance.set_level(False, target, binance.asks[target] + 1)
            fired = await wait_until(lambda: [o for o in h.recorder.opportunities("binance") if o.created_ns >= t0
                                              and (o.buy_venue, o.sell_venue) == ("binance", "mexc")],
                                     what="the opportunity fired once MEXC's view is fresh again")
            assert abs(fired[0].buy_price - cheap) < binance.spec.tick / 2, "bought at the cheap ask"
        finally:
            h.sim.resume()
        assert book_restarts(h, "mexc") == restarts, "the held change arrives merged: no gap"
        await assert_books_equal_truth(h, ["mexc", "binance"])
        assert_decisions_sound(h)


async def test_delayed_pushes_keep_their_order_and_every_book_stays_equal_to_the_truth(state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await started(h)
        before = {v: book_restarts(h, v) for v in VENUES}
        for venue in VENUES:
            await fire(h, venue, "latency", count=3)
        await assert_books_equal_truth(h, VENUES)
        assert {v: book_restarts(h, v) for v in VENUES} == before, "a late push is still in order: no gap"
        assert h.all_in_sync() and all_running(h)
        assert_decisions_sound(h)

