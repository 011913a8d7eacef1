"""Gate.io reports an order's fee in up to three parts (private.md §2.2, §2.5; the Order model of
[GATE-SDK]): ``fee`` in ``fee_currency``, ``gt_fee`` ("GT used to deduct fee") and
``point_fee`` ("Points used to deduct fee"). Every codec (REST order, WebSocket API order,
``spot.orders`` push) counts all of them: GT alone -> "GT" (converted downstream at a live
book), points alone -> "POINT" (no book: flagged), several non-zero parts in different assets
-> ``MIXED:`` (flagged, never summed as one asset)."""

from __future__ import annotations

import json

import pytest

from protocols.gateio import GateVenue
from protocols.gateio.private import GatePrivate
from protocols.gateio.rest import order_fee
from protocols.venue import Credentials

# private.md §2.5, the documented FULL result of spot.order_place (a BTC_USDT buy filled at 63469.3)
DOC_ORDER = {"id": "1852454420", "text": "t-abc123", "amend_text": "-", "create_time": "1710488334",
             "update_time": "1710488334", "create_time_ms": 1710488334073, "update_time_ms": 1710488334074,
             "status": "closed", "currency_pair": "BTC_USDT", "type": "limit", "account": "unified", "side": "buy",
             "amount": "0.001", "price": "65000", "time_in_force": "gtc", "iceberg": "0", "left": "0",
             "filled_amount": "0.001", "fill_price": "63.4693", "filled_total": "63.4693",
             "avg_deal_price": "63469.3", "fee": "0.00000022", "fee_currency": "BTC", "point_fee": "0",
             "gt_fee": "0", "gt_maker_fee": "0", "gt_taker_fee": "0", "gt_discount": False, "rebated_fee": "0",
             "rebated_fee_currency": "USDT", "finish_as": "filled"}

# (fee, fee_currency, gt_fee, point_fee) -> (fee, asset) of the OrderUpdate
CASES = [
    pytest.param("0.00000022", "BTC", "0", "0", (0.00000022, "BTC"), id="fee-only-as-documented"),
    pytest.param("0", "BTC", "0.0021", "0", (0.0021, "GT"), id="gt-deduction-on-fee-zero"),
    pytest.param("0", "BTC", "0", "0.06", (0.06, "POINT"), id="points-only"),
    pytest.param("0", "BTC", "0.001", "0.02", (pytest.approx(0.021), "MIXED:GT,POINT"), id="gt-and-points"),
    pytest.param("0.0000001", "BTC", "0.001", "0", (pytest.approx(0.0010001), "MIXED:BTC,GT"), id="fee-and-gt"),
    pytest.param("0", "BTC", "0", "0", (0.0, "BTC"), id="nothing-charged"),
]


@pytest.mark.parametrize(("fee", "currency", "gt", "point", "expected"), CASES)
def test_an_order_reply_counts_every_fee_part(fee, currency, gt, point, expected) -> None:
    """Over the WebSocket API; its ``data.result`` is the REST order model, decoded by the same
    wire struct and ``GateVenue._update`` as a REST reply (test_gateio_rest.py reads one back)."""
    venue = GateVenue(symbols=("BTC/USDT",), credentials=Credentials("k", "s"))
    ws = venue.ws_orders()
    order = {**DOC_ORDER, "fee": fee, "fee_currency": currency, "gt_fee": gt, "point_fee": point,
             "gt_discount": gt != "0"}
    frame = json.dumps({"request_id": "o1", "header": {"status": "200", "channel": "spot.order_place"},
                        "data": {"result": order}})
    rid, update = ws.reply(frame, {"o1": "BTC/USDT"})
    assert rid == "o1" and (update.fee, update.fee_asset) == expected
    assert (update.filled_qty, update.filled_quote) == (0.001, 63.4693)


# private.md §2.2, the documented spot.orders push, made consistent and finished (as test_private.py)
ORDER_PUSH = {"id": "399123456", "text": "t-arb0123456789abcdefs", "create_time": "1694655225",
              "update_time": "1694655225", "currency_pair": "BTC_USDT", "type": "limit", "account": "spot",
              "side": "sell", "amount": "0.0001", "price": "26253.3", "time_in_force": "ioc", "left": "0.00006",
              "filled_total": "1.050132", "filled_amount": "0.00004", "avg_deal_price": "26253.3", "fee": "0.00105",
              "fee_currency": "USDT", "point_fee": "0", "gt_fee": "0", "rebated_fee": "0",
              "rebated_fee_currency": "USDT", "create_time_ms": "1694655225315", "update_time_ms": "1694655225316",
              "user": 3497082, "event": "finish", "stp_id": 0, "stp_act": "-", "finish_as": "ioc", "biz_info": "-",
              "amend_text": "-"}


@pytest.mark.parametrize(("symbol", "fee", "currency", "gt", "point", "expected"), [
    pytest.param("BTC/USDT", "0.00105", "USDT", "0", "0", (0.00105, "USDT"), id="fee-only-as-documented"),
    pytest.param("BTC/USDT", "0", "USDT", "0.0003", "0", (0.0003, "GT"), id="gt-deduction-on-fee-zero"),
    pytest.param("BTC/USDT", "0", "USDT", "0", "0.00105", (0.00105, "POINT"), id="points-only"),
    pytest.param("BTC/USDT", "0.0005", "USDT", "0.0002", "0", (pytest.approx(0.0007), "MIXED:GT,USDT"),
                 id="fee-and-gt"),
    # a base fee and a quote fee are one figure in quote (base at the average price): on GT_USDT
    # the GT part is a base fee
    pytest.param("GT/USDT", "0.00105", "USDT", "0.00001", "0", (pytest.approx(0.00105 + 0.00001 * 26253.3), "USDT"),
                 id="gt-is-the-pairs-base"),
])
def test_a_spot_orders_push_counts_every_fee_part(symbol, fee, currency, gt, point, expected) -> None:
    pair = symbol.replace("/", "_")
    codec = GatePrivate(ws_url="ws://x", credentials=Credentials("k", "s"), pairs={pair: symbol})
    row = {**ORDER_PUSH, "currency_pair": pair, "fee": fee, "fee_currency": currency, "gt_fee": gt,
           "point_fee": point}
    frame = json.dumps({"time": 1694655225, "time_ms": 1694655225315, "channel": "spot.orders", "event": "update",
                        "result": [row]})
    [update] = codec.decode(frame)
    assert (update.fee, update.fee_asset) == expected
    assert update.status == "expired" and update.filled_qty == 0.00004


def test_a_reply_without_settlement_fields_leaves_the_fee_unreported() -> None:
    """``action_mode`` RESULT answers "no settlement info": no fee, no currency. The fee stays
    unreported (asset ""), so the executor estimates it and says so, rather than taking 0."""
    assert order_fee(0.0, "", 0.0, 0.0, "BTC/USDT", 63469.3) == (0.0, "")
    assert order_fee(0.0, "", 0.0021, 0.0, "BTC/USDT", 63469.3) == (0.0021, "GT")
