"""The simulated Gate ``spot.obu`` stream against a naive model: a client that starts from the
first (full) push and applies each later push by Arbor's ``GateObuSync`` always holds exactly
the top N levels of the venue's book, and every push continues the previous one."""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.gateio import GateVenue
from protocols.venue import SyncAction
from simulator.config import symbol_spec
from simulator.market import VenueBook
from simulator.venues.gate_obu import ObuViews, parse_stream

STREAM = "ob.BTC_USDT.50"
# one book change: (bid side?, distance from the touch in grid steps, quantity in steps; 0 deletes)
change = st.tuples(st.booleans(), st.integers(0, 80), st.integers(0, 5))


def _apply(levels: dict[float, float], updates: list[list[str]]) -> None:
    for price, qty in updates:
        if float(qty) == 0:
            levels.pop(float(price), None)
        else:
            levels[float(price)] = float(qty)


@settings(max_examples=60, deadline=None)
@given(pushes=st.lists(st.lists(change, max_size=30), min_size=1, max_size=25),
       full_at=st.sets(st.integers(1, 24), max_size=3))
def test_a_client_following_the_obu_stream_holds_exactly_the_top_50_levels(pushes, full_at) -> None:
    book = VenueBook(symbol_spec("BTC/USDT"), levels=60, rng=random.Random(1))
    book.seed_levels(60000.0)
    views, venue = ObuViews({"BTC/USDT": book}), GateVenue(symbols=["BTC/USDT"])
    conn = object()
    first = venue.decode(views.first_push(conn, "BTC/USDT", 50, STREAM), 0)
    bids, asks = dict(first.bids), dict(first.asks)
    local = first.last_seq
    for i, moves in enumerate(pushes, start=1):
        for is_bid, k, qty in moves:
            price = book.bid_top - k * book.spec.grid if is_bid else book.ask_bot + k * book.spec.grid
            book.set_level(is_bid, price, qty)
        delta = book.drain()
        if delta is None:
            continue
        delta.full = i in full_at
        frame = views.push(conn, "BTC/USDT", 50, STREAM, delta)
        if frame is None:
            continue
        pushed = venue.decode(frame, 0)
        action = venue.sync.check(local, pushed)
        assert action in (SyncAction.APPLY, SyncAction.REPLACE)
        if action is SyncAction.REPLACE:
            bids, asks = {}, {}
        raw = msgspec.json.decode(frame)["result"]
        _apply(bids, raw["b"])
        _apply(asks, raw["a"])
        local = pushed.last_seq
        truth_bids, truth_asks = book.levels()
        assert sorted(bids.items(), reverse=True) == list(truth_bids[:50])
        assert sorted(asks.items()) == list(truth_asks[:50])
        assert local == book.seq


def test_stream_names_are_the_documented_ones() -> None:
    assert parse_stream("ob.BTC_USDT.50") == ("BTC_USDT", 50)
    assert parse_stream("ob.BTC_USDT.400") == ("BTC_USDT", 400)
    assert [parse_stream(s) for s in ("ob.BTC_USDT.100", "BTC_USDT", "ob..50", 50)] == [None] * 4
