"""The queue-wait ring's histogram (WaitRing.fold) against a naive count, and through a real actor."""

from __future__ import annotations

import asyncio
import bisect

from hypothesis import given
from hypothesis import strategies as st

from actors import Actor, spawn
from actors.stats import QUEUE_WAIT_BUCKETS_S, RING_SIZE, WaitRing
from protocols.messages import Msg


def store(ring: WaitRing, waits_ns: list[int]) -> None:
    """What the cell's receive loop does per message."""
    for w in waits_ns:
        ring.samples[ring.count % RING_SIZE] = w
        ring.count += 1


def naive(waits_ns: list[int]) -> list[int]:
    counts = [0] * (len(QUEUE_WAIT_BUCKETS_S) + 1)
    for w in waits_ns:
        counts[bisect.bisect_left([b * 1e9 for b in QUEUE_WAIT_BUCKETS_S], w)] += 1  # w <= le
    return counts


@given(st.lists(st.lists(st.integers(0, 10**10), max_size=3 * RING_SIZE), max_size=5))
def test_folds_count_every_wait_in_its_bucket_until_more_than_the_ring_arrived_between_two(batches) -> None:
    ring, seen, unobserved = WaitRing(), [], 0
    for batch in batches:
        store(ring, batch)
        ring.fold()
        seen += batch[-RING_SIZE:]  # what a fold can still read: the ring's newest
        unobserved += max(0, len(batch) - RING_SIZE)
    assert ring.buckets == naive(seen)
    assert ring.sum_ns == sum(seen) and ring.unobserved == unobserved
    assert sum(ring.buckets) + ring.unobserved == ring.count


def test_a_wait_on_a_bucket_bound_counts_in_that_bucket() -> None:
    ring = WaitRing()
    store(ring, [10_000, 10_001, 6_000_000_000])  # 10 us (le=1e-05), just over it, over the last bound
    ring.fold()
    ring.fold()  # nothing new: nothing counted twice
    assert (ring.buckets[0], ring.buckets[1], ring.buckets[-1], sum(ring.buckets)) == (1, 1, 1, 3)


class Ping(Msg, frozen=True, kw_only=True):
    pass


class Sink(Actor[Ping]):
    def __init__(self, done: asyncio.Event, n: int) -> None:
        self.done, self.n, self.seen = done, n, 0

    async def receive(self, msg: Ping) -> None:
        self.seen += 1
        if self.seen == self.n:
            self.done.set()


async def test_an_actors_stats_carry_the_histogram_of_its_queue_waits() -> None:
    done = asyncio.Event()
    ref = await spawn(lambda: Sink(done, 50), name="sink")
    try:
        for _ in range(50):
            ref.tell(Ping())
        await done.wait()
        s = ref.stats()
        assert sum(s.queue_wait_buckets) == s.processed == 50 and s.queue_wait_unobserved == 0
        assert s.queue_wait_sum_s > 0
    finally:
        await ref.stop()
