"""An asyncio loop on a virtual clock, for replays: time moves only when nothing can run.

``VirtualTimeLoop`` is a ``SelectorEventLoop`` whose ``time()`` is a virtual clock in integer
nanoseconds. When the loop would block waiting for its next timer and no I/O is ready, it
jumps the clock to that timer instead of sleeping (``speed=None``, as fast as possible) or
sleeps ``dt / speed`` of real time first (``speed=N``). Since the clock advances only when
every ready callback has run, everything a recorded frame triggers (book, detector, executor,
journal) finishes at the frame's own virtual instant, before the next frame is due: the
outcome of a replay does not depend on the machine's speed or load, nor on ``speed``.

Work on other threads is waited for in real time, with the clock stopped: ``external(+n)``
before handing n items to a thread and ``external(-n)`` (on the loop) when they are done;
``run_in_executor`` (``asyncio.to_thread``) counts itself. Anything else the loop cannot see (a
socket to the outside world, a thread of its own: the journal runs ``inline`` in a replay)
would break determinism: a replay opens none.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import heapq
import math
import selectors
from asyncio import events, format_helpers
from collections.abc import Callable
from typing import Any

REAL_POLL_S = 0.05  # while a thread works, how often the loop re-checks (real seconds)
_MIN_SCHEDULED = 100  # asyncio.base_events' thresholds for sweeping cancelled timers
_MIN_CANCELLED_FRACTION = 0.5
_MAX_SELECT_TIMEOUT = 24 * 3600
_Handle = events.Handle
_new_handle = object.__new__
_copy_context = contextvars.copy_context


class _VirtualSelector:
    """Wraps the loop's selector: ``select(timeout)`` jumps the clock instead of sleeping."""

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._inner, self._loop = inner, loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        if timeout == 0 and loop.pending_external == 0:
            # Callbacks are ready and no thread is working: nothing can be waiting on a
            # descriptor (a replay opens none), so no system call per loop iteration.
            return []
        events = self._inner.select(0)
        if events or timeout == 0:
            return events
        if loop.pending_external > 0 or timeout is None:
            # A thread is working (its completion wakes the selector), or nothing is scheduled
            # at all: only an outside event can come, wait for it with the clock stopped.
            return self._inner.select(REAL_POLL_S if timeout is None else min(timeout, REAL_POLL_S))
        if loop.speed is not None:
            events = self._inner.select(timeout / loop.speed)
            if events:
                return events
        loop.advance(math.ceil(timeout * 1e9))
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start_ns: int = 0, *, speed: float | None = None) -> None:
        super().__init__()
        self._now_ns = start_ns
        self.speed = speed  # None: as fast as possible; N: N virtual seconds per real second
        self.pending_external = 0
        self._selector = _VirtualSelector(self._selector, self)  # type: ignore[has-type, arg-type]
        self._clock_resolution = 1e-9
        # ``BaseEventLoop.create_future`` with no Python frame: a parked actor's every wake-up makes one.
        self.create_future = functools.partial(asyncio.Future, loop=self)  # type: ignore[method-assign]

    def time(self) -> float:
        return self._now_ns / 1e9

    # --- the hot path ----------------------------------------------------------------------------
    # A replay runs every frame's work as callbacks of this loop (a mailbox wake-up is a future
    # set, whose callback steps the actor's task): asyncio's pure-Python ``call_soon`` (five
    # Python frames per callback: call_soon, _check_closed, _call_soon, Handle.__init__,
    # get_debug) and ``Handle._run`` cost more than the frame's own work in places. Outside
    # debug mode these two do the same with one frame each; debug mode keeps asyncio's own.

    def call_soon(self, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                  context: Any = None) -> asyncio.Handle:
        if self._debug or self._closed:  # type: ignore[attr-defined]
            return super().call_soon(callback, *args, context=context)
        handle = _new_handle(_Handle)
        handle._context = context if context is not None else _copy_context()  # type: ignore[attr-defined]
        handle._loop = self  # type: ignore[attr-defined]
        handle._callback = callback  # type: ignore[attr-defined]
        handle._args = args
        handle._cancelled = False
        handle._repr = None  # type: ignore[attr-defined]
        handle._source_traceback = None  # type: ignore[attr-defined]
        self._ready.append(handle)  # type: ignore[attr-defined]
        return handle

    def _run_once(self) -> None:
        """``BaseEventLoop._run_once`` (3.11) without debug mode's per-callback timing, with
        ``Handle._run`` inlined, and no selector call while callbacks are ready (a replay waits
        on no descriptor: see ``_VirtualSelector.select``)."""
        if self._debug:  # type: ignore[attr-defined]
            super()._run_once()  # type: ignore[misc]
            return
        scheduled = self._scheduled  # type: ignore[attr-defined]
        ready = self._ready  # type: ignore[attr-defined]
        n = len(scheduled)
        if n > _MIN_SCHEDULED and self._timer_cancelled_count / n > _MIN_CANCELLED_FRACTION:  # type: ignore[attr-defined]
            super()._run_once()  # type: ignore[misc]  # asyncio's own sweep of cancelled timers (rare)
            return
        while scheduled and scheduled[0]._cancelled:
            self._timer_cancelled_count -= 1  # type: ignore[attr-defined]
            heapq.heappop(scheduled)._scheduled = False
        if not (ready or self._stopping) or self.pending_external:  # type: ignore[attr-defined]
            timeout = None
            if ready or self._stopping:  # type: ignore[attr-defined]
                timeout = 0.0
            elif scheduled:
                timeout = min(max(0.0, scheduled[0]._when - self.time()), _MAX_SELECT_TIMEOUT)
            self._process_events(self._selector.select(timeout))  # type: ignore[attr-defined]
        end_time = self.time() + self._clock_resolution
        while scheduled and scheduled[0]._when < end_time:
            handle = heapq.heappop(scheduled)
            handle._scheduled = False
            ready.append(handle)
        popleft = ready.popleft
        for _ in range(len(ready)):
            handle = popleft()
            if handle._cancelled:
                continue
            try:
                handle._context.run(handle._callback, *handle._args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # as Handle._run: to the loop's exception handler
                context = {"message": f"Exception in callback "
                                      f"{format_helpers._format_callback_source(handle._callback, handle._args)}",
                           "exception": exc, "handle": handle}
                if handle._source_traceback:
                    context["source_traceback"] = handle._source_traceback
                self.call_exception_handler(context)
        handle = None

    def clock_ns(self) -> int:
        """The virtual clock in ns: what a replay injects as every actor's ``clock``."""
        return self._now_ns

    def advance(self, ns: int) -> None:
        self._now_ns += ns

    def external(self, n: int) -> None:
        self.pending_external += n

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:  # type: ignore[override]
        fut = super().run_in_executor(executor, func, *args)
        self.external(1)
        fut.add_done_callback(lambda _: self.external(-1))
        return fut


def run(main: Any, *, start_ns: int = 0, speed: float | None = None) -> Any:
    """``asyncio.run`` on a fresh ``VirtualTimeLoop``."""
    loop = VirtualTimeLoop(start_ns, speed=speed)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


__all__ = ["VirtualTimeLoop", "run"]
