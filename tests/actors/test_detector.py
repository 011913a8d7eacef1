"""Detector: hysteresis, stale/out-of-sync/crossed views, limit prices, ids. Fake clock."""

from __future__ import annotations

import asyncio
import math

import pytest

from actors import spawn
from actors.detector import DetectorActor, DetectorParams
from actors.journal import JournalActor
from protocols.messages import BookView, FlushJournal, GetLastOpportunity, GetMarketEvents, Opportunity, VenueStatus
from testkit import FakeClock

MS = 1_000_000
FEES = {"mexc": 0.0, "gateio": 0.0, "binance": 0.0}


def Clock() -> FakeClock[int]:
    return FakeClock(10_000 * MS)


class Recorder:
    """Stands in for the executor's ref: records what the detector tells it."""

    def __init__(self) -> None:
        self.told: list[Opportunity] = []
        self.event = asyncio.Event()

    def tell(self, msg: Opportunity) -> None:
        self.told.append(msg)
        self.event.set()


def view(venue, seq, bids, asks, recv_ns, in_sync=True):
    return BookView(venue=venue, symbol="BTC/USDT", seq=seq, bids=tuple(bids), asks=tuple(asks),
                    exchange_ts_ms=0, recv_ns=recv_ns, in_sync=in_sync)


def make(clock, **params):
    rec = Recorder()
    det = DetectorActor(symbol="BTC/USDT", taker_fees=FEES, params=DetectorParams(**params), executor=rec,
                        clock=clock)
    return det, rec


def asks_for_edge(bps: float) -> list[tuple[float, float]]:
    """Asks on the buy venue such that buying at them and selling at 100.0 earns ``bps``."""
    return [(100.0 / (1 + bps / 1e4), 1.0)]


def test_a_flickering_level_inside_the_hysteresis_band_fires_once():
    clock = Clock()
    det, rec = make(clock, min_edge_bps=5.0, hysteresis_bps=2.0, cooldown_ms=500)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    for seq, bps in enumerate([8.0, 4.0, 8.0, 3.5, 8.0, 6.0], start=1):
        clock.now += 10 * MS
        det.on_view(view("mexc", seq, [(99.0, 1.0)], asks_for_edge(bps), clock.now))
    assert [o.id for o in rec.told] == ["BTCUSDT-mexc-gateio-1-1"]


def test_an_edge_that_falls_below_the_band_rearms_and_fires_again():
    clock = Clock()
    det, rec = make(clock, min_edge_bps=5.0, hysteresis_bps=2.0, cooldown_ms=500)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    for seq, bps in enumerate([8.0, 2.0, 8.0], start=1):
        clock.now += 10 * MS
        det.on_view(view("mexc", seq, [(99.0, 1.0)], asks_for_edge(bps), clock.now))
    assert [o.buy_seq for o in rec.told] == [1, 3]


