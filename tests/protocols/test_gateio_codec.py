"""Gate.io WebSocket frames → BookDelta / Control / None / DecodeError (gateio.md §4.1–4.2), on
both cores (``core``: tests/conftest.py; the compiled JSON depth reader against the msgspec
path: test_jsondepth.py)."""

import importlib
import json

import pytest

from protocols.errors import DecodeError
from protocols.gateio import GateVenue, codec
from protocols.messages import BookDelta
from protocols.venue import Control

UPDATE = (
    b'{"time":1606294781,"time_ms":1606294781236,"channel":"spot.order_book_update","event":"update",'
    b'"result":{"t":1606294781123,"e":"depthUpdate","E":1606294781,"s":"BTC_USDT","U":48776301,'
    b'"u":48776306,"b":[["19137.74","0.0001"],["19088.37","0"]],"a":[["19137.75","0.6135"]]}}'
)
FULL = (
    '{"time":1748572394,"time_ms":1748572394330,"channel":"spot.order_book_update","event":"update",'
    '"result":{"t":1748572394325,"full":true,"s":"ETH_USDT","U":28606900,"u":28606981,'
    '"b":[["2600.1","1.5"]],"a":[["2600.2","2"]]}}'
)
FULL_WITHOUT_U = (
    '{"channel":"spot.order_book_update","event":"update",'
    '"result":{"t":1748572394325,"full":true,"s":"BTC_USDT","u":28606981,"b":[],"a":[["1","1"]]}}'
)
ACK = (
    '{"time":1606292218,"time_ms":1606292218231,"channel":"spot.order_book_update","event":"subscribe",'
    '"error":null,"result":{"status":"success"}}'
)
UNSUB_ACK = (
    '{"time":1606292218,"channel":"spot.order_book_update","event":"unsubscribe",'
    '"error":null,"result":{"status":"success"}}'
)
ERROR_REPLY = (
    '{"time":1606292218,"channel":"spot.order_book_update","event":"subscribe",'
    '"error":{"code":2,"message":"unknown currency pair GIBBERISH_USD"},"result":null}'
)
BARE_ERROR_REPLY = '{"error":{"code":1,"message":"Invalid request body format"},"result":null}'
PONG = '{"time":1545404023,"time_ms":1545404023123,"channel":"spot.pong","event":"","error":null,"result":null}'
TICKER = (
    '{"time":1606293275,"channel":"spot.book_ticker","event":"update","result":{"t":1606293275123,'
    '"u":48733182,"s":"BTC_USDT","b":"19177.79","B":"0.0003341504","a":"19179.38","A":"0.09"}}'
)


@pytest.fixture
def venue(core, monkeypatch):
    """The adapter on the given core, whatever ARBOR_PURE_PYTHON chose at import."""
    monkeypatch.setattr(codec, "_read_depth", None if core == "python" else
                        importlib.import_module("protocols._jsondepth").decode_gateio)
    return GateVenue(symbols=("BTC/USDT", "ETH/USDT"))


def test_documented_order_book_update_becomes_a_delta_with_float_levels(venue):
    assert venue.decode(UPDATE, recv_ns=42) == BookDelta(
        venue="gateio", symbol="BTC/USDT", first_seq=48776301, last_seq=48776306,
        bids=((19137.74, 0.0001), (19088.37, 0.0)), asks=((19137.75, 0.6135),),
        exchange_ts_ms=1606294781123, recv_ns=42, full=False,
    )


def test_full_push_is_a_delta_marked_full_and_str_frames_decode_too(venue):
    delta = venue.decode(FULL, recv_ns=1)
    assert (delta.full, delta.symbol, delta.first_seq, delta.last_seq) == (True, "ETH/USDT", 28606900, 28606981)
    assert delta.bids == ((2600.1, 1.5),) and delta.asks == ((2600.2, 2.0),)


def test_full_push_without_u_first_id_starts_at_its_last_id(venue):
    delta = venue.decode(FULL_WITHOUT_U, recv_ns=1)
    assert (delta.full, delta.first_seq, delta.last_seq) == (True, 28606981, 28606981)


def test_a_pair_not_configured_still_maps_to_the_internal_symbol(venue):
    assert venue.decode(UPDATE.replace(b"BTC_USDT", b"SOL_USDT"), 0).symbol == "SOL/USDT"


@pytest.mark.parametrize(("frame", "expected"), [
    pytest.param(ACK, Control(kind="ack", detail="subscribe spot.order_book_update"), id="subscribe ack"),
    pytest.param(UNSUB_ACK, Control(kind="ack", detail="unsubscribe spot.order_book_update"), id="unsubscribe ack"),
    pytest.param(ERROR_REPLY, Control(kind="error", detail="spot.order_book_update: code 2: unknown currency pair "
                                      "GIBBERISH_USD"), id="subscribe error reply"),
    pytest.param(BARE_ERROR_REPLY, Control(kind="error", detail="code 1: Invalid request body format"),
                 id="error reply without a channel"),
    pytest.param(PONG, Control(kind="pong"), id="spot.pong"),
    pytest.param(TICKER, None, id="push on a known channel we do not consume"),
])
def test_control_frames_are_told_apart_from_data(venue, frame, expected):
    assert venue.decode(frame, recv_ns=0) == expected


