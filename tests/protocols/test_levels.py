"""protocols.levels: the JSON venues' decoded levels leave the cyclic collector at decode time
(compiled core), with the same values either way."""

import gc

import pytest

from protocols import levels
from protocols.binance import BinanceVenue
from protocols.gateio import GateVenue
from protocols.messages import BookDelta

BINANCE = (b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":7,"u":9,'
           b'"b":[["19137.74","0.0001"],["19088.37","0"]],"a":[["19137.75","0.6135"]]}}')
GATE = (b'{"time":1606294781,"time_ms":1606294781236,"channel":"spot.order_book_update","event":"update",'
        b'"result":{"t":1606294781123,"e":"depthUpdate","E":1606294781,"s":"BTC_USDT","U":48776301,'
        b'"u":48776306,"b":[["19137.74","0.0001"],["19088.37","0"]],"a":[["19137.75","0.6135"]]}}')
GATE_OBU = (b'{"channel":"spot.obu","event":"update","result":{"t":1,"s":"ob.BTC_USDT.50","U":5,"u":6,'
            b'"b":[["19137.74","0.0001"]],"a":[["19137.75","0.6135"]]}}')

compiled_only = pytest.mark.skipif(levels.untrack_levels is None, reason=f"protocols._levels: {levels.CORE}")


def _decoded() -> list[BookDelta]:
    binance, gate = BinanceVenue(symbols=("BTC/USDT",)), GateVenue(symbols=("BTC/USDT",))
    out = [binance.decode(BINANCE, 1), gate.decode(GATE, 2), gate.decode(GATE_OBU, 3)]
    assert all(type(d) is BookDelta for d in out)
    return out  # type: ignore[return-value]


@compiled_only
def test_decoded_json_levels_and_their_sides_are_untracked_when_the_compiled_core_is_built() -> None:
    for delta in _decoded():
        for side in (delta.bids, delta.asks):
            assert not gc.is_tracked(side)
            assert not any(gc.is_tracked(level) for level in side)


def test_decoded_levels_hold_the_same_floats_whatever_the_core() -> None:
    binance, gate, obu = _decoded()
    assert binance.bids == gate.bids == ((19137.74, 0.0001), (19088.37, 0.0))
    assert binance.asks == gate.asks == obu.asks == ((19137.75, 0.6135),)


@compiled_only
def test_a_level_that_is_not_two_floats_stays_tracked_and_keeps_its_side_tracked() -> None:
    odd = (1.0, [2.0])  # a list may be part of a cycle: the collector must still see it
    plain = (1.0, 2.0)
    side = (odd, plain)
    assert levels.untrack_levels is not None
    levels.untrack_levels(side, ())
    assert gc.is_tracked(odd) and gc.is_tracked(side)
    assert not gc.is_tracked(plain)
