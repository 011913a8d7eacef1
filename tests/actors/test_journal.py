"""Journal: durability across kill -9, group commit, open orders and summary queries."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import msgspec
import pytest

from actors import spawn
from actors.journal import JournalActor, _Writer, write
from protocols.errors import DuplicateClientOrderId, DuplicateOpportunityId, PermanentFailure
from protocols.messages import (
    FeeCorrection,
    Fill,
    FlushJournal,
    GetEstimatedFees,
    GetJournalSummary,
    GetMarketEvents,
    GetOpenOrders,
    GetOpenPositions,
    GetRealisedPnl,
    GetUnsettledOpportunities,
    JournalAck,
    JournalRefused,
    JournalWrite,
    MarketEvent,
    Opportunity,
    OpportunityResult,
    OrderIntent,
    OrderRejectedRecord,
    OrderUpdate,
    RestartRecord,
)
from testkit import eventually


def intent(cid: str, opp: str = "opp-1", venue: str = "mexc", side: str = "buy") -> OrderIntent:
    return OrderIntent(client_order_id=cid, opportunity_id=opp, venue=venue, symbol="BTC/USDT", side=side,
                       order_type="ioc", qty=0.5, price=100.0)


def update(cid: str, status: str, filled: float, venue: str = "mexc", side: str = "buy") -> OrderUpdate:
    return OrderUpdate(venue=venue, symbol="BTC/USDT", client_order_id=cid, order_id="42", side=side,
                       order_type="ioc", status=status, price=100.0, qty=0.5, filled_qty=filled,
                       filled_quote=filled * 100.0)


def opportunity(oid: str = "opp-1") -> Opportunity:
    return Opportunity(id=oid, symbol="BTC/USDT", buy_venue="mexc", sell_venue="gateio", size=0.5,
                       buy_price=100.0, sell_price=101.0, edge_bps=99.0, expected_pnl=0.5, created_ns=1,
                       expires_ns=2, buy_seq=3, sell_seq=4, buy_recv_ns=5, sell_recv_ns=6)


WRITER_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from actors import spawn
    from actors.journal import JournalActor
    from protocols.messages import JournalWrite, OrderIntent

    async def main(path):
        ref = await spawn(lambda: JournalActor(path=path), name="journal")
        i = 0
        while True:
            rec = OrderIntent(client_order_id=f"c{i}", opportunity_id="o", venue="mexc", symbol="BTC/USDT",
                              side="buy", order_type="ioc", qty=1.0, price=1.0)
            await ref.ask(JournalWrite(records=(rec,)))
            print(f"c{i}", flush=True)   # printed only after the ack: the record is committed
            i += 1

    asyncio.run(main(sys.argv[1]))
""")


def test_acknowledged_records_survive_a_kill_9_of_the_writing_process(tmp_path):
    path = str(tmp_path / "journal.db")
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, path], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            acked.append(line.strip())
            if len(acked) >= 200:
                break
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: more writes are in flight
        acked.extend(line.strip() for line in proc.stdout)  # acks printed before the kill
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 200
    conn = sqlite3.connect(path)
    try:
        stored = {row[0] for row in conn.execute("SELECT client_order_id FROM orders")}
    finally:
        conn.close()
    assert set(acked) <= stored


async def test_queued_records_are_committed_in_batches_of_at_most_batch_max(tmp_path):
    loop = asyncio.get_running_loop()
    writer = _Writer(str(tmp_path / "j.db"), 256, loop)
    futs = []
    for i in range(300):  # queued before the thread starts: the writer must drain them in groups
        fut = loop.create_future()
        writer.submit((intent(f"c{i}"),), fut, 1_700_000_000_000)
        futs.append(fut)
    writer.start()
    await writer.ready
    acks = await asyncio.gather(*futs)
    writer.stop()
    await asyncio.to_thread(writer.join)
    assert (writer.commits, writer.largest_batch, writer.records_committed) == (2, 256, 300)
    assert [a.committed for a in acks[:256]] == [256] * 256 and acks[-1] == JournalAck(committed=44)


@pytest.fixture
async def journal(tmp_path):
    ref = await spawn(lambda: JournalActor(path=str(tmp_path / "j.db")), name="execution/journal")
    yield ref
    await ref.stop()