def test_a_persisting_edge_fires_again_only_after_the_cooldown():
    clock = Clock()
    det, rec = make(clock, cooldown_ms=500)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    for seq in range(1, 7):
        clock.now += 100 * MS
        det.on_view(view("mexc", seq, [(99.0, 1.0)], asks_for_edge(10.0), clock.now))
        det.on_view(view("gateio", seq + 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    # fired at t=100ms, then at the first evaluation at least 500 ms later (t=600ms)
    assert [(o.buy_seq, o.sell_seq) for o in rec.told] == [(1, 1), (6, 6)]
    assert len({o.id for o in rec.told}) == len(rec.told)


def test_stale_views_are_ignored_and_counted():
    clock = Clock()
    det, rec = make(clock, max_book_age_ms=1000)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now - 1001 * MS))
    det.on_view(view("mexc", 1, [(99.0, 1.0)], asks_for_edge(20.0), clock.now))
    assert rec.told == []
    # counted when it arrived, and again when the mexc view would have paired with it
    assert det.describe().rejected_stale == 2
    # the same book, fresh, is used
    det.on_view(view("gateio", 2, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    assert len(rec.told) == 1


def test_an_out_of_sync_view_removes_its_venue_until_it_is_back_in_sync():
    clock = Clock()
    det, rec = make(clock)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    det.on_view(view("gateio", 2, [(100.0, 1.0)], [(100.5, 1.0)], clock.now, in_sync=False))
    assert det.describe().venues_in_sync == ()
    det.on_view(view("mexc", 1, [(99.0, 1.0)], asks_for_edge(20.0), clock.now))
    assert rec.told == []
    det.on_view(view("gateio", 3, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    assert [o.sell_seq for o in rec.told] == [3]


async def test_a_venue_status_not_ok_removes_the_venue():
    clock = Clock()
    det, rec = make(clock)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    await det.receive(VenueStatus(venue="gateio", ok=False, reason="disconnected", ts_ns=clock.now))
    det.on_view(view("mexc", 1, [(99.0, 1.0)], asks_for_edge(20.0), clock.now))
    assert rec.told == []


def test_a_crossed_view_is_rejected_and_removes_its_venue():
    clock = Clock()
    det, rec = make(clock)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    det.on_view(view("gateio", 2, [(100.6, 1.0)], [(100.5, 1.0)], clock.now))
    det.on_view(view("mexc", 1, [(99.0, 1.0)], asks_for_edge(20.0), clock.now))
    assert rec.told == []
    assert det.describe().rejected_crossed == 1


def test_a_view_with_a_nan_best_bid_is_rejected_as_crossed_and_never_fires():
    clock = Clock()
    det, rec = make(clock)
    det.on_view(view("gateio", 1, [(float("nan"), 1.0)], [(100.5, 1.0)], clock.now))
    det.on_view(view("mexc", 1, [(99.0, 1.0)], asks_for_edge(20.0), clock.now))
    assert rec.told == []
    assert det.describe().rejected_crossed == 1


def test_a_nan_deeper_in_a_book_never_becomes_an_opportunity_price():
    clock = Clock()
    det, rec = make(clock, max_notional=1e9)
    det.on_view(view("gateio", 1, [(100.0, 1.0), (float("nan"), 5.0)], [(100.5, 1.0)], clock.now))
    det.on_view(view("mexc", 1, [(99.0, 1.0)], [(99.5, 1.0), (99.6, float("nan"))], clock.now))
    assert all(math.isfinite(o.buy_price) and math.isfinite(o.sell_price) and math.isfinite(o.size)
               for o in rec.told)


def test_the_opportunity_carries_the_worst_levels_touched_as_limit_prices():
    clock = Clock()
    det, rec = make(clock, min_edge_bps=5.0, max_notional=1e9, ttl_ms=500)
    fees = {"mexc": 0.001, "gateio": 0.001}
    det.taker_fees = fees
    det.on_view(view("gateio", 7, [(101.0, 0.5), (100.9, 0.5), (99.0, 5.0)], [(101.1, 1.0)], clock.now - 3))
    det.on_view(view("mexc", 9, [(99.0, 1.0)], [(100.0, 0.7), (100.2, 2.0), (101.0, 1.0)], clock.now))
    [opp] = rec.told
    # 100.0 -> 101.0 and 100.2 -> 100.9 clear 5 bps after 2x10 bps fees; 100.2 -> 99.0 does not
    assert (opp.buy_venue, opp.sell_venue) == ("mexc", "gateio")
    assert opp.size == pytest.approx(1.0)
    assert (opp.buy_price, opp.sell_price) == (100.2, 100.9)
    assert opp.id == "BTCUSDT-mexc-gateio-9-7"
    assert (opp.buy_seq, opp.sell_seq, opp.sell_recv_ns) == (9, 7, clock.now - 3)
    assert opp.expires_ns == clock.now + 500 * MS
    assert opp.edge_bps >= 5.0


async def test_a_spawned_detector_answers_get_last_opportunity_and_tells_the_executor():
    clock = Clock()
    rec = Recorder()
    ref = await spawn(lambda: DetectorActor(symbol="BTC/USDT", taker_fees=FEES, params=DetectorParams(),
                                            executor=rec, clock=clock), name="detectors/BTCUSDT")
    try:
        assert await ref.ask(GetLastOpportunity()) is None
        ref.tell(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
        ref.tell(view("binance", 4, [(99.0, 1.0)], asks_for_edge(20.0), clock.now))
        await asyncio.wait_for(rec.event.wait(), 5)
        last = await ref.ask(GetLastOpportunity())
        assert last == rec.told[0] and last.id == "BTCUSDT-binance-gateio-4-1"
    finally:
        await ref.stop()


def test_an_edge_above_the_sanity_bound_quarantines_the_market_and_is_never_reported(caplog):
    clock = Clock()
    det, rec = make(clock, min_edge_bps=5.0, max_edge_bps=500.0)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    clock.now += MS
    # mexc's "BTC" trades at half the price: a 10,000 bp "edge" is another token, not money
    assert det.on_view(view("mexc", 1, [(49.0, 1.0)], asks_for_edge(10_000.0), clock.now)) == []
    assert rec.told == [] and det.last_opportunity is None
    status = det.describe()
    assert status.quarantined is not None and "sanity bound" in status.quarantined
    assert any("quarantined" in r.getMessage() for r in caplog.records)
    # an ordinary edge afterwards is not traded either: the market stays quarantined
    clock.now += MS
    assert det.on_view(view("mexc", 2, [(90.0, 1.0)], asks_for_edge(20.0), clock.now)) == []
    assert rec.told == []


def test_an_edge_just_below_the_sanity_bound_is_reported_when_it_meets_min_edge():
    clock = Clock()
    det, rec = make(clock, min_edge_bps=5.0, max_edge_bps=500.0)
    det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
    clock.now += MS
    det.on_view(view("mexc", 1, [(90.0, 1.0)], asks_for_edge(450.0), clock.now))
    assert len(rec.told) == 1 and det.describe().quarantined is None


async def test_a_quarantine_is_journaled_with_the_venue_pair_and_the_prices_that_caused_it(tmp_path):
    journal = await spawn(lambda: JournalActor(path=str(tmp_path / "j.db")), name="execution/journal")
    try:
        clock = Clock()
        det = DetectorActor(symbol="BTC/USDT", taker_fees=FEES, params=DetectorParams(max_edge_bps=500.0),
                            executor=Recorder(), clock=clock, journal=journal)
        det.on_view(view("gateio", 1, [(100.0, 1.0)], [(100.5, 1.0)], clock.now))
        det.on_view(view("mexc", 1, [(49.0, 1.0)], [(50.0, 1.0)], clock.now))
        await journal.ask(FlushJournal())
        events = (await journal.ask(GetMarketEvents())).events
        assert [(e.event, e.symbol, e.venues) for e in events] == [("quarantined", "BTC/USDT", ("mexc", "gateio"))]
        assert events[0].prices == {"mexc_ask": 50.0, "gateio_bid": 100.0}
        assert events[0].reason == det.describe().quarantined
        det.on_view(view("mexc", 2, [(48.0, 1.0)], [(49.0, 1.0)], clock.now))  # quarantined once, journaled once
        await journal.ask(FlushJournal())
        assert (await journal.ask(GetMarketEvents())).counts == {"quarantined": 1}
    finally:
        await journal.stop()
