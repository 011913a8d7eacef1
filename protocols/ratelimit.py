"""Token buckets per endpoint, matching each venue's documented request weights."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """``capacity`` tokens refilled over ``per_s`` seconds; ``acquire(weight)`` waits for room.

    ``pause(seconds)`` empties the bucket until then: a venue's 429 ``Retry-After`` stops every
    request on that bucket, not only the one that was refused.
    """

    def __init__(self, capacity: float, per_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity <= 0 or per_s <= 0:
            raise ValueError("capacity and per_s must be positive")
        self.capacity = capacity
        self.rate = capacity / per_s
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self, weight: float) -> float:
        """Seconds until ``weight`` tokens are available (0 when they are now)."""
        self._refill()
        pause = max(0.0, self._paused_until - self._clock())
        missing = max(0.0, min(weight, self.capacity) - self._tokens)
        return max(pause, missing / self.rate)

    def take_now(self, weight: float = 1.0) -> bool:
        """Spend ``weight`` now if it is there and nobody is waiting (``acquire`` without a
        suspension point); False: nothing spent, ``acquire`` it."""
        if self._lock.locked() or self.wait_time(weight) > 0:
            return False
        self._tokens -= min(weight, self.capacity)
        return True

    async def acquire(self, weight: float = 1.0) -> None:
        async with self._lock:  # FIFO among waiters: asyncio.Lock wakes in order
            while (delay := self.wait_time(weight)) > 0:  # noqa: ASYNC110 - sleeps until the refill, no poll
                await asyncio.sleep(delay)
            self._tokens -= min(weight, self.capacity)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0
        self._stamp = self._clock()


def window_bucket(limit: float, window_s: float, **kwargs: object) -> TokenBucket:
    """A bucket that never spends more than ``limit`` in any ``window_s`` span, the way a
    venue counts (a fixed or sliding window). A bucket of capacity C refilled at r per second
    can spend C + r * window_s within one window: a full ``TokenBucket(limit, window_s)``
    bursts ``limit`` and then refills another ``limit`` before the window ends, up to twice the
    venue's limit, which is a 429 (Binance: then a 418 ban) when hundreds of books start at
    once. Half the limit as the burst and half as the refill keeps C + r * window_s = limit."""
    return TokenBucket(limit / 2, window_s, **kwargs)  # type: ignore[arg-type]


class RateLimits:
    """Named buckets for one venue; an endpoint names its bucket and weight."""

    def __init__(self, buckets: dict[str, TokenBucket]) -> None:
        self._buckets = buckets

    def bucket(self, name: str) -> TokenBucket:
        return self._buckets[name]

    async def acquire(self, name: str, weight: float = 1.0) -> None:
        await self._buckets[name].acquire(weight)

    def pause_all(self, seconds: float) -> None:
        for bucket in self._buckets.values():
            bucket.pause(seconds)