async def test_told_records_are_visible_to_a_later_flush_and_query(journal):
    for i in range(100):
        journal.tell(intent(f"c{i}"))
    ack = await journal.ask(FlushJournal())
    assert isinstance(ack, JournalAck)
    open_orders = await journal.ask(GetOpenOrders())
    # ordered by creation time first: 100 tells may straddle a millisecond, so compare as sets
    assert sorted(o.client_order_id for o in open_orders.orders) == sorted(f"c{i}" for i in range(100))


async def test_open_orders_are_those_without_a_final_status_and_finals_are_never_downgraded(journal):
    await journal.ask(JournalWrite(records=(
        opportunity(), intent("a-b"), intent("a-s", side="sell", venue="gateio"), intent("a-p"),
        intent("a-r"))))
    await journal.ask(JournalWrite(records=(
        update("a-b", "filled", 0.5),
        update("a-b", "new", 0.0),  # a late, stale answer must not reopen it
        update("a-s", "partially_filled", 0.2, venue="gateio", side="sell"),
        OrderRejectedRecord(client_order_id="a-p", venue="mexc", message="dry run", status="paper"),
        OrderRejectedRecord(client_order_id="a-r", venue="mexc", code="30004", message="insufficient"),
    )))
    open_orders = (await journal.ask(GetOpenOrders())).orders
    assert [(o.client_order_id, o.status, o.filled_qty) for o in open_orders] == [("a-s", "partially_filled", 0.2)]


async def test_summary_counts_rows_and_sums_realised_pnl(journal, tmp_path):
    await journal.ask(JournalWrite(records=(
        opportunity("o1"), opportunity("o2"), intent("x", opp="o1"), update("x", "filled", 0.5),
        Fill(venue="mexc", symbol="BTC/USDT", client_order_id="x", side="buy", price=100.0, qty=0.5, fee=0.0,
             fee_asset="USDT", ts_ms=1),
        OpportunityResult(opportunity_id="o1", status="executed", realised_pnl=1.25),
        OpportunityResult(opportunity_id="o2", status="partial", realised_pnl=-0.25),
        RestartRecord(path="execution/executor", reason="start", ts_ms=1),
    )))
    s = await journal.ask(GetJournalSummary())
    assert (s.opportunities, s.orders, s.fills) == (2, 1, 1)
    assert s.orders_by_status == {"filled": 1}
    assert s.opportunities_by_status == {"executed": 1, "partial": 1}
    assert s.realised_pnl == pytest.approx(1.0)
    conn = sqlite3.connect(tmp_path / "j.db")
    try:
        assert conn.execute("SELECT path, reason FROM restarts").fetchall() == [("execution/executor", "start")]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


async def test_unsettled_opportunities_are_those_with_orders_and_no_final_result_each_with_all_its_orders(journal):
    fee_paid = OrderUpdate(venue="gateio", symbol="BTC/USDT", client_order_id="d-s", order_id="7", side="sell",
                           order_type="ioc", status="filled", price=101.0, qty=0.5, filled_qty=0.5,
                           filled_quote=50.5, fee=0.05, fee_asset="USDT")
    await journal.ask(JournalWrite(records=(
        opportunity("died"), intent("d-b", opp="died"), intent("d-s", opp="died", venue="gateio", side="sell"),
        fee_paid,
        opportunity("unknown-leg"), intent("u-b", opp="unknown-leg"),
        OrderRejectedRecord(client_order_id="u-b", venue="mexc", code="not_found", message="lost", status="unknown"),
        OpportunityResult(opportunity_id="unknown-leg", status="pending"),
        opportunity("done"), intent("x-b", opp="done"), update("x-b", "filled", 0.5),
        OpportunityResult(opportunity_id="done", status="partial", realised_pnl=-1.0),
        opportunity("no-orders"),  # rejected before any order: nothing to settle
    )))
    unsettled = (await journal.ask(GetUnsettledOpportunities())).opportunities
    assert [(o.id, o.status) for o in unsettled] == [("died", "detected"), ("unknown-leg", "pending")]
    died = unsettled[0]
    assert (died.buy_venue, died.sell_venue, died.buy_price, died.sell_price) == ("mexc", "gateio", 100.0, 101.0)
    assert {(o.client_order_id, o.status, o.filled_qty, o.fee, o.fee_asset) for o in died.orders} == {
        ("d-b", "intent", 0.0, 0.0, ""), ("d-s", "filled", 0.5, 0.05, "USDT")}
    # "unknown" is not final: the order is still open, for the next reconciliation to query
    assert [(o.client_order_id, o.status) for o in (await journal.ask(GetOpenOrders())).orders] == [
        ("d-b", "intent"), ("u-b", "unknown")]


