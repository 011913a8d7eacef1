"""Fuzzing the venue decoders with hypothesis: ANY REST reply, error reply or WebSocket frame
raises only the documented errors (``DecodeError``, the ``ExchangeError`` family) or decodes to
finite, valid values (``venue_edge.assert_usable``). Replies are valid samples with numbers
(often) and other leaves (now and then) replaced by nasty values."""

from __future__ import annotations

import json
import math
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from venue_edge import CALLS, REPLIES, Bench, adapter, assert_usable

from protocols.binance.rest import map_error as binance_map_error
from protocols.errors import DecodeError, ExchangeError
from protocols.gateio.rest import map_error as gate_map_error
from protocols.messages import BookDelta
from protocols.mexc import push_pb2
from protocols.mexc.rest import map_error as mexc_map_error
from protocols.numbers import MAX_TS_MS

# --- fuzzing: any reply raises only the documented errors or decodes to usable values -------------

NASTY = st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e308", "-1", "0",
                         "-0", "", " ", "abc", "1" * 40, "0x10", "1_000", "sNaN", "t-", "FILLED"])
NUMBERISH = st.one_of(NASTY, st.floats(), st.floats().map(repr), st.integers(min_value=-(2**70), max_value=2**70))
LEAF = st.one_of(NASTY, st.floats(), st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=6),
                 st.none(), st.booleans(), st.lists(st.integers(), max_size=2))


def _numeric(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    try:
        return isinstance(value, str) and math.isfinite(float(value))
    except ValueError:
        return False


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with some leaves replaced: a number (or numeric string) often by another number
    or a nasty one (NaN, inf, 1e400, -1...), anything else now and then by any leaf; some keys
    dropped, some lists emptied."""
    if isinstance(value, dict):
        return {k: draw(mutated(v)) for k, v in value.items() if draw(st.integers(0, 12))}
    if isinstance(value, list):
        return [draw(mutated(v)) for v in value] if draw(st.integers(0, 8)) else []
    if _numeric(value):
        return draw(NUMBERISH) if draw(st.integers(0, 2)) == 0 else value
    return draw(LEAF) if draw(st.integers(0, 7)) == 0 else value


def _body(draw: st.DrawFn, sample: Any) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=40))
    return json.dumps(draw(mutated(sample))).encode()  # NaN/Infinity literals included: not JSON


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.data())
def test_any_rest_reply_raises_only_documented_errors_or_decodes_to_usable_values(
        bench: Bench, data: st.DataObject) -> None:
    for method, path, fn in CALLS[bench.name]:
        body = _body(data.draw, REPLIES[bench.name][(method, path)])
        try:
            result = bench.call(method, path, body, fn)
        except (DecodeError, ExchangeError):
            continue
        assert_usable(result)


@FUZZ
@given(status=st.sampled_from([418, 429, 429, 429, 503]) | st.integers(400, 599),
       body=st.one_of(st.binary(max_size=60), st.builds(
           lambda code, msg, label: json.dumps({"code": code, "msg": msg, "label": label, "message": msg}).encode(),
           LEAF, LEAF, LEAF)),
       retry=NASTY | st.text(max_size=8))
def test_any_error_reply_maps_to_an_exchange_error(status: int, body: bytes, retry: str) -> None:
    headers = {"Retry-After": retry, "X-Gate-RateLimit-Reset-Timestamp": retry}
    for map_error in (binance_map_error, gate_map_error, mexc_map_error):
        error = map_error(status, body, headers)
        assert isinstance(error, ExchangeError)
        retry_after = getattr(error, "retry_after_s", 0.0)
        assert math.isfinite(retry_after) and retry_after >= 0


WS_SAMPLES = {
    "binance": {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1672515782136, "s": "BTCUSDT",
                                                         "U": 157, "u": 160, "b": [["0.0024", "10"]],
                                                         "a": [["0.0026", "100"]]}},
    "gateio": {"time": 1606294781, "channel": "spot.order_book_update", "event": "update",
               "result": {"t": 1606294781123, "s": "BTC_USDT", "U": 48776301, "u": 48776306,
                          "b": [["19137.74", "0.0001"]], "a": [["19137.75", "0.6135"]], "full": False}},
    "mexc": {"id": 0, "code": 0, "msg": "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"},  # text: control
}


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("venue", ["binance", "gateio", "mexc"])
def test_any_json_frame_raises_decode_error_or_decodes_to_usable_values(venue: str, data: st.DataObject) -> None:
    frame: bytes | str = _body(data.draw, WS_SAMPLES[venue])
    if venue == "mexc":  # MEXC's JSON comes as text frames (binary ones are protobuf pushes)
        frame = frame.decode("utf-8", "replace")
    try:
        result = adapter(venue).decode(frame, 1)
    except DecodeError:
        return
    assert_usable(result)


@FUZZ
@given(first=st.text(max_size=8) | st.integers(-5, 2**70).map(str),
       last=st.text(max_size=8) | st.integers(-5, 2**70).map(str),
       levels=st.lists(st.tuples(st.one_of(NASTY, st.floats().map(repr), st.text(max_size=6)),
                                 st.one_of(NASTY, st.floats().map(repr), st.text(max_size=6))), max_size=4),
       send_time=st.integers(-(2**63), 2**63 - 1), noise=st.binary(max_size=8))
def test_any_mexc_push_raises_decode_error_or_decodes_to_usable_values(
        first: str, last: str, levels: list[tuple[str, str]], send_time: int, noise: bytes) -> None:
    wrapper = push_pb2.PushDataV3ApiWrapper(channel="spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
                                            symbol="BTCUSDT", sendTime=send_time)
    body = wrapper.publicAggreDepths
    body.fromVersion, body.toVersion = first, last
    for price, qty in levels:
        body.bids.add(price=price, quantity=qty)
    for frame in (wrapper.SerializeToString(), wrapper.SerializeToString() + noise, noise):
        try:
            result = adapter("mexc").decode(frame, 1)
        except DecodeError:
            continue
        assert_usable(result)
        if isinstance(result, BookDelta):
            assert 0 <= result.exchange_ts_ms <= MAX_TS_MS
