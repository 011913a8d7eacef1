"""Faults injected through the simulator into the running engine (in-process, real sockets).

For each fault: the right actor restarts (supervision tree counters), the books equal the
simulator's truth again, the process is still up, and no decision was taken on an
out-of-sync or stale book during the fault.

The decision check (``Recorder.decision_faults``): every detector records, in arrival order,
each ``BookView`` it was given and each ``Opportunity`` it fired. For every opportunity, the
newest view of both its venues must be in sync, be the very view it names (seq and receive
time), and be at most ``max_book_age_ms`` old at ``created_ns``. A book announces itself out
of sync (an empty ``in_sync=False`` view) on start and before raising a gap, so an
opportunity taken between that announcement and the book's resync fails the check. It is made
non-vacuous per fault by asserting the faulted venue's announcement was actually seen.

Market-data faults run with the executor's kill switch on: the REST faults then hit the depth
snapshots (nothing else calls REST), and the simulator's books change only by the market.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine_harness import (
    SYMBOLS,
    VENUES,
    all_running,
    assert_books_equal_truth,
    assert_decisions_sound,
    assert_journal_matches_venues,
    book_paths,
    engine_running,
    fire,
    out_of_sync_seen_since,
    quiesce,
    started,
    wait_until,
)


async def test_disconnect_restarts_the_venues_connection_and_its_books_resync(state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await started(h)
        venue = "gateio"
        conn = f"venues/{venue}/connections/0"
        subtree = f"venues/{venue}/books"
        before = h.restarts(conn), h.restarts(subtree), h.engine.counters[venue].reconnects
        assert h.sim.venues[venue].snapshots == []  # spot.obu: its books start from the stream's full push
        t0 = await fire(h, venue, "disconnect")
        await wait_until(lambda: h.restarts(conn) == before[0] + 1, what="the connection restarted once")
        await wait_until(lambda: h.all_in_sync() and all_running(h), what="every book in sync again")
        # the books are not rebuilt: the reconnected connection told its books to resync
        assert h.restarts(subtree) == before[1]
        assert h.engine.counters[venue].reconnects == before[2] + 1
        assert h.sim.venues[venue].snapshots == []  # and resync from the new subscriptions' full pushes
        assert out_of_sync_seen_since(h, venue, t0)
        await assert_books_equal_truth(h, [venue])
        assert_decisions_sound(h)


@pytest.mark.parametrize("venue", ["mexc", "binance", "gateio"])
async def test_gap_restarts_the_book_which_resyncs_to_the_simulators_truth(state_dir: Path, venue: str) -> None:
    async with engine_running(state_dir) as h:
        await started(h)
        conn = f"venues/{venue}/connections/0"
        before_conn, before_books = h.restarts(conn), sum(h.restarts(b) for b in book_paths(venue))
        t0 = await fire(h, venue, "gap")
        await wait_until(lambda: sum(h.restarts(b) for b in book_paths(venue)) > before_books, what="a book restarted")
        await wait_until(lambda: h.all_in_sync() and all_running(h), what="every book in sync again")
        assert h.restarts(conn) == before_conn, "a gap is the book's business, not the connection's"
        assert out_of_sync_seen_since(h, venue, t0)
        await assert_books_equal_truth(h, [venue])
        assert_decisions_sound(h)


async def test_malformed_frame_restarts_the_connection_counts_a_decode_error_and_the_process_stays_up(
        state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await started(h)
        venue = "mexc"
        conn = f"venues/{venue}/connections/0"
        before, errors = h.restarts(conn), h.engine.counters[venue].decode_errors
        t0 = await fire(h, venue, "malformed")
        await wait_until(lambda: h.restarts(conn) >= before + 1, what="the connection restarted")
        await wait_until(lambda: h.all_in_sync() and all_running(h), what="every book in sync again")
        assert h.engine.counters[venue].decode_errors >= errors + 1
        assert h.engine.summary().decode_errors >= 1
        assert out_of_sync_seen_since(h, venue, t0)
        await assert_books_equal_truth(h, [venue])
        assert_decisions_sound(h)


@pytest.mark.parametrize(("venue", "kind"), [("binance", "stale_snapshot"), ("gateio", "http_429"),
                                             ("mexc", "http_5xx")])
async def test_snapshot_faults_are_recovered_and_the_book_resyncs(state_dir: Path, venue: str, kind: str) -> None:
    # Gate's books sync from REST snapshots only on spot.order_book_update (spot.obu fetches none)
    venues = {name: {"book_channel": "spot.order_book_update"} if name == "gateio" else {} for name in VENUES}
    async with engine_running(state_dir, venues=venues) as h:
        await started(h)
        path = book_paths(venue)[0]
        server = h.sim.venues[venue]
        armed_seq = server.seq(SYMBOLS[0])
        restarts = h.restarts(path)
        t0 = time.monotonic_ns()
        server.faults.inject(kind)
        if kind == "stale_snapshot":  # the stream must move past the copied book for it to be stale
            await wait_until(lambda: server.seq(SYMBOLS[0]) > armed_seq, what="the market moved")
        await h.tree.restart(path, reason="test: refetch the snapshot")
        await wait_until(lambda: server.faults.counts[kind] == 1, what=f"{kind} fired on the snapshot")
        await wait_until(lambda: h.all_in_sync() and all_running(h), what="every book in sync again")
        status = h.book(venue, SYMBOLS[0])
        # handled inside the book, each a named recovery: a second fetch, no restart but the one asked for
        # (a 503 too: a GET changed nothing, and hundreds of books restarting at once would exhaust
        # their supervisor's intensity)
        assert status.resync_attempts >= 2
        assert h.restarts(path) == restarts + 1
        assert out_of_sync_seen_since(h, venue, t0)
        await assert_books_equal_truth(h, [venue])
        assert_decisions_sound(h)


async def test_order_outcome_unknown_is_queried_not_resent_and_the_journal_settles_to_the_venues_status(
        state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        await wait_until(h.all_in_sync, timeout=10, what="every book in sync")
        for server in h.sim.venues.values():
            server.faults.inject("order_unknown")
        await wait_until(lambda: any(s.faults.counts["order_unknown"] for s in h.sim.venues.values()), timeout=12,
                         what="an order executed whose answer was lost")
        await quiesce(h)
        lost = [(name, cid) for name, s in h.sim.venues.items() if s.faults.counts["order_unknown"]
                for cid in s.orders]
        assert lost
        assert_journal_matches_venues(h.journal, h.sim)  # incl. the lost one: its venue status, no duplicate
        assert not h.rows("SELECT client_order_id FROM orders WHERE venue_message LIKE '%uplicate%'")
        assert all_running(h)
        assert_decisions_sound(h)


def test_the_decision_check_flags_an_opportunity_taken_on_an_out_of_sync_or_stale_view() -> None:
    """The check above can fail: an opportunity after its venue announced out-of-sync, one on a
    view it does not name, and one on a view older than max_book_age_ms are all reported."""
    from engine_harness import Event, Recorder
    from protocols.messages import BookView, Opportunity

    def view(venue: str, seq: int, recv_ns: int, in_sync: bool = True) -> Event:
        return Event(at_ns=recv_ns, view=BookView(venue=venue, symbol="BTC/USDT", seq=seq, bids=(), asks=(),
                                                  exchange_ts_ms=0, recv_ns=recv_ns, in_sync=in_sync))

    def opp(name: str, created_ns: int, buy_seq: int = 1, sell_seq: int = 1) -> Event:
        return Event(at_ns=created_ns, opportunity=Opportunity(
            id=name, symbol="BTC/USDT", buy_venue="mexc", sell_venue="gateio", size=1.0, buy_price=1.0,
            sell_price=1.0, edge_bps=9.0, expected_pnl=0.0, created_ns=created_ns, expires_ns=created_ns,
            buy_seq=buy_seq, sell_seq=sell_seq, buy_recv_ns=10, sell_recv_ns=10))

    ok = Recorder({"BTC/USDT": [view("mexc", 1, 10), view("gateio", 1, 10), opp("fine", 20)]})
    assert ok.decision_faults(max_age_ms=1) == []
    bad = Recorder({"BTC/USDT": [view("mexc", 1, 10), view("gateio", 1, 10), opp("wrong-view", 20, sell_seq=2),
                                 opp("stale", 10 + 2_000_000), view("gateio", 1, 30, in_sync=False),
                                 opp("out-of-sync", 40)]})
    faults = [w.split(":")[0] for w in bad.decision_faults(max_age_ms=1)]
    assert faults == ["wrong-view", "stale", "stale", "out-of-sync"]
