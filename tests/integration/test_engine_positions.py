"""Money marked to the engine's own live books (in-process engine, embedded simulator): an open
position left by an earlier run is restored from the journal, marked (a long at its best bid),
counted against ``max_open_position_quote`` and shown by the summary and ``inspect``; a fee in
a third asset is converted at a fresh book, or flagged."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from actors import spawn
from actors.journal import JournalActor
from actors.marks import Marks
from actors.positions import settle
from engine_harness import engine_running, wait_until
from protocols.messages import (
    FlushJournal,
    JournalWrite,
    Opportunity,
    OpportunityResult,
    OrderUpdate,
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


async def test_a_third_asset_fee_is_converted_at_a_fresh_live_book_and_flagged_when_there_is_none(
        state_dir: Path) -> None:
    """A BTC/USDT fill whose fee was paid in ETH (as BNB/MX/GT fees are): its quote value comes
    from the engine's own ETH/USDT book, asked now; a fee in an asset no book quotes is flagged."""
    async with engine_running(state_dir) as h:
        await wait_until(h.all_in_sync, timeout=10, what="every book in sync")
        marks = Marks(lambda venue, symbol: h.engine.lookup(f"venues/{venue}/books/{symbol.replace('/', '')}"),
                      clock=time.monotonic_ns, max_age_ms=60_000)
        fill = OrderUpdate(venue="mexc", symbol="BTC/USDT", client_order_id="c", order_id="1", side="buy",
                           order_type="ioc", status="filled", price=100.0, qty=1.0, filled_qty=1.0,
                           filled_quote=100.0, fee=0.01, fee_asset="ETH")
        sell = msgspec.structs.replace(fill, side="sell", filled_quote=101.0, fee=0.0, fee_asset="USDT")
        h.sim.pause()
        try:
            rates = await marks.fee_rates(["mexc", "gateio", "binance"], [fill, sell], "BTC", "USDT")
            view = await h.view("mexc", "ETH/USDT")
        finally:
            h.sim.resume()
        assert rates == {"ETH": pytest.approx((view.bids[0][0] + view.asks[0][0]) / 2)}
        s = settle([fill, sell], base="BTC", quote="USDT", buy_venue="mexc", sell_venue="gateio", rates=rates)
        assert s.realised_pnl == pytest.approx(1.0 - 0.01 * rates["ETH"]) and s.fee_unconverted == ()
        bnb = msgspec.structs.replace(fill, fee_asset="BNB")
        assert await marks.fee_rates(["mexc", "gateio", "binance"], [bnb], "BTC", "USDT") == {}
        assert settle([bnb, sell], base="BTC", quote="USDT", buy_venue="mexc", sell_venue="gateio").fee_unconverted == (
            "BNB",)
