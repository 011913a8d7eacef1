"""Per-actor statistics: the structs the runtime reports, and the cheap queue-wait ring.

``ActorStats`` is a frozen snapshot built on demand by ``ActorRef.stats()``; nothing here
runs on the hot path except the ring's store (the cell's receive loop writes ``samples`` and
``count`` inline: one array store and one add per message). The ring is an ``array`` of C
int64s, 8 KB per actor whatever it has processed: a list would hold an int object per wait,
~32 KB more per actor once 1,024 messages went through it (94 MB for 3,000 actors, measured
with tracemalloc), so an engine's memory would grow with its uptime rather than its markets.

The queue-wait histogram (``WaitRing.fold``, for Prometheus) is folded from the ring when stats
are taken, not on the hot path: exact while fewer than ``RING_SIZE`` messages arrived since
the previous fold, the newest ``RING_SIZE`` of them otherwise (the rest are counted in
``unobserved``), so a busy actor's histogram is a sample, ``processed`` its exact count. Each
wait is bucketed once, by the fold after it arrived.

The p50/p99 that ``ps`` shows are read from that histogram (``WaitRing.quantiles_us``), over
the most recent window of at least ``RATE_WINDOW_S`` in which waits were folded, interpolated
within the bucket as Prometheus's ``histogram_quantile`` does: a few microseconds per actor
whatever its traffic, so a ``ps`` over thousands of actors stays cheap. They are as precise as
the buckets (factors of 2-2.5), which is what an operator reads them for.
"""

from __future__ import annotations

import bisect
import time
from array import array

import msgspec

from actors.lifecycle import State

RING_SIZE = 1024  # queue-wait samples kept between two folds
RATE_WINDOW_S = 1.0  # msgs/s and the wait quantiles are measured over at least this long
# Upper bounds (seconds, "le") of the queue-wait histogram's buckets; the last bucket is +Inf.
QUEUE_WAIT_BUCKETS_S = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1,
                        0.25, 0.5, 1.0, 2.5, 5.0)
_BOUNDS_NS = tuple(int(b * 1e9) for b in QUEUE_WAIT_BUCKETS_S)


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    """The last abnormal exit of an actor: exception type, its text, wall-clock time (s)."""

    type: str
    text: str
    time: float  # time.time() when it happened (wall clock, for people)


