"""Binance frames → messages (binance.md §3.1): each channel, control replies, malformed frames,
and the pure subscribe/URL side of the adapter; the frames on both cores (``core``:
tests/conftest.py; the compiled JSON depth reader against the msgspec path: test_jsondepth.py)."""

from __future__ import annotations

import importlib
import json

import pytest

from protocols.binance import BinanceVenue, codec
from protocols.errors import DecodeError
from protocols.messages import BookDelta
from protocols.venue import Control

# The documented depthUpdate payload (§3.1), in the combined-stream envelope.
DOC_DEPTH = (
    b'{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC",'
    b'"U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}'
)


@pytest.fixture
def venue(core: str, monkeypatch: pytest.MonkeyPatch) -> BinanceVenue:
    """The adapter on the given core, whatever ARBOR_PURE_PYTHON chose at import."""
    monkeypatch.setattr(codec, "_read_depth", None if core == "python" else
                        importlib.import_module("protocols._jsondepth").decode_binance)
    return BinanceVenue(symbols=("BNB/BTC", "BTC/USDT"))


def test_documented_depth_update_becomes_a_delta_with_float_levels(venue: BinanceVenue) -> None:
    assert venue.decode(DOC_DEPTH, 42) == BookDelta(
        venue="binance", symbol="BNB/BTC", first_seq=157, last_seq=160, bids=((0.0024, 10.0),),
        asks=((0.0026, 100.0),), exchange_ts_ms=1672515782136, recv_ns=42,
    )


def test_depth_frame_as_str_decodes_like_bytes(venue: BinanceVenue) -> None:
    assert venue.decode(DOC_DEPTH.decode(), 1) == venue.decode(DOC_DEPTH, 1)


def test_zero_quantity_level_is_kept_as_a_removal() -> None:
    frame = (b'{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":7,'
             b'"b":[["30000.10","0.00000000"],["29999.9","1.5"]],"a":[]}}')
    delta = BinanceVenue(symbols=("BTC/USDT",)).decode(frame, 0)
    assert isinstance(delta, BookDelta)
    assert (delta.symbol, delta.first_seq, delta.last_seq) == ("BTC/USDT", 5, 7)
    assert delta.bids == ((30000.1, 0.0), (29999.9, 1.5)) and delta.asks == ()


def test_raw_stream_depth_update_without_envelope_decodes_too(venue: BinanceVenue) -> None:
    raw = json.dumps(json.loads(DOC_DEPTH)["data"])
    assert venue.decode(raw, 42) == venue.decode(DOC_DEPTH, 42)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b'{"result":null,"id":1}', Control(kind="ack", detail="id=1 result=null")),
        (b'{"result":["btcusdt@depth@100ms"],"id":"list-1"}',
         Control(kind="ack", detail='id=list-1 result=["btcusdt@depth@100ms"]')),
        (b'{"code":2,"msg":"Invalid request: unknown variant","id":3}',
         Control(kind="error", detail="code 2: Invalid request: unknown variant (id=3)")),
        (b'{"e":"serverShutdown","E":1672515782136}', Control(kind="info", detail="serverShutdown")),
        (b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}',
         Control(kind="info", detail="serverShutdown")),
    ],
)
def test_control_replies_are_told_apart_from_data(venue: BinanceVenue, frame: bytes, expected: Control) -> None:
    assert venue.decode(frame, 0) == expected


@pytest.mark.parametrize(
    "frame",
    [
        # bookTicker (§3.1): prices are strings where depth has arrays; nobody here subscribes
        b'{"stream":"bnbusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.35190000",'
        b'"B":"31.21000000","a":"25.36520000","A":"40.66000000"}}',
        # partial depth (§3.1)
        b'{"stream":"bnbbtc@depth10@100ms","data":{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[]}}',
        b'{"stream":"bnbbtc@depth5","data":{"lastUpdateId":160,"bids":[],"asks":[]}}',
    ],
)
def test_channels_we_do_not_use_decode_to_none(venue: BinanceVenue, frame: bytes) -> None:
    assert venue.decode(frame, 0) is None


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (DOC_DEPTH[:60], "truncated"),
        (b"not json at all", "malformed"),
        (b"[1,2,3]", "Expected `object`"),
        (b'{"stream":"bnbbtc@depth","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":"x","u":1,"b":[],"a":[]}}',
         "Expected `int`"),
        (b'{"stream":"bnbbtc@depth","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["abc","1"]],'
         b'"a":[]}}', "Expected `float`"),
        (b'{"stream":"bnbbtc@depth","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1"]],"a":[]}}',
         "Expected `array` of length 2"),
        (b'{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","s":"BNBBTC"}}', "missing required field"),
        (b'{"stream":"bnbbtc@trade","data":{"e":"trade","E":1}}', "unknown stream 'bnbbtc@trade'"),
        (b'{"stream":"ethbtc@depth","data":{"e":"depthUpdate","E":1,"s":"ETHBTC","U":1,"u":2,"b":[],"a":[]}}',
         "unknown symbol 'ETHBTC'"),
        (b'{"stream":"bnbbtc@depth","data":{"e":"trade","E":1,"s":"BNBBTC","U":1,"u":2,"b":[],"a":[]}}',
         "carries event 'trade'"),
        (b"{}", "not a stream event"),
        (b'{"id":7}', "not a stream event"),
    ],
)
def test_malformed_frames_raise_decode_error_with_an_excerpt(venue: BinanceVenue, frame: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        venue.decode(frame, 0)
    assert reason.lower() in info.value.reason.lower()
    assert info.value.venue == "binance"
    assert info.value.excerpt == frame[:200].decode()


def test_decode_error_excerpt_of_a_huge_frame_is_bounded(venue: BinanceVenue) -> None:
    frame = b'{"stream":"bnbbtc@depth","data":{"e":"depthUpdate","b":[' + b'["1","1"],' * 10_000
    with pytest.raises(DecodeError) as info:
        venue.decode(frame, 0)
    assert len(info.value.excerpt) < 300 and info.value.excerpt.endswith(f"({len(frame)} bytes)")


def test_ws_url_carries_the_initial_streams_lowercase_combined() -> None:
    venue = BinanceVenue(ws_url="ws://127.0.0.1:9/", symbols=())
    assert venue.ws_url(["BTC/USDT", "BNB/BTC"]) == (
        "ws://127.0.0.1:9/stream?streams=btcusdt@depth@100ms/bnbbtc@depth@100ms"
    )
    assert venue.ws_url([]) == "ws://127.0.0.1:9/stream"


def test_symbols_named_in_the_url_are_decodable_even_if_not_configured() -> None:
    venue = BinanceVenue(symbols=())
    venue.ws_url(["BNB/BTC"])
    assert isinstance(venue.decode(DOC_DEPTH, 0), BookDelta)


def test_subscribe_and_unsubscribe_frames_follow_the_documented_shape_with_fresh_ids(venue: BinanceVenue) -> None:
    [sub] = venue.subscribe_frames(["BTC/USDT", "BNB/BTC"])
    [unsub] = venue.unsubscribe_frames(["BTC/USDT"])
    assert json.loads(sub) == {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms", "bnbbtc@depth@100ms"], "id": 1}
    assert json.loads(unsub) == {"method": "UNSUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 2}
    assert venue.subscribe_frames([]) == []


def test_binance_pings_us_so_there_is_no_ping_frame_to_send(venue: BinanceVenue) -> None:
    assert venue.ping_frame() is None
    assert venue.max_streams_per_connection == 1024
    assert venue.name == "binance"
