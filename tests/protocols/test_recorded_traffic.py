"""Arbor's decoders and sync rules fed with real venue traffic, recorded by third parties
(../shared/data/captures, provenance in its SOURCES.md): every REST answer, every WebSocket
frame and every MEXC protobuf push there. Real accounts hold orders Arbor did not place and
venues send fields as null or omit them; a decoder that only knows the docs' examples breaks
on them, so this is the evidence the reply structs are checked against."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import pytest

from protocols.binance import wire as bwire
from protocols.binance.rest import BinanceVenue
from protocols.binance.rest import to_update as binance_update
from protocols.binance.sync import BinanceSync
from protocols.errors import DecodeError, OrderNotFound
from protocols.gateio import wire as gwire
from protocols.gateio.rest import GateVenue
from protocols.gateio.sync import GateSync
from protocols.messages import BookDelta
from protocols.mexc import wire as mwire
from protocols.mexc.codec import decode_frame as mexc_decode
from protocols.mexc.rest import MexcVenue
from protocols.mexc.rest import map_error as mexc_error
from protocols.venue import Control, SyncAction

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "captures"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"recorded venue traffic not present at {CAPTURES}")


def _entries(name: str) -> dict[str, Any]:
    """endpoint (+ ' ' + description when two share one) -> recorded response body."""
    doc = json.loads((CAPTURES / name).read_text())
    return {e["endpoint"]: e["response"] for e in doc["entries"]}


def _body(value: Any) -> bytes:
    return msgspec.json.encode(value)


_LINE = re.compile(r"^(?:(?P<url>\S+) (?P<dir><-|->) )?(?P<ts>\d+\.\d+): (?P<body>.*)$")


def _ws_received(name: str) -> list[str]:
    """cryptofeed raw capture: the frames the venue sent, in order (header and sent lines dropped)."""
    out = []
    for line in (CAPTURES / name).read_text().splitlines():
        m = _LINE.match(line)
        if m and m["dir"] != "<-":
            out.append(m["body"])
    return out


def _http_snapshots(name: str) -> dict[str, bytes]:
    """cryptofeed raw capture of REST: pair/symbol in the URL -> the first snapshot body."""
    out: dict[str, bytes] = {}
    for line in (CAPTURES / name).read_text().splitlines():
        url, sep, rest = line.partition(" -> ")
        if not sep:
            continue
        sym = re.search(r"(?:symbol|currency_pair)=([A-Z0-9_]+)", url)
        assert sym is not None, url
        out.setdefault(sym[1], rest.partition(": ")[2].encode())
    return out


def _replay(sync: Any, snapshot_seq: int, deltas: list[BookDelta]) -> list[SyncAction]:
    """The book actor's use of a sync rule: start on the snapshot, then check every later delta."""
    start = sync.start(snapshot_seq, deltas)
    assert start is not None, f"snapshot {snapshot_seq} judged older than the stream {deltas[0].first_seq}"
    actions, last = [], snapshot_seq
    for delta in deltas[start:]:
        action = sync.check(last, delta)
        actions.append(action)
        if action in (SyncAction.APPLY, SyncAction.REPLACE):
            last = delta.last_seq
    return actions


# --- MEXC ---------------------------------------------------------------------------------------


def test_mexc_depth_reply_decodes_with_its_real_timestamp() -> None:
    reply = mwire.depth_decoder.decode(_body(_entries("MEXC.rest.json")["GET /api/v3/depth"]))
    assert (reply.lastUpdateId, reply.timestamp) == (20453289489, 1704908526228)
    assert reply.bids == [(45995.47, 10.337165)] and reply.asks == [(45995.48, 13.457322)]


def test_mexc_order_placed_without_a_client_id_decodes_with_an_empty_client_id() -> None:
    orders = mwire.orders_decoder.decode(_body(_entries("MEXC.rest.json")["GET /api/v3/allOrders"]))
    assert orders[0].clientOrderId is None
    update = MexcVenue(symbols=["ATLAS/USDT"])._update(orders[0], "ATLAS/USDT")
    assert (update.client_order_id, update.order_id, update.status, update.order_type) == (
        "", "C02__385413065019117569043", "filled", "market")
    assert (update.price, update.qty, update.filled_qty, update.filled_quote, update.ts_ms) == (
        0.004327, 1220.0, 1220.0, 5.54124, 1707671871000)


