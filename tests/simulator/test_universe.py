"""The simulated universe is shaped like the real listings (simulator.universe)."""

from __future__ import annotations

from collections import Counter

from protocols.markets import Listing, Selection, shared_markets
from simulator.universe import universe

VENUES = ("mexc", "binance", "gateio")


def _shared(u: dict) -> dict[str, tuple[str, ...]]:
    listings = {v: [Listing(venue=v, symbol=s, venue_symbol=s, trading=True,
                            api_orders=s not in u["api_closed"].get(v, ())) for s in u["listings"][v]] for v in VENUES}
    return shared_markets(listings, Selection())


def test_a_300_market_universe_is_mostly_pairs_some_triples_venue_only_markets_and_api_closed_ones() -> None:
    u = universe(300, VENUES, seed=3)
    listed_on = Counter(s for v in VENUES for s in u["listings"][v])
    by_count = Counter(listed_on.values())
    assert by_count[2] > by_count[3] > 50 and by_count[1] >= 3 * (300 // 5)  # venue-only on each venue
    assert {"BTC/USDT", "ETH/USDT"} <= set(u["api_closed"]["mexc"])  # as in the 2025-09 MEXC listing
    assert 30 < len(u["api_closed"]["mexc"]) < 100
    shared = _shared(u)
    assert 250 <= len(shared) <= 300  # MEXC-closed markets shared with only one other venue fall out
    assert u["price_factor"] and all(s in listed_on for s in u["price_factor"])


def test_activity_has_a_long_quiet_tail_and_a_few_busy_markets_and_quiet_ones_dislocate_more() -> None:
    u = universe(300, VENUES, seed=3)
    activity = sorted(u["activity"].values())
    assert activity[len(activity) // 2] < 0.5 < activity[-10]  # median quiet, top ten busy
    quiet = min(u["activity"], key=u["activity"].__getitem__)
    assert u["noise"][quiet] > u["noise"]["BTC/USDT"] == 1.0


def test_the_same_seed_gives_the_same_universe() -> None:
    assert universe(50, VENUES, seed=9) == universe(50, VENUES, seed=9)
    assert universe(50, VENUES, seed=9) != universe(50, VENUES, seed=10)
