"""Private-stream codecs and signing against the documented fixtures (shared/venues/private.md)."""

from __future__ import annotations

import json

import pytest

from protocols.binance.private import WS_API_URL, BinancePrivate, ws_api_url
from protocols.errors import DecodeError
from protocols.gateio.private import GatePrivate
from protocols.messages import Balance, OrderUpdate
from protocols.mexc.private import MexcPrivate
from protocols.private import StreamReply
from protocols.signing import binance_ws_payload, gate_ws_channel_sign, hmac_sha256_hex
from protocols.venue import Credentials

DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def test_binance_ws_signature_sorts_params_unencoded_as_the_order_place_doc_example() -> None:
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01000000",
              "price": "52000.00", "recvWindow": 100, "timestamp": 1645423376532, "apiKey": DOC_KEY}
    assert hmac_sha256_hex(DOC_SECRET, binance_ws_payload(params)) == \
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"


def test_binance_user_data_subscription_is_signed_as_the_computed_fixture() -> None:
    codec = BinancePrivate(ws_url="wss://stream.binance.com:9443", credentials=Credentials(DOC_KEY, DOC_SECRET),
                           symbols={})
    (frame,) = codec.subscribe_frames(1747385641636)
    req = json.loads(frame)
    assert req["method"] == "userDataStream.subscribe.signature"
    assert req["params"]["signature"] == "681110a6057ad58657af22f5640fab9dd17418834cdfccdc81be8b0f7b2cde3e"
    assert codec.url == WS_API_URL


def test_binance_ws_api_url_is_beside_a_simulated_market_data_url() -> None:
    assert ws_api_url("ws://127.0.0.1:5000") == "ws://127.0.0.1:5000/ws-api/v3"


def test_gate_channel_sign_matches_the_fixture() -> None:
    assert gate_ws_channel_sign("secret", "spot.orders", "subscribe", 1611541000) == (
        "833a44bb4cd083e47bc1fec22b5c12e8b98c30fc7a9f4a1e52800dcfdff9a57240d7c10f1e9553dee020011fa5d02cdc7d1155a380"
        "cc4dcbd45f8fb525e41f4b")


def binance() -> BinancePrivate:
    return BinancePrivate(ws_url="ws://x", credentials=Credentials("k", "s"), symbols={"ETHBTC": "ETH/BTC"})


def test_binance_account_position_decodes_to_absolute_balances() -> None:
    frame = ('{"subscriptionId":0,"event":{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,'
             '"B":[{"a":"ETH","f":"10000.000000","l":"1.5"}]}}')
    assert binance().decode(frame) == [Balance(venue="binance", asset="ETH", free=10000.0, locked=1.5)]


def test_binance_execution_report_decodes_cumulative_fills_and_matches_a_cancel_by_its_original_id() -> None:
    event = {"e": "executionReport", "E": 1, "s": "ETHBTC", "c": "cancel-1", "S": "BUY", "o": "LIMIT", "f": "IOC",
             "q": "1.00000000", "p": "0.10264410", "C": "mine-b", "x": "CANCELED", "X": "CANCELED", "i": 4293153,
             "l": "0", "z": "0.4", "L": "0", "n": "0", "N": None, "T": 7, "t": -1, "Z": "0.04"}
    (update,) = binance().decode(json.dumps({"subscriptionId": 0, "event": event}))
    assert isinstance(update, OrderUpdate)
    assert (update.client_order_id, update.status, update.filled_qty, update.order_type) == ("mine-b", "canceled",
                                                                                             0.4, "ioc")


def trade_report(x: str, z: str, last: str, fee: str, status: str = "PARTIALLY_FILLED") -> str:
    event = {"e": "executionReport", "E": 1, "s": "ETHBTC", "c": "mine-b", "S": "BUY", "o": "LIMIT", "f": "IOC",
             "q": "1.00000000", "p": "0.10264410", "C": "", "x": x, "X": status, "i": 4293153,
             "l": last, "z": z, "L": "0.1", "n": fee, "N": "BNB" if x == "TRADE" else None, "T": 7, "t": 1,
             "Z": "0"}
    return json.dumps({"subscriptionId": 0, "event": event})


def test_binance_fills_reported_one_by_one_are_charged_the_sum_of_their_commissions() -> None:
    codec = binance()
    codec.subscribe_frames(0)
    fees = [u.fee for frame in (trade_report("TRADE", "0.3", "0.3", "0.001"),
                                trade_report("TRADE", "0.3", "0.3", "0.001"),  # the same report again
                                trade_report("TRADE", "0.5", "0.2", "0.0005"),
                                trade_report("EXPIRED", "0.5", "0", "0", status="EXPIRED"))
            for u in codec.decode(frame)]
    assert fees == [pytest.approx(0.001), pytest.approx(0.001), pytest.approx(0.0015), pytest.approx(0.0015)]
    [final] = codec.decode(trade_report("TRADE", "0.5", "0.2", "0.0005", status="FILLED"))
    assert (final.fee, final.fee_asset) == (0.0, ""), "the order's fills were forgotten once it ended"


def test_binance_fee_after_a_missed_fill_report_is_unreported_not_the_part_seen() -> None:
    codec = binance()
    codec.subscribe_frames(0)  # connected after the first fill was reported
    [update] = codec.decode(trade_report("TRADE", "0.5", "0.2", "0.0005", status="FILLED"))
    assert (update.filled_qty, update.fee, update.fee_asset) == (0.5, 0.0, "")


