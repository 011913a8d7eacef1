"""MEXC private-stream codec (shared/venues/private.md §3.3-3.4): the doc's order and deal
pushes, built from the documented fields and compared with the doc's hex, decoded into the
order's state with its fee; an order's state held until its deals add up when it is final."""

from __future__ import annotations

import json
from typing import Any

import pytest

from protocols.errors import DecodeError
from protocols.messages import OrderUpdate
from protocols.mexc import push_pb2
from protocols.mexc.private import CHANNELS, MexcPrivate
from protocols.private import StreamReply

pb: Any = push_pb2
ORDER_HEX = (  # private.md §3.4 (c)
    "0a1d73706f7440707269766174652e6f72646572732e76332e6170692e70621a064d585553445430a98095d4c4328213540a1a43"
    "30325f5f3530353937393031373433393030323632343131351a06332e353132312201312a01303206332e36393632380540025201"
    "305a01306201316a01317206332e3639363278028001938095d4c432")
DEAL_HEX = (  # private.md §3.4 (d)
    "0a1c73706f7440707269766174652e6465616c732e76332e6170692e70621a064d585553445430dc8095d4c4329213690a06332e"
    "363936321201311a06332e3639363220023a1435303539373930313734333930303236323458314a1a4330325f5f353035393739"
    "3031373433393030323632343131355215302e303030333939383337373336393639383137315a024d5860a88095d4c432")
OID = "C02__505979017439002624115"


def codec() -> MexcPrivate:
    return MexcPrivate(venue=None, ws_url="wss://wbs-api.mexc.com/ws",
                       symbols={"MXUSDT": "MX/USDT", "BTCUSDT": "BTC/USDT"})


def order(status: int, filled: str, quote: str, *, oid: str = "o1", client: str = "c1", qty: str = "3",
          symbol: str = "BTCUSDT", order_type: int = 3) -> bytes:
    body = pb.PrivateOrdersV3Api(id=oid, clientId=client, price="100", quantity=qty, orderType=order_type,
                                 tradeType=1, cumulativeQuantity=filled, cumulativeAmount=quote, status=status,
                                 createTime=1)
    return pb.PushDataV3ApiWrapper(channel=CHANNELS[0], symbol=symbol, sendTime=5,
                                   privateOrders=body).SerializeToString()


def deal(trade: str, qty: str, fee: str, *, oid: str = "o1", price: str = "100", asset: str = "BTC") -> bytes:
    body = pb.PrivateDealsV3Api(price=price, quantity=qty, amount="0", tradeType=1, tradeId=trade, orderId=oid,
                                clientOrderId="c1", feeAmount=fee, feeCurrency=asset, time=4)
    return pb.PushDataV3ApiWrapper(channel=CHANNELS[1], symbol="BTCUSDT", sendTime=6,
                                   privateDeals=body).SerializeToString()


def test_the_documented_order_and_deal_pushes_are_the_described_fields_under_our_field_numbers() -> None:
    o = pb.PrivateOrdersV3Api(id=OID, price="3.5121", quantity="1", amount="0", avgPrice="3.6962", orderType=5,
                              tradeType=2, remainAmount="0", remainQuantity="0", lastDealQuantity="1",
                              cumulativeQuantity="1", cumulativeAmount="3.6962", status=2, createTime=1736417034259)
    d = pb.PrivateDealsV3Api(price="3.6962", quantity="1", amount="3.6962", tradeType=2, tradeId="505979017439002624X1",
                             orderId=OID, feeAmount="0.0003998377369698171", feeCurrency="MX", time=1736417034280)
    assert pb.PushDataV3ApiWrapper(channel="spot@private.orders.v3.api.pb", symbol="MXUSDT", sendTime=1736417034281,
                                   privateOrders=o).SerializeToString().hex() == ORDER_HEX
    assert pb.PushDataV3ApiWrapper(channel="spot@private.deals.v3.api.pb", symbol="MXUSDT", sendTime=1736417034332,
                                   privateDeals=d).SerializeToString().hex() == DEAL_HEX


def test_the_documented_final_order_is_held_until_its_deal_then_told_with_the_deals_fee() -> None:
    c = codec()
    assert c.decode(bytes.fromhex(ORDER_HEX)) == []  # final, filled, its fee not known yet
    assert c.decode(bytes.fromhex(DEAL_HEX)) == [OrderUpdate(
        venue="mexc", symbol="MX/USDT", client_order_id="", order_id=OID, side="sell", order_type="market",
        status="filled", price=3.5121, qty=1.0, filled_qty=1.0, filled_quote=3.6962,
        fee=0.0003998377369698171, fee_asset="MX", ts_ms=1736417034281)]


