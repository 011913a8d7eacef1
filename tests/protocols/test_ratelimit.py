"""Token buckets (protocols/ratelimit.py) on an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from protocols.ratelimit import RateLimits, TokenBucket
from testkit import FakeClock

Clock = FakeClock[float]


def _clock() -> Clock:
    return FakeClock(100.0)


@pytest.fixture
def clock() -> Clock:
    return _clock()


@pytest.mark.parametrize(("capacity", "per_s"), [(0, 1), (-1, 1), (1, 0), (1, -5)])
def test_a_bucket_needs_positive_capacity_and_period(capacity: float, per_s: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(capacity, per_s)


async def test_a_fresh_bucket_serves_its_whole_capacity_at_once(clock: Clock) -> None:
    bucket = TokenBucket(6000, 60, clock=clock)
    assert bucket.wait_time(6000) == 0
    await bucket.acquire(5000)
    assert bucket.wait_time(1000) == 0 and bucket.wait_time(1001) == pytest.approx(0.01)


async def test_spent_tokens_come_back_at_the_documented_rate_up_to_capacity(clock: Clock) -> None:
    bucket = TokenBucket(10, 1, clock=clock)  # Binance ORDERS: 10 per second
    await bucket.acquire(10)
    assert bucket.wait_time(1) == pytest.approx(0.1)
    clock.now += 0.5
    assert bucket.wait_time(5) == 0 and bucket.wait_time(6) == pytest.approx(0.1)
    clock.now += 100
    # capped: a weight above capacity waits for a full bucket
    assert bucket.wait_time(10) == 0 and bucket.wait_time(11) == 0


async def test_a_weight_above_capacity_takes_the_whole_bucket(clock: Clock) -> None:
    bucket = TokenBucket(10, 1, clock=clock)
    await bucket.acquire(250)
    assert bucket.wait_time(10) == pytest.approx(1.0)


async def test_take_now_spends_only_what_is_there_and_never_ahead_of_a_waiter(clock: Clock) -> None:
    bucket = TokenBucket(2, 1, clock=clock)
    assert bucket.take_now() and bucket.take_now()
    assert not bucket.take_now() and bucket.wait_time(1) == pytest.approx(0.5)  # empty: nothing spent
    waiter = asyncio.create_task(bucket.acquire(1))  # holds the lock, sleeping for the refill
    await asyncio.sleep(0)
    clock.now += 0.5
    assert not bucket.take_now()  # the token is the waiter's
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert bucket.take_now() and not bucket.take_now()


def test_pause_empties_the_bucket_until_the_venue_says(clock: Clock) -> None:
    bucket = TokenBucket(6000, 60, clock=clock)
    bucket.pause(7)
    assert bucket.wait_time(1) == 7
    clock.now += 3
    assert bucket.wait_time(1) == 4
    clock.now += 4
    assert bucket.wait_time(1) == 0


def test_a_shorter_pause_never_shortens_a_longer_one(clock: Clock) -> None:
    bucket = TokenBucket(10, 1, clock=clock)
    bucket.pause(60)
    bucket.pause(1)
    assert bucket.wait_time(1) == 60


def test_pause_all_pauses_every_named_bucket(clock: Clock) -> None:
    limits = RateLimits({"weight": TokenBucket(6000, 60, clock=clock), "orders": TokenBucket(10, 1, clock=clock)})
    limits.pause_all(5)
    assert limits.bucket("weight").wait_time(1) == 5 and limits.bucket("orders").wait_time(1) == 5


async def test_unknown_bucket_name_is_an_error() -> None:
    with pytest.raises(KeyError):
        await RateLimits({}).acquire("nope")


async def test_acquire_waits_until_the_clock_has_refilled_the_bucket(clock: Clock) -> None:
    bucket = TokenBucket(1, 0.01, clock=clock)  # real sleeps of 10 ms while the fake clock stands
    await bucket.acquire()
    waiter = asyncio.create_task(bucket.acquire(), name="waiter")
    done, _ = await asyncio.wait({waiter}, timeout=0.05)
    assert not done  # the clock has not moved: no token
    clock.now += 0.01
    await asyncio.wait_for(waiter, 1)
    assert bucket.wait_time(1) > 0  # and it spent the refilled token


async def test_waiters_are_served_in_arrival_order(clock: Clock) -> None:
    bucket = TokenBucket(1, 0.01, clock=clock)
    await bucket.acquire()
    order: list[int] = []

    async def take(i: int) -> None:
        await bucket.acquire()
        order.append(i)

    tasks = [asyncio.create_task(take(i), name=f"take-{i}") for i in range(3)]
    for expected in range(1, 4):
        clock.now += 0.01
        while len(order) < expected:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED, timeout=1)
            tasks = [t for t in tasks if not t.done()]
    assert order == [0, 1, 2]


async def test_a_cancelled_waiter_takes_no_token_and_frees_the_queue(clock: Clock) -> None:
    bucket = TokenBucket(1, 0.01, clock=clock)
    await bucket.acquire()
    first = asyncio.create_task(bucket.acquire(), name="first")
    await asyncio.wait({first}, timeout=0.02)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    clock.now += 0.01
    await asyncio.wait_for(bucket.acquire(), 1)  # the token the cancelled waiter never took


def test_a_window_bucket_never_spends_more_than_the_limit_within_one_window_when_drained_flat_out() -> None:
    from protocols.ratelimit import window_bucket

    now = [0.0]
    bucket = window_bucket(200, 10.0, clock=lambda: now[0])
    spent: list[float] = []
    while now[0] < 30.0:  # a client that takes every token the moment it is there
        if bucket.wait_time(1) == 0:
            bucket._tokens -= 1  # what acquire() does once wait_time is 0
            spent.append(now[0])
        else:
            now[0] += 0.01
    for start in [t / 10 for t in range(0, 200)]:
        assert sum(start <= t < start + 10.0 for t in spent) <= 200
