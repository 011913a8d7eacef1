"""cryptofeed's raw capture files as capture records: markets, records, errors naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols import cryptofeed
from protocols.capture import REST, WS, Market

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "captures"


@pytest.mark.parametrize(("name", "expected"), [("nknusdt", "NKN/USDT"), ("blzeth", "BLZ/ETH"), ("runeeur", "RUNE/EUR"),
                                                ("btcfdusd", "BTC/FDUSD"), ("lrcbtc", "LRC/BTC")])
def test_binance_stream_names_split_on_their_quote_asset(name, expected):
    assert cryptofeed.split_binance(name) == expected


def test_a_binance_session_yields_text_frames_with_wall_clock_receive_times(tmp_path):
    path = tmp_path / "BINANCE.ws.1.0"
    path.write_text("wss://stream.binance.com:9443/stream?streams=nknusdt@depth@100ms/nknusdt@kline_1m"
                    " <-> 1633998511.1\n"
                    '1633998512.5: {"stream":"nknusdt@depth@100ms","data":{}}\n')
    assert list(cryptofeed.read(path)) == [
        (WS, "binance", 0, 1633998512_500000000, "", '{"stream":"nknusdt@depth@100ms","data":{}}')]
    assert cryptofeed.markets(path) == {"binance": Market(kind="binance", symbols=("NKN/USDT",))}


def test_an_http_file_yields_each_reply_keyed_by_its_request(tmp_path):
    path = tmp_path / "GATEIO.http.0.0"
    path.write_text("https://api.gateio.ws/api/v4/spot/order_book?currency_pair=HAI_ETH&limit=100&with_id=true"
                    ' -> 1619093533.25: {"id":1}\n')
    assert list(cryptofeed.read(path)) == [
        (REST, "gateio", 0, 1619093533_250000000,
         "GET /api/v4/spot/order_book?currency_pair=HAI_ETH&limit=100&with_id=true", b'{"id":1}')]


def test_a_line_that_does_not_parse_names_the_file_and_line(tmp_path):
    path = tmp_path / "BINANCE.ws.1.0"
    path.write_text("wss://x <-> 1.0\nnot a frame\n")
    with pytest.raises(ValueError, match=r"BINANCE\.ws\.1\.0:2: .*not a frame"):
        list(cryptofeed.read(path))


def test_another_exchange_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="not a cryptofeed capture of BINANCE/GATEIO"):
        cryptofeed.kind_of(tmp_path / "KRAKEN.ws.1.0")


def test_the_recorded_gate_session_subscribed_ten_order_books():
    path = DATA / "GATEIO.ws.1.0"
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data is not beside the checkout)")
    market = cryptofeed.markets(path)["gateio"]
    assert len(market.symbols) == 10 and "BTC/USDC" in market.symbols
    assert market.options == {"book_channel": "spot.order_book_update"}  # 2021: the v4 diff channel
    assert sum(1 for r in cryptofeed.read(path) if r[0] == WS) > 250
