"""Gate.io local-book procedure (gateio.md §4.3) including the 2025 ``full: true`` push."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.gateio.sync import GateSync
from protocols.messages import BookDelta
from protocols.venue import SyncAction

APPLY, IGNORE, GAP, REPLACE = SyncAction.APPLY, SyncAction.IGNORE, SyncAction.GAP, SyncAction.REPLACE
rule = GateSync()


def d(first: int, last: int, *, full: bool = False) -> BookDelta:
    return BookDelta(venue="gateio", symbol="BTC/USDT", first_seq=first, last_seq=last, bids=(), asks=(),
                     exchange_ts_ms=0, recv_ns=0, full=full)


START_CASES = [
    pytest.param(100, [], 0, id="empty buffer starts after everything"),
    pytest.param(100, [d(90, 95), d(96, 100)], 2, id="every buffered delta is inside the snapshot: all dumped"),
    pytest.param(100, [d(90, 95), d(96, 100), d(101, 105)], 2, id="first delta starting exactly at baseID+1"),
    pytest.param(100, [d(96, 101), d(102, 105)], 0, id="first delta straddling baseID+1 is the start"),
    pytest.param(100, [d(90, 100), d(101, 101)], 1, id="a one-id delta at baseID+1 is the start"),
    pytest.param(100, [d(90, 99), d(100, 100), d(101, 103)], 2, id="u equal to baseID is dumped (u < baseID+1)"),
    pytest.param(100, [d(102, 105)], None, id="baseID+1 < U of the first remaining: snapshot is behind, refetch"),
    pytest.param(100, [d(90, 95), d(102, 105)], None, id="after dumping old deltas the next one skips baseID+1"),
    pytest.param(100, [d(102, 110, full=True), d(111, 112)], 0, id="a full push left in the buffer needs no snapshot"),
    pytest.param(100, [d(80, 90, full=True), d(91, 101)], 1, id="an old full push is dumped like any other"),
]


@pytest.mark.parametrize(("snapshot_seq", "buffered", "expected"), START_CASES)
def test_start_dumps_old_deltas_and_starts_at_the_one_containing_base_id_plus_one(snapshot_seq, buffered, expected):
    assert rule.start(snapshot_seq, buffered) == expected


CHECK_CASES = [
    pytest.param(100, d(101, 105), APPLY, id="U equal to L+1 continues the book"),
    pytest.param(100, d(98, 103), APPLY, id="overlapping delta with U below L+1 and u above L is applied"),
    pytest.param(100, d(101, 101), APPLY, id="single id delta at L+1"),
    pytest.param(100, d(95, 100), IGNORE, id="u equal to L is already in the book"),
    pytest.param(100, d(90, 95), IGNORE, id="an old duplicate is ignored"),
    pytest.param(100, d(102, 105), GAP, id="U equal to L+2 means id L+1 was lost"),
    pytest.param(100, d(500, 600), GAP, id="far ahead is a gap"),
    pytest.param(100, d(500, 600, full=True), REPLACE, id="a full push ahead replaces the book instead of a gap"),
    pytest.param(100, d(90, 95, full=True), REPLACE, id="a full push replaces even when older than the book"),
    pytest.param(100, d(101, 105, full=True), REPLACE, id="a continuous full push still replaces"),
]


@pytest.mark.parametrize(("last_seq", "delta", "expected"), CHECK_CASES)
def test_check_applies_ignores_flags_gaps_or_replaces_on_the_documented_inequalities(last_seq, delta, expected):
    assert rule.check(last_seq, delta) == expected


# --- property: random streams with gaps, duplicates and reordering -----------------------------


@st.composite
def perturbed_streams(draw, ops=("drop", "dup", "swap", "full")):
    """A continuous stream of deltas from L+1, then drops, duplicates, swaps and full pushes."""
    base = draw(st.integers(0, 10**9))
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=30))
    clean, nxt = [], base + 1
    for size in sizes:
        clean.append(d(nxt, nxt + size - 1))
        nxt += size
    stream = list(clean)
    for op, pos in draw(st.lists(st.tuples(st.sampled_from(ops), st.integers(0, 10**6)), max_size=6)):
        if not stream:
            break
        i = pos % len(stream)
        if op == "drop":
            del stream[i]
        elif op == "dup":  # a copy of an earlier-or-equal delta, re-sent later
            stream.insert(i + 1 + pos % 3, stream[i])
        elif op == "swap" and i + 1 < len(stream):
            stream[i], stream[i + 1] = stream[i + 1], stream[i]
        elif op == "full":
            stream.insert(i, d(stream[i].first_seq, stream[i].last_seq, full=True))
    return base, clean, stream


@settings(max_examples=300, deadline=None)
@given(perturbed_streams())
def test_check_accepts_exactly_the_continuous_deltas_and_flags_every_gap(case):
    """Naive model: the set of ids the book holds (everything <= floor, plus held).
    A delta whose ids are all held is ignored; one holding the first missing id is applied and
    its ids become held; any other would skip an id the book never saw: a gap, and that id must
    really be missing from everything delivered since the book was last set. A full push sets
    the book to exactly the ids <= its u (even when older than the book)."""
    base, _, stream = case
    floor, held, delivered = base, set(), set()
    last = base  # what the book actor tracks: the last applied u
    for delta in stream:
        ids = set(range(delta.first_seq, delta.last_seq + 1))
        action = rule.check(last, delta)
        missing = floor + 1
        while missing in held:
            missing += 1
        if delta.full:
            assert action is REPLACE
            floor, held, delivered = delta.last_seq, set(), set()  # the book is exactly this push
        elif all(i <= floor or i in held for i in ids):
            assert action is IGNORE
        elif missing in ids:
            assert action is APPLY
            held |= ids
        else:
            assert action is GAP
            assert missing not in delivered, "a gap was flagged although the missing id was delivered"
            return  # the book resyncs from a snapshot: the rest of this stream is moot
        if action in (APPLY, REPLACE):
            last = delta.last_seq
        if not delta.full:
            delivered |= ids
    # no gap: the book's ids form one contiguous run ending at its last id
    top = max(held, default=floor)
    assert last == top and all(i in held for i in range(floor + 1, top + 1))


@settings(max_examples=200, deadline=None)
@given(perturbed_streams(ops=("dup",)))
def test_a_stream_with_only_duplicates_is_never_a_gap_and_ends_at_the_last_id(case):
    base, clean, stream = case
    last = base
    for delta in stream:
        action = rule.check(last, delta)
        assert action is not GAP
        if action is APPLY:
            last = delta.last_seq
    assert last == clean[-1].last_seq


@settings(max_examples=200, deadline=None)
@given(perturbed_streams(ops=("drop",)))
def test_a_stream_missing_a_delta_before_its_end_is_always_flagged_as_a_gap(case):
    base, clean, stream = case
    dropped = [x for x in clean if x not in stream]
    last, gaps = base, 0
    for delta in stream:
        action = rule.check(last, delta)
        if action is GAP:
            gaps += 1
            break
        last = delta.last_seq if action is APPLY else last
    ends_with_drops = bool(dropped) and all(x in dropped for x in clean[clean.index(dropped[0]):])
    assert gaps == (1 if dropped and not ends_with_drops else 0)
