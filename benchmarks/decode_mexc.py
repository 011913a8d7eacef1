"""µs per MEXC aggregated-depth frame (10 bids + 10 asks, one binary ``PushDataV3ApiWrapper``):
the adapter's ``decode`` (frame → ``BookDelta``; the compiled reader where it is built) and the
pure-Python core's protobuf path (``mexc-python``: the codec's ``_decode_push``, what ``decode``
runs with ``ARBOR_PURE_PYTHON=1``) against the floor measured in the same run, a bare protobuf
``ParseFromString`` plus reading every level's price and quantity as floats."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.timing import best_us
from protocols.mexc import MexcVenue, codec, push_pb2


def frame() -> bytes:
    push = push_pb2.PushDataV3ApiWrapper(channel="spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
                                         symbol="BTCUSDT", sendTime=1778075380657)
    depth = push.publicAggreDepths
    for i in range(10):
        depth.bids.add(price=f"{93387.28 - i * 0.01:.2f}", quantity=f"{0.5 + i:.8f}")
        depth.asks.add(price=f"{93387.29 + i * 0.01:.2f}", quantity=f"{1.25 + i:.8f}")
    depth.eventType = "spot@public.aggre.depth.v3.api.pb@100ms"
    depth.fromVersion, depth.toVersion = "10023", "10031"
    depth.lastOrderCreateTime = 1778075380572
    return push.SerializeToString()


def _floor(payload: bytes) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    push = push_pb2.PushDataV3ApiWrapper()
    push.ParseFromString(payload)
    body = push.publicAggreDepths
    return ([(float(lv.price), float(lv.quantity)) for lv in body.bids],
            [(float(lv.price), float(lv.quantity)) for lv in body.asks])


def run(quick: bool) -> list[dict]:
    payload = frame()
    venue = MexcVenue(symbols=("BTC/USDT",))
    delta = venue.decode(payload, 0)
    assert list(delta.bids) == _floor(payload)[0]  # type: ignore[union-attr]
    symbols = {"BTCUSDT": "BTC/USDT"}
    assert codec._decode_push(payload, 0, symbols) == delta
    cases: list[tuple[str, Callable[[bytes], object]]] = [
        ("floor-protobuf", _floor), ("mexc", lambda p: venue.decode(p, 0)),
        ("mexc-python", lambda p: codec._decode_push(p, 0, symbols))]
    return best_us(cases, payload, case="decode", quick=quick)
