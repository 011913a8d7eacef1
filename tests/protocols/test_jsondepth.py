"""The compiled JSON depth reader (``protocols._jsondepth``) against the codecs' msgspec path:
on every recorded Binance and Gate.io frame, on generated frames (plain and odd numbers, keys
in any order, unknown keys, both wrappers, whitespace), and on malformed ones. Wherever the
reader answers, its ``BookDelta`` is the msgspec path's; wherever the msgspec path raises, the
reader defers, and the codec's error is the same with the reader as without it."""

from __future__ import annotations

import gc
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import cryptofeed
from protocols.binance import codec as binance_codec
from protocols.capture import WS
from protocols.errors import DecodeError
from protocols.gateio import codec as gate_codec
from protocols.messages import BookDelta

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "captures"
BINANCE_SYMBOLS = {"BTCUSDT": "BTC/USDT", "ETHUSDT": "ETH/USDT"}
GATE_SYMBOLS = {"BTC_USDT": "BTC/USDT", "ETH_USDT": "ETH/USDT"}
Reader = Callable[[bytes | str, int, dict[str, str]], BookDelta | None]


def reader(venue: str) -> Reader:
    """The compiled reader of ``venue`` (the ``core`` parameter skips before here when not built)."""
    return getattr(importlib.import_module("protocols._jsondepth"), f"decode_{venue}")  # type: ignore[no-any-return]


def decoded(codec: ModuleType, frame: bytes | str, symbols: dict[str, str], read: Reader | None) -> object:
    """What the codec gives with ``read`` as its reader (None: the msgspec path alone): its event,
    or the text of its ``DecodeError``."""
    saved, codec._read_depth = codec._read_depth, read
    try:
        return codec.decode(frame, 7, symbols)
    except DecodeError as exc:
        return f"DecodeError: {exc}"
    finally:
        codec._read_depth = saved


def msgspec_path(codec: ModuleType, frame: bytes | str, symbols: dict[str, str]) -> object:
    return decoded(codec, frame, symbols, None)


def assert_agrees(venue: str, frame: bytes | str, symbols: dict[str, str]) -> BookDelta | None:
    """The reader's answer is None or the msgspec path's delta; the codec with the reader gives
    exactly what it gives without (delta, control, None or the same error)."""
    codec = binance_codec if venue == "binance" else gate_codec
    got = reader(venue)(frame, 7, symbols)  # never raises
    want = msgspec_path(codec, frame, symbols)
    assert got is None or got == want, (frame, got, want)
    assert decoded(codec, frame, symbols, reader(venue)) == want
    return got


def _recorded(name: str) -> Iterator[str]:
    path = CAPTURES / name
    if not path.is_file():
        pytest.skip(f"recorded venue traffic not present at {path}")
    for kind, _, _, _, _, payload in cryptofeed.read(path):
        if kind == WS:
            yield payload.decode() if isinstance(payload, bytes) else payload


def _symbols(name: str, sep: str) -> dict[str, str]:
    (market,) = cryptofeed.markets(CAPTURES / name).values()
    return {s.replace("/", sep): s for s in market.symbols}


# --- recorded traffic -------------------------------------------------------------------------------

RECORDED = [("binance", "BINANCE.ws.1.0", ""), ("gateio", "GATEIO.ws.1.0", "_")]


