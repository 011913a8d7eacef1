"""The pure L2 book: table tests and a property test against a naive dict model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.l2book import L2Book
from protocols.messages import BookDelta, BookSnapshot, Level


def snapshot(bids: list[Level], asks: list[Level], seq: int = 10) -> BookSnapshot:
    return BookSnapshot(venue="t", symbol="BTC/USDT", seq=seq, bids=tuple(bids), asks=tuple(asks),
                        exchange_ts_ms=0, recv_ns=0)


def delta(bids: list[Level], asks: list[Level], first: int = 11, last: int = 11,
          full: bool = False) -> BookDelta:
    return BookDelta(venue="t", symbol="BTC/USDT", first_seq=first, last_seq=last, bids=tuple(bids),
                     asks=tuple(asks), exchange_ts_ms=0, recv_ns=0, full=full)


def test_snapshot_orders_bids_descending_and_asks_ascending_best_first():
    book = L2Book()
    book.apply_snapshot(snapshot([(99.0, 1.0), (100.0, 2.0), (98.0, 3.0)],
                                 [(102.0, 1.0), (101.0, 2.0), (103.0, 3.0)], seq=7))
    assert book.top(2) == (((100.0, 2.0), (99.0, 1.0)), ((101.0, 2.0), (102.0, 1.0)))
    assert book.best_bid() == (100.0, 2.0)
    assert book.best_ask() == (101.0, 2.0)
    assert book.seq == 7
    assert book.levels() == (3, 3)


def test_snapshot_drops_zero_quantity_levels_and_replaces_previous_state():
    book = L2Book()
    book.apply_snapshot(snapshot([(1.0, 1.0)], [(2.0, 1.0)]))
    book.apply_snapshot(snapshot([(5.0, 0.0), (4.0, 1.0)], [(6.0, 1.0)], seq=20))
    assert book.top(10) == (((4.0, 1.0),), ((6.0, 1.0),))
    assert book.seq == 20


@pytest.mark.parametrize(
    ("bids", "asks", "expected_bids", "expected_asks"),
    [
        ([(100.0, 5.0)], [], ((100.0, 5.0), (99.0, 1.0)), ((101.0, 1.0),)),  # update in place
        ([(100.0, 0.0)], [], ((99.0, 1.0),), ((101.0, 1.0),)),  # zero removes
        ([(100.5, 2.0)], [], ((100.5, 2.0), (100.0, 1.0), (99.0, 1.0)), ((101.0, 1.0),)),  # insert
        ([], [(101.0, 0.0), (100.8, 3.0)], ((100.0, 1.0), (99.0, 1.0)), ((100.8, 3.0),)),
        ([(42.0, 0.0)], [(77.0, 0.0)], ((100.0, 1.0), (99.0, 1.0)), ((101.0, 1.0),)),  # unknown removal
    ],
)
def test_delta_applies_absolute_quantities(bids, asks, expected_bids, expected_asks):
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0)]))
    applied = book.apply(delta(bids, asks, first=11, last=13))
    assert book.top(10) == (expected_bids, expected_asks)
    assert book.seq == 13
    assert applied == len(bids) + len(asks)


def test_full_push_replaces_the_whole_book():
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0)]))
    book.replace(delta([(50.0, 1.0)], [(51.0, 2.0)], first=30, last=30, full=True))
    assert book.top(10) == (((50.0, 1.0),), ((51.0, 2.0),))
    assert book.seq == 30


def test_crossed_is_true_only_when_best_bid_reaches_best_ask():
    book = L2Book()
    assert not book.crossed()
    book.apply_snapshot(snapshot([(100.0, 1.0)], [(101.0, 1.0)]))
    assert not book.crossed()
    book.apply(delta([(101.0, 1.0)], []))
    assert book.crossed()


def test_empty_book_has_no_best_levels():
    book = L2Book()
    assert book.best_bid() is None and book.best_ask() is None
    assert book.top(5) == ((), ())
    assert len(book) == 0


def test_levels_beyond_the_bound_evict_the_farthest_from_the_top():
    book = L2Book(max_levels=3)
    book.apply_snapshot(snapshot([(100.0 - i, 1.0) for i in range(5)], [(200.0 + i, 1.0) for i in range(5)]))
    assert book.levels() == (3, 3)
    assert book.top(5) == (((100.0, 1.0), (99.0, 1.0), (98.0, 1.0)),
                           ((200.0, 1.0), (201.0, 1.0), (202.0, 1.0)))
    book.apply(delta([(100.5, 1.0), (10.0, 1.0)], [(199.0, 1.0)]))
    assert book.top(5) == (((100.5, 1.0), (100.0, 1.0), (99.0, 1.0)),
                           ((199.0, 1.0), (200.0, 1.0), (201.0, 1.0)))


def test_max_levels_below_one_is_refused():
    with pytest.raises(ValueError):
        L2Book(max_levels=0)


# --- property: the book equals a naive dict model -----------------------------------------------


class NaiveBook:
    """Two dicts, sorted on every read; the same eviction rule (after each insertion)."""

    def __init__(self, max_levels: int) -> None:
        self.max_levels = max_levels
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def _set(self, side: dict[float, float], price: float, qty: float, is_bid: bool) -> None:
        if qty <= 0.0:
            side.pop(price, None)
            return
        side[price] = qty
        if len(side) > self.max_levels:
            del side[min(side) if is_bid else max(side)]

    def load(self, bids, asks) -> None:
        self.bids, self.asks = {}, {}
        for p, q in bids:
            self._set(self.bids, p, q, True)
        for p, q in asks:
            self._set(self.asks, p, q, False)

    def apply(self, bids, asks) -> None:
        for p, q in bids:
            self._set(self.bids, p, q, True)
        for p, q in asks:
            self._set(self.asks, p, q, False)

    def top(self, k: int):
        return (tuple(sorted(self.bids.items(), reverse=True)[:k]),
                tuple(sorted(self.asks.items())[:k]))


prices = st.integers(min_value=1, max_value=60).map(lambda i: i * 0.5)
quantities = st.sampled_from([0.0, 0.0, 0.1, 1.0, 2.5])
levels = st.lists(st.tuples(prices, quantities), max_size=12)
steps = st.lists(st.tuples(st.booleans(), levels, levels), max_size=25)  # (is_full_push, bids, asks)


@settings(max_examples=300, deadline=None)
@given(max_levels=st.integers(min_value=1, max_value=8), snap_bids=levels, snap_asks=levels,
       steps=steps, k=st.integers(min_value=1, max_value=10))
def test_top_k_equals_a_naive_dict_model_after_any_snapshot_and_deltas(max_levels, snap_bids, snap_asks,
                                                                        steps, k):
    book, model = L2Book(max_levels=max_levels), NaiveBook(max_levels)
    book.apply_snapshot(snapshot(snap_bids, snap_asks, seq=1))
    model.load(snap_bids, snap_asks)
    for seq, (full, bids, asks) in enumerate(steps, start=2):
        d = delta(bids, asks, first=seq, last=seq, full=full)
        if full:
            book.replace(d)
            model.load(bids, asks)
        else:
            book.apply(d)
            model.apply(bids, asks)
        assert book.top(k) == model.top(k)
        assert book.seq == seq
    expected_bids, expected_asks = model.top(max_levels)
    assert book.levels() == (len(model.bids), len(model.asks))
    assert book.best_bid() == (expected_bids[0] if expected_bids else None)
    assert book.best_ask() == (expected_asks[0] if expected_asks else None)
