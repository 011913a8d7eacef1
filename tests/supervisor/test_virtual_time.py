"""The replay's virtual-time loop (``supervisor.virtual_time``): its lean hot path keeps
asyncio's contract (callback order, timers, cancellation, errors to the exception handler)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from supervisor import virtual_time


def test_the_clock_jumps_to_each_timer_in_order_skipping_cancelled_ones():
    seen: list[tuple[str, int]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, virtual_time.VirtualTimeLoop)
        done = asyncio.Event()
        loop.call_later(2.0, lambda: seen.append(("b", loop.clock_ns())))
        loop.call_later(1.0, lambda: seen.append(("a", loop.clock_ns())))
        loop.call_later(1.5, lambda: seen.append(("never", loop.clock_ns()))).cancel()
        loop.call_later(3.0, done.set)
        await done.wait()
        seen.append(("end", loop.clock_ns()))

    virtual_time.run(main(), start_ns=10)
    assert seen == [("a", 1_000_000_010), ("b", 2_000_000_010), ("end", 3_000_000_010)]


def test_callbacks_run_in_the_order_scheduled_in_their_context():
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    order: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        ctx.run(var.set, "theirs")
        loop.call_soon(lambda: order.append("1:" + var.get()))
        loop.call_soon(lambda: order.append("2:" + var.get()), context=ctx)
        loop.call_soon(order.append, "3").cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    virtual_time.run(main())
    assert order == ["1:unset", "2:theirs"]


def test_a_callback_that_raises_reaches_the_exception_handler_and_the_loop_goes_on():
    caught: list[dict[str, Any]] = []

    def boom() -> None:
        raise ValueError("boom")

    async def main() -> str:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: caught.append(context))
        loop.call_soon(boom)
        await asyncio.sleep(1.0)
        return "went on"

    assert virtual_time.run(main()) == "went on"
    assert len(caught) == 1 and isinstance(caught[0]["exception"], ValueError)
    assert "boom" in caught[0]["message"] and isinstance(caught[0]["handle"], asyncio.Handle)