def test_mexc_unknown_order_answer_maps_to_order_not_found() -> None:
    body = _body(_entries("MEXC.rest.json")["GET /api/v3/order (unknown order id)"])
    err = mexc_error(400, body, {})
    assert isinstance(err, OrderNotFound) and err.code == -2013


def _pb_frames() -> list[dict[str, Any]]:
    if not CAPTURES.is_dir():
        return []
    return json.loads((CAPTURES / "MEXC.ws.pb.json").read_text())["frames"]


@pytest.mark.parametrize("frame", _pb_frames(), ids=lambda f: f["id"])
def test_mexc_live_protobuf_push_decodes_as_the_official_classes_read_it(frame: dict[str, Any]) -> None:
    raw, expected = bytes.fromhex(frame["hex"]), frame["decoded"]
    if "publicSpotKline" in expected:  # a channel Arbor never subscribes, and no body it knows
        with pytest.raises(DecodeError, match="push without a known body"):
            mexc_decode(raw, 0, {"BTCUSDT": "BTC/USDT"}, ())
        return
    out = mexc_decode(raw, 7, {"BTCUSDT": "BTC/USDT"}, ())
    body = expected.get("publicAggreDepths") or expected.get("publicLimitDepths")
    if body is None:  # book ticker, deals: known bodies Arbor does not consume
        assert out is None
        return
    assert isinstance(out, BookDelta)
    levels = {side: tuple((float(lv["price"]), float(lv["quantity"])) for lv in body.get(side, []))
              for side in ("bids", "asks")}
    assert (out.bids, out.asks) == (levels["bids"], levels["asks"])
    first, last = (body["version"],) * 2 if "version" in body else (body["fromVersion"], body["toVersion"])
    assert (out.first_seq, out.last_seq, out.full) == (int(first), int(last), "version" in body)
    assert (out.symbol, out.exchange_ts_ms, out.recv_ns) == ("BTC/USDT", int(expected["sendTime"]), 7)


# --- Binance ------------------------------------------------------------------------------------


def test_binance_rest_answers_decode_and_orders_convert() -> None:
    e = _entries("BINANCE.rest.ccxt.json")
    depth = bwire.DEPTH_SNAPSHOT.decode(_body(e["GET /api/v3/depth"]))
    assert depth.last_update_id == 25445101 and depth.bids[0] == (42574.3, 0.0107)
    balances = bwire.ACCOUNT.decode(_body(e["GET /api/v3/account"])).balances
    assert [(b.asset, b.free) for b in balances] == [("BTC", 0.0), ("LTC", 0.919741), ("ETH", 0.02229833)]
    placed = binance_update(bwire.ORDER.decode(_body(e["POST /api/v3/order"])), "SOL/USDT")
    assert (placed.order_id, placed.client_order_id, placed.status, placed.price) == (
        "9780331417", "x-R4BD3S824d31be3228a348eaa0a303", "new", 241.0)
    closed = binance_update(bwire.ORDER.decode(_body(e["GET /api/v3/order"])), "LTC/USDT")
    assert (closed.status, closed.order_type, closed.price, closed.filled_quote) == ("filled", "market", None, 9.08)
    for endpoint in ("GET /api/v3/openOrders", "GET /api/v3/allOrders"):
        (order,) = bwire.ORDERS.decode(_body(e[endpoint]))
        assert binance_update(order, "LTC/USDT").order_type == "limit"  # LIMIT_MAKER is a resting limit


