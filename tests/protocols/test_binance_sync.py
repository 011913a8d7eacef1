"""Binance's local-book procedure (binance.md §3.2): every boundary of ``start`` and ``check``,
and a property over random delta streams against a true book."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.binance import BinanceVenue
from protocols.binance.sync import BinanceSync
from protocols.messages import BookDelta
from protocols.venue import SyncAction

SYNC = BinanceSync()


def delta(first: int, last: int, bids: tuple = ()) -> BookDelta:
    return BookDelta(venue="binance", symbol="BNB/BTC", first_seq=first, last_seq=last, bids=bids, asks=(),
                     exchange_ts_ms=0, recv_ns=0)


def test_the_venue_uses_the_binance_rule() -> None:
    assert isinstance(BinanceVenue.sync, BinanceSync)


@pytest.mark.parametrize(
    ("snapshot", "buffer", "expected"),
    [
        # step 4: lastUpdateId < U of the first buffered event -> the snapshot is too old: refetch
        (156, [(157, 160)], None),
        (100, [(157, 160), (161, 165)], None),
        # lastUpdateId == U_first is not "strictly less": usable, first event straddles L+1
        (157, [(157, 160)], 0),
        # step 5: drop u <= lastUpdateId (u == L dropped too), first remaining has U <= L+1 <= u
        (160, [(157, 160), (161, 165)], 1),
        (159, [(157, 160), (161, 165)], 0),
        (161, [(157, 160), (161, 165)], 1),
        (165, [(157, 160), (161, 165)], 2),  # every buffered event is inside the snapshot
        (170, [(157, 160), (161, 165)], 2),
        # the first remaining event must contain L+1: a hole in the buffer right after L -> refetch
        (160, [(157, 160), (162, 165)], None),
        (163, [(157, 160), (165, 170)], None),
        # empty buffer: nothing to compare; check() judges the first live event
        (160, [], 0),
    ],
)
def test_start_follows_steps_4_and_5(snapshot: int, buffer: list[tuple[int, int]], expected: int | None) -> None:
    assert SYNC.start(snapshot, [delta(u0, u1) for u0, u1 in buffer]) == expected


@pytest.mark.parametrize(
    ("last", "first_seq", "last_seq", "expected"),
    [
        (160, 161, 165, SyncAction.APPLY),  # the normal case: U == L + 1
        (160, 150, 159, SyncAction.IGNORE),  # u < L: old
        (160, 159, 159, SyncAction.IGNORE),  # u == L - 1: still old
        # u == L: the doc ignores only u < L, so it is applied; it ends where the book is, and its
        # absolute quantities equal the book's, so re-applying is idempotent
        (160, 157, 160, SyncAction.APPLY),
        (160, 160, 160, SyncAction.APPLY),
        (160, 158, 163, SyncAction.APPLY),  # overlaps L: U <= L+1 <= u
        (160, 162, 165, SyncAction.GAP),  # U == L + 2: one update missed
        (160, 1000, 1001, SyncAction.GAP),
        (0, 1, 1, SyncAction.APPLY),
        (0, 2, 2, SyncAction.GAP),
    ],
)
def test_check_follows_the_update_procedure(last: int, first_seq: int, last_seq: int, expected: SyncAction) -> None:
    assert SYNC.check(last, delta(first_seq, last_seq)) is expected


# --- property: a true event stream, a snapshot, a perturbed delivery ------------------------------

PRICES = (1.0, 2.0, 3.0, 4.0)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[BookDelta], list[dict[float, float]], int]:
    """Contiguous true events, the true book after each, and a snapshot index."""
    events, books, book, next_id = [], [{}], {}, 1
    for _ in range(draw(st.integers(1, 25))):
        width = draw(st.integers(1, 4))
        levels = tuple(draw(st.lists(st.tuples(st.sampled_from(PRICES), st.sampled_from((0.0, 1.0, 2.0))),
                                     min_size=1, max_size=3)))
        events.append(delta(next_id, next_id + width - 1, levels))
        book = apply(book, levels)
        books.append(book)
        next_id += width
    return events, books, draw(st.integers(0, len(events)))


def apply(book: dict[float, float], levels: tuple) -> dict[float, float]:
    out = dict(book)
    for price, qty in levels:
        if qty == 0.0:
            out.pop(price, None)
        else:
            out[price] = qty
    return out


@st.composite
def deliveries(draw: st.DrawFn, events: list[BookDelta]) -> list[BookDelta]:
    """The events as the socket might deliver them: some dropped, duplicated, swapped."""
    out = list(events)
    for _ in range(draw(st.integers(0, 4))):
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        op = draw(st.sampled_from(("drop", "duplicate", "swap")))
        if op == "drop":
            del out[i]
        elif op == "duplicate":
            out.insert(min(len(out), i + draw(st.integers(1, 3))), out[i])  # a late resend
        elif i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


@settings(max_examples=200, deadline=None)
@given(data=st.data(), history=histories())
def test_check_accepts_exactly_the_continuous_deltas_and_flags_every_gap(data: st.DataObject, history) -> None:
    events, books, s = history
    true_at = {0: books[0]} | {e.last_seq: books[i + 1] for i, e in enumerate(events)}
    last = events[s - 1].last_seq if s else 0
    book, start_last, covered = dict(books[s]), last, set()
    seen: set[int] = set()
    delivered = data.draw(deliveries(events[s:]))
    for d in delivered:
        seen.update(range(d.first_seq, d.last_seq + 1))
        action = SYNC.check(last, d)
        if action is SyncAction.GAP:
            assert last + 1 not in seen  # the very next update really never arrived
            return  # the book resyncs from a new snapshot
        if action is SyncAction.IGNORE:
            assert d.last_seq < last
            continue
        assert d.last_seq >= last  # the book's update ID never moves back
        book, last = apply(book, d.bids), d.last_seq
        covered.update(range(d.first_seq, d.last_seq + 1))
        assert book == true_at[last]  # never a book that the venue did not have
    # no gap flagged: every update up to the newest one delivered was applied, none skipped
    newest = max([start_last] + [d.last_seq for d in delivered])
    assert last == newest
    assert set(range(start_last + 1, newest + 1)) <= covered


@settings(max_examples=200, deadline=None)
@given(data=st.data(), history=histories())
def test_start_then_check_rebuilds_the_true_book_from_any_buffer(data: st.DataObject, history) -> None:
    events, books, s = history
    true_at = {0: books[0]} | {e.last_seq: books[i + 1] for i, e in enumerate(events)}
    snapshot = events[s - 1].last_seq if s else 0
    begin = data.draw(st.integers(0, len(events) - 1))
    buffer = data.draw(deliveries(events[begin:]))
    index = SYNC.start(snapshot, buffer)
    if index is None:  # refetch: the snapshot predates the stream, or L+1 is not the next buffered
        later = [d for d in buffer if d.last_seq > snapshot]
        assert snapshot < buffer[0].first_seq or not (later[0].first_seq <= snapshot + 1 <= later[0].last_seq)
        return
    assert all(d.last_seq <= snapshot for d in buffer[:index])
    book, last = dict(books[s]), snapshot
    for d in buffer[index:]:
        action = SYNC.check(last, d)
        if action is SyncAction.GAP:
            return
        if action is SyncAction.APPLY:
            book, last = apply(book, d.bids), d.last_seq
            assert book == true_at[last]