def test_an_order_pushed_after_its_deals_is_told_at_once_with_the_sum_of_their_fees() -> None:
    c = codec()
    assert c.decode(deal("t1", "1", "0.001")) == []  # no state of the order seen yet
    assert c.decode(deal("t2", "2", "0.002", price="101")) == []
    [u] = c.decode(order(2, "3", "302"))
    assert (u.status, u.filled_qty, u.fee, u.fee_asset) == ("filled", 3.0, pytest.approx(0.003), "BTC")
    assert (u.client_order_id, u.order_type, u.side) == ("c1", "ioc", "buy")


def test_a_partial_state_is_told_fee_unreported_then_again_with_its_fee_and_a_repeated_deal_counts_once() -> None:
    c = codec()
    [u] = c.decode(order(3, "2", "200"))
    assert (u.status, u.filled_qty, u.fee, u.fee_asset) == ("partially_filled", 2.0, 0.0, "")
    assert c.decode(deal("t1", "1", "0.001")) == []  # 1 of 2: still short
    assert c.decode(deal("t1", "1", "0.001")) == []  # the same trade again: not a second fill
    [again] = c.decode(deal("t2", "1", "0.001"))
    assert (again.status, again.filled_qty, again.fee, again.fee_asset) == ("partially_filled", 2.0, 0.002, "BTC")
    assert c.decode(deal("t3", "1", "0.001")) == []  # ahead of the order's next state: kept, not told
    [final] = c.decode(order(2, "3", "300"))
    assert (final.status, final.fee) == ("filled", pytest.approx(0.003))


def test_deals_pushed_ahead_of_a_partial_state_are_not_charged_to_it() -> None:
    c = codec()
    for trade in ("t1", "t2", "t3"):
        c.decode(deal(trade, "1", "0.001"))
    [u] = c.decode(order(3, "2", "200"))
    assert (u.filled_qty, u.fee, u.fee_asset) == (2.0, pytest.approx(0.002), "BTC")


def test_after_a_reconnect_the_deals_of_the_last_connection_are_not_counted() -> None:
    c = codec()
    c.decode(deal("t1", "1", "0.001"))
    c.subscribe_frames(0)  # a new connection
    [u] = c.decode(order(3, "1", "100"))
    assert (u.fee, u.fee_asset) == (0.0, "")  # unreported, not the part seen before the reconnect
    assert c.decode(order(2, "2", "200")) == []  # final, short of its deals: the REST reply settles it


@pytest.mark.parametrize(("status", "filled", "expected"), [
    (1, "0", "new"), (4, "0", "canceled"), (5, "1", "canceled")])
def test_mexc_status_ints_map_to_our_states(status: int, filled: str, expected: str) -> None:
    c = codec()
    c.decode(deal("t1", "1", "0"))  # a zero fee: known (the quote asset, 0)
    [u] = c.decode(order(status, filled, "100" if filled != "0" else "0"))
    assert (u.status, u.filled_qty) == (expected, float(filled))
    assert u.fee_asset == ("USDT" if filled != "0" else "")


def test_an_order_on_a_pair_we_do_not_trade_or_of_a_type_we_do_not_place_is_skipped() -> None:
    assert codec().decode(order(1, "0", "0", symbol="ETHUSDT")) == []
    assert codec().decode(order(1, "0", "0", order_type=100)) == []  # a stop order


def test_every_private_channel_is_subscribed_on_its_own_and_each_ack_is_a_reply() -> None:
    c = codec()
    assert [json.loads(f)["params"] for f in c.subscribe_frames(0)] == [[ch] for ch in CHANNELS]
    for ch in CHANNELS:
        assert c.decode(json.dumps({"id": 0, "code": 0, "msg": ch})) == StreamReply(ok=True)


def test_a_push_with_an_unreadable_amount_raises_decode_error_naming_the_push() -> None:
    with pytest.raises(DecodeError, match="privateDeals"):
        codec().decode(deal("t1", "one", "0"))
    with pytest.raises(DecodeError, match=r"privateDeals.*nan"):
        codec().decode(deal("t1", "nan", "0"))
    with pytest.raises(DecodeError, match="privateOrders"):
        codec().decode(order(2, "x", "0"))
    with pytest.raises(DecodeError, match=r"privateOrders.*filled_qty"):
        codec().decode(order(2, "-1", "0"))
