"""ActorRef: the only handle other code holds on an actor.

A ref names a position (a path), not an incarnation: a supervisor's restart builds a fresh
actor behind the same ref and the same mailbox, so messages told while it restarts wait for
the new instance. Only a permanently stopped actor raises ActorStopped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from protocols.errors import ActorStopped, AskTimeout

if TYPE_CHECKING:
    from actors.cell import ActorCell
    from actors.stats import ActorStats

_Struct = msgspec.Struct
_now_ns = time.monotonic_ns


def _not_a_message(msg: object) -> TypeError:
    return TypeError(f"actor messages must be msgspec.Struct instances, got {type(msg).__name__}")


class _AskDeadlines:
    """Ask timeouts of one ref without a timer per ask (a uvloop timer costs more than the
    rest of the round trip): per timeout value a FIFO of (deadline, future), whose deadlines
    are therefore in order, and one timer armed for the earliest pending deadline. Completed
    futures are dropped from the head on every add, so the FIFOs stay short."""

    __slots__ = ("_loop", "_path", "_fifos", "_handle", "_armed_at")

    def __init__(self, loop: asyncio.AbstractEventLoop, path: str) -> None:
        self._loop = loop
        self._path = path or "/"
        self._fifos: dict[float, deque[tuple[float, asyncio.Future[Any]]]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = 0.0

    def add(self, timeout: float, fut: asyncio.Future[Any]) -> None:
        fifo = self._fifos.get(timeout)
        if fifo is None:
            fifo = self._fifos[timeout] = deque()
        while fifo and fifo[0][1].done():
            fifo.popleft()
        deadline = self._loop.time() + timeout
        fifo.append((deadline, fut))
        if self._handle is None or deadline < self._armed_at:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = deadline
        self._handle = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = None
        # Timers may fire up to a clock tick early: treat that tick as expired, or re-arm spins.
        now = self._loop.time() + _TICK_S
        earliest: float | None = None
        for timeout, fifo in list(self._fifos.items()):
            while fifo:
                deadline, fut = fifo[0]
                if not fut.done():
                    if deadline > now:
                        break
                    fut.set_exception(AskTimeout(f"{self._path}: no reply within {timeout}s"))
                fifo.popleft()
            if fifo:
                head = fifo[0][0]
                earliest = head if earliest is None else min(earliest, head)
            else:
                del self._fifos[timeout]
        if earliest is not None:
            self._arm(earliest)


_TICK_S = 0.001


class ActorRef:
    """Send to an actor: ``tell`` (sync), ``send`` (awaits room), ``ask`` (awaits the reply)."""

    __slots__ = ("_cell", "_mailbox", "_deadlines", "path")

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        self._mailbox = cell.mailbox
        self._deadlines = _AskDeadlines(cell.loop, cell.path)
        self.path: str = cell.path

    def __repr__(self) -> str:
        return f"<ActorRef {self.path or '/'} {self._cell.state}>"

    def tell(self, msg: msgspec.Struct) -> None:
        """Enqueue without awaiting. TypeError for a non-Struct; ActorStopped if permanently
        stopped; MailboxFull when full under the ``block`` or ``fail`` policy."""
        if not isinstance(msg, _Struct):
            raise _not_a_message(msg)
        self._mailbox.put((msg, _now_ns(), None))

    async def send(self, msg: msgspec.Struct) -> None:
        """Enqueue, awaiting room under the ``block`` policy (other policies behave as tell).

        Cancelling the caller while it waits enqueues nothing and leaves the actor as it was.
        """
        if not isinstance(msg, _Struct):
            raise _not_a_message(msg)
        mb = self._mailbox
        if mb.closed or len(mb._q) >= mb.capacity:
            await mb.room()
        mb.put((msg, _now_ns(), None))

    async def ask(self, msg: msgspec.Struct, timeout: float = 5.0) -> Any:
        """Send ``msg`` and return what ``receive`` returned for it.

        AskTimeout after ``timeout`` seconds (the late reply is dropped: every ask has its own
        future). ActorStopped at once if the actor is permanently stopped, and also if
        ``receive`` raised while handling this very message (the error is its ``__cause__``;
        the actor crashes and its supervisor handles that). On a full mailbox it waits for
        room (within the timeout) under ``block``, ``drop_oldest`` and ``conflate``, never
        evicting or replacing anything; MailboxFull at once under ``fail``.
        """
        if not isinstance(msg, _Struct):
            raise _not_a_message(msg)
        mb = self._mailbox
        if mb.closed:
            raise ActorStopped(f"{self.path or '/'} is stopped")
        loop = mb._loop
        fut = loop.create_future()
        self._deadlines.add(timeout, fut)
        while len(mb._q) >= mb.capacity:  # re-checked: a tell may take the room first
            await self._await_room(fut)
            if fut.done():  # timed out while waiting for room
                return fut.result()
            if mb.policy == "fail":
                break  # put raises MailboxFull
        mb.put((msg, _now_ns(), fut))
        return await fut

    async def _await_room(self, fut: asyncio.Future[Any]) -> None:
        mb = self._mailbox
        room = mb._loop.create_task(mb.ask_room(), name=f"ask-room:{self.path or '/'}")
        try:
            await asyncio.wait((room, fut), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not room.done():
                room.cancel()
                await asyncio.wait((room,))
        if not room.cancelled():
            room.result()  # ActorStopped if it stopped meanwhile

    def stats(self) -> ActorStats:
        return self._cell.stats()

    def describe(self) -> msgspec.Struct | None:
        """The current instance's ``describe()`` (None while it is not running)."""
        return self._cell.describe()

    @property
    def queued(self) -> int:
        """Messages waiting in the mailbox now: a cheap depth read (``stats()`` computes
        percentiles), for polling whether an actor has caught up."""
        return len(self._mailbox._q)

    @property
    def alive(self) -> bool:
        """False only once the actor is permanently stopped (not while it restarts)."""
        return not self._mailbox.closed

    @property
    def state(self) -> str:
        return self._cell.state

    async def stop(self) -> None:
        """Stop permanently: the current message finishes, then ``on_stop`` runs. A supervised
        actor is terminated through its supervisor (removed from the tree, not restarted)."""
        await self._cell.stop_permanently()