class ActorStats(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one actor (or supervisor) for ``ps``, metrics and tests.

    ``kind`` is the actor's class name. Supervisors also fill ``strategy``, ``max_restarts``,
    ``within_s`` and ``restarts_in_window`` (the restart intensity they use and have used).
    """

    path: str
    kind: str
    state: State  # see actors.lifecycle
    mailbox_depth: int
    mailbox_capacity: int
    mailbox_high_water: int
    mailbox_policy: str
    processed: int
    dropped: int  # never delivered: drop_oldest evictions, conflate replacements/evictions
    conflated: int  # of which: replaced by a newer message with the same key
    rate_per_s: float
    queue_wait_p50_us: float | None  # from the histogram (module doc); None until a message
    queue_wait_p99_us: float | None  # was processed, or when stats were taken without waits
    restarts: int
    last_failure: Failure | None
    uptime_s: float  # since the current incarnation started; 0.0 when not running
    strategy: str | None = None
    max_restarts: int | None = None
    within_s: float | None = None
    restarts_in_window: int | None = None
    # queue-wait histogram since the position was created (``WaitRing.fold``): a count per bucket
    # of QUEUE_WAIT_BUCKETS_S plus +Inf (not cumulative), their sum, and waits not observed
    queue_wait_buckets: tuple[int, ...] = ()
    queue_wait_sum_s: float = 0.0
    queue_wait_unobserved: int = 0


def failure_of(exc: BaseException) -> Failure:
    return Failure(type=type(exc).__name__, text=str(exc), time=time.time())


class WaitRing:
    """The last ``RING_SIZE`` queue waits (ns), overwritten round-robin, and the histogram of
    every wait folded so far (``fold``) with the quantiles of its recent window (module doc)."""

    __slots__ = ("samples", "count", "folded", "buckets", "sum_ns", "unobserved", "_base", "_window", "_t0")

    def __init__(self) -> None:
        self.samples = array("q", bytes(8 * RING_SIZE))  # int64 waits (ns), zeroed
        self.count = 0  # total samples ever added == messages processed
        self.folded = 0  # samples up to this count are in the histogram (or unobserved)
        self.buckets = [0] * (len(_BOUNDS_NS) + 1)
        self.sum_ns = 0
        self.unobserved = 0
        self._base = list(self.buckets)  # the histogram when the current window began
        self._window: list[int] | None = None  # bucket counts of the newest complete window
        self._t0 = 0.0  # when the current window began (set with the first window)

    def fold(self) -> None:
        """Add the waits stored since the last fold to the histogram (at most ``RING_SIZE``:
        older ones were overwritten, and are counted in ``unobserved``)."""
        n, new = self.count, self.count - self.folded
        if new <= 0:
            return
        take = min(new, RING_SIZE)
        start, end = (n - take) % RING_SIZE, n % RING_SIZE
        samples = self.samples
        if start < end:
            fresh = samples[start:end].tolist()
        else:  # wrapped (or exactly RING_SIZE new)
            fresh = samples[start:].tolist() + samples[:end].tolist()
        fresh.sort()  # in C; then one bisection per bucket bound instead of one per wait
        buckets, below = self.buckets, 0
        for i, bound in enumerate(_BOUNDS_NS):
            upto = bisect.bisect_left(fresh, bound + 1, lo=below)  # waits <= bound ("le")
            buckets[i] += upto - below
            below = upto
        buckets[-1] += take - below
        self.sum_ns += sum(fresh)
        self.unobserved += new - take
        self.folded = n

    def quantiles_us(self, now: float | None = None) -> tuple[float | None, float | None]:
        """p50 and p99 (us) of the recent window's folded waits (call ``fold`` first): the
        newest window of at least ``RATE_WINDOW_S`` in which any arrived, or everything folded
        so far while the first window is young. (None, None) until a wait was folded.
        ``now``: ``time.monotonic()`` unless given (tests)."""
        now = time.monotonic() if now is None else now
        recent = [b - b0 for b, b0 in zip(self.buckets, self._base, strict=True)]
        if any(recent) and (self._window is None or now - self._t0 >= RATE_WINDOW_S):
            self._window, self._base, self._t0 = recent, list(self.buckets), now
        if self._window is None:
            return None, None
        return quantile_us(self._window, 0.5), quantile_us(self._window, 0.99)


def quantile_us(counts: list[int], q: float) -> float:
    """The ``q`` quantile (us) of a histogram of ``QUEUE_WAIT_BUCKETS_S`` (+Inf) counts, linearly
    interpolated within its bucket as Prometheus's ``histogram_quantile`` does (the lowest
    bucket from 0; a rank in +Inf answers the last finite bound). ``counts`` must not be empty."""
    rank, seen = q * sum(counts), 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            if i == len(_BOUNDS_NS):
                return QUEUE_WAIT_BUCKETS_S[-1] * 1e6
            low = QUEUE_WAIT_BUCKETS_S[i - 1] if i else 0.0
            return (low + (QUEUE_WAIT_BUCKETS_S[i] - low) * (rank - seen) / c) * 1e6
        seen += c
    raise ValueError("quantile of an empty histogram")


class RateMeter:
    """msgs/s between the two most recent samples at least ``RATE_WINDOW_S`` apart."""

    __slots__ = ("_t0", "_n0", "_rate")

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._n0 = 0
        self._rate = 0.0

    def sample(self, processed: int) -> float:
        now = time.monotonic()
        elapsed = now - self._t0
        if elapsed >= RATE_WINDOW_S or (self._rate == 0.0 and elapsed > 0):
            self._rate = (processed - self._n0) / elapsed
            if elapsed >= RATE_WINDOW_S:
                self._t0, self._n0 = now, processed
        return self._rate
