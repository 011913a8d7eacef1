"""The L2 book, both cores (``core``: tests/conftest.py): table tests and property tests
against a naive dict model."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import l2book
from protocols.messages import BookDelta, BookSnapshot, Level

ROOT = Path(__file__).resolve().parents[2]


def book_class(core: str) -> type[l2book.PyL2Book]:
    if core == "python":
        return l2book.PyL2Book
    from actors._l2book import L2Book  # skipped before here when not built
    return L2Book


def snapshot(bids: list[Level], asks: list[Level], seq: int = 10) -> BookSnapshot:
    return BookSnapshot(venue="t", symbol="BTC/USDT", seq=seq, bids=tuple(bids), asks=tuple(asks),
                        exchange_ts_ms=0, recv_ns=0)


def delta(bids: list[Level], asks: list[Level], first: int = 11, last: int = 11,
          full: bool = False) -> BookDelta:
    return BookDelta(venue="t", symbol="BTC/USDT", first_seq=first, last_seq=last, bids=tuple(bids),
                     asks=tuple(asks), exchange_ts_ms=0, recv_ns=0, full=full)


def test_snapshot_orders_bids_descending_and_asks_ascending_best_first(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(99.0, 1.0), (100.0, 2.0), (98.0, 3.0)],
                                 [(102.0, 1.0), (101.0, 2.0), (103.0, 3.0)], seq=7))
    assert book.top(2) == (((100.0, 2.0), (99.0, 1.0)), ((101.0, 2.0), (102.0, 1.0)))
    assert book.best_bid() == (100.0, 2.0)
    assert book.best_ask() == (101.0, 2.0)
    assert book.seq == 7
    assert book.levels() == (3, 3)


def test_snapshot_drops_zero_quantity_levels_and_replaces_previous_state(core):
    L2Book = book_class(core)
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
def test_delta_applies_absolute_quantities(core, bids, asks, expected_bids, expected_asks):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0)]))
    applied = book.apply(delta(bids, asks, first=11, last=13))
    assert book.top(10) == (expected_bids, expected_asks)
    assert book.seq == 13
    assert applied == len(bids) + len(asks)


def test_full_push_replaces_the_whole_book(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0)]))
    book.replace(delta([(50.0, 1.0)], [(51.0, 2.0)], first=30, last=30, full=True))
    assert book.top(10) == (((50.0, 1.0),), ((51.0, 2.0),))
    assert book.seq == 30


def test_crossed_is_true_only_when_best_bid_reaches_best_ask(core):
    L2Book = book_class(core)
    book = L2Book()
    assert not book.crossed()
    book.apply_snapshot(snapshot([(100.0, 1.0)], [(101.0, 1.0)]))
    assert not book.crossed()
    book.apply(delta([(101.0, 1.0)], []))
    assert book.crossed()


def test_empty_book_has_no_best_levels(core):
    L2Book = book_class(core)
    book = L2Book()
    assert book.best_bid() is None and book.best_ask() is None
    assert book.top(5) == ((), ())
    assert len(book) == 0


def test_levels_beyond_the_bound_evict_the_farthest_from_the_top(core):
    L2Book = book_class(core)
    book = L2Book(max_levels=3)
    book.apply_snapshot(snapshot([(100.0 - i, 1.0) for i in range(5)], [(200.0 + i, 1.0) for i in range(5)]))
    assert book.levels() == (3, 3)
    assert book.top(5) == (((100.0, 1.0), (99.0, 1.0), (98.0, 1.0)),
                           ((200.0, 1.0), (201.0, 1.0), (202.0, 1.0)))
    book.apply(delta([(100.5, 1.0), (10.0, 1.0)], [(199.0, 1.0)]))
    assert book.top(5) == (((100.5, 1.0), (100.0, 1.0), (99.0, 1.0)),
                           ((199.0, 1.0), (200.0, 1.0), (201.0, 1.0)))


def test_a_level_beyond_a_full_side_is_evicted_at_once_and_a_nearer_one_evicts_the_farthest(core):
    L2Book = book_class(core)
    book = L2Book(max_levels=3)
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 1.0), (98.0, 1.0)], [(101.0, 1.0), (102.0, 1.0), (103.0, 1.0)]))
    book.apply(delta([(97.0, 1.0)], [(104.0, 1.0)]))  # farther than every held level: gone at once
    assert book.top(5) == (((100.0, 1.0), (99.0, 1.0), (98.0, 1.0)), ((101.0, 1.0), (102.0, 1.0), (103.0, 1.0)))
    book.apply(delta([(98.5, 2.0)], [(102.5, 2.0)]))  # between: the farthest (98 / 103) goes
    assert book.top(5) == (((100.0, 1.0), (99.0, 1.0), (98.5, 2.0)), ((101.0, 1.0), (102.0, 1.0), (102.5, 2.0)))
    assert book.levels() == (3, 3) and len(book) == 6


def test_a_side_below_the_bound_takes_a_far_level_without_evicting(core):
    L2Book = book_class(core)
    book = L2Book(max_levels=3)
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 1.0), (98.0, 1.0)], [(101.0, 1.0)]))
    book.apply(delta([(100.0, 0.0), (90.0, 1.0)], [(150.0, 1.0), (140.0, 1.0)]))
    assert book.top(5) == (((99.0, 1.0), (98.0, 1.0), (90.0, 1.0)), ((101.0, 1.0), (140.0, 1.0), (150.0, 1.0)))
    book.apply(delta([(80.0, 1.0)], [(160.0, 1.0), (100.5, 1.0)]))
    assert book.top(5) == (((99.0, 1.0), (98.0, 1.0), (90.0, 1.0)), ((100.5, 1.0), (101.0, 1.0), (140.0, 1.0)))


def test_an_evicted_level_stays_unknown_after_nearer_levels_are_removed(core):
    L2Book = book_class(core)
    book = L2Book(max_levels=2)
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 1.0)], []))
    book.apply(delta([(99.5, 1.0)], []))  # evicts 99.0
    book.apply(delta([(100.0, 0.0)], []))
    assert book.top(5) == (((99.5, 1.0),), ())


def test_snapshot_zero_quantity_removes_an_earlier_mention_and_a_later_mention_wins(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 2.0), (100.0, 0.0), (99.0, 3.0)],
                                 [(101.0, 0.0), (102.0, 1.0), (102.0, 0.0), (103.0, 1.0)], seq=5))
    assert book.top(10) == (((99.0, 3.0),), ((103.0, 1.0),))
    assert book.levels() == (1, 1) and book.seq == 5


def test_snapshot_of_only_zero_quantities_leaves_an_empty_book(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0)], [(101.0, 1.0)]))
    book.apply_snapshot(snapshot([(100.0, 0.0), (99.0, 0.0)], [(101.0, 0.0)], seq=9))
    assert book.top(10) == ((), ()) and len(book) == 0 and book.seq == 9
    assert book.best_bid() is None and book.best_ask() is None and not book.crossed()


def test_snapshot_larger_than_the_bound_evicts_after_each_insertion_like_a_delta(core):
    L2Book = book_class(core)
    book = L2Book(max_levels=1)
    # 101 evicts 100, then 101 is removed: nothing is left (100 was evicted, not remembered)
    book.apply_snapshot(snapshot([(100.0, 1.0), (101.0, 1.0), (101.0, 0.0)], [(5.0, 1.0), (4.0, 1.0)], seq=3))
    assert book.top(5) == ((), ((4.0, 1.0),))
    assert book.seq == 3
    book.apply(delta([(50.0, 2.0)], [(3.0, 1.0)]))
    assert book.top(5) == (((50.0, 2.0),), ((3.0, 1.0),))


def test_replace_drops_every_old_level_applies_zeros_and_leaves_a_working_book(core):
    L2Book = book_class(core)
    book = L2Book(max_levels=3)
    book.apply_snapshot(snapshot([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0), (102.0, 1.0)]))
    book.replace(delta([(60.0, 1.0), (61.0, 1.0), (60.0, 0.0)], [(70.0, 2.0), (71.0, 0.0)], first=40, last=41,
                       full=True))
    assert book.top(10) == (((61.0, 1.0),), ((70.0, 2.0),))
    assert book.seq == 41 and book.levels() == (1, 1)
    book.apply(delta([(62.0, 1.0), (59.0, 1.0), (58.0, 1.0)], [(69.0, 1.0), (70.0, 0.0)], first=42, last=42))
    assert book.top(10) == (((62.0, 1.0), (61.0, 1.0), (59.0, 1.0)), ((69.0, 1.0),))
    book.replace(delta([(10.0 - i, 1.0) for i in range(5)], [], first=43, last=43, full=True))  # over the bound
    assert book.top(10) == (((10.0, 1.0), (9.0, 1.0), (8.0, 1.0)), ())


def test_replace_with_an_empty_push_empties_the_book(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0)], [(101.0, 1.0)]))
    book.replace(delta([], [], first=50, last=50, full=True))
    assert book.top(5) == ((), ()) and book.seq == 50 and len(book) == 0


@pytest.mark.parametrize(
    ("bids", "asks", "crossed"),
    [
        ([(100.0, 1.0)], [(101.0, 1.0)], False),
        ([(101.0, 1.0)], [(101.0, 1.0)], True),  # a locked book counts as crossed
        ([(102.0, 1.0)], [(101.0, 1.0)], True),
        ([(100.0, 1.0)], [], False),
        ([], [(101.0, 1.0)], False),
        ([], [], False),
    ],
)
def test_crossed_compares_the_best_prices_of_both_sides(core, bids, asks, crossed):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot(bids, asks))
    assert book.crossed() is crossed


def test_crossed_clears_when_the_crossing_level_is_removed(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0)], [(101.0, 1.0)]))
    book.apply(delta([], [(99.0, 1.0)]))
    assert book.crossed()
    book.apply(delta([], [(99.0, 0.0)]))
    assert not book.crossed()


def test_clear_empties_the_book_and_resets_seq(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0)], [(101.0, 1.0)], seq=8))
    book.clear()
    assert book.top(5) == ((), ()) and book.seq == 0 and book.levels() == (0, 0)
    book.apply(delta([(1.0, 1.0)], [(2.0, 1.0)], first=1, last=1))
    assert book.top(5) == (((1.0, 1.0),), ((2.0, 1.0),))


def test_top_of_zero_levels_is_empty_and_a_negative_depth_is_refused(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply_snapshot(snapshot([(100.0, 1.0)], [(101.0, 1.0)]))
    assert book.top(0) == ((), ())
    with pytest.raises(ValueError):
        book.top(-1)


def test_deep_book_inserts_and_removes_levels_far_from_the_top_and_near_it(core):
    L2Book = book_class(core)
    # 200 levels a side: updates both inside and outside the window of top levels searched first
    book = L2Book(max_levels=200)
    book.apply_snapshot(snapshot([(1000.0 - i, 1.0) for i in range(200)], [(2000.0 + i, 1.0) for i in range(200)]))
    book.apply(delta([(850.5, 2.0), (990.5, 2.0), (1000.0, 0.0), (900.0, 0.0), (999.5, 3.0)],
                     [(2150.5, 2.0), (2010.5, 2.0), (2000.0, 0.0), (2100.0, 0.0), (2000.5, 3.0)]))
    bids, asks = book.top(200)
    assert bids[:2] == ((999.5, 3.0), (999.0, 1.0))
    assert asks[:2] == ((2000.5, 3.0), (2001.0, 1.0))
    assert (850.5, 2.0) in bids and (990.5, 2.0) in bids and all(p not in (1000.0, 900.0) for p, _ in bids)
    assert (2150.5, 2.0) in asks and (2010.5, 2.0) in asks and all(p not in (2000.0, 2100.0) for p, _ in asks)
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    # per side: two inserts at the bound evict the two farthest, two deletes, one insert below it
    assert book.levels() == (199, 199)
    assert bids[-1] == (803.0, 1.0) and asks[-1] == (2197.0, 1.0)


def test_max_levels_below_one_is_refused(core):
    L2Book = book_class(core)
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
def test_top_k_equals_a_naive_dict_model_after_any_snapshot_and_deltas(core, max_levels, snap_bids, snap_asks,
                                                                        steps, k):
    L2Book = book_class(core)
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


deep_prices = st.integers(min_value=1, max_value=300).map(lambda i: i * 0.25)
deep_levels = st.lists(st.tuples(deep_prices, quantities), min_size=5, max_size=40)
deep_snapshot_side = st.lists(st.tuples(deep_prices, st.sampled_from([0.0, 1.0, 2.0])), min_size=60, max_size=150)


@settings(max_examples=60, deadline=None)
@given(max_levels=st.integers(min_value=20, max_value=90), snap_bids=deep_snapshot_side, snap_asks=deep_snapshot_side,
       steps=st.lists(st.tuples(st.booleans(), deep_levels, deep_levels), min_size=3, max_size=12),
       k=st.integers(min_value=0, max_value=100))
def test_a_deep_book_equals_the_naive_model_near_and_far_from_the_top(core, max_levels, snap_bids, snap_asks, steps, k):
    L2Book = book_class(core)
    # Deep enough (> 32 levels) that inserts and deletes land both inside and outside the
    # window of top levels the book searches first; full pushes are rarer than deltas.
    book, model = L2Book(max_levels=max_levels), NaiveBook(max_levels)
    book.apply_snapshot(snapshot(snap_bids, snap_asks, seq=1))
    model.load(snap_bids, snap_asks)
    assert book.top(max_levels) == model.top(max_levels)
    for seq, (full, bids, asks) in enumerate(steps, start=2):
        full = full and seq % 4 == 0
        d = delta(bids, asks, first=seq, last=seq, full=full)
        if full:
            book.replace(d)
            model.load(bids, asks)
        else:
            assert book.apply(d) == len(bids) + len(asks)
            model.apply(bids, asks)
        assert book.top(k) == model.top(k)
        assert book.levels() == (len(model.bids), len(model.asks))
        assert book.crossed() == bool(model.bids and model.asks and max(model.bids) >= min(model.asks))
    assert book.top(max_levels) == model.top(max_levels)


# --- the two cores against each other -----------------------------------------------------------

wide_prices = st.one_of(st.integers(min_value=1, max_value=400).map(lambda i: i * 0.125),
                        st.integers(min_value=1, max_value=50),  # ints equal to float prices
                        st.sampled_from([0.0, -0.0, 1e-300, float("inf")]))
wide_quantities = st.one_of(st.sampled_from([0.0, -0.0, -1.0, float("nan"), float("inf"), 1, 0]),
                            st.floats(min_value=1e-9, max_value=1e9))
wide_levels = st.lists(st.tuples(wide_prices, wide_quantities), max_size=30)


@settings(max_examples=200, deadline=None)
@given(max_levels=st.integers(min_value=1, max_value=60), snap_bids=wide_levels, snap_asks=wide_levels,
       steps=st.lists(st.tuples(st.booleans(), wide_levels, wide_levels), max_size=20))
def test_the_compiled_book_holds_the_very_levels_the_pure_book_holds(core, max_levels, snap_bids, snap_asks, steps):
    # Ints beside equal floats, signed zeros, infinities, negative and NaN quantities: every
    # level, and the level objects themselves, must match the pure book's after every step.
    if core == "python":
        pytest.skip("compares the compiled core with the pure one")
    compiled, pure = book_class(core)(max_levels), l2book.PyL2Book(max_levels)
    for book in (compiled, pure):
        book.apply_snapshot(snapshot(snap_bids, snap_asks, seq=1))
    for seq, (full, bids, asks) in enumerate(steps, start=2):
        d = delta(bids, asks, first=seq, last=seq, full=full)
        for book in (compiled, pure):
            book.replace(d) if full else book.apply(d)
        got, want = compiled.top(max_levels), pure.top(max_levels)
        assert all(a is b for a, b in zip(got[0] + got[1], want[0] + want[1]))
        assert (len(got[0]), len(got[1]), compiled.seq) == (len(want[0]), len(want[1]), pure.seq)
        assert (compiled.levels(), compiled.crossed(), len(compiled)) == (pure.levels(), pure.crossed(), len(pure))
        assert (compiled.best_bid(), compiled.best_ask()) == (pure.best_bid(), pure.best_ask())


def test_levels_may_be_any_pair_of_numbers_and_a_malformed_level_is_refused(core):
    L2Book = book_class(core)
    book = L2Book()
    book.apply(delta([[100, 2]], [(101.5, True)]))  # type: ignore[list-item] - a list, ints, a bool
    assert book.top(1) == (([100, 2],), ((101.5, True),))
    with pytest.raises((TypeError, ValueError)):
        book.apply(delta([(1.0, 2.0, 3.0)], []))  # type: ignore[list-item]
    with pytest.raises(TypeError):
        book.apply(delta([("1.0", 2.0)], [(3.0, 1.0)]))  # type: ignore[list-item]


def test_a_nan_price_is_refused_by_the_compiled_book(core):
    if core == "python":
        pytest.skip("the pure book does not check (a dict key it cannot order)")
    book = book_class(core)()
    with pytest.raises(ValueError, match="NaN price"):
        book.apply(delta([(float("nan"), 1.0)], []))


def test_the_selected_book_is_the_compiled_one_unless_the_pure_core_is_asked_for():
    # The choice is made at import: check it in fresh interpreters, with and without the switch.
    probe = "from actors import l2book; print(l2book.CORE, l2book.L2Book is l2book.PyL2Book)"
    pure = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "ARBOR_PURE_PYTHON": "1"},
                          capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert pure == ["python", "(ARBOR_PURE_PYTHON=1)", "True"]
    default = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "ARBOR_PURE_PYTHON": ""},
                             capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    built = importlib.util.find_spec("actors._l2book") is not None
    assert default == (["compiled", "False"] if built else ["python", "(not", "built)", "True"])
