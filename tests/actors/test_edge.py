"""Walking two books for an edge: table tests and a property against a brute-force model."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.edge import crossed, marginal_edge_bps, walk


@pytest.mark.parametrize(
    ("asks", "bids", "fees", "min_edge", "max_qty", "expected"),
    [
        # one level each, 1% apart, no fees: 100 bps on 1 unit
        ([(100.0, 1.0)], [(101.0, 1.0)], (0.0, 0.0), 5.0, math.inf, (1.0, 100.0, 101.0, 100.0, 1.0)),
        # the smaller side limits the size
        ([(100.0, 0.3)], [(101.0, 2.0)], (0.0, 0.0), 5.0, math.inf, (0.3, 100.0, 101.0, 100.0, 0.3)),
        # a second ask level is still above the threshold, the third is not
        (
            [(100.0, 1.0), (100.5, 1.0), (101.0, 5.0)],
            [(101.0, 5.0)],
            (0.0, 0.0),
            5.0,
            math.inf,
            (2.0, 100.5, 101.0, pytest.approx((1.0 + 0.5) / 200.5 * 1e4), 1.5),
        ),
        # max_qty caps the size
        ([(100.0, 10.0)], [(101.0, 10.0)], (0.0, 0.0), 5.0, 0.25, (0.25, 100.0, 101.0, 100.0, 0.25)),
    ],
)
def test_walk_matches_hand_computed_table(asks, bids, fees, min_edge, max_qty, expected):
    edge = walk(asks, bids, fee_buy=fees[0], fee_sell=fees[1], min_edge_bps=min_edge, max_qty=max_qty)
    assert edge is not None
    size, buy_price, sell_price, edge_bps, pnl = expected
    assert edge.size == pytest.approx(size)
    assert (edge.buy_price, edge.sell_price) == (buy_price, sell_price)
    assert edge.edge_bps == pytest.approx(edge_bps)
    assert edge.expected_pnl == pytest.approx(pnl)


def test_fees_that_eat_the_whole_spread_leave_no_edge():
    # 20 bps spread, 10 bps taker fee on each side: the edge after fees is slightly negative
    assert walk([(100.0, 1.0)], [(100.2, 1.0)], fee_buy=0.001, fee_sell=0.001, min_edge_bps=0.0) is None


def test_edge_exactly_at_the_threshold_after_fees_counts_and_just_below_does_not():
    fee = 0.001
    bid = 100.0 * (1 + fee) * (1 + 5e-4) / (1 - fee)  # exactly 5 bps after both fees
    assert marginal_edge_bps(100.0, bid, fee, fee) == pytest.approx(5.0)
    at = walk([(100.0, 1.0)], [(bid, 1.0)], fee_buy=fee, fee_sell=fee, min_edge_bps=5.0)
    assert at is not None and at.edge_bps == pytest.approx(5.0)
    below = walk([(100.0, 1.0)], [(bid - 1e-6, 1.0)], fee_buy=fee, fee_sell=fee, min_edge_bps=5.0)
    assert below is None


def test_max_notional_caps_the_quote_spent_before_fees():
    edge = walk([(100.0, 1.0), (100.1, 5.0)], [(102.0, 10.0)], fee_buy=0.0, fee_sell=0.0, min_edge_bps=1.0,
                max_notional=150.0)
    assert edge is not None
    assert edge.size == pytest.approx(1.0 + 50.0 / 100.1)
    assert edge.buy_price == 100.1


def test_empty_or_crossed_books_are_recognised():
    assert walk([], [(1.0, 1.0)], fee_buy=0.0, fee_sell=0.0, min_edge_bps=0.0) is None
    assert crossed([(101.0, 1.0)], [(100.0, 1.0)])
    assert crossed([(100.0, 1.0)], [(100.0, 1.0)])
    assert not crossed([(99.0, 1.0)], [(100.0, 1.0)])


# --- property: the walk equals a brute-force model over unit segments ---------------------------


def naive(asks, bids, fb, fs, min_edge, max_qty):
    """Split both books at every cumulative-quantity breakpoint; take segments in order while
    each segment's marginal edge meets the threshold."""
    def price_at(book, x):
        cum = 0.0
        for price, qty in book:
            cum += qty
            if x < cum:
                return price
        return None

    points = sorted({0.0, max_qty} | set(_cums(asks)) | set(_cums(bids)))
    size = pnl = 0.0
    for lo, hi in itertools.pairwise(points):
        if lo >= max_qty:
            break
        mid = (lo + hi) / 2
        a, b = price_at(asks, mid), price_at(bids, mid)
        if a is None or b is None or marginal_edge_bps(a, b, fb, fs) < min_edge - 1e-9:
            break
        q = min(hi, max_qty) - lo
        size += q
        pnl += q * (b * (1 - fs) - a * (1 + fb))
    return size, pnl


