"""Order frames compiled once per market (``protocols.frame_template``, the codecs'
``place_template``): a frame filled from a template equals, byte for byte, the one the codec
builds field by field from the same intent, and signs as the venues' documented vectors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.binance.rest import new_order_params
from protocols.binance.wsapi import BinanceWsOrders
from protocols.errors import OrderRejected
from protocols.frame_template import compile_slots, constant_head, json_str, slot
from protocols.gateio.rest import check_market_sizing, client_text, new_order
from protocols.gateio.wsapi import GateWsOrders
from protocols.messages import OrderIntent, SymbolInfo
from protocols.rounding import order_fields
from protocols.signing import HmacSha256, binance_ws_payload, hmac_sha256_hex
from protocols.venue import Credentials

DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"  # binance.md §3.4
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"

BTC = SymbolInfo(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=Decimal("0.01"),
                 step_size=Decimal("0.00001"), min_qty=Decimal("0.00001"), min_notional=Decimal("5"),
                 maker_fee=0.001, taker_fee=0.001)
GT = SymbolInfo(symbol="GT/USDT", venue_symbol="GT_USDT", base="GT", quote="USDT", tick_size=Decimal("1"),
                step_size=Decimal("1"), min_qty=Decimal("1"), min_notional=Decimal("1"), maker_fee=0.002,
                taker_fee=0.002)


def binance() -> BinanceWsOrders:
    return BinanceWsOrders(ws_url="wss://stream.binance.com:9443", credentials=Credentials(DOC_KEY, DOC_SECRET))


def gate() -> GateWsOrders:
    def no_update(order: object) -> object:
        raise AssertionError("no reply decoded here")

    return GateWsOrders(ws_url="wss://api.gateio.ws/ws/v4/", credentials=Credentials("key", "secret"),
                        update=no_update, clock=lambda: 0.0)  # type: ignore[arg-type]


def intent(info: SymbolInfo, side: str, order_type: str, qty: float, price: float, cid: str,
           quote_qty: float | None = None) -> OrderIntent:
    return OrderIntent(client_order_id=cid, opportunity_id="o", venue="v", symbol=info.symbol, side=side,
                       order_type=order_type, qty=None if quote_qty is not None else qty,
                       price=None if order_type == "market" else price, quote_qty=quote_qty)  # type: ignore[arg-type]


def binance_field_by_field(codec: BinanceWsOrders, rid: str, i: OrderIntent, now_ms: int) -> str:
    """The frame built as before templates: ``BinanceVenue.order_params`` then ``place_frame``."""
    price, qty = order_fields(BTC, i, "binance")
    return codec.place_frame(rid, new_order_params(BTC, i.side, i.order_type, i.quote_qty is not None, qty or "",
                                                   price, i.client_order_id), now_ms)


def gate_field_by_field(codec: GateWsOrders, rid: str, info: SymbolInfo, i: OrderIntent, now_ms: int) -> str:
    """The frame built as before templates: ``GateVenue.order_params`` then ``place_frame``."""
    text = client_text(i.client_order_id)
    check_market_sizing(i)
    price, amount = order_fields(info, i, "gateio")
    return codec.place_frame(rid, new_order(info, i.side, i.order_type, text, amount or "", price), now_ms)


def test_a_payload_compiled_with_slots_and_a_mac_fed_its_head_signs_as_the_binance_order_place_doc_example() -> None:
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "price": slot("price"),
              "quantity": slot("qty"), "apiKey": DOC_KEY, "timestamp": slot("ts")}
    payload = binance_ws_payload(params)
    head = constant_head(payload)
    assert head == f"apiKey={DOC_KEY}&price="
    rest = compile_slots(payload[len(head):], json=False)
    signature = HmacSha256(DOC_SECRET).fed(head).hexdigest(
        rest % {"price": "23416.10000000", "qty": "0.00847000", "ts": 1660801715431})
    assert signature == "15af09e41c36f3cc61378c2fbe2c33719a03dd5eba8d0f9206fbda44de717c88"


@settings(max_examples=200, deadline=None)
@given(secret=st.text(max_size=150), head=st.text(max_size=40), message=st.text(max_size=200))
def test_the_prekeyed_hmac_equals_a_fresh_hmac_for_any_key_length_head_and_message(
        secret: str, head: str, message: str) -> None:
    assert HmacSha256(secret).fed(head).hexdigest(message) == hmac_sha256_hex(secret, head + message)


@pytest.mark.parametrize(("side", "order_type", "quote_qty"), [
    ("buy", "ioc", None), ("sell", "ioc", None), ("buy", "limit", None), ("sell", "market", None),
    ("buy", "market", 25.0)])
def test_a_binance_template_frame_equals_the_frame_built_field_by_field_and_its_signature_verifies(
        side: str, order_type: str, quote_qty: float | None) -> None:
    codec = binance()
    i = intent(BTC, side, order_type, 0.0123456, 60123.456789, "arbdeadbeef0123456b", quote_qty)
    template = codec.place_template(BTC, i.side, i.order_type, quote_qty is not None)
    frame = template.frame("o7", template.fields(i), 1660801715431)
    assert frame == binance_field_by_field(codec, "o7", i, 1660801715431)
    params = json.loads(frame)["params"]
    assert params["timestamp"] == 1660801715431 and params["apiKey"] == DOC_KEY
    assert params["signature"] == hmac_sha256_hex(DOC_SECRET, binance_ws_payload(params))


def test_the_gate_template_frame_equals_the_frame_built_field_by_field_for_the_documented_order() -> None:
    codec = gate()
    i = intent(GT, "buy", "limit", 1.0, 1.0, "my-custom-id")
    template = codec.place_template(GT, "buy", "limit", False)
    frame = template.frame("request-2", template.fields(i), 1681986203000)
    assert frame == gate_field_by_field(codec, "request-2", GT, i, 1681986203000)
    assert frame == ('{"time":1681986203,"channel":"spot.order_place","event":"api","payload":{"req_id":"request-2",'
                     '"req_param":{"text":"t-my-custom-id","currency_pair":"GT_USDT","type":"limit","account":"spot",'
                     '"side":"buy","amount":"1","time_in_force":"gtc","price":"1"}}}')


@settings(max_examples=300, deadline=None)
@given(side=st.sampled_from(["buy", "sell"]), order_type=st.sampled_from(["ioc", "limit", "market"]),
       qty=st.floats(1e-5, 50.0), price=st.floats(1.0, 2e5), now_ms=st.integers(0, 2**45),
       cid=st.text(min_size=1, max_size=36), rid=st.text(min_size=1, max_size=12))
def test_any_binance_order_from_its_template_equals_the_field_by_field_frame_or_both_refuse_it(
        side: str, order_type: str, qty: float, price: float, now_ms: int, cid: str, rid: str) -> None:
    codec = binance()
    i = intent(BTC, side, order_type, qty, price, cid)
    template = codec.place_template(BTC, i.side, i.order_type, False)
    try:
        expected = binance_field_by_field(codec, rid, i, now_ms)
    except OrderRejected as exc:
        with pytest.raises(OrderRejected) as got:
            template.fields(i)
        assert got.value.message == exc.message
        return
    assert template.frame(rid, template.fields(i), now_ms) == expected  # any id, quoted and escaped alike


@settings(max_examples=300, deadline=None)
@given(side=st.sampled_from(["buy", "sell"]), order_type=st.sampled_from(["ioc", "limit", "market"]),
       qty=st.floats(1e-5, 50.0), price=st.floats(1.0, 2e5), quote=st.none() | st.floats(1.0, 1e4),
       now_ms=st.integers(0, 2**45), cid=st.from_regex(r"[0-9A-Za-z_.\-]{1,30}", fullmatch=True))
def test_any_gate_order_from_its_template_equals_the_field_by_field_frame_or_both_refuse_it(
        side: str, order_type: str, qty: float, price: float, quote: float | None, now_ms: int, cid: str) -> None:
    codec = gate()
    i = intent(BTC, side, order_type, qty, price, cid, quote if order_type == "market" else None)
    template = codec.place_template(BTC, i.side, i.order_type, i.quote_qty is not None)
    try:
        expected = gate_field_by_field(codec, "o1", BTC, i, now_ms)
    except OrderRejected as exc:
        with pytest.raises(OrderRejected) as got:
            template.fields(i)
        assert got.value.message == exc.message
        return
    assert template.frame("o1", template.fields(i), now_ms) == expected


def test_a_slot_value_is_quoted_and_escaped_as_the_json_encoder_writes_it() -> None:
    template = compile_slots(json.dumps({"a": slot("x"), "b": "{50%s}"}, separators=(",", ":")), json=True)
    assert template % {"x": json_str('q"\\\n')} == '{"a":"q\\"\\\\\\n","b":"{50%s}"}'


def test_a_placeholder_left_outside_a_whole_json_string_is_refused_when_compiling() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        compile_slots(json.dumps({"a": "x" + slot("y")}), json=True)