async def test_realised_pnl_since_sums_settled_opportunities_updated_from_then_on(journal):
    await journal.ask(JournalWrite(records=(
        opportunity("a"), opportunity("b"), opportunity("c"),
        OpportunityResult(opportunity_id="a", status="executed", realised_pnl=2.0),
        OpportunityResult(opportunity_id="b", status="partial", realised_pnl=-5.0),
        OpportunityResult(opportunity_id="c", status="pending", realised_pnl=0.0),
    )))
    assert (await journal.ask(GetRealisedPnl(since_ms=0))).realised_pnl == pytest.approx(-3.0)
    assert (await journal.ask(GetRealisedPnl(since_ms=2**62))).realised_pnl == 0.0


# --- nothing journaled is ever overwritten ------------------------------------------------------


async def test_a_second_intent_or_opportunity_under_an_existing_id_is_refused_and_that_write_alone_rolls_back(
        journal, tmp_path):
    await journal.ask(JournalWrite(records=(opportunity("o1"), intent("dup", opp="o1"))))
    ok, refused = await asyncio.gather(
        journal.ask(JournalWrite(records=(opportunity("o3"), intent("fresh", opp="o3")))),
        journal.ask(JournalWrite(records=(opportunity("o2"), intent("dup", opp="o2")))))
    assert isinstance(ok, JournalAck)
    assert refused == JournalRefused(id="dup", kind="client_order_id")
    with pytest.raises(DuplicateClientOrderId):
        await write(journal, intent("dup", opp="o9"))
    with pytest.raises(DuplicateOpportunityId):
        await write(journal, opportunity("o1"))
    conn = sqlite3.connect(tmp_path / "j.db")
    try:
        assert conn.execute("SELECT client_order_id, opportunity_id FROM orders ORDER BY 1").fetchall() == [
            ("dup", "o1"), ("fresh", "o3")]
        assert [r[0] for r in conn.execute("SELECT id FROM opportunities ORDER BY 1")] == ["o1", "o3"]
    finally:
        conn.close()


async def test_a_late_rejection_never_replaces_a_final_status(journal):
    await journal.ask(JournalWrite(records=(
        intent("f"), update("f", "filled", 0.5),
        OrderRejectedRecord(client_order_id="f", venue="mexc", code="not_found", message="late", status="unknown"),
        OrderRejectedRecord(client_order_id="f", venue="mexc", code="not_found", message="late"),
        intent("o"),
        OrderRejectedRecord(client_order_id="o", venue="mexc", code="not_found", message="lost", status="unknown"),
    )))
    assert [(o.client_order_id, o.status) for o in (await journal.ask(GetOpenOrders())).orders] == [("o", "unknown")]
    s = await journal.ask(GetJournalSummary())
    assert s.orders_by_status == {"filled": 1, "unknown": 1}


async def test_a_settled_opportunitys_result_is_never_replaced(journal):
    await journal.ask(JournalWrite(records=(
        opportunity("o1"), OpportunityResult(opportunity_id="o1", status="pending"),
        OpportunityResult(opportunity_id="o1", status="executed", realised_pnl=1.5),
        OpportunityResult(opportunity_id="o1", status="rejected_by_risk", detail="expired"),
    )))
    s = await journal.ask(GetJournalSummary())
    assert (s.opportunities_by_status, s.realised_pnl) == ({"executed": 1}, 1.5)


