"""Per-actor statistics: the structs the runtime reports, and the cheap queue-wait ring.

``ActorStats`` is a frozen snapshot built on demand by ``ActorRef.stats()``; nothing here
runs on the hot path except ``WaitRing.add`` (one list store and one add per message).
"""

from __future__ import annotations

import time

import msgspec

from actors.lifecycle import State

RING_SIZE = 1024  # queue-wait samples kept: the window p50/p99 are taken over
RATE_WINDOW_S = 1.0  # msgs/s is measured over at least this long between two stats() calls


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
    queue_wait_p50_us: float | None  # None until a message has been processed
    queue_wait_p99_us: float | None
    restarts: int
    last_failure: Failure | None
    uptime_s: float  # since the current incarnation started; 0.0 when not running
    strategy: str | None = None
    max_restarts: int | None = None
    within_s: float | None = None
    restarts_in_window: int | None = None


def failure_of(exc: BaseException) -> Failure:
    return Failure(type=type(exc).__name__, text=str(exc), time=time.time())


class WaitRing:
    """The last ``RING_SIZE`` queue waits (ns), overwritten round-robin; percentiles on demand."""

    __slots__ = ("samples", "count")

    def __init__(self) -> None:
        self.samples: list[int] = [0] * RING_SIZE
        self.count = 0  # total samples ever added == messages processed

    def percentiles_us(self) -> tuple[float | None, float | None]:
        n = min(self.count, RING_SIZE)
        if n == 0:
            return None, None
        window = sorted(self.samples[:n])
        return window[(n - 1) // 2] / 1000.0, window[min(n - 1, (n * 99) // 100)] / 1000.0


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
