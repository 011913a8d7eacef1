"""The queue-wait ring's histogram (WaitRing.fold) against a naive count, the quantiles read from
it against the exact ones, and both through a real actor."""

from __future__ import annotations

import asyncio
import bisect
import math

from hypothesis import given
from hypothesis import strategies as st

from actors import Actor, spawn
from actors.stats import QUEUE_WAIT_BUCKETS_S, RING_SIZE, WaitRing
from protocols.messages import Msg
from supervisor import ChildSpec, Supervisor, run


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


@given(st.lists(st.integers(0, 10**10), min_size=1, max_size=3000), st.sampled_from([0.5, 0.99]))
def test_a_quantile_read_from_the_histogram_lies_in_the_bucket_of_the_exact_one(waits, q) -> None:
    ring = WaitRing()
    store(ring, waits)
    ring.fold()
    seen = sorted(waits[-RING_SIZE:])
    exact = seen[math.ceil(q * len(seen)) - 1]
    bounds_us = [0.0, *(b * 1e6 for b in QUEUE_WAIT_BUCKETS_S)]
    i = bisect.bisect_left(bounds_us, exact / 1e3, lo=1)  # the exact wait's bucket: low < w <= high
    estimate = ring.quantiles_us(now=0.0)[0 if q == 0.5 else 1]
    assert estimate is not None
    if i == len(bounds_us):  # over the last bound: reported as the last bound
        assert estimate == bounds_us[-1]
    else:
        assert bounds_us[i - 1] <= estimate <= bounds_us[i]


def test_the_quantiles_follow_the_newest_window_of_a_second_and_stay_when_nothing_arrives() -> None:
    ring = WaitRing()
    assert ring.quantiles_us(now=0.0) == (None, None)
    store(ring, [1_000] * 100)  # 1 us
    ring.fold()
    p50, p99 = ring.quantiles_us(now=0.0)
    assert p50 is not None and p99 is not None and p50 <= p99 <= 10.0
    store(ring, [2_000_000_000] * 100)  # 2 s
    ring.fold()
    assert ring.quantiles_us(now=0.5) == (p50, p99)  # the window is younger than a second
    slow = ring.quantiles_us(now=1.0)
    assert slow[0] is not None and 1e6 <= slow[0] <= 2.5e6  # only the new waits: none of the 1 us
    assert ring.quantiles_us(now=60.0) == slow  # idle since: the last window stays


async def test_stats_without_waits_are_the_same_rows_without_the_queue_waits() -> None:
    done = asyncio.Event()
    root = Supervisor([ChildSpec("sink", lambda: Sink(done, 20))])
    async with run(root) as tree:
        for _ in range(20):
            tree.lookup("sink").tell(Ping())
        await done.wait()
        light = {s.path: s for s in tree.stats(waits=False)}
        full = {s.path: s for s in tree.stats()}
        assert light.keys() == full.keys() == {"", "sink"}
        assert (light["sink"].processed, light["sink"].queue_wait_p99_us, light["sink"].queue_wait_buckets) == \
            (20, None, ())
        p50, p99 = full["sink"].queue_wait_p50_us, full["sink"].queue_wait_p99_us
        assert sum(full["sink"].queue_wait_buckets) == 20 and p50 is not None and p99 is not None and p50 <= p99