@pytest.mark.parametrize(("venue", "name", "sep"), RECORDED)
def test_every_recorded_depth_frame_reads_to_the_msgspec_paths_delta(core: str, venue: str, name: str,
                                                                     sep: str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    frames = list(_recorded(name))
    symbols = _symbols(name, sep)
    codec = binance_codec if venue == "binance" else gate_codec
    deltas = 0
    for frame in frames:
        for data in (frame, frame.encode()):  # str as the connection passes TEXT, and bytes
            got = assert_agrees(venue, data, symbols)
            if isinstance(msgspec_path(codec, data, symbols), BookDelta):
                assert got is not None, data  # a real depth frame is the plain case: the reader answers
                deltas += 1
            else:
                assert got is None
    assert deltas == 2 * (177 if venue == "binance" else 172)


@pytest.mark.parametrize(("venue", "name", "sep"), RECORDED)
def test_a_recorded_depth_frame_cut_at_every_byte_is_left_to_the_msgspec_path_and_its_error(
        core: str, venue: str, name: str, sep: str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    symbols = _symbols(name, sep)
    frame = next(f for f in _recorded(name) if '"depthUpdate"' in f or ('"update"' in f and '"b":[[' in f))
    for cut in range(len(frame)):
        assert assert_agrees(venue, frame[:cut], symbols) is None
        assert assert_agrees(venue, frame[:cut].encode(), symbols) is None


def test_the_codecs_use_the_compiled_reader_when_it_is_built(core: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fails if the reader is built but the codecs silently take the msgspec path: with the
    # msgspec decoders gone, only the reader can still decode a recorded frame.
    if core == "python":
        pytest.skip("the compiled reader only")
    from protocols import compiled
    if compiled.pure_selected():
        pytest.skip(f"{compiled.ENV} selects the pure core for this run")
    assert binance_codec.CORE == gate_codec.CORE == "compiled"
    monkeypatch.setattr(binance_codec, "wire", None)
    monkeypatch.setattr(gate_codec, "wire", None)
    frame = next(f for f in _recorded("BINANCE.ws.1.0") if '"depthUpdate"' in f)
    delta = binance_codec.decode(frame, 1, _symbols("BINANCE.ws.1.0", ""))
    assert isinstance(delta, BookDelta) and delta.venue == "binance"
    frame = next(f for f in _recorded("GATEIO.ws.1.0") if '"update"' in f and '"spot.order_book_update"' in f)
    delta = gate_codec.decode(frame, 1, _symbols("GATEIO.ws.1.0", "_"))
    assert isinstance(delta, BookDelta) and delta.venue == "gateio"
    # the levels are created out of the collector's reach, as protocols._levels leaves them
    assert not gc.is_tracked(delta.bids) and not any(map(gc.is_tracked, delta.bids + delta.asks))


# --- generated frames -------------------------------------------------------------------------------

plain_numbers = st.from_regex(r"\A(0|[1-9][0-9]{0,24})(\.[0-9]{1,30})?\Z")  # incl. long mantissas, "0"
odd_numbers = st.one_of(
    st.from_regex(r"\A[0-9]{1,25}(\.[0-9]{0,30})?\Z|\A\.[0-9]{1,30}\Z"),  # leading zeros, "1.", ".5"
    st.sampled_from(["", ".", "-1", "-0", "+1", " 1", "1 ", "1e5", "1E-3", "1_0", "nan", "NaN", "inf", "-inf",
                     "Infinity", "0x10", "1..2", "\u0661", "9" * 70, "0." + "0" * 70 + "1", "1e999"]))
number_values: st.SearchStrategy[Any] = st.one_of(
    plain_numbers, plain_numbers, plain_numbers, odd_numbers,
    st.integers(min_value=-5, max_value=10**20), st.floats(allow_nan=False), st.none())
levels = st.lists(st.one_of(st.tuples(number_values, number_values).map(list),
                            st.lists(plain_numbers, max_size=3)), max_size=6)
plain_levels = st.lists(st.tuples(plain_numbers.filter(lambda s: float(s) > 0), plain_numbers).map(list),
                        max_size=6)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8)
unknown = st.dictionaries(st.sampled_from(["x", "time", "time_ms", "E ", "ee", "payload", "full", "t", "\u00e9"]),
                          json_values, max_size=2)
odd_ints = st.one_of(st.integers(min_value=10**18 - 2, max_value=2**64), st.integers(min_value=-3, max_value=-1),
                    st.sampled_from(["5", 1.0, True, None, 10**15 + 1]))


def pick(draw: st.DrawFn, plain: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], only_plain: bool) -> Any:
    """A value of ``plain``, or (one time in five, unless ``only_plain``) of ``odd``: most
    generated frames keep most fields plain, so the reader's answer is compared often."""
    return draw(plain if only_plain or draw(st.integers(min_value=0, max_value=4)) else odd)


def encode(draw: st.DrawFn, obj: dict[str, Any]) -> bytes | str:
    """``obj`` compact or spaced, as bytes or str (non-ASCII characters escaped or not)."""
    spaced = draw(st.booleans())
    text = json.dumps(obj, separators=(", ", ": ") if spaced else (",", ":"), ensure_ascii=draw(st.booleans()))
    return text.encode() if draw(st.booleans()) else text


def reorder(draw: st.DrawFn, fields: dict[str, Any], plain: bool, drop: bool = True) -> dict[str, Any]:
    """``fields`` with unknown keys added (unless ``plain``), maybe one field dropped, in any order."""
    obj = {**({} if plain else pick(draw, st.just({}), unknown, False)), **fields}
    if drop and not plain and not draw(st.integers(min_value=0, max_value=9)):
        del obj[draw(st.sampled_from(sorted(fields)))]
    return {key: obj[key] for key in draw(st.permutations(sorted(obj)))}


def sides(draw: st.DrawFn, plain: bool) -> dict[str, Any]:
    return {"b": pick(draw, plain_levels, levels, plain), "a": pick(draw, plain_levels, levels, plain)}


def seqs(draw: st.DrawFn, plain: bool) -> tuple[Any, Any]:
    first = pick(draw, st.integers(min_value=0, max_value=10**17), odd_ints, plain)
    last = draw(st.integers(min_value=first, max_value=10**18 - 1)) if type(first) is int and 0 <= first < 10**18 else 0
    return first, pick(draw, st.just(last), odd_ints, plain)


@st.composite
def binance_frames(draw: st.DrawFn, plain: bool = False) -> bytes | str:
    first, last = seqs(draw, plain)
    data = reorder(draw, {
        "e": pick(draw, st.just("depthUpdate"), st.sampled_from(["bookTicker", 5, "depthupdate", "depth update"]),
                  plain),
        "E": pick(draw, st.integers(min_value=0, max_value=10**15), odd_ints, plain),
        "s": pick(draw, st.sampled_from(["BTCUSDT", "ETHUSDT"]), st.sampled_from(["DOGEUSDT", "", "BTC\u00e9"]),
                  plain),
        "U": first, "u": last, **sides(draw, plain)}, plain)
    wrapper = pick(draw, st.sampled_from(["envelope", "bare"]), st.sampled_from(["both", "reply", "stream only"]),
                   plain)
    if wrapper == "bare":
        return encode(draw, data)
    top: dict[str, Any] = {"stream": draw(st.sampled_from(["btcusdt@depth@100ms", "btcusdt@depth"])), "data": data}
    if wrapper == "both":
        top["e"] = "depthUpdate"
    elif wrapper == "reply":
        top = {**data, draw(st.sampled_from(["result", "id", "code", "msg"])): draw(json_values)}
    elif wrapper == "stream only":
        top = {**data, "stream": top["stream"]}
    return encode(draw, reorder(draw, top, plain, drop=False))


@st.composite
def gate_frames(draw: st.DrawFn, plain: bool = False) -> bytes | str:
    channel = pick(draw, st.sampled_from(["spot.order_book_update", "spot.obu"]),
                   st.sampled_from(["spot.book_ticker", "spot.pong", "spot.nope"]), plain)
    pair = pick(draw, st.sampled_from(["BTC_USDT", "ETH_USDT"]), st.sampled_from(["DOGE_USDT", "", "BTC_\u00e9"]),
                plain)
    stream = pick(draw, st.just(f"ob.{pair}.50"),
                  st.sampled_from([pair, f"ob.{pair}", f"x.{pair}.50", f"ob.{pair}.", ".50", "ob..50"]), plain)
    first, last = seqs(draw, plain)
    result: dict[str, Any] = {
        "t": pick(draw, st.integers(min_value=0, max_value=10**15), odd_ints, plain),
        "s": stream if channel == "spot.obu" else pair, "U": first, "u": last, **sides(draw, plain)}
    if draw(st.booleans()):
        result["full"] = pick(draw, st.booleans(), st.sampled_from([1, "true", None]), plain)
        if result["full"] is True and draw(st.booleans()):
            del result["U"]  # a full push may omit U
    top = {"time": 1606294781, "time_ms": 1606294781236, "channel": channel,
           "event": pick(draw, st.just("update"), st.sampled_from(["subscribe", "", "Update"]), plain),
           "result": reorder(draw, result, plain)}
    if draw(st.booleans()):
        top["error"] = pick(draw, st.none(), st.just({"code": 2, "message": "x"}), plain)
    return encode(draw, reorder(draw, top, plain))


@pytest.mark.parametrize("venue", ["binance", "gateio"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_generated_frame_reads_to_the_msgspec_paths_result_or_is_left_to_it(core: str, venue: str,
                                                                               data: st.DataObject) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    frame = data.draw(binance_frames() if venue == "binance" else gate_frames(), label="frame")
    assert_agrees(venue, frame, BINANCE_SYMBOLS if venue == "binance" else GATE_SYMBOLS)


def _levels(frame: bytes | str, side: str) -> tuple[tuple[float, float], ...]:
    obj = json.loads(frame)
    body = obj.get("result") or obj.get("data") or obj
    return tuple((float(price), float(qty)) for price, qty in body[side])


@settings(max_examples=200, deadline=None)
@given(frame=st.one_of(binance_frames(plain=True), gate_frames(plain=True)))
def test_a_plain_depth_frame_is_answered_by_the_reader_itself_with_the_doubles_float_gives(
        core: str, frame: bytes | str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    venue = "gateio" if "channel" in json.loads(frame) else "binance"
    got = assert_agrees(venue, frame, GATE_SYMBOLS if venue == "gateio" else BINANCE_SYMBOLS)
    assert isinstance(got, BookDelta)
    assert (got.bids, got.asks) == (_levels(frame, "b"), _levels(frame, "a"))
    assert repr(got.bids + got.asks) == repr(_levels(frame, "b") + _levels(frame, "a"))  # the very same doubles


@settings(max_examples=200, deadline=None)
@given(frame=st.one_of(binance_frames(), gate_frames()), cut=st.integers(min_value=0, max_value=400),
       junk=st.sampled_from(["", " ", "x", "}", ",", "\u00e9", "\x00"]))
def test_a_truncated_or_extended_frame_never_raises_from_the_reader_and_keeps_the_codecs_error(
        core: str, frame: bytes | str, cut: int, junk: str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    odd = frame[:cut] + (junk.encode() if isinstance(frame, bytes) else junk)
    for venue, symbols in (("binance", BINANCE_SYMBOLS), ("gateio", GATE_SYMBOLS)):
        assert_agrees(venue, odd, symbols)


@pytest.mark.parametrize("frame", [b"", "", b"{}", b"[]", b"null", "\u00e9", bytearray(b"{}"), memoryview(b"{}"),
                                   b'{"channel":"spot.obu","event":"update","result":null}'])
def test_other_inputs_are_left_to_the_codec(core: str, frame: Any) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    assert reader("binance")(frame, 1, BINANCE_SYMBOLS) is None
    assert reader("gateio")(frame, 1, GATE_SYMBOLS) is None


def test_whitespace_around_the_tokens_is_read_as_json_allows_it(core: str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    frame = (b' {\t"stream" : "btcusdt@depth" ,\r\n"data":{ "e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,'
             b'"b":[ [ "1.5" , "2" ] ],"a":[ ] } }\n ')
    assert assert_agrees("binance", frame, BINANCE_SYMBOLS) == BookDelta(
        venue="binance", symbol="BTC/USDT", first_seq=1, last_seq=2, bids=((1.5, 2.0),), asks=(), exchange_ts_ms=1,
        recv_ns=7)


_DATA = '"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.5","2"]],"a":[]'
_RESULT = '"t":5,"s":"BTC_USDT","U":1,"u":2,"b":[["1.5","2"]],"a":[]'


def _bn(data: str = _DATA, *, old: str = "", new: str = "", tail: str = "") -> str:
    """The Binance envelope around ``data`` (``old`` replaced by ``new``), ``tail`` after ``data``."""
    return '{"stream":"s","data":{' + data.replace(old, new) + "}" + tail + "}"


def _gt(result: str = _RESULT, *, old: str = "", new: str = "", channel: str = "spot.order_book_update",
        head: str = "") -> str:
    return '{"channel":"' + channel + '","event":"update",' + head + '"result":{' + result.replace(old, new) + "}}"


ODD_FRAMES = [
    ("binance", _bn(old='"BTCUSDT"', new='"BTC\\u0055SDT"')),  # an escape
    ("binance", _bn(old='"e":', new='"\\u0065":')),  # an escaped key
    ("binance", _bn(_DATA + ',"s":"ETHUSDT"')),  # a key twice: msgspec keeps the last
    ("binance", _bn(tail=',"data":{' + _DATA + "}")),
    ("binance", _bn(_DATA + ',"x":' + "[" * 40 + "]" * 40)),  # deeper than the skipper
    ("binance", _bn(_DATA + ',"x":[1.5e3,-0,true,false,null,{"a":"b"}]')),
    ("binance", _bn(_DATA + ',"x":01')),  # not JSON
    ("binance", _bn(_DATA + ',"x":1.')),
    ("binance", _bn(_DATA + ',"x":"\x01"')),
    ("binance", _bn(old='"1.5"', new="1.5")),  # a number, not a string
    ("binance", _bn(old='"1.5"', new='"1.5e0"')),
    ("binance", _bn(old='"2"', new='"-2"')),  # a negative quantity
    ("binance", _bn(old='"1.5"', new='"nan"')),
    ("binance", _bn(old='"1.5"', new='"0"')),  # a price of 0
    ("binance", _bn(old='"U":1', new='"U":3')),  # u < U
    ("binance", _bn(old='"E":1', new='"E":1000000000000001')),
    ("binance", _bn(old='"U":1', new='"U":1.0')),
    ("binance", _bn(old='[["1.5","2"]]', new='[["1.5","2","3"]]')),
    ("binance", _bn() + " x"),  # trailing bytes
    ("binance", _bn().replace('"s"', "null", 1)),
    ("binance", "{" + _DATA + ',"code":5}'),  # a bare frame with a key the slow path reads
    ("gateio", _gt()),
    ("gateio", _gt(head='"error":{"code":1,"message":"m"},')),
    ("gateio", _gt(_RESULT + ',"full":1')),
    ("gateio", _gt(old='"U":1,', new="")),
    ("gateio", _gt(old='"t":5', new='"t":-1')),
    ("gateio", _gt(old='"BTC_USDT"', new='""')),
    ("gateio", _gt(old="BTC", new="DOGE")),
    ("gateio", _gt(channel="spot.obu", old="BTC_USDT", new="ob.BTC_USDT.50")),
    ("gateio", _gt(channel="spot.obu", old="BTC_USDT", new="ob.BTC_USDT")),
    ("gateio", _gt(_RESULT.replace('"U":1', '"U":3'), channel="spot.obu", old="BTC_USDT", new="ob.BTC_USDT.50")),
    ("gateio", _gt(head='"channel":"spot.order_book_update",')),
]


@pytest.mark.parametrize(("venue", "frame"), ODD_FRAMES)
def test_a_hand_written_odd_frame_gives_the_codecs_answer_with_the_reader_as_without(core: str, venue: str,
                                                                                     frame: str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    symbols = GATE_SYMBOLS if venue == "gateio" else BINANCE_SYMBOLS
    assert_agrees(venue, frame, symbols)
    assert_agrees(venue, frame.encode(), symbols)


def _book(n: int) -> list[list[str]]:
    return [[f"{100 + i * 0.01:.2f}", f"{i % 7}.{i:04d}"] for i in range(n)]


@pytest.mark.parametrize("n", [63, 64, 65, 130, 1000])
def test_a_side_longer_than_the_stack_buffer_reads_whole(core: str, n: int) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    frame = json.dumps({"channel": "spot.obu", "event": "update", "result": {
        "t": 1, "full": True, "s": "ob.BTC_USDT.50", "u": 9, "b": _book(n), "a": _book(n + 1)}})
    got = assert_agrees("gateio", frame, GATE_SYMBOLS)
    assert got is not None and (len(got.bids), len(got.asks)) == (n, n + 1)


def test_the_reader_keeps_no_reference_to_the_levels_of_a_frame_it_leaves_to_msgspec(core: str) -> None:
    if core == "python":
        pytest.skip("the compiled reader only")
    read = reader("gateio")
    book = json.dumps(_book(200))
    frames = [f'{{"channel":"spot.obu","event":"update","result":{{"b":{book},"a":{book},"s":"x"}}}}',  # bad s
              f'{{"channel":"spot.obu","event":"update","result":{{"b":{book},"a":{book[:-2]}]]}}}}']  # cut
    for frame in frames * 3:  # warm the freelists
        assert read(frame, 1, GATE_SYMBOLS) is None
    before = sys.getallocatedblocks()
    for _ in range(200):
        for frame in frames:
            read(frame, 1, GATE_SYMBOLS)
    assert sys.getallocatedblocks() - before < 1000  # 200 x 2 x 400 levels would be ~480k blocks
