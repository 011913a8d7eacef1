"""One venue/symbol L2 book actor: snapshot + buffered deltas, the venue's sync rule, BookViews.

Inbox (``BookInbox``): ``BookDelta`` (from the connection actor) | ``GetView`` (ask → BookView) |
``Resync`` (from its connection when that reconnected: frames may have been lost meanwhile).
Publishes ``BookView`` to ``publish`` (its detector, whose mailbox conflates per venue).

Sync, following each venue's documented procedure through ``venue.sync`` (a ``SyncRule``):

1. Not in sync: deltas are buffered. The first buffered delta triggers
   ``await venue.depth_snapshot(symbol, snapshot_limit)``; deltas keep queueing in the mailbox
   while it awaits.
2. With a snapshot in hand, every buffered delta re-evaluates ``venue.sync.start(seq, buffer)``:
   an index → load the snapshot, apply ``buffer[index]`` (replace if it is a full push), pass
   the rest through ``check``: in sync. ``len(buffer)`` → every buffered delta is older than the
   snapshot; keep the snapshot and wait for the next delta. ``None`` → the snapshot cannot be
   used (too old, or the stream has a hole after it): fetch again, at most
   ``max_snapshot_attempts`` times, then raise ``SequenceGap``.
3. In sync: ``venue.sync.check(book.seq, delta)`` on every delta: APPLY / IGNORE / REPLACE (Gate
   ``full: true``) / GAP → raise ``SequenceGap``.

A rule whose books start from the stream's own full push (``resubscribe_to_resync``: Gate
``spot.obu``, whose subscription's first push is the whole book) fetches no REST snapshot:
steps 1-2 become "pass over every delta until ``venue.sync.start(0, (delta,))`` takes one (its
full push), which replaces the empty book". So those books cost the venue's REST budget nothing,
however many resync at once. A (re)started book has its connection resubscribe (the documented
recovery from a gap), and ``MAX_BUFFERED`` deltas passed over without a full push are a gap.

Failure mode: a gap, a broken stream or any REST error other than ``RateLimited`` crashes the
actor; its supervisor restarts it and the fresh instance resyncs from a new snapshot. State is
never patched in place. ``Resync`` starts the book over the same way without a restart (a
dropped connection resyncs all its books at once, which as restarts would exceed the books
supervisor's intensity): a fresh ``L2Book``, out of sync, the next delta fetches a snapshot.
Two named recoveries for the snapshot fetch: ``RateLimited``: wait ``retry_after_s``, fetch
again; ``NetworkError`` (a timeout, a reset, a 5xx: a GET changed nothing): fetch again after
``snapshot_retry_s``, doubling, in place, and crash only after ``max_snapshot_attempts`` of them
in a row. Hundreds of books whose snapshots time out together (a venue slow to answer) would
otherwise exceed their supervisor's restart intensity and resync every book of the venue, which
loads the venue more: a cascade that never converges.

Snapshot order (``snapshot_gate``, optional: ``actors.snapshots``): the fetch waits for a turn of
the venue's gate, which serves the books that matter first when many resync at once: a book
whose market had a recent edge (``recent_edge()``, from the engine), then the busiest
(``activity()``: deltas received per second since it started, the buffered ones included).

On start, and whenever it is out of sync (before a gap is raised, too), it publishes
``BookView(in_sync=False, bids=(), asks=())`` so the detector drops the venue's older view.
After applied deltas it publishes the top-``depth`` view, stamped with the last delta's seq,
exchange time and receive time: once per burst, when no further message is queued behind the
one just handled (``_publish_if_drained``: every view but the newest would be conflated away
by the detector's mailbox anyway, so building it is wasted work on the hot path).
``publish=None`` publishes nothing (library use: ``ask(GetView())``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec

from actors import Actor, ActorRef
from actors.l2book import DEFAULT_MAX_LEVELS, L2Book
from actors.snapshots import SnapshotGate
from protocols.errors import NetworkError, RateLimited, SequenceGap
from protocols.messages import BookDelta, BookSnapshot, BookView, GetView, Resync, Subscribe, Unsubscribe
from protocols.venue import APPLY, IGNORE, REPLACE, Venue

BookInbox = BookDelta | GetView | Resync

MAX_SNAPSHOT_ATTEMPTS = 5  # unusable snapshots in a row before the sync is declared broken
MAX_BUFFERED = 100_000  # deltas held (or passed over) while syncing; beyond it the sync is broken


PUBLISH_AT_LEAST_EVERY = 64  # deltas a view may be deferred by while the mailbox is backlogged


class BookStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A book actor's ``describe()``: what ``python -m supervisor inspect`` shows."""

    venue: str
    symbol: str
    in_sync: bool
    seq: int
    best_bid: float | None
    best_ask: float | None
    levels_bid: int
    levels_ask: int
    age_ms: float | None  # since the last delta arrived (receive clock); None before the first
    deltas_applied: int
    full_replacements: int  # full pushes (Gate ``full: true``) that replaced the book
    resync_attempts: int  # snapshot fetches by this instance


