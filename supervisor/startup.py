"""The engine's start-up calls to the venues (before the tree starts): static data and a check
of the credentials. A transient error (``RateLimited``, ``NetworkError``: a 429, a 5xx, a held
or refused request) is retried with a bounded, logged backoff; anything else (bad credentials,
a market the venue does not list, a reply that does not parse) and a transient error that
outlasts the retries end the start with a ``PermanentFailure`` naming the venue and the call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import msgspec

from protocols.errors import ArborError, NetworkError, PermanentFailure, RateLimited
from protocols.venue import Venue

log = logging.getLogger("arbor.startup")
T = TypeVar("T")


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """``attempts`` tries per call, waiting ``initial_s`` doubling up to ``max_s`` in between (or
    a rate limit's Retry-After, capped at ``max_s``). The defaults bound one call's retries to
    about 40 s plus the requests' own timeouts."""

    attempts: int = 6
    initial_s: float = 0.5
    max_s: float = 15.0

    def delay(self, attempt: int, exc: ArborError) -> float:
        backoff = min(self.max_s, self.initial_s * 2 ** (attempt - 1))
        if isinstance(exc, RateLimited):
            return min(self.max_s, max(backoff, exc.retry_after_s))
        return backoff


async def with_retries(call: Callable[[], Awaitable[T]], *, what: str, policy: RetryPolicy,
                       sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """``await call()``, retrying transient venue errors under ``policy``; ``PermanentFailure``
    (caused by the venue's error) for anything else or once the attempts are spent."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return await call()
        except (RateLimited, NetworkError) as exc:
            if attempt == policy.attempts:
                raise PermanentFailure(f"{what}: still failing after {attempt} attempts: {exc}") from exc
            delay = policy.delay(attempt, exc)
            log.warning("start-up: %s failed (%s); attempt %d/%d, retrying in %.2fs", what, exc, attempt,
                        policy.attempts, delay, extra={"what": what, "attempt": attempt})
            await sleep(delay)
        except ArborError as exc:  # AuthError, an unlisted market, a reply that does not parse
            raise PermanentFailure(f"{what}: {exc}") from exc
    raise AssertionError("unreachable: attempts >= 1")


async def fetch_taker_fees(venues: Mapping[str, Venue], symbols: Mapping[str, tuple[str, ...]], *,
                           check_credentials: Mapping[str, bool], policy: RetryPolicy | None = None
                           ) -> dict[str, float]:
    """Each venue's taker fee (the highest over its symbols, to stay safe), all venues at once;
    a venue in ``check_credentials`` also has its key pair checked with one signed read (its
    balances), so bad credentials stop the start instead of every later order."""
    policy = policy or RetryPolicy()

    async def one(name: str, venue: Venue) -> float:
        wanted = list(symbols[name])
        if not wanted:  # whole-market mode may list no symbols: the fee of one open market
            listed = await with_retries(venue.markets, what=f"{name}: markets", policy=policy)
            wanted = [m.symbol for m in listed if m.open][:1]
        info = await with_retries(lambda: venue.symbol_info(wanted),
                                  what=f"{name}: symbol rules and fees", policy=policy) if wanted else {}
        if check_credentials.get(name):
            await with_retries(venue.balances, what=f"{name}: credentials check (balances)", policy=policy)
        return max((i.taker_fee for i in info.values()), default=0.001)

    try:
        async with asyncio.TaskGroup() as group:  # the first failure cancels the other venues' calls
            tasks = {name: group.create_task(one(name, venue), name=f"startup:{name}")
                     for name, venue in venues.items()}
    except* PermanentFailure as failures:
        first = failures.exceptions[0]
        raise first from first.__cause__  # keeps its cause (an AuthError has its own exit code)
    return {name: task.result() for name, task in tasks.items()}