def test_binance_live_stream_decodes_and_syncs_without_a_false_gap() -> None:
    venue = BinanceVenue(symbols=["NKN/USDT", "BLZ/ETH", "LRC/BTC", "RUNE/EUR"])
    deltas: dict[str, list[BookDelta]] = defaultdict(list)
    ignored = unsubscribed = 0
    for frame in _ws_received("BINANCE.ws.1.0"):
        stream = json.loads(frame)["stream"]
        if stream.endswith(("@aggTrade", "@kline_1m")):  # streams Arbor never subscribes
            with pytest.raises(DecodeError, match="unknown stream"):
                venue.decode(frame, 0)
            unsubscribed += 1
            continue
        out = venue.decode(frame, 0)
        if out is None:
            ignored += 1  # bookTicker
            continue
        assert isinstance(out, BookDelta) and stream.startswith(out.symbol.replace("/", "").lower())
        deltas[out.symbol.replace("/", "")].append(out)
    assert sum(map(len, deltas.values())) == 177 and ignored == 84 and unsubscribed == 4
    for symbol, body in _http_snapshots("BINANCE.http.0.0").items():
        snapshot = bwire.DEPTH_SNAPSHOT.decode(body)
        actions = _replay(BinanceSync(), snapshot.last_update_id, deltas[symbol])
        assert SyncAction.GAP not in actions, symbol


# --- Gate.io ------------------------------------------------------------------------------------


def test_gateio_order_answers_decode_including_text_apiv4_and_a_missing_filled_amount() -> None:
    e = _entries("GATEIO.rest.ccxt.json")
    venue = GateVenue(symbols=["LTC/USDT", "BTC/USDT"])
    (market_buy,) = gwire.ORDERS.decode(_body(e["GET /api/v4/spot/orders?status=finished"]))
    assert market_buy.filled_amount is None  # absent on the venue's answer
    update = venue._update(market_buy)
    assert (update.client_order_id, update.status, update.order_type, update.filled_quote) == (
        "apiv4", "filled", "market", 4.998985)
    assert update.filled_qty == pytest.approx(4.998985 / 68.02)
    (group,) = e["GET /api/v4/spot/open_orders"]
    (resting,) = gwire.ORDERS.decode(_body(group["orders"]))
    assert venue._update(resting).client_order_id == "web"  # placed on the website


def test_gateio_live_stream_decodes_and_syncs_without_a_false_gap() -> None:
    venue = GateVenue(symbols=[])
    deltas: dict[str, list[BookDelta]] = defaultdict(list)
    acks = ignored = unsubscribed = 0
    for frame in _ws_received("GATEIO.ws.1.0"):
        channel = json.loads(frame)["channel"]
        if channel in ("spot.candlesticks", "spot.tickers"):  # channels Arbor never subscribes
            with pytest.raises(DecodeError, match=channel):
                venue.decode(frame, 0)
            unsubscribed += 1
            continue
        out = venue.decode(frame, 0)
        if isinstance(out, Control):
            assert out.kind == "ack", out
            acks += 1
        elif out is None:
            ignored += 1  # spot.trades
        else:
            deltas[out.symbol.replace("/", "_")].append(out)
    assert (acks, sum(map(len, deltas.values()))) == (11, 172) and ignored and unsubscribed
    snapshots = _http_snapshots("GATEIO.http.0.0")
    assert len(snapshots) == 10
    for pair, body in snapshots.items():
        if not deltas[pair]:
            continue
        snapshot = gwire.ORDER_BOOK.decode(body)
        actions = _replay(GateSync(), snapshot.id, deltas[pair])
        assert SyncAction.GAP not in actions, pair


# --- whole listings (../shared/data/markets) -----------------------------------------------------

MARKETS = CAPTURES.parent / "markets"


MEXC_SYMBOL_RULES = msgspec.json.Decoder(list[mwire.SymbolRule], strict=False)


@pytest.mark.parametrize("name, decoder, count", [
    ("mexc.exchangeInfo.2025-09-21.json", lambda b: mwire.exchange_info_decoder.decode(b).symbols, 2182),
    ("mexc.exchangeInfo.symbols.2024-08-20.json", MEXC_SYMBOL_RULES.decode, None),
    ("mexc.exchangeInfo.symbols.le2025-01-05.json", MEXC_SYMBOL_RULES.decode, None),
    ("binance.exchangeInfo.2023-08-13.json", lambda b: bwire.EXCHANGE_INFO.decode(b).symbols, 2276),
    ("gate.currency_pairs.2024-08-19.json", gwire.CURRENCY_PAIRS.decode, 3746),
])
def test_whole_real_symbol_listing_decodes(name: str, decoder: Any, count: int | None) -> None:
    rows = decoder((MARKETS / name).read_bytes())
    assert len(rows) == count if count is not None else len(rows) > 1000
