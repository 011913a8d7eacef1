"""The engine's start-up calls: transient venue errors are retried with a bounded, logged
backoff; anything else, or a transient error that outlasts the retries, is a PermanentFailure
naming the call and caused by the venue's error."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest

from protocols.errors import (
    AuthError,
    DecodeError,
    ExchangeError,
    NetworkError,
    PermanentFailure,
    RateLimited,
)
from supervisor.startup import RetryPolicy, with_retries


def scripted(*outcomes: BaseException | str) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that raises or returns each outcome in turn; ``calls`` counts the attempts."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return call, calls


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_a_429_a_503_and_a_timeout_are_retried_with_growing_backoff_until_the_call_succeeds(
        caplog: pytest.LogCaptureFixture) -> None:
    call, calls = scripted(RateLimited("binance", 429, "slow down", retry_after_s=3.0),
                           NetworkError("binance", "HTTP 503"), NetworkError("binance", "TimeoutError"), "ok")
    sleeps = Sleeps()
    with caplog.at_level(logging.WARNING, logger="arbor.startup"):
        result = await with_retries(call, what="binance: symbol rules", policy=RetryPolicy(initial_s=0.5),
                                    sleep=sleeps)
    assert result == "ok" and len(calls) == 4
    assert sleeps == [3.0, 1.0, 2.0]  # Retry-After wins over the 0.5 s backoff, then 1 s, 2 s
    assert [r.getMessage().count("retrying") for r in caplog.records] == [1, 1, 1]
    assert all("binance: symbol rules" in r.getMessage() for r in caplog.records)


async def test_a_retry_after_longer_than_the_cap_waits_only_the_cap() -> None:
    call, _ = scripted(RateLimited("gateio", 429, "x", retry_after_s=3600.0), "ok")
    sleeps = Sleeps()
    await with_retries(call, what="gateio: fees", policy=RetryPolicy(max_s=15.0), sleep=sleeps)
    assert sleeps == [15.0]


async def test_a_transient_error_that_outlasts_the_attempts_is_a_permanent_failure_naming_the_call() -> None:
    call, calls = scripted(*[NetworkError("mexc", "HTTP 503")] * 3)
    with pytest.raises(PermanentFailure, match="mexc: symbol rules: still failing after 3 attempts") as info:
        await with_retries(call, what="mexc: symbol rules", policy=RetryPolicy(attempts=3), sleep=Sleeps())
    assert len(calls) == 3 and isinstance(info.value.__cause__, NetworkError)


@pytest.mark.parametrize("error", [
    AuthError("binance", -2015, "Invalid API-key, IP, or permissions for action."),
    ExchangeError("gateio", "INVALID_CURRENCY_PAIR", "not listed by the venue: ['DOGE/USDT']"),
    DecodeError("mexc", "Expected `float` > 0.0", b'{"bids":[["nan","1"]]}'),
])
async def test_a_permanent_venue_error_is_not_retried_and_becomes_a_permanent_failure_caused_by_it(
        error: Exception) -> None:
    call, calls = scripted(error)
    sleeps = Sleeps()
    with pytest.raises(PermanentFailure) as info:
        await with_retries(call, what="venue: call", policy=RetryPolicy(), sleep=sleeps)
    assert len(calls) == 1 and sleeps == [] and info.value.__cause__ is error
    assert "\n" not in str(info.value)