def _cums(book):
    cum = 0.0
    for _, qty in book:
        cum += qty
        yield cum


prices = st.integers(min_value=9_900, max_value=10_100).map(lambda p: p / 100)
qtys = st.integers(min_value=1, max_value=50).map(lambda q: q / 10)


@st.composite
def books(draw):
    ask_prices = sorted(draw(st.lists(prices, min_size=1, max_size=6, unique=True)))
    bid_prices = sorted(draw(st.lists(prices, min_size=1, max_size=6, unique=True)), reverse=True)
    asks = [(p, draw(qtys)) for p in ask_prices]
    bids = [(p, draw(qtys)) for p in bid_prices]
    return asks, bids


@settings(max_examples=300, deadline=None)
@given(
    books(),
    st.sampled_from([0.0, 0.0005, 0.001, 0.002]),
    st.sampled_from([0.0, 0.001]),
    st.sampled_from([0.0, 5.0, 20.0]),
    st.one_of(st.just(math.inf), qtys),
)
def test_walk_takes_exactly_the_units_a_brute_force_model_takes(book, fb, fs, min_edge, max_qty):
    asks, bids = book
    edge = walk(asks, bids, fee_buy=fb, fee_sell=fs, min_edge_bps=min_edge, max_qty=max_qty)
    size, pnl = naive(asks, bids, fb, fs, min_edge, max_qty)
    if size <= 1e-12:
        assert edge is None
        return
    assert edge is not None
    assert edge.size == pytest.approx(size, rel=1e-9, abs=1e-9)
    assert edge.expected_pnl == pytest.approx(pnl, rel=1e-9, abs=1e-9)
    assert edge.edge_bps >= min_edge - 1e-6
    assert edge.size <= max_qty + 1e-12
    # the limits are levels of the books and no unit is bought above / sold below them
    assert edge.buy_price in [p for p, _ in asks] and edge.sell_price in [p for p, _ in bids]
    assert marginal_edge_bps(edge.buy_price, edge.sell_price, fb, fs) >= min_edge - 1e-6


NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(("asks", "bids"), [
    ([(NAN, 1.0)], [(101.0, 1.0)]),
    ([(100.0, 1.0)], [(NAN, 1.0)]),
    ([(100.0, NAN)], [(101.0, 1.0)]),
    ([(100.0, 1.0)], [(101.0, NAN)]),
    ([(100.0, 1.0), (NAN, 1.0)], [(101.0, 5.0)]),  # deeper than the top
    ([(100.0, 1.0), (100.1, NAN)], [(101.0, 5.0)]),
    ([(100.0, INF)], [(101.0, INF)]),
    ([(100.0, 1.0)], [(INF, 1.0)]),
])
def test_walk_finds_no_edge_and_terminates_when_a_book_holds_a_nan_or_infinite_number(asks, bids):
    edge = walk(asks, bids, fee_buy=0.0, fee_sell=0.0, min_edge_bps=5.0)
    assert edge is None or all(math.isfinite(x) for x in (edge.size, edge.buy_price, edge.sell_price,
                                                          edge.expected_pnl, edge.edge_bps, edge.cost))


def test_a_nan_best_bid_or_ask_counts_as_crossed():
    assert crossed([(NAN, 1.0)], [(100.0, 1.0)])
    assert crossed([(100.0, 1.0)], [(NAN, 1.0)])
    assert not crossed([(99.0, 1.0)], [(100.0, 1.0)])
