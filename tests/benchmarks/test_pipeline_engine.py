"""The pipeline case times an Opportunity from when the replayer wrote the newer of its frames."""

from __future__ import annotations

from benchmarks.pipeline_engine import wire_latencies
from protocols.messages import Opportunity


def opportunity(buy_seq: int, sell_seq: int, created_ns: int) -> Opportunity:
    return Opportunity(id="x", symbol="BTC/USDT", buy_venue="binance", sell_venue="mexc", size=1.0,
                       buy_price=1.0, sell_price=1.1, edge_bps=10.0, expected_pnl=0.1, created_ns=created_ns,
                       expires_ns=created_ns + 1, buy_seq=buy_seq, sell_seq=sell_seq, buy_recv_ns=0, sell_recv_ns=0)


VENUES, SYMBOLS = ["binance", "gateio", "mexc"], ["BTC/USDT", "ETH/USDT"]
TRACE = {"venue": [0, 2, 2, 0], "symbol": [0, 0, 1, 1], "seq": [10, 20, 20, 11],
         "written_ns": [1_000, 1_500, 1_600, 1_700]}


def test_the_latency_runs_from_the_newer_of_the_two_frames_written() -> None:
    assert wire_latencies([opportunity(10, 20, 2_000)], TRACE, VENUES, SYMBOLS) == [500]


def test_a_frame_from_an_earlier_segment_leaves_the_other_one_as_the_newer() -> None:
    assert wire_latencies([opportunity(9, 20, 2_000)], TRACE, VENUES, SYMBOLS) == [500]


def test_an_opportunity_with_no_frame_of_the_segment_is_not_timed() -> None:
    assert wire_latencies([opportunity(9, 19, 2_000)], TRACE, VENUES, SYMBOLS) == []
