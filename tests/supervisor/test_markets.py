"""The markets refresher's journal rows: why each venue-market was added or removed."""

from __future__ import annotations

import pytest

from protocols.markets import Listing, Selection
from supervisor.markets import MarketChanges, change_events


def row(symbol: str, *, trading: bool = True, api_orders: bool = True) -> Listing:
    return Listing(venue="mexc", symbol=symbol, venue_symbol=symbol.replace("/", ""), trading=trading,
                   api_orders=api_orders)


@pytest.mark.parametrize(("listed", "shared", "reason"), [
    ([], {}, "delisted"),
    ([row("X/USDT", trading=False)], {}, "halted"),
    ([row("X/USDT", api_orders=False)], {}, "closed to API orders"),
    ([row("X/USDT")], {}, "no longer shared by 2 venues"),
    ([row("X/USDT")], {"X/USDT": ("gateio", "binance")}, "no longer selected"),
])
def test_a_removed_market_is_journaled_with_the_reason_its_listing_gives(listed, shared, reason):
    events = change_events(MarketChanges(removed={"mexc": ("X/USDT",)}), {"mexc": listed}, shared, Selection())
    assert [(e.event, e.symbol, e.venues, e.reason) for e in events] == [("removed", "X/USDT", ("mexc",), reason)]


def test_an_added_market_is_journaled_per_venue_with_the_venues_sharing_it():
    changes = MarketChanges(added={"mexc": ("N/USDT",), "binance": ("N/USDT", "PIN/USDT")})
    events = change_events(changes, {}, {"N/USDT": ("mexc", "binance")}, Selection())
    assert [(e.event, e.symbol, e.venues, e.reason) for e in events] == [
        ("added", "N/USDT", ("mexc",), "shared by mexc, binance"),
        ("added", "N/USDT", ("binance",), "shared by mexc, binance"),
        ("added", "PIN/USDT", ("binance",), "pinned in the config"),
    ]


def test_a_market_removed_for_trading_below_the_floor_is_journaled_with_its_volume_and_the_floor():
    events = change_events(MarketChanges(removed={"mexc": ("X/USDT",)}), {"mexc": [row("X/USDT")]}, {},
                           Selection(min_quote_volume_24h=50_000.0), {"mexc": {"X/USDT": 1234.4}})
    assert [e.reason for e in events] == ["24h quote volume 1234 below the floor 50000"]
