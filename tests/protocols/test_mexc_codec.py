"""MEXC frames: the verified protobuf fixtures of mexc.md §1.6, the recorded live frames,
control replies, and every kind of malformed frame; on both cores (``core``:
tests/conftest.py), and the compiled reader against the protobuf path on generated frames."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import EXCERPT_BYTES, DecodeError
from protocols.messages import BookDelta
from protocols.mexc import MexcVenue, codec, push_pb2
from protocols.venue import Control

FIXTURE_AGGRE_DEPTH = bytes.fromhex(
    "0a2f73706f74407075626c69632e61676772652e64657074682e76332e6170692e7062403130306d734042544355"
    "534454ca134812080a033130301201341a2773706f74407075626c69632e61676772652e64657074682e76332e61"
    "70692e7062403130306d73220531303032332a05313030323330dcd6b4ecdf331a074254435553445430b1d7b4ec"
    "df33"
)
FIXTURE_BOOK_TICKER = bytes.fromhex(
    "0a3473706f74407075626c69632e61676772652e626f6f6b5469636b65722e76332e6170692e7062403130306d73"
    "4042544355534454da13270a0839333338372e32381207332e37333438351a0839333338372e32392208372e3636"
    "393837351a07425443555344543091b0e7d1c432"
)
CHANNEL = "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"


CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "captures" / "MEXC.ws.pb.json"
SYMBOLS = {"BTCUSDT": "BTC/USDT", "ETHUSDT": "ETH/USDT"}


def compiled_decode():  # type: ignore[no-untyped-def]
    from protocols.mexc._depth import decode_depth  # skipped before here when not built
    return decode_depth


@pytest.fixture
def venue(core: str, monkeypatch: pytest.MonkeyPatch) -> MexcVenue:
    """The adapter on the given core, whatever ARBOR_PURE_PYTHON chose at import."""
    monkeypatch.setattr(codec, "_decode_depth", None if core == "python" else compiled_decode())
    return MexcVenue(symbols=("BTC/USDT", "ETH/USDT"))


def _push(symbol: str | None = "BTCUSDT", channel: str = CHANNEL, **body: object) -> bytes:
    wrapper = push_pb2.PushDataV3ApiWrapper(channel=channel, sendTime=1)
    if symbol is not None:
        wrapper.symbol = symbol
    depth = wrapper.publicAggreDepths
    depth.fromVersion, depth.toVersion = str(body.get("first", "5")), str(body.get("last", "6"))
    for price, qty in body.get("bids", [("1", "2")]):  # type: ignore[union-attr]
        depth.bids.add(price=price, quantity=qty)
    for price, qty in body.get("asks", []):  # type: ignore[union-attr]
        depth.asks.add(price=price, quantity=qty)
    return wrapper.SerializeToString()


def test_aggregated_depth_fixture_decodes_to_a_delta_with_its_versions_and_levels(venue: MexcVenue) -> None:
    assert venue.decode(FIXTURE_AGGRE_DEPTH, 42) == BookDelta(
        venue="mexc", symbol="BTC/USDT", first_seq=10023, last_seq=10023, bids=((100.0, 4.0),),
        asks=(), exchange_ts_ms=1778075380657, recv_ns=42)


def test_book_ticker_fixture_is_a_channel_arbor_ignores(venue: MexcVenue) -> None:
    # the fixture itself is well formed: the generated class reads the documented values
    ticker = push_pb2.PushDataV3ApiWrapper.FromString(FIXTURE_BOOK_TICKER).publicAggreBookTicker
    assert (ticker.bidPrice, ticker.askQuantity) == ("93387.28", "7.669875")
    assert venue.decode(FIXTURE_BOOK_TICKER, 1) is None


def test_symbol_is_read_from_the_channel_when_the_optional_field_is_absent(venue: MexcVenue) -> None:
    delta = venue.decode(_push(symbol=None, channel="spot@public.aggre.depth.v3.api.pb@10ms@ETHUSDT"), 1)
    assert isinstance(delta, BookDelta) and delta.symbol == "ETH/USDT"


def test_zero_quantity_is_kept_as_a_level_removal(venue: MexcVenue) -> None:
    delta = venue.decode(_push(bids=[("100.5", "0.00000000")]), 1)
    assert isinstance(delta, BookDelta) and delta.bids == ((100.5, 0.0),)


def test_limit_depth_push_is_a_full_book_with_one_version(venue: MexcVenue) -> None:
    wrapper = push_pb2.PushDataV3ApiWrapper(channel="spot@public.limit.depth.v3.api.pb@BTCUSDT@5", symbol="BTCUSDT")
    wrapper.publicLimitDepths.version = "77"
    wrapper.publicLimitDepths.asks.add(price="101", quantity="3")
    delta = venue.decode(wrapper.SerializeToString(), 1)
    assert isinstance(delta, BookDelta)
    assert (delta.full, delta.first_seq, delta.last_seq, delta.asks) == (True, 77, 77, ((101.0, 3.0),))


@pytest.mark.parametrize(("text", "expected"), [
    ('{"id":0,"code":0,"msg":"PONG"}', Control(kind="pong")),
    (f'{{"id":0,"code":0,"msg":"{CHANNEL}"}}', Control(kind="ack", detail=CHANNEL)),
    ('{"id":0,"code":0,"msg":"Not Subscribed successfully! [spot@public.miniTicker.v3.api@BTCUSDT@UTC+0].  '
     'Reason\uff1a Blocked!"}',
     Control(kind="error", detail="code=0 msg=Not Subscribed successfully! "
             "[spot@public.miniTicker.v3.api@BTCUSDT@UTC+0].  Reason\uff1a Blocked!")),
    ('{"id":0,"code":0,"msg":"spot@public.aggre.depth.v3.api.pb@10ms@SOLUSDT"}',
     Control(kind="error", detail="code=0 msg=spot@public.aggre.depth.v3.api.pb@10ms@SOLUSDT")),
    (f'{{"id":0,"code":1,"msg":"{CHANNEL}"}}', Control(kind="error", detail=f"code=1 msg={CHANNEL}")),
    # several params in one SUBSCRIPTION are acknowledged together, joined by commas
    (f'{{"id":0,"code":0,"msg":"{CHANNEL},{CHANNEL.replace("BTCUSDT", "ETHUSDT")}"}}',
     Control(kind="ack", detail=f'{CHANNEL},{CHANNEL.replace("BTCUSDT", "ETHUSDT")}')),
    (f'{{"id":0,"code":0,"msg":"{CHANNEL},spot@public.aggre.depth.v3.api.pb@10ms@SOLUSDT"}}',
     Control(kind="error", detail=f"code=0 msg={CHANNEL},spot@public.aggre.depth.v3.api.pb@10ms@SOLUSDT")),
])
def test_control_replies_are_acks_pongs_or_errors(venue: MexcVenue, text: str, expected: Control) -> None:
    assert venue.decode(text, 1) == expected


@pytest.mark.parametrize(("frame", "reason"), [
    (FIXTURE_AGGRE_DEPTH[:-3], "corrupt"),  # truncated protobuf
    (FIXTURE_AGGRE_DEPTH[:60], "corrupt"),
    (b"\xff\xff\xff\xff", "corrupt"),  # not protobuf at all
    (b"\xff" * 5000, "corrupt"),  # a big frame: the excerpt stays bounded
    (bytes.fromhex("0a02ab"), "corrupt"),  # length prefix beyond the end
    (bytes.fromhex("0a0141"), "without a known body"),  # a channel and no body
    (bytes.fromhex("0a0141ea12020801"), "without a known body"),  # publicDeals (301): not ours
    (_push(first="ten"), "ValueError"),  # version string that is not a number
    (_push(first=""), "ValueError"),  # missing version
    (_push(bids=[("abc", "1")]), "Expected `float`"),  # price that is not a number
    (_push(bids=[("nan", "1")]), "Expected `float` > 0.0"),  # never a NaN price
    (_push(asks=[("100", "nan")]), "Expected `float` >= 0.0"),
    (_push(bids=[("inf", "1")]), "Expected `float` <="),  # nor an infinite one
    (_push(asks=[("100", "Infinity")]), "Expected `float` <="),
    (_push(bids=[("0", "1")]), "Expected `float` > 0.0"),  # a price is > 0
    (_push(bids=[("-5", "1")]), "Expected `float` > 0.0"),
    (_push(asks=[("100", "-1")]), "Expected `float` >= 0.0"),  # a quantity >= 0 (0 removes)
    (_push(bids=[("1e400", "1")]), "out of range"),
    (_push(first="-3", last="2"), "negative version"),
    (_push(first="9", last="8"), "toVersion 8 < fromVersion 9"),
    (_push(symbol="DOGEUSDT"), "unsubscribed symbol"),  # unknown channel/symbol
    ('{"id":0,"code":0,"msg":', "control reply"),  # truncated JSON
    ("not json", "control reply"),
    ('{"id":0,"code":"zero","msg":"PONG"}', "control reply"),  # wrong type
    ('{"id":0,"code":0}', "control reply"),  # missing msg
    ('[1,2]', "control reply"),
])
def test_malformed_frames_raise_decode_error_with_an_excerpt(venue: MexcVenue, frame: bytes | str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        venue.decode(frame, 1)
    assert reason in info.value.reason
    assert info.value.excerpt and len(info.value.excerpt) <= 2 * EXCERPT_BYTES + 30  # hex doubles bytes


def test_a_frame_that_is_neither_text_nor_bytes_is_a_decode_error(venue: MexcVenue) -> None:
    with pytest.raises(DecodeError, match="frame of type int"):
        venue.decode(12, 1)  # type: ignore[arg-type]


def test_subscribe_frame_carries_every_uppercase_channel_of_one_connection(venue: MexcVenue) -> None:
    assert venue.subscribe_frames(["BTC/USDT", "eth/usdt"]) == [
        '{"method":"SUBSCRIPTION","params":["spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT",'
        '"spot@public.aggre.depth.v3.api.pb@10ms@ETHUSDT"]}']
    assert venue.unsubscribe_frames(["BTC/USDT"]) == [
        '{"method":"UNSUBSCRIPTION","params":["spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"]}']
    assert venue.ping_frame() == '{"method":"PING"}'


def test_more_than_thirty_symbols_on_one_connection_is_refused(venue: MexcVenue) -> None:
    symbols = [f"C{i}/USDT" for i in range(31)]
    assert len(venue.subscribe_frames(symbols[:30])) == 1
    with pytest.raises(ValueError, match="31 symbols"):
        venue.subscribe_frames(symbols)


# --- recorded live frames -------------------------------------------------------------------------


def test_every_recorded_live_frame_decodes_as_the_official_classes_read_it(venue: MexcVenue) -> None:
    if not CAPTURES.exists():
        pytest.skip(f"{CAPTURES} is absent (the shared data sits beside the checkout)")
    for frame in json.loads(CAPTURES.read_text())["frames"]:
        decoded, body = frame["decoded"], None
        if "publicAggreDepths" in decoded:
            body = decoded["publicAggreDepths"]
        elif "publicLimitDepths" in decoded:
            body = decoded["publicLimitDepths"]
        try:
            event = venue.decode(bytes.fromhex(frame["hex"]), 7)
        except DecodeError as exc:  # a channel push.proto does not carry (kline): refused, named
            assert body is None and "without a known body" in exc.reason, frame["id"]
            continue
        if body is None:
            assert event is None, frame["id"]
            continue
        assert isinstance(event, BookDelta), frame["id"]
        assert event.bids == tuple((float(lv["price"]), float(lv["quantity"])) for lv in body.get("bids", ()))
        assert event.asks == tuple((float(lv["price"]), float(lv["quantity"])) for lv in body.get("asks", ()))
        assert event.exchange_ts_ms == int(decoded.get("sendTime", 0)) and event.symbol == "BTC/USDT"
        versions = (body["fromVersion"], body["toVersion"]) if "fromVersion" in body else (body["version"],) * 2
        assert (event.first_seq, event.last_seq) == tuple(map(int, versions))


# --- the compiled reader against the protobuf path --------------------------------------------------

plain_numbers = st.from_regex(r"\A[0-9]{1,25}(\.[0-9]{0,30})?\Z|\A\.[0-9]{1,30}\Z")
odd_numbers = st.sampled_from(["", ".", "-1", "+1", " 1", "1 ", "1e5", "1E-3", "1_0", "nan", "inf", "0x10",
                               "1..2", "\u0661", "9" * 70, "0." + "0" * 70 + "1"])
numbers = st.one_of(plain_numbers, plain_numbers, odd_numbers)
versions = st.one_of(st.integers(min_value=0, max_value=10**19).map(str), st.sampled_from(["", "-1", "1 ", "0x1"]))


@settings(max_examples=400, deadline=None)
@given(price=numbers, quantity=numbers)
def test_the_compiled_reader_reads_a_number_exactly_as_float_does_or_leaves_it_to_the_protobuf_path(
        core: str, price: str, quantity: str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    frame = _push(bids=[(price, quantity)])
    delta = compiled_decode()(frame, 1, SYMBOLS)
    try:
        expected = ((float(price), float(quantity)),)
    except ValueError:
        assert delta is None
        return
    # JSON's number grammar (what the protobuf path's msgspec accepts), and a price > 0
    plain = all(re.fullmatch(r"(0|[1-9][0-9]*)(\.[0-9]+)?", x) and len(x) <= 63 for x in (price, quantity)) \
        and expected[0][0] > 0
    assert (delta is not None) == plain  # anything else is left to the protobuf path
    if delta is not None:
        assert delta.bids == expected
        assert [str(x) for x in delta.bids[0]] == [str(x) for x in expected[0]]  # the same doubles, -0.0 too


@settings(max_examples=300, deadline=None)
@given(first=versions, last=versions, symbol=st.sampled_from([None, "BTCUSDT", "ETHUSDT", "DOGEUSDT", ""]),
       bids=st.lists(st.tuples(numbers, numbers), max_size=6), asks=st.lists(st.tuples(numbers, numbers), max_size=6),
       send_time=st.integers(min_value=-(2**63), max_value=2**63 - 1), extra=st.sampled_from(
           [b"", b"\x28\x05", b"\x22\x03abc", b"\x2a\x01X", b"\x99\x13\x00", b"\xea\x12\x02\x08\x01"]),
       cut=st.one_of(st.none(), st.integers(min_value=0, max_value=200)))
def test_the_compiled_reader_gives_the_protobuf_paths_delta_or_defers_to_it(
        core: str, first: str, last: str, symbol: str | None, bids: list[tuple[str, str]],
        asks: list[tuple[str, str]], send_time: int, extra: bytes, cut: int | None) -> None:
    # Generated pushes, odd fields appended (createTime, symbolId, a bad channel byte, a second
    # body, a deals body) and some truncated: wherever the compiled reader answers, its answer
    # is the protobuf path's; where the protobuf path raises, the compiled reader defers.
    if core == "python":
        pytest.skip("the compiled reader only")
    wrapper = push_pb2.PushDataV3ApiWrapper(channel=CHANNEL.replace("BTCUSDT", symbol or "ETHUSDT"), sendTime=send_time)
    if symbol is not None:
        wrapper.symbol = symbol
    depth = wrapper.publicAggreDepths
    depth.fromVersion, depth.toVersion = first, last
    for price, qty in bids:
        depth.bids.add(price=price, quantity=qty)
    for price, qty in asks:
        depth.asks.add(price=price, quantity=qty)
    frame = wrapper.SerializeToString() + extra
    frame = frame if cut is None else frame[:cut]
    got = compiled_decode()(frame, 3, SYMBOLS)
    try:
        want = codec._decode_push(frame, 3, SYMBOLS)
    except DecodeError:
        assert got is None
        return
    assert got is None or got == want


def test_the_compiled_reader_answers_the_plain_push_itself(core: str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    assert compiled_decode()(FIXTURE_AGGRE_DEPTH, 42, SYMBOLS) == BookDelta(
        venue="mexc", symbol="BTC/USDT", first_seq=10023, last_seq=10023, bids=((100.0, 4.0),),
        asks=(), exchange_ts_ms=1778075380657, recv_ns=42)
    assert compiled_decode()(_push(symbol=None, channel=CHANNEL.replace("BTC", "ETH")), 1, SYMBOLS).symbol == "ETH/USDT"
    assert compiled_decode()(FIXTURE_BOOK_TICKER, 1, SYMBOLS) is None  # not ours: the protobuf path says