MALFORMED = [
    pytest.param(UPDATE[:-7], "truncated", id="truncated JSON"),
    pytest.param(b"", "", id="empty frame"),
    pytest.param(UPDATE.replace(b'"U":48776301', b'"U":[1]'), "U", id="first id of the wrong type"),
    pytest.param(UPDATE.replace(b'["19137.75","0.6135"]', b'["abc","0.6135"]'), "a", id="price not a number"),
    pytest.param(UPDATE.replace(b'"t":1606294781123', b'"t":{}'), "t", id="timestamp of the wrong type"),
    pytest.param(UPDATE.replace(b"spot.order_book_update", b"spot.candlesticks"), "channel", id="unknown channel"),
    pytest.param(b'{"event":"update","result":{}}', "channel", id="no channel at all"),
    pytest.param(UPDATE.replace(b'"U":48776301,', b""), "U/u", id="incremental update without U"),
    pytest.param(b'{"channel":"spot.order_book_update","event":"update","result":null}', "U/u",
                 id="update without a result"),
    pytest.param(b"[1,2,3]", "", id="a JSON array"),
]


@pytest.mark.parametrize(("frame", "reason"), MALFORMED)
def test_malformed_frames_raise_decode_error_with_an_excerpt(venue, frame, reason):
    with pytest.raises(DecodeError) as info:
        venue.decode(frame, recv_ns=0)
    assert info.value.venue == "gateio"
    assert reason in str(info.value)
    assert info.value.excerpt.startswith(frame[:200].decode())


def test_decode_error_excerpt_is_bounded_for_a_huge_frame(venue):
    frame = UPDATE[:-2] + b"," + b"x" * 5000
    with pytest.raises(DecodeError) as info:
        venue.decode(frame, recv_ns=0)
    assert len(info.value.excerpt) < 300 and info.value.excerpt.endswith(f"({len(frame)} bytes)")


def test_subscribe_frames_are_one_obu_stream_of_50_levels_per_symbol_by_default():
    venue = GateVenue(symbols=(), clock=lambda: 1606292218.9)
    frames = [json.loads(f) for f in venue.subscribe_frames(["BTC/USDT", "ETH/USDT"])]
    assert frames == [{"time": 1606292218, "channel": "spot.obu", "event": "subscribe", "payload": [f"ob.{pair}.50"]}
                      for pair in ("BTC_USDT", "ETH_USDT")]
    assert [json.loads(f)["event"] for f in venue.unsubscribe_frames(["BTC/USDT"])] == ["unsubscribe"]
    assert type(venue.sync).__name__ == "GateObuSync"


def test_obu_push_decodes_full_and_incremental_with_the_pair_from_the_stream_name(venue):
    full = (b'{"time":1748572394,"time_ms":1748572394330,"channel":"spot.obu","event":"update","result":'
            b'{"t":1748572394325,"full":true,"s":"ob.BTC_USDT.50","u":28606981,"b":[["105000.1","0.5"]],'
            b'"a":[["105000.2","1"]]}}')
    delta = venue.decode(full, recv_ns=3)
    assert (delta.symbol, delta.first_seq, delta.last_seq, delta.full, delta.bids, delta.asks, delta.exchange_ts_ms) \
        == ("BTC/USDT", 28606981, 28606981, True, ((105000.1, 0.5),), ((105000.2, 1.0),), 1748572394325)
    inc = full.replace(b'"full":true,', b'"U":28606982,').replace(b'"u":28606981', b'"u":28606990')
    delta = venue.decode(inc, recv_ns=3)
    assert (delta.first_seq, delta.last_seq, delta.full) == (28606982, 28606990, False)
    with pytest.raises(DecodeError, match=r"spot\.obu"):
        venue.decode(inc.replace(b'"U":28606982,', b''), recv_ns=3)


def test_subscribe_frames_are_one_order_book_update_per_symbol_with_100ms_and_seconds_when_configured():
    venue = GateVenue(symbols=(), clock=lambda: 1606292218.9, book_channel="spot.order_book_update")
    frames = [json.loads(f) for f in venue.subscribe_frames(["BTC/USDT", "ETH/USDT"])]
    assert frames == [
        {"time": 1606292218, "channel": "spot.order_book_update", "event": "subscribe", "payload": [pair, "100ms"]}
        for pair in ("BTC_USDT", "ETH_USDT")
    ]
    unsub = [json.loads(f) for f in venue.unsubscribe_frames(["BTC/USDT"])]
    assert unsub == [{"time": 1606292218, "channel": "spot.order_book_update", "event": "unsubscribe",
                      "payload": ["BTC_USDT", "100ms"]}]


def test_ping_frame_is_spot_ping_with_time_in_seconds_and_the_venue_constants():
    venue = GateVenue(clock=lambda: 1545404023.5)
    assert json.loads(venue.ping_frame()) == {"time": 1545404023, "channel": "spot.ping"}
    assert (venue.name, venue.ping_interval_s, venue.max_streams_per_connection) == ("gateio", 10.0, 100)
    assert venue.ws_url(["BTC/USDT"]) == "wss://api.gateio.ws/ws/v4/"
