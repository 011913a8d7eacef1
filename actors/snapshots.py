"""Which book fetches its depth snapshot next, when many want one at once (``SnapshotGate``).

Starting hundreds of books, or a shard's reconnect resyncing its share of them, puts every one
of those books in want of a REST snapshot at the same moment. The venue adapter's weight bucket
paces the requests (never a 429), but it serves them first come, first served, and who comes
first is an accident of which book's first delta arrived first. The gate (one per venue, owned
by the engine, shared by every incarnation of that venue's books) lets at most ``slots``
fetches proceed at once and hands each free slot to the waiting book that matters most: the
largest ``priority()``, a tuple the book supplies (the engine's: recent edge, then activity),
ties broken by arrival. A slot is held for the fetch only (the request and the bucket's wait
before it), so ``slots`` bounds the requests the bucket queues in arrival order, and everything
behind them is ordered by priority.

Priorities are read when a book starts waiting and re-read for every waiter at most every
``rekey_s`` (activity moves slowly; an edge seen meanwhile promotes its book within that
time), so choosing a book costs O(log n), and re-reading all of them O(n) once per ``rekey_s``.

A waiter cancelled (its book stopped or restarted, e.g. a whole books supervisor at once) leaves
the queue, even when a slot frees before its task resumed to see the cancellation (its future is
cancelled already: never granted); one cancelled after its slot was granted gives the slot back.
Nothing here raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable

Priority = Callable[[], tuple[float, ...]]


class _Waiter:
    __slots__ = ("priority", "fut", "seq", "gone")

    def __init__(self, priority: Priority, fut: asyncio.Future[None], seq: int) -> None:
        self.priority, self.fut, self.seq = priority, fut, seq
        self.gone = False  # cancelled while queued: skipped when it reaches the top


class SnapshotGate:
    """At most ``slots`` snapshot fetches at once; the rest queued by priority (see the module)."""

    def __init__(self, slots: int, *, rekey_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots, self.rekey_s, self._clock = slots, rekey_s, clock
        self._busy = 0
        self._heap: list[tuple[tuple[float, ...], int, _Waiter]] = []
        self._queued = 0  # waiters in the heap not cancelled
        self._keyed_at = clock()
        self._seq = itertools.count()
        self.granted = 0  # turns given, ever
        self.granted_waiting = 0  # of which: after waiting behind others (the ordering mattered)

    @property
    def waiting(self) -> int:
        return self._queued

    @property
    def in_flight(self) -> int:
        return self._busy

    @contextlib.asynccontextmanager
    async def turn(self, priority: Priority) -> AsyncIterator[None]:
        """Hold one slot for the body (the snapshot fetch); wait for it by ``priority``."""
        if self._busy < self.slots and not self._queued:
            self._busy += 1
            self.granted += 1
        else:
            waiter = _Waiter(priority, asyncio.get_running_loop().create_future(), next(self._seq))
            heapq.heappush(self._heap, (_key(priority()), waiter.seq, waiter))
            self._queued += 1
            try:
                await waiter.fut
            except asyncio.CancelledError:
                if waiter.fut.done() and not waiter.fut.cancelled():
                    self._release()  # granted, then cancelled before it could use the slot
                else:
                    waiter.gone = True
                    self._queued -= 1
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self._busy -= 1
        while self._busy < self.slots and self._heap:
            self._rekey()
            if not self._heap:
                break
            _, _, waiter = heapq.heappop(self._heap)
            if waiter.gone or waiter.fut.done():
                # cancelled: its future was cancelled with its task, which (if it has not yet)
                # takes itself off the count when it resumes
                continue
            self._queued -= 1
            self._busy += 1
            self.granted += 1
            self.granted_waiting += 1
            waiter.fut.set_result(None)

    def _rekey(self) -> None:
        now = self._clock()
        if now - self._keyed_at < self.rekey_s:
            return
        self._keyed_at = now
        self._heap = [(_key(w.priority()), w.seq, w) for _, _, w in self._heap if not w.gone]
        heapq.heapify(self._heap)


def _key(priority: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(-p for p in priority)  # heapq pops the smallest: the largest priority first