class BookActor(Actor[BookInbox]):
    """One venue/symbol book. See the module docstring for the sync procedure and failures."""

    def __init__(self, *, venue: Venue, symbol: str, publish: ActorRef | None, depth: int = 20,
                 max_levels: int = DEFAULT_MAX_LEVELS, snapshot_limit: int = 1000,
                 clock: Callable[[], int] = time.monotonic_ns,
                 max_snapshot_attempts: int = MAX_SNAPSHOT_ATTEMPTS,
                 connection: Callable[[], ActorRef | None] | None = None,
                 snapshot_gate: SnapshotGate | None = None, recent_edge: Callable[[], bool] | None = None,
                 snapshot_retry_s: float = 0.5) -> None:
        """``connection``: looks up the venue's connection, for sync rules that resync by
        resubscribing (``SyncRule.resubscribe_to_resync``). ``snapshot_gate`` and
        ``recent_edge``: the order of snapshot fetches (module docstring)."""
        self.snapshot_gate, self.recent_edge, self.snapshot_retry_s = snapshot_gate, recent_edge, snapshot_retry_s
        self._born_ns = clock()
        self.venue, self.symbol, self.publish = venue, symbol, publish
        self._check = venue.sync.check  # per delta: one bound method, looked up once
        self._from_stream = bool(getattr(venue.sync, "resubscribe_to_resync", False))  # no REST snapshot
        self.connection = connection
        self.depth, self.snapshot_limit, self.clock = depth, snapshot_limit, clock
        self.max_snapshot_attempts = max_snapshot_attempts
        self._max_levels = max_levels
        self._reset()
        self._fetches = 0
        self._applied = 0
        self._replaced = 0
        self._last_exchange_ts_ms = 0  # of the last delta applied: the state the view shows
        self._last_applied_recv_ns = 0
        self._last_recv_ns: int | None = None  # of the last delta received, applied or not
        self._deferred = 0  # messages handled since that state was first left unpublished

    async def on_start(self) -> None:
        self._publish_out_of_sync()
        conn = self.connection() if self.connection is not None else None
        if conn is not None and self._from_stream:
            # e.g. Gate spot.obu: only a subscription's first (full) push starts a book
            conn.tell(Unsubscribe(symbol=self.symbol))
            conn.tell(Subscribe(symbol=self.symbol))

    async def receive(self, msg: BookInbox) -> BookView | None:
        match msg:
            case BookDelta():
                self._last_recv_ns = msg.recv_ns
                if self.in_sync:
                    self._on_delta(msg)
                else:
                    await self._on_delta_syncing(msg)
            case GetView():
                view = self.view()
                self._publish_if_drained()
                return view
            case Resync():
                self._start_over()
            case _:
                raise TypeError(f"BookActor cannot handle {type(msg).__name__}")
        self._publish_if_drained()
        return None

    # --- in sync ------------------------------------------------------------------------------

    def _on_delta(self, delta: BookDelta) -> None:
        book = self.book
        action = self._check(book.seq, delta)
        if action is APPLY:
            book.apply(delta)
        elif action is REPLACE:
            book.replace(delta)
            self._replaced += 1
        elif action is IGNORE:
            return
        else:
            self._gap(expected=self.book.seq + 1, got=delta.first_seq)
        self._applied += 1
        self._last_exchange_ts_ms, self._last_applied_recv_ns = delta.exchange_ts_ms, delta.recv_ns
        self._unpublished = True

    def _publish_if_drained(self) -> None:
        """Publish the newest state once no further message is queued behind this one.

        The detector only ever wants the newest view (its mailbox conflates per venue), so a
        burst of deltas for this book publishes one view, after the last of them, instead of
        building a view per delta that the next one makes obsolete. A queued message always
        reaches ``receive`` (and so this check) later: the state is never left unpublished
        while the actor runs. Under a sustained backlog (the mailbox never drains) a view still
        goes out every ``PUBLISH_AT_LEAST_EVERY`` deltas, so the detector's view of this venue
        does not age out. An out-of-sync view is never deferred (``_gap``)."""
        if not self._unpublished or self.publish is None:
            return
        self._deferred += 1
        if self.ref.queued and self._deferred < PUBLISH_AT_LEAST_EVERY:
            return
        self._unpublished, self._deferred = False, 0
        if self.in_sync:
            self.publish.tell(self.view())

    def _reset(self) -> None:
        """The state of a book that has not synced yet (a new actor, or a ``Resync``)."""
        self.book = L2Book(self._max_levels)
        self.in_sync = False
        self._buffer: list[BookDelta] = []
        self._snapshot: BookSnapshot | None = None
        self._unusable = 0  # unusable snapshots in a row
        self._passed_over = 0  # deltas before the stream's full push (``_from_stream``)
        self._unpublished = False  # a state applied since the last view published

    def _start_over(self) -> None:
        self._reset()
        self._publish_out_of_sync()

    def _gap(self, *, expected: int, got: int) -> None:
        self.in_sync = False
        self._unpublished = False
        self._publish_out_of_sync()
        raise SequenceGap(self.venue.name, self.symbol, expected, got)

    # --- syncing ------------------------------------------------------------------------------

    async def _on_delta_syncing(self, delta: BookDelta) -> None:
        if self._from_stream:
            self._start_from_stream(delta)
            return
        if len(self._buffer) >= MAX_BUFFERED:
            self._gap(expected=self._buffer[0].first_seq, got=delta.first_seq)
        self._buffer.append(delta)
        if self._snapshot is None:
            self._snapshot = await self._fetch_snapshot()
        while True:
            start = self.venue.sync.start(self._snapshot.seq, self._buffer)
            if start is not None:
                break
            self._unusable += 1
            if self._unusable >= self.max_snapshot_attempts:
                self._gap(expected=self._snapshot.seq + 1, got=self._buffer[0].first_seq)
            self._snapshot = await self._fetch_snapshot()
        if start >= len(self._buffer):
            return  # every buffered delta is inside the snapshot: wait for one that continues it
        self._load(self._snapshot, self._buffer, start)

    def _start_from_stream(self, delta: BookDelta) -> None:
        """The book starts at the delta the rule takes (the stream's full push); the ones before
        it describe a book we never had, so they are passed over, not buffered."""
        if self.venue.sync.start(0, (delta,)) == 0:
            self._load(None, [delta], 0)
            return
        self._passed_over += 1
        if self._passed_over >= MAX_BUFFERED:
            self._gap(expected=0, got=delta.first_seq)  # no full push came: restart, resubscribe

    def _load(self, snapshot: BookSnapshot | None, buffered: list[BookDelta], start: int) -> None:
        """Load ``snapshot`` (None: the first delta is a full push that is the whole book) and
        apply ``buffered[start:]``."""
        book = self.book
        if snapshot is not None:
            book.apply_snapshot(snapshot)
        first = buffered[start]
        # ``start`` already vouched for the first delta (it may overlap the snapshot), so it is
        # applied directly; every later one takes the ordinary in-sync path and its check.
        if first.full:
            book.replace(first)
            self._replaced += 1
        else:
            book.apply(first)
        self._applied += 1
        self._last_exchange_ts_ms, self._last_applied_recv_ns = first.exchange_ts_ms, first.recv_ns
        self._unpublished = True
        self._buffer, self._snapshot, self._unusable, self._passed_over = [], None, 0, 0
        self.in_sync = True
        for delta in buffered[start + 1:]:
            self._on_delta(delta)

    async def _fetch_snapshot(self) -> BookSnapshot:
        failed = 0  # network failures in a row
        while True:
            self._fetches += 1
            try:
                if self.snapshot_gate is None:
                    return await self.venue.depth_snapshot(self.symbol, self.snapshot_limit)
                async with self.snapshot_gate.turn(self.snapshot_priority):
                    return await self.venue.depth_snapshot(self.symbol, self.snapshot_limit)
            except RateLimited as exc:
                # Named recovery: the venue told us when to come back.
                await asyncio.sleep(exc.retry_after_s)
            except NetworkError:
                # Named recovery: a GET that timed out changed nothing; try again in place, a while
                # later (see the module docstring), and give up to the supervisor in the end.
                failed += 1
                if failed >= self.max_snapshot_attempts:
                    raise
                await asyncio.sleep(self.snapshot_retry_s * 2 ** (failed - 1))

    def snapshot_priority(self) -> tuple[float, float]:
        """(1 if the market had a recent edge else 0, activity): larger fetches first."""
        return float(self.recent_edge is not None and self.recent_edge()), self.activity()

    def activity(self) -> float:
        """Deltas received per second since this book started (applied or buffered while syncing)."""
        elapsed_s = max(1.0, (self.clock() - self._born_ns) / 1e9)
        return (self._applied + len(self._buffer)) / elapsed_s

    # --- reads --------------------------------------------------------------------------------

    def view(self) -> BookView:
        """The top-``depth`` view now; an empty out-of-sync view while syncing."""
        if not self.in_sync:
            return self._out_of_sync_view()
        bids, asks = self.book.top(self.depth)
        return BookView(venue=self.venue.name, symbol=self.symbol, seq=self.book.seq, bids=bids, asks=asks,
                        exchange_ts_ms=self._last_exchange_ts_ms, recv_ns=self._last_applied_recv_ns)

    def _out_of_sync_view(self) -> BookView:
        return BookView(venue=self.venue.name, symbol=self.symbol, seq=self.book.seq, bids=(), asks=(),
                        exchange_ts_ms=0, recv_ns=self.clock(), in_sync=False)

    def _publish_out_of_sync(self) -> None:
        if self.publish is not None:
            self.publish.tell(self._out_of_sync_view())

    def describe(self) -> BookStatus:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        levels_bid, levels_ask = self.book.levels()
        age_ms = None if self._last_recv_ns is None else (self.clock() - self._last_recv_ns) / 1e6
        return BookStatus(venue=self.venue.name, symbol=self.symbol, in_sync=self.in_sync, seq=self.book.seq,
                          best_bid=bid[0] if bid else None, best_ask=ask[0] if ask else None,
                          levels_bid=levels_bid, levels_ask=levels_ask, age_ms=age_ms,
                          deltas_applied=self._applied, full_replacements=self._replaced,
                          resync_attempts=self._fetches)