async def test_estimated_fees_are_the_settled_opportunities_with_a_filled_order_whose_fee_was_not_reported(
        journal, tmp_path):
    paid = msgspec.structs.replace(update("p-b", "filled", 0.5), fee=0.0005, fee_asset="BTC")
    await journal.ask(JournalWrite(records=(
        opportunity("estimated"), intent("e-b", opp="estimated"), update("e-b", "filled", 0.5),
        OpportunityResult(opportunity_id="estimated", status="executed", realised_pnl=1.0, detail="d; est"),
        opportunity("paid"), intent("p-b", opp="paid"), paid,
        OpportunityResult(opportunity_id="paid", status="executed", realised_pnl=2.0),
        opportunity("unfilled"), intent("n-b", opp="unfilled"), update("n-b", "expired", 0.0),
        OpportunityResult(opportunity_id="unfilled", status="unfilled"),
        opportunity("pending"), intent("q-b", opp="pending"), update("q-b", "filled", 0.5),
        OpportunityResult(opportunity_id="pending", status="pending"),  # settled later, not corrected
    )))
    [opp] = (await journal.ask(GetEstimatedFees())).opportunities
    assert (opp.id, opp.detail, [o.client_order_id for o in opp.orders]) == ("estimated", "d; est", ["e-b"])
    conn = sqlite3.connect(tmp_path / "j.db")
    [(before,)] = conn.execute("SELECT updated_ms FROM opportunities WHERE id = 'estimated'").fetchall()
    await journal.ask(JournalWrite(records=(
        FeeCorrection(opportunity_id="estimated", realised_pnl=0.9, fees_quote=0.1, fee_unconverted="", detail="d"),
        FeeCorrection(opportunity_id="pending", realised_pnl=5.0, fees_quote=0.0, fee_unconverted="", detail="x"),
    )))
    assert conn.execute("SELECT id, status, realised_pnl, fees_quote, detail, updated_ms = ? FROM opportunities"
                        " WHERE id IN ('estimated', 'pending') ORDER BY id", (before,)).fetchall() == [
        ("estimated", "executed", 0.9, 0.1, "d", 1),  # money only: the day it counts for stays
        ("pending", "pending", 0.0, 0.0, "", 1)]  # an unsettled one is settled, never corrected
    conn.close()


async def test_an_order_has_one_fill_row_however_often_its_final_state_is_journaled(journal):
    fill = Fill(venue="mexc", symbol="BTC/USDT", client_order_id="x", side="buy", price=100.0, qty=0.5, fee=0.01,
                fee_asset="USDT", ts_ms=1)
    await journal.ask(JournalWrite(records=(intent("x"), fill, fill)))
    await journal.ask(JournalWrite(records=(fill,)))
    assert (await journal.ask(GetJournalSummary())).fills == 1


async def test_open_positions_sum_the_unmatched_base_of_settled_opportunities_per_venue_and_symbol(journal):
    def result(oid: str, status: str, qty: float, venue: str, price: float) -> OpportunityResult:
        return OpportunityResult(opportunity_id=oid, status=status, open_qty=qty, open_venue=venue, open_price=price)

    await journal.ask(JournalWrite(records=(
        opportunity("a"), result("a", "partial", 0.5, "mexc", 100.0),
        opportunity("b"), result("b", "partial", 0.25, "mexc", 104.0),
        opportunity("c"), result("c", "partial", -0.1, "gateio", 101.0),
        opportunity("d"), result("d", "pending", 9.0, "mexc", 1.0),  # not settled: not a position yet
        opportunity("e"), result("e", "partial", 0.2, "binance", 1.0), opportunity("f"),
        result("f", "partial", -0.2, "binance", 2.0),  # flat again: no position
    )))
    got = {(p.venue, p.symbol): (p.qty, p.cost) for p in (await journal.ask(GetOpenPositions())).positions}
    assert got == {("mexc", "BTC/USDT"): (pytest.approx(0.75), pytest.approx(76.0)),
                   ("gateio", "BTC/USDT"): (pytest.approx(-0.1), pytest.approx(-10.1))}


