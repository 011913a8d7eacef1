"""The tests' shared kit: a fake clock, and the two ways a test waits, each with a deadline
that names what it was waiting for.

- ``until(predicate, changed)``: wait on an event that whoever changes the state sets (a
  recorder, a journal of what actors did). Preferred: no polling, no sleeps.
- ``eventually(predicate)``: poll, for state changed where no event can be awaited (across a
  socket, in the simulator, in another process); ``every=0`` only yields to the loop.

Import as ``from testkit import FakeClock, eventually, until`` (pytest's ``pythonpath`` in
pyproject.toml puts this directory on ``sys.path``, after the checkout).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

N = TypeVar("N", int, float)


class FakeClock(Generic[N]):
    """A clock the test moves by hand: ``clock()`` is ``clock.now``; int (ns) or float (s)."""

    def __init__(self, now: N) -> None:
        self.now: N = now

    def __call__(self) -> N:
        return self.now

    def advance(self, by: N) -> None:
        self.now += by


async def until(predicate: Callable[[], bool], changed: asyncio.Event, *, timeout: float = 10.0,
                what: str = "condition") -> None:
    """Wait until ``predicate()`` holds, re-checking each time ``changed`` is set."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for: {what}") from None


async def eventually(predicate: Callable[[], Any | Awaitable[Any]], *, timeout: float = 10.0,
                     what: str = "condition", every: float = 0.01) -> Any:
    """Poll ``predicate`` (sync, or returning an awaitable) until it gives something truthy,
    and return that; AssertionError naming ``what`` at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        await asyncio.sleep(every)
