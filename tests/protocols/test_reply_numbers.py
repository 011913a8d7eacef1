"""No unusable number reaches a decision: every venue's WebSocket and REST reply decoders turn
NaN, infinity, a price <= 0, a negative quantity or a backwards sequence range into
``DecodeError`` (with an excerpt). REST replies come from ``venue_edge``'s loopback server;
the adapters are the production ones."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from venue_edge import CALLS, FRAMES, GATE_ORDER, REPLIES, Bench, adapter

from protocols.binance.rest import map_error as binance_map_error
from protocols.errors import DecodeError
from protocols.gateio.rest import map_error as gate_map_error
from protocols.messages import BookDelta
from protocols.mexc.rest import map_error as mexc_map_error

# --- explicit cases -------------------------------------------------------------------------------

BAD_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400"]


@pytest.mark.parametrize("bad", [*BAD_NUMBERS, "0", "-1"])
def test_depth_snapshot_with_an_unusable_price_raises_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][0]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    reply["bids"][0][0] = bad
    with pytest.raises(DecodeError) as info:
        bench.call(method, path, json.dumps(reply).encode(), fn)
    assert bad in info.value.excerpt


@pytest.mark.parametrize("bad", [*BAD_NUMBERS, "-1"])
def test_depth_snapshot_with_an_unusable_quantity_raises_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][0]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    reply["asks"][0][1] = bad
    with pytest.raises(DecodeError):
        bench.call(method, path, json.dumps(reply).encode(), fn)


def test_depth_snapshot_with_a_zero_quantity_level_still_decodes(bench: Bench) -> None:
    method, path, fn = CALLS[bench.name][0]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    reply["asks"][0][1] = "0"
    assert bench.call(method, path, json.dumps(reply).encode(), fn).asks[0][1] == 0.0


ORDER_FIELDS = {"binance": ["executedQty", "cummulativeQuoteQty", "price", "transactTime"],
                "gateio": ["amount", "filled_total", "fee", "update_time_ms"],
                "mexc": ["executedQty", "cummulativeQuoteQty", "price", "updateTime"]}


@pytest.mark.parametrize("bad", [*BAD_NUMBERS, "-1"])
def test_order_reply_with_an_unusable_number_raises_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][4]  # order_by_client_id
    for field in ORDER_FIELDS[bench.name]:
        reply = {**REPLIES[bench.name][(method, path)], field: bad}
        if field == "fee" and bad == "-1":
            continue  # a negative fee is a rebate
        with pytest.raises(DecodeError):
            bench.call(method, path, json.dumps(reply).encode(), fn)


def test_gate_order_reply_with_infinite_update_time_is_a_decode_error_not_overflow() -> None:
    b = Bench("gateio")
    try:
        method, path, fn = CALLS["gateio"][4]
        with pytest.raises(DecodeError, match="update_time_ms"):
            b.call(method, path, json.dumps({**GATE_ORDER, "update_time_ms": "inf"}).encode(), fn)
    finally:
        b.close()


def test_gate_quote_sized_fill_that_overflows_is_a_decode_error() -> None:
    b = Bench("gateio")
    try:
        method, path, fn = CALLS["gateio"][4]
        reply = {**GATE_ORDER, "type": "market", "filled_amount": None, "filled_total": "1e300",
                 "avg_deal_price": "1e-300"}
        del reply["filled_amount"]
        with pytest.raises(DecodeError, match="qty=inf"):
            b.call(method, path, json.dumps(reply).encode(), fn)
    finally:
        b.close()


@pytest.mark.parametrize("bad", ["-1", "nan", "inf"])
def test_balances_with_an_unusable_amount_raise_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][2]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    rows = reply if isinstance(reply, list) else reply["balances"]
    rows[0]["locked"] = bad
    with pytest.raises(DecodeError):
        bench.call(method, path, json.dumps(reply).encode(), fn)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-1", "sNaN"])
def test_symbol_rules_with_an_unusable_minimum_raise_decode_error_on_every_venue(bench: Bench, bad: str) -> None:
    method, path, fn = CALLS[bench.name][1]
    reply = json.loads(json.dumps(REPLIES[bench.name][(method, path)]))
    match bench.name:
        case "binance":
            reply["symbols"][0]["filters"][1]["minQty"] = bad
        case "gateio":
            reply[0]["min_base_amount"] = bad
        case "mexc":
            reply["symbols"][0]["baseSizePrecision"] = bad
    with pytest.raises(DecodeError):
        bench.call(method, path, json.dumps(reply).encode(), fn)


@pytest.mark.parametrize("venue", sorted(FRAMES))
@pytest.mark.parametrize("level", [["nan", "1"], ["inf", "1"], ["0", "1"], ["-2", "1"], ["1", "-1"],
                                   ["1", "nan"], ["1", "inf"], ["1e400", "1"]])
def test_depth_frame_with_an_unusable_level_raises_decode_error_with_an_excerpt(venue: str, level: list[str]) -> None:
    with pytest.raises(DecodeError) as info:
        adapter(venue).decode(FRAMES[venue]([["100", "1"], level]), 1)
    assert info.value.venue == venue and info.value.excerpt


@pytest.mark.parametrize("venue", sorted(FRAMES))
def test_depth_frame_whose_last_id_precedes_its_first_raises_decode_error(venue: str) -> None:
    with pytest.raises(DecodeError, match="<"):
        adapter(venue).decode(FRAMES[venue]([["100", "1"]], first=20, last=19), 1)


@pytest.mark.parametrize("venue", sorted(FRAMES))
def test_depth_frame_removing_a_level_with_quantity_zero_still_decodes(venue: str) -> None:
    delta = adapter(venue).decode(FRAMES[venue]([["100", "0"]]), 1)
    assert isinstance(delta, BookDelta) and delta.bids == ((100.0, 0.0),)


@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "-inf", "1e400"])
@pytest.mark.parametrize("map_error", [binance_map_error, gate_map_error, mexc_map_error],
                         ids=["binance", "gateio", "mexc"])
def test_a_429_whose_retry_after_is_not_finite_waits_a_finite_default(map_error: Any, value: str) -> None:
    headers = {"Retry-After": value, "X-Gate-RateLimit-Reset-Timestamp": value}
    error = map_error(429, b"{}", headers)
    assert math.isfinite(error.retry_after_s) and error.retry_after_s >= 0
