"""The actor runtime's user side: ``Actor`` (what you subclass) and its timers. ``ActorCell``
(one tree position) and ``spawn`` (a standalone actor) live in ``actors.cell``.

Lifecycle of one incarnation, all inside one task named ``actor:<path>`` (states and moves:
``actors.lifecycle``)::

    factory() -> on_start() -> receive(msg)... -> on_stop()
                  |  raises: start failure (start() raises it; counts as a crash)
                               |  raises: crash (abnormal exit)
                               |  self.exit_after_message(): normal exit after this message

``on_stop`` runs on every exit once ``on_start`` was entered (normal, crash, shutdown, even a
failed start), so it must tolerate a partial start. It runs within ``shutdown_s``: a stop
that overruns cancels whatever is running, ``on_stop`` included. Timers and the tasks started
with ``Actor.start_task`` die with the incarnation; such a task that raises crashes the actor
at once, as ``receive`` raising would.

Cancellation: a ``start()`` (or ``spawn``) whose caller is cancelled, or times out, while
``on_start`` runs cancels the incarnation and waits for it to end: nothing is left running
without a ref. Cancelling the actor's task from outside is an abnormal exit.

The runtime (``actors.cell``) is the supervisor's handler boundary: it is the one place that
catches the exceptions escaping actor code, records them as the exit reason and reports them
to the owner (``ActorCell.on_exit``); a standalone actor that crashes is logged and stays
stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

import msgspec

from actors.ref import ActorRef, _not_a_message

Inbox = TypeVar("Inbox")


class Timer:
    """A pending ``send_after``/``send_interval``; ``cancel()`` stops it (stop/crash do too)."""

    __slots__ = ("handle", "_timers")

    def __init__(self, timers: set[Timer]) -> None:
        self.handle: asyncio.TimerHandle | None = None
        self._timers = timers

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self._timers.discard(self)


class Actor(Generic[Inbox]):
    """Subclass and override ``receive`` (and ``on_start``/``on_stop``/``describe``).

    ``self.ref`` is set before ``on_start``. The return value of ``receive`` is the reply to
    an ``ask`` (ignored for ``tell``). An exception escaping ``on_start``/``receive`` crashes
    the actor; its supervisor decides what happens next.
    """

    ref: ActorRef
    _arbor_timers: set[Timer]

    async def on_start(self) -> None:
        return None

    async def receive(self, msg: Inbox) -> msgspec.Struct | None:
        return None

    async def on_stop(self) -> None:
        return None

    def describe(self) -> msgspec.Struct | None:
        return None

    def queued(self) -> int:
        """Messages waiting in this actor's mailbox behind the one being handled: a cheap
        depth read (no stats), for actors that coalesce work over a burst."""
        return self.ref.queued

    def exit_after_message(self) -> None:
        """End this actor normally once the current message is handled (from inside; a
        transient child is then not restarted). From outside: ``await ref.stop()``."""
        self.ref._cell.request_exit(self)

    def start_task(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in a task this incarnation owns: if it raises, the actor crashes at
        once with that error (as if ``receive`` had raised it); when the incarnation ends
        (stop, crash, restart) the tasks still running are cancelled after ``on_stop`` and
        awaited. Its return value is yours to read (``await`` the task or ``asyncio.wait``)."""
        return self.ref._cell.own_task(self, coro, name)

    def send_after(self, delay_s: float, msg: msgspec.Struct) -> Timer:
        """Tell ourselves ``msg`` once after ``delay_s``; cancelled when this incarnation ends."""
        if not isinstance(msg, msgspec.Struct):
            raise _not_a_message(msg)
        cell = self.ref._cell
        timer = Timer(self._arbor_timers)

        def fire() -> None:
            self._arbor_timers.discard(timer)
            cell.deliver_timer(msg)

        timer.handle = cell.loop.call_later(delay_s, fire)
        self._arbor_timers.add(timer)
        return timer

    def send_interval(self, period_s: float, msg: msgspec.Struct) -> Timer:
        """Tell ourselves ``msg`` every ``period_s`` (on a fixed grid, ticks that fall behind
        are skipped, not bunched); cancelled when this incarnation ends."""
        if not isinstance(msg, msgspec.Struct):
            raise _not_a_message(msg)
        if period_s <= 0:
            raise ValueError(f"send_interval period must be > 0, got {period_s}")
        cell = self.ref._cell
        loop = cell.loop
        timer = Timer(self._arbor_timers)
        due = loop.time() + period_s

        def fire() -> None:
            nonlocal due
            due += period_s
            now = loop.time()
            if due <= now:
                due = now + period_s
            timer.handle = loop.call_at(due, fire)
            cell.deliver_timer(msg)

        timer.handle = loop.call_at(due, fire)
        self._arbor_timers.add(timer)
        return timer

    def _stats_fields(self) -> dict[str, Any]:
        """Extra ActorStats fields (supervisors report their strategy and intensity)."""
        return {}


Factory = Callable[[], Actor[Any]]
