"""MEXC's 7-step book rule (mexc.md §1.5): every boundary case, and a property over random
streams with gaps, duplicates and reordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.messages import BookDelta
from protocols.mexc.sync import MexcSync
from protocols.venue import SyncAction

RULE = MexcSync()


def delta(first: int, last: int, *, full: bool = False) -> BookDelta:
    return BookDelta(venue="mexc", symbol="BTC/USDT", first_seq=first, last_seq=last, bids=(), asks=(),
                     exchange_ts_ms=0, recv_ns=0, full=full)


@pytest.mark.parametrize(("case", "snapshot", "buffered", "expected"), [
    ("nothing buffered yet: wait for a push before judging the snapshot", 10, [], None),
    ("snapshot older than the first push's fromVersion is too old", 9, [(10, 12)], None),
    ("snapshot equal to the first fromVersion is usable", 10, [(10, 12)], 0),
    ("first remaining push may overlap the snapshot: from <= L+1 <= to", 11, [(10, 12)], 0),
    ("a push ending exactly at lastUpdateId is dropped", 12, [(10, 12), (13, 14)], 1),
    ("the first remaining push may start exactly at L+1", 12, [(10, 12), (13, 14)], 1),
    ("a hole between the snapshot and the first remaining push means refetch", 12, [(10, 12), (14, 15)], None),
    ("a push straddling L+1 after dropped ones is the start", 13, [(10, 12), (13, 15)], 1),
    ("every buffered push older than the snapshot: start with live pushes", 20, [(10, 12), (13, 14)], 2),
])
def test_start_follows_steps_four_to_six(case: str, snapshot: int, buffered: list[tuple[int, int]],
                                         expected: int | None) -> None:
    assert RULE.start(snapshot, [delta(a, b) for a, b in buffered]) == expected, case


@pytest.mark.parametrize(("case", "last_seq", "pushed", "expected"), [
    ("fromVersion == previous toVersion + 1 applies", 10, delta(11, 11), SyncAction.APPLY),
    ("a push covering several versions applies", 10, delta(11, 15), SyncAction.APPLY),
    ("a duplicate of the last push is ignored", 10, delta(10, 10), SyncAction.IGNORE),
    ("an old push wholly covered is ignored", 10, delta(5, 9), SyncAction.IGNORE),
    ("a push ending at the local version is ignored", 10, delta(8, 10), SyncAction.IGNORE),
    ("a missed version is a gap", 10, delta(12, 12), SyncAction.GAP),
    ("an overlap after the first push is a gap (fromVersion != L+1)", 10, delta(10, 11), SyncAction.GAP),
    ("a push reaching back further is a gap too", 10, delta(9, 12), SyncAction.GAP),
    ("a newer limit-depth book replaces the book", 10, delta(20, 20, full=True), SyncAction.REPLACE),
    ("an older or equal limit-depth book is ignored", 10, delta(10, 10, full=True), SyncAction.IGNORE),
])
def test_check_follows_step_seven(case: str, last_seq: int, pushed: BookDelta, expected: SyncAction) -> None:
    assert RULE.check(last_seq, pushed) is expected, case


# --- property ---------------------------------------------------------------------------------


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[BookDelta], list[BookDelta], int, int, bool]:
    """(true stream, received stream, snapshot L, buffered count, received is clean)."""
    widths = draw(st.lists(st.integers(1, 3), min_size=1, max_size=25))
    true: list[BookDelta] = []
    version = draw(st.integers(1, 1000))
    for w in widths:
        true.append(delta(version, version + w - 1))
        version += w
    received: list[BookDelta] = []
    clean = True
    for d in true:
        op = draw(st.sampled_from(["keep"] * 6 + ["drop", "dup", "replay", "swap"]))
        if op == "drop":
            clean = False
            continue
        received.append(d)
        if op == "dup":
            received.append(d)
        elif op == "replay" and len(received) > 1:  # a late copy of an earlier push
            received.append(received[draw(st.integers(0, len(received) - 2))])
        elif op == "swap" and len(received) > 1:
            received[-1], received[-2] = received[-2], received[-1]
            clean = clean and received[-1] is received[-2]
    snapshot = draw(st.integers(true[0].first_seq - 2, true[-1].last_seq + 1))
    buffered = draw(st.integers(0, len(received)))
    return true, received, snapshot, buffered, clean


def _sync(snapshot: int, received: list[BookDelta], n_buffered: int) -> tuple[str, list[BookDelta], int]:
    """The book actor's loop over the rule: ("refetch" | "gap" | "ok", applied pushes, local version)."""
    buffered, live = received[:n_buffered], received[n_buffered:]
    start = RULE.start(snapshot, buffered)
    if start is None:
        return "refetch", [], snapshot
    applied: list[BookDelta] = []
    local = snapshot
    if start < len(buffered):
        first = buffered[start]
        applied.append(first)
        local = first.last_seq
        live = buffered[start + 1:] + live
    for pushed in live:
        action = RULE.check(local, pushed)
        if action is SyncAction.GAP:
            return "gap", applied, local
        if action is SyncAction.APPLY:
            applied.append(pushed)
            local = pushed.last_seq
        else:
            assert action is SyncAction.IGNORE and pushed.last_seq <= local
    return "ok", applied, local


@given(streams())
def test_sync_accepts_exactly_the_continuous_pushes_and_flags_every_gap(
        stream: tuple[list[BookDelta], list[BookDelta], int, int, bool]) -> None:
    true, received, snapshot, n_buffered, clean = stream
    outcome, applied, local = _sync(snapshot, received, n_buffered)
    # 1. what is applied is a chain continuing the snapshot, each version exactly once
    expected_next = snapshot + 1
    for i, pushed in enumerate(applied):
        if i == 0:
            assert pushed.first_seq <= expected_next <= pushed.last_seq
        else:
            assert pushed.first_seq == expected_next
        expected_next = pushed.last_seq + 1
    # 2. nothing is missed silently: a sync that ends "ok" covers every version received
    if outcome == "ok":
        assert local == max([snapshot, *(d.last_seq for d in received)])
    # 3. a clean stream (only duplicates and late replays) never flags a gap, unless the
    #    snapshot cannot be judged (documented: empty buffer / too old / the one push
    #    straddling L arrives live, after every buffered push was dropped)
    buffered = received[:n_buffered]
    judged = bool(buffered) and snapshot >= buffered[0].first_seq
    straddles_live = any(d.first_seq <= snapshot < d.last_seq for d in true) and not any(
        d.last_seq > snapshot for d in buffered)
    if clean and judged and not straddles_live:
        assert outcome == "ok", (outcome, snapshot, [(d.first_seq, d.last_seq) for d in received])
    # 4. a version above the snapshot that never arrived is always flagged
    received_versions = {v for d in received for v in range(d.first_seq, d.last_seq + 1)}
    top = max(d.last_seq for d in received) if received else snapshot
    if any(v not in received_versions for v in range(snapshot + 1, top + 1)):
        assert outcome != "ok"
