"""Market discovery against the venues' real listings (../shared/data/markets) and small tables."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from protocols.markets import (
    Listing,
    Selection,
    parse_binance,
    parse_gateio,
    parse_mexc,
    per_venue,
    price_mismatch,
    shared_markets,
    volumes_binance,
    volumes_by_symbol,
    volumes_gateio,
    volumes_mexc,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "markets"
FILES = {"mexc": ("mexc.exchangeInfo.2025-09-21.json", parse_mexc),
         "binance": ("binance.exchangeInfo.2023-08-13.json", parse_binance),
         "gateio": ("gate.currency_pairs.2024-08-19.json", parse_gateio)}


@pytest.fixture(scope="module")
def real() -> dict[str, list[Listing]]:
    if not DATA.is_dir():
        pytest.skip(f"the real listings are not here ({DATA}): see /work/shared/data/markets/SOURCES.md")
    return {venue: parse((DATA / name).read_bytes()) for venue, (name, parse) in FILES.items()}


def test_real_listings_parse_every_symbol_and_count_the_open_ones(real: dict[str, list[Listing]]) -> None:
    # SOURCES.md: MEXC 2,182 symbols; Binance 2,276 (1,393 TRADING); Gate 3,746 (3,633 tradable).
    assert {v: len(rows) for v, rows in real.items()} == {"mexc": 2182, "binance": 2276, "gateio": 3746}
    assert sum(r.open for r in real["gateio"]) == 3633
    assert sum(r.open for r in real["binance"]) == 1382  # TRADING and isSpotTradingAllowed
    assert sum(r.open for r in real["mexc"]) == 1828  # status 1 and isSpotTradingAllowed


def test_mexc_markets_closed_to_api_orders_are_never_shared_when_the_web_site_trades_them(
        real: dict[str, list[Listing]]) -> None:
    mexc = {r.symbol: r for r in real["mexc"]}
    assert mexc["BTC/USDT"].trading and not mexc["BTC/USDT"].api_orders
    shared = shared_markets(real, Selection())
    assert shared["BTC/USDT"] == ("binance", "gateio")
    assert shared["ETH/USDT"] == ("binance", "gateio")
    closed = {r.symbol for r in real["mexc"] if not r.api_orders}
    assert not any("mexc" in shared[s] for s in closed if s in shared)


def test_usdt_markets_shared_by_two_or_three_of_the_real_venues(real: dict[str, list[Listing]]) -> None:
    shared = shared_markets(real, Selection(quotes=("USDT",), min_venues=2))
    assert len(shared) == 849
    assert sum(len(v) == 3 for v in shared.values()) == 250
    assert shared_markets(real, Selection(quotes=("USDT",), min_venues=3)).keys() == \
        {s for s, v in shared.items() if len(v) == 3}
    assert shared["SOL/USDT"] == ("mexc", "binance", "gateio")
    assert all(s.endswith("/USDT") for s in shared)


def test_halted_binance_markets_are_not_shared_when_their_status_is_break(real: dict[str, list[Listing]]) -> None:
    halted = {r.symbol for r in real["binance"] if not r.trading}
    shared = shared_markets(real, Selection())
    assert halted and not any("binance" in shared.get(s, ()) for s in halted)


def _row(venue: str, symbol: str, trading: bool = True, api: bool = True) -> Listing:
    return Listing(venue=venue, symbol=symbol, venue_symbol=symbol.replace("/", ""), trading=trading, api_orders=api)


def test_include_and_exclude_globs_and_quotes_select_markets_when_given() -> None:
    listings = {v: [_row(v, s) for s in ("AAA/USDT", "BBB/USDT", "AAA/USDC", "CCC/BTC")] for v in ("a", "b")}
    assert list(shared_markets(listings, Selection())) == ["AAA/USDT", "BBB/USDT"]
    assert list(shared_markets(listings, Selection(quotes=("USDT", "USDC"), exclude=("BBB/*",)))) == \
        ["AAA/USDC", "AAA/USDT"]
    assert list(shared_markets(listings, Selection(quotes=("BTC", "USDT"), include=("C*",)))) == ["CCC/BTC"]


def test_a_market_listed_on_one_venue_only_is_not_shared_when_min_venues_is_two() -> None:
    listings = {"a": [_row("a", "ONLY/USDT"), _row("a", "BOTH/USDT")], "b": [_row("b", "BOTH/USDT")],
                "c": [_row("c", "ONLY/USDT", trading=False)]}
    shared = shared_markets(listings, Selection())
    assert shared == {"BOTH/USDT": ("a", "b")}
    assert per_venue(shared, ["a", "b", "c"]) == {"a": ["BOTH/USDT"], "b": ["BOTH/USDT"], "c": []}


def test_gate_pairs_that_only_allow_selling_are_not_open() -> None:
    body = b'[{"id":"X_USDT","base":"X","quote":"USDT","trade_status":"sellable"},' \
           b'{"id":"Y_USDT","base":"Y","quote":"USDT","trade_status":"tradable"}]'
    assert [(r.symbol, r.open) for r in parse_gateio(body)] == [("X/USDT", False), ("Y/USDT", True)]


def test_asset_names_that_cannot_be_internal_symbols_are_skipped() -> None:
    body = b'{"symbols":[{"symbol":"A-BUSDT","baseAsset":"A-B","quoteAsset":"USDT","status":"1",' \
           b'"isSpotTradingAllowed":true},{"symbol":"ABUSDT","baseAsset":"AB","quoteAsset":"USDT",' \
           b'"status":"1","isSpotTradingAllowed":true}]}'
    assert [r.symbol for r in parse_mexc(body)] == ["AB/USDT"]


@pytest.mark.parametrize(("mids", "bound", "mismatch"), [
    ({"a": 100.0, "b": 104.9}, 0.05, False),
    ({"a": 100.0, "b": 105.1}, 0.05, True),
    ({"a": 1.0, "b": 0.5, "c": 1.0}, 0.05, True),
    ({"a": 100.0}, 0.05, False),
    ({"a": 100.0, "b": 0.0}, 0.05, False),
])
def test_price_mismatch_names_the_venues_when_mids_differ_by_more_than_the_bound(
        mids: dict[str, float], bound: float, mismatch: bool) -> None:
    reason = price_mismatch(mids, bound)
    assert (reason is not None) == mismatch
    if reason is not None:
        assert "not the same token" in reason and max(mids, key=mids.__getitem__) in reason


# 24 h tickers, as documented (Binance/MEXC GET /api/v3/ticker/24hr, Gate GET /api/v4/spot/tickers),
# trimmed to the fields around the one read: quote volume, a decimal string (MEXC: null without trades)
BINANCE_TICKERS = (b'[{"symbol":"BTCUSDT","priceChange":"-94.99","lastPrice":"4.00","volume":"8913.30",'
                   b'"quoteVolume":"15.30","count":76},{"symbol":"DEADUSDT","volume":"0","quoteVolume":"0.00"}]')
MEXC_TICKERS = (b'[{"symbol":"BTCUSDT","lastPrice":"46263.71","volume":"2.05","quoteVolume":"91001.3",'
                b'"count":null},{"symbol":"NEWUSDT","volume":"0","quoteVolume":null}]')
GATE_TICKERS = (b'[{"currency_pair":"BTC_USDT","last":"0.2663","base_volume":"1134.02",'
                b'"quote_volume":"300.9846"},{"currency_pair":"ETH_USDT","quote_volume":"1e6"}]')


@pytest.mark.parametrize(("parse", "body", "expected"), [
    (volumes_binance, BINANCE_TICKERS, {"BTCUSDT": 15.3, "DEADUSDT": 0.0}),
    (volumes_mexc, MEXC_TICKERS, {"BTCUSDT": 91001.3, "NEWUSDT": 0.0}),
    (volumes_gateio, GATE_TICKERS, {"BTC_USDT": 300.9846, "ETH_USDT": 1e6}),
])
def test_24h_tickers_give_each_venue_symbols_quote_volume(parse, body, expected) -> None:
    assert parse(body) == expected


@pytest.mark.parametrize("body", [b'{"code": -1121}', b'[{"symbol": "X", "quoteVolume": "lots"}]', b"<html>"])
def test_a_ticker_body_of_another_shape_raises_a_decode_error(body: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        volumes_binance(body)


def test_a_venue_counts_toward_min_venues_only_where_the_market_traded_the_floor() -> None:
    listings = {v: [_row(v, s) for s in ("BUSY/USDT", "HALF/USDT", "DEAD/USDT")] for v in ("a", "b", "c")}
    volumes = {"a": volumes_by_symbol(listings["a"], {"BUSYUSDT": 9e6, "HALFUSDT": 9e6, "DEADUSDT": 10.0}),
               "b": volumes_by_symbol(listings["b"], {"BUSYUSDT": 2e6, "HALFUSDT": 10.0}),  # DEAD: no ticker
               "c": volumes_by_symbol(listings["c"], {"BUSYUSDT": 1e6, "HALFUSDT": 5e4, "DEADUSDT": 5e4})}
    floor = Selection(min_quote_volume_24h=5e4)
    assert shared_markets(listings, floor, volumes) == {"BUSY/USDT": ("a", "b", "c"), "HALF/USDT": ("a", "c")}
    assert shared_markets(listings, msgspec.structs.replace(floor, min_venues=3), volumes) == \
        {"BUSY/USDT": ("a", "b", "c")}
    assert len(shared_markets(listings, Selection(), volumes)) == 3  # no floor: volumes are not read