def test_binance_responses_are_replies_and_a_refusal_names_the_code() -> None:
    assert binance().decode('{"id":"a","status":200,"result":{"subscriptionId":0}}') == StreamReply(ok=True)
    refused = binance().decode('{"id":"a","status":400,"error":{"code":-1022,"msg":"Signature not valid."}}')
    assert isinstance(refused, StreamReply) and not refused.ok and "-1022" in refused.message


def test_a_broken_private_frame_raises_decode_error_with_an_excerpt() -> None:
    with pytest.raises(DecodeError, match="outboundAccountPosition"):
        binance().decode('{"subscriptionId":0,"event":{"e":"outboundAccountPosition","B":[{"a":"ETH"}]}}')
    with pytest.raises(DecodeError):
        GatePrivate(ws_url="ws://x", credentials=Credentials("k", "s")).decode("{not json")


def test_gate_balances_push_decodes_available_and_freeze_for_every_row() -> None:
    frame = ('{"time":1605248616,"time_ms":1605248616763,"channel":"spot.balances","event":"update","result":['
             '{"timestamp":"1667556323","timestamp_ms":"1667556323730","user":"1000001","currency":"USDT","change":"0",'
             '"total":"222244.3827652","available":"222244.3827","freeze":"5","freeze_change":"5.000000",'
             '"change_type":"order-create"}]}')
    codec = GatePrivate(ws_url="ws://x", credentials=Credentials("k", "s"))
    assert codec.decode(frame) == [Balance(venue="gateio", asset="USDT", free=222244.3827, locked=5.0)]
    refused = codec.decode('{"time":1,"channel":"spot.balances","event":"subscribe","error":{"code":4,"message":"x"}}')
    assert refused == StreamReply(ok=False, message="4: x")


GATE_ORDER_PUSH = (  # private.md §2.2's example, made consistent (its filled_amount exceeds amount) and finished
    '{"time":1694655225,"time_ms":1694655225315,"channel":"spot.orders","event":"update","result":[{"id":"399123456",'
    '"text":"t-arb0123456789abcdefs","create_time":"1694655225","update_time":"1694655225","currency_pair":"BTC_USDT",'
    '"type":"limit","account":"spot","side":"sell","amount":"0.0001","price":"26253.3","time_in_force":"ioc",'
    '"left":"0.00006","filled_total":"1.050132","filled_amount":"0.00004","avg_deal_price":"26253.3","fee":"0.00105",'
    '"fee_currency":"USDT","point_fee":"0","gt_fee":"0","rebated_fee":"0","rebated_fee_currency":"USDT",'
    '"create_time_ms":"1694655225315","update_time_ms":"1694655225316","user":3497082,"event":"finish","stp_id":0,'
    '"stp_act":"-","finish_as":"ioc","biz_info":"-","amend_text":"-"}]}')


def test_gate_order_push_decodes_to_an_order_update_with_its_cumulative_fill_and_final_state() -> None:
    codec = GatePrivate(ws_url="ws://x", credentials=Credentials("k", "s"), pairs={"BTC_USDT": "BTC/USDT"})
    [update] = codec.decode(GATE_ORDER_PUSH)
    assert update == OrderUpdate(venue="gateio", symbol="BTC/USDT", client_order_id="arb0123456789abcdefs",
                                 order_id="399123456", side="sell", order_type="ioc", status="expired",
                                 price=26253.3, qty=0.0001, filled_qty=0.00004, filled_quote=1.050132, fee=0.00105,
                                 fee_asset="USDT", ts_ms=1694655225316)
    assert update.final
    put = GATE_ORDER_PUSH.replace('"event":"finish"', '"event":"put"')
    put = put.replace('"finish_as":"ioc"', '"finish_as":"open"')
    assert codec.decode(put)[0].status == "partially_filled"  # type: ignore[index]
    other = GATE_ORDER_PUSH.replace("BTC_USDT", "GT_USDT")
    assert codec.decode(other) == []  # a pair we do not trade


def test_gate_subscribes_to_every_pairs_orders_and_to_balances_each_signed() -> None:
    codec = GatePrivate(ws_url="ws://x", credentials=Credentials("key", "secret"))
    frames = [json.loads(f) for f in codec.subscribe_frames(1_611_541_000_000)]
    assert [(f["channel"], f.get("payload")) for f in frames] == [("spot.orders", ["!all"]), ("spot.balances", None)]
    assert frames[0]["auth"]["SIGN"] == (
        "833a44bb4cd083e47bc1fec22b5c12e8b98c30fc7a9f4a1e52800dcfdff9a572"
        "40d7c10f1e9553dee020011fa5d02cdc7d1155a380cc4dcbd45f8fb525e41f4b")  # private.md §2.1's fixture


ACCOUNT_FIXTURE = (  # private.md §3.4 (e): the doc's account push, protobuf
    "0a1e73706f7440707269766174652e6163636f756e742e76332e6170692e706228c18095d4c43230c38095d4c4329a135f0a0455534454"
    "122031323866353839323731636234393531623033653731653633323365623762651a1132312e3934323130333536303034333834"
    "220231302a01303201303a11434f4e54524143545f5452414e5346455240b0b58dd4c432")


def test_mexc_account_push_decodes_the_documented_fixture_to_an_absolute_balance() -> None:
    codec = MexcPrivate(venue=None, ws_url="wss://wbs-api.mexc.com/ws")
    assert codec.decode(bytes.fromhex(ACCOUNT_FIXTURE)) == [
        Balance(venue="mexc", asset="USDT", free=21.94210356004384, locked=0.0)]
    assert codec.decode('{"id":0,"code":0,"msg":"spot@private.account.v3.api.pb"}') == StreamReply(ok=True)
    with pytest.raises(DecodeError):
        codec.decode(b"\x0a\xff\xff")