async def test_an_old_journal_file_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE opportunities (id TEXT PRIMARY KEY, symbol TEXT NOT NULL, buy_venue TEXT NOT NULL,
            sell_venue TEXT NOT NULL, size REAL NOT NULL, buy_price REAL NOT NULL, sell_price REAL NOT NULL,
            edge_bps REAL NOT NULL, expected_pnl REAL NOT NULL, buy_seq INTEGER, sell_seq INTEGER,
            created_ns INTEGER, expires_ns INTEGER, status TEXT NOT NULL DEFAULT 'detected', realised_pnl REAL,
            detail TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
        CREATE TABLE restarts (id INTEGER PRIMARY KEY, path TEXT NOT NULL, reason TEXT NOT NULL,
            ts_ms INTEGER NOT NULL);
        INSERT INTO opportunities VALUES ('old', 'BTC/USDT', 'mexc', 'gateio', 1, 1, 1, 1, 1, 1, 1, 1, 1,
            'executed', 2.0, '', 1, 1);
    """)
    conn.close()
    ref = await spawn(lambda: JournalActor(path=str(path)), name="journal")
    try:
        await ref.ask(JournalWrite(records=(RestartRecord(path="x", reason="start", ts_ms=1, run_id="r1"),)))
        s = await ref.ask(GetJournalSummary())
        assert (s.opportunities, s.realised_pnl) == (1, 2.0)
        assert (await ref.ask(GetOpenPositions())).positions == ()
    finally:
        await ref.stop()


async def test_journal_creates_its_missing_directory_with_mode_0700(tmp_path):
    path = tmp_path / "fresh" / "home" / ".arbor" / "journal.sqlite"
    ref = await spawn(lambda: JournalActor(path=str(path)), name="journal")
    try:
        await ref.ask(FlushJournal())
        assert path.exists() and (path.parent.stat().st_mode & 0o777) == 0o700
    finally:
        await ref.stop()


async def test_journal_whose_directory_cannot_be_created_fails_permanently_naming_it(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(PermanentFailure, match=r"journal's directory .*not-a-dir"):
        await spawn(lambda: JournalActor(path=str(blocker / "sub" / "journal.sqlite")), name="journal")


async def test_journal_file_that_is_not_a_database_fails_permanently(tmp_path):
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"this is not an SQLite database, it is much longer than a header " * 10)
    with pytest.raises(PermanentFailure, match="cannot open the journal"):
        await spawn(lambda: JournalActor(path=str(path)), name="journal")


async def test_an_inline_journal_commits_on_the_loop_stamps_its_wall_clock_and_refuses_duplicates(tmp_path):
    """A replay's journal: no writer thread, timestamps from the injected clock."""
    ref = await spawn(lambda: JournalActor(path=str(tmp_path / "j.db"), inline=True, wall=lambda: 1_700_000_000.25),
                      name="execution/journal")
    try:
        assert isinstance(await ref.ask(JournalWrite(records=(opportunity("o1"), intent("c1", opp="o1")))), JournalAck)
        with pytest.raises(DuplicateClientOrderId):
            await write(ref, intent("c1", opp="o2"))
        ref.tell(intent("c2", opp="o1"))  # a told record, then a flush: committed in order
        await ref.ask(FlushJournal())
    finally:
        await ref.stop()
    conn = sqlite3.connect(tmp_path / "j.db")
    try:
        assert conn.execute("SELECT client_order_id, created_ms FROM orders ORDER BY 1").fetchall() == [
            ("c1", 1_700_000_000_250), ("c2", 1_700_000_000_250)]
    finally:
        conn.close()


async def test_an_inline_journal_group_commits_told_records_at_the_next_awaited_write_in_order(tmp_path):
    """A replay's told records (opportunities, their results): one commit for many, not one each."""
    ref = await spawn(lambda: JournalActor(path=str(tmp_path / "j.db"), inline=True), name="execution/journal")
    try:
        await ref.ask(FlushJournal())
        before = ref.describe()
        for i in range(20):
            ref.tell(opportunity(f"o{i:02}"))
        ref.tell(opportunity("o05"))  # a duplicate: refused alone, the rest of the group stays
        await eventually(lambda: ref.describe().queued == 21, what="the told records handed to the writer")
        assert ref.describe().records_committed == before.records_committed  # waiting for an awaited write
        await ref.ask(FlushJournal())
        after = ref.describe()
        assert (after.records_committed - before.records_committed, after.commits - before.commits) == (20, 1)
        ref.tell(opportunity("o-last"))
        await eventually(lambda: ref.describe().queued == 1, what="the last told record handed to the writer")
    finally:
        await ref.stop()  # applies what is still queued
    conn = sqlite3.connect(tmp_path / "j.db")
    try:
        assert [r for (r,) in conn.execute("SELECT id FROM opportunities ORDER BY rowid")] == [
            *(f"o{i:02}" for i in range(20)), "o-last"]
    finally:
        conn.close()


async def test_an_inline_journal_commits_once_batch_max_told_records_wait(tmp_path):
    ref = await spawn(lambda: JournalActor(path=str(tmp_path / "j.db"), inline=True, batch_max=8),
                      name="execution/journal")
    try:
        await ref.ask(FlushJournal())
        for i in range(8):
            ref.tell(opportunity(f"o{i}"))
        await eventually(lambda: ref.describe().records_committed == 8, what="8 told records committed")
        assert ref.describe().queued == 0
    finally:
        await ref.stop()


COMMIT_NOW_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from actors import spawn
    from actors.journal import DurableWrites, JournalActor, write
    from protocols.messages import Balance, Balances, OrderIntent

    async def main(path):
        durable = DurableWrites()
        ref = await spawn(lambda: JournalActor(path=path, durable=durable), name="journal")
        i = 0
        while True:
            rec = OrderIntent(client_order_id=f"c{i}", opportunity_id="o", venue="mexc", symbol="BTC/USDT",
                              side="buy", order_type="ioc", qty=1.0, price=1.0)
            if i % 3 == 0:  # told records keep the writer thread busy now and then: both paths run
                ref.tell(Balances(venue="mexc", ts_ns=i, balances=(Balance(venue="mexc", asset="USDT", free=1.0,
                                                                          locked=0.0),)))
            now = durable.committed_now
            await write(ref, rec, durable=durable)
            # printed only once write() returned: what the executor then sends
            print(f"c{i} {'now' if durable.committed_now > now else 'asked'}", flush=True)
            i += 1
            if i % 50 == 0:
                await asyncio.sleep(0)

    asyncio.run(main(sys.argv[1]))
""")


def test_intents_committed_in_the_callers_step_survive_a_kill_9_like_acknowledged_ones(tmp_path):
    path = str(tmp_path / "journal.db")
    proc = subprocess.Popen([sys.executable, "-c", COMMIT_NOW_SCRIPT, path], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    sent: list[tuple[str, str]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sent.append(tuple(line.split()))  # type: ignore[arg-type]
            if len(sent) >= 300 and {how for _, how in sent} == {"now", "asked"}:
                break
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream
        sent.extend(tuple(line.split()) for line in proc.stdout)  # type: ignore[misc]
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert {how for _, how in sent} == {"now", "asked"}
    conn = sqlite3.connect(path)
    try:
        stored = {row[0] for row in conn.execute("SELECT client_order_id FROM orders")}
    finally:
        conn.close()
    assert {cid for cid, _ in sent} <= stored


async def test_a_write_committed_now_never_overtakes_a_record_told_before_it(tmp_path):
    from actors.journal import DurableWrites

    durable = DurableWrites()
    ref = await spawn(lambda: JournalActor(path=str(tmp_path / "j.db"), durable=durable), name="journal")
    try:
        await ref.ask(FlushJournal())
        assert durable.commit_now((intent("first"),)) is not None  # idle: committed in this step
        ref.tell(opportunity("opp-told"))  # still in the journal's mailbox
        assert durable.commit_now((opportunity("opp-told"),)) is None  # would overtake it: ask instead
        with pytest.raises(DuplicateOpportunityId):
            await write(ref, opportunity("opp-told"), durable=durable)
        assert (durable.committed_now, durable.deferred) == (1, 2)
        status = ref.describe()
        assert status.committed_now == 1
    finally:
        await ref.stop()


async def test_market_changes_are_journaled_and_read_back_newest_first_with_their_reasons_and_prices(journal):
    await journal.ask(JournalWrite(records=(
        MarketEvent(event="added", symbol="NEW/USDT", venues=("mexc",), reason="shared by mexc, binance"),
        MarketEvent(event="removed", symbol="OLD/USDT", venues=("gateio",), reason="delisted", ts_ms=7),
        MarketEvent(event="quarantined", symbol="TWIN/USDT", venues=("mexc", "gateio"), reason="6000 bp",
                    prices={"mexc_ask": 0.5, "gateio_bid": 1.0}),
    )))
    got = await journal.ask(GetMarketEvents(limit=2))
    assert [(e.event, e.symbol) for e in got.events] == [("quarantined", "TWIN/USDT"), ("removed", "OLD/USDT")]
    assert got.events[0].prices == {"mexc_ask": 0.5, "gateio_bid": 1.0}
    assert got.events[0].venues == ("mexc", "gateio") and got.events[0].ts_ms > 0  # stamped by the journal
    assert got.events[1].ts_ms == 7 and got.events[1].reason == "delisted"  # its own time kept
    assert got.counts == {"added": 1, "removed": 1, "quarantined": 1}
    only = await journal.ask(GetMarketEvents(symbol="NEW/USDT"))
    assert [e.reason for e in only.events] == ["shared by mexc, binance"]
    assert (await journal.ask(GetJournalSummary())).market_events == {"added": 1, "removed": 1, "quarantined": 1}


async def test_an_old_journal_file_without_market_events_gains_the_table(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE restarts (id INTEGER PRIMARY KEY, path TEXT NOT NULL, reason TEXT NOT NULL,"
                 " ts_ms INTEGER NOT NULL)")
    conn.close()
    ref = await spawn(lambda: JournalActor(path=str(path)), name="journal")
    try:
        await ref.ask(JournalWrite(records=(MarketEvent(event="added", symbol="A/USDT", venues=("mexc",)),)))
        assert (await ref.ask(GetMarketEvents())).counts == {"added": 1}
    finally:
        await ref.stop()
