"""Bounded mailboxes: one per actor (per tree position: it outlives restarts), one consumer.

An envelope is a plain tuple ``(msg, enqueued_ns, reply_future_or_None)``: the only
allocation per message besides the message itself. Each policy is its own class so ``put``
has no policy dispatch on the hot path.

=============  ===========================================================================
policy         when full
=============  ===========================================================================
block          ``tell`` raises MailboxFull; ``send`` and ``ask`` await room
drop_oldest    a told message drops the oldest envelope (counted) and is queued; an
               ``ask`` awaits room instead of evicting
conflate       a told message whose key is already queued replaces it in place (counted);
               a new key on a full mailbox evicts the oldest (counted); an ``ask`` awaits
               room and is never conflated (it has a key of its own, whatever ``key`` says)
fail           ``tell``, ``send`` and ``ask`` raise MailboxFull in the caller
=============  ===========================================================================

A queued ``ask`` that a later ``tell`` evicts fails its asker with MailboxFull at once instead
of letting it time out. ``force`` ignores capacity: the runtime's own system messages (child
exits, timer ticks of supervisors) must never be lost.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Literal

import msgspec

from protocols.errors import ActorStopped, MailboxFull

Policy = Literal["block", "drop_oldest", "conflate", "fail"]
POLICIES: tuple[str, ...] = ("block", "drop_oldest", "conflate", "fail")
Envelope = tuple[Any, int, "asyncio.Future[Any] | None"]


class MailboxSpec(msgspec.Struct, frozen=True):
    """Capacity and full-mailbox policy of one actor; ``key(msg)`` is required by conflate."""

    capacity: int = 1024
    policy: Policy = "block"
    key: Callable[[Any], Hashable] | None = None

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"mailbox capacity must be >= 1, got {self.capacity}")
        if self.policy not in POLICIES:
            raise ValueError(f"mailbox policy must be one of {POLICIES}, got {self.policy!r}")
        if self.policy == "conflate" and self.key is None:
            raise ValueError("a conflate mailbox needs key=callable(msg) -> hashable")


def _refuse(env: Envelope, why: str) -> None:
    fut = env[2]
    if fut is not None and not fut.done():
        fut.set_exception(MailboxFull(why))


class Mailbox:
    """FIFO of envelopes with a single consumer (the actor task)."""

    __slots__ = ("path", "policy", "capacity", "_q", "_waiter", "_putters", "_loop", "closed",
                 "dropped", "conflated", "high_water")

    def __init__(self, spec: MailboxSpec, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self.path = path
        self.policy: str = spec.policy
        self.capacity = spec.capacity
        self._q: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self._loop = loop
        self.closed = False
        self.dropped = 0
        self.conflated = 0
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._q)

    # --- producer side -----------------------------------------------------------------------

    def put(self, env: Envelope) -> None:
        """Enqueue without awaiting, applying the policy when full (block/fail: MailboxFull)."""
        q = self._q
        if self.closed:
            raise ActorStopped(f"{self.path or '/'} is stopped")
        n = len(q)
        if n >= self.capacity:
            raise MailboxFull(f"{self.path or '/'}: mailbox full ({self.capacity}, {self.policy})")
        q.append(env)
        if n >= self.high_water:
            self.high_water = n + 1
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def force(self, env: Envelope) -> bool:
        """Enqueue past capacity (system messages). False if the mailbox is closed."""
        if self.closed:
            return False
        self._append_forced(env)
        self._wake()
        return True

    def _append_forced(self, env: Envelope) -> None:
        self._q.append(env)
        self.high_water = max(self.high_water, len(self._q))

    async def ask_room(self) -> None:
        """What an ``ask`` does on a full mailbox: wait for room (``fail``: raise at ``put``)."""
        await Mailbox.room(self)

    async def room(self) -> None:
        """Wait until one envelope fits (the ``block`` policy's ``send``); FIFO among senders."""
        while len(self._q) >= self.capacity and not self.closed:
            fut = self._loop.create_future()
            self._putters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # A cancelled sender must not swallow the wake-up meant for the next one.
                if fut.done() and not fut.cancelled():
                    self._wake_putter()
                else:
                    self._drop_putter(fut)
                raise
        if self.closed:
            raise ActorStopped(f"{self.path or '/'} is stopped")

    def _drop_putter(self, fut: asyncio.Future[None]) -> None:
        try:
            self._putters.remove(fut)
        except ValueError:
            pass

    def _wake_putter(self) -> None:
        putters = self._putters
        while putters:
            fut = putters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # --- consumer side -----------------------------------------------------------------------

    def get_nowait(self) -> Envelope | None:
        q = self._q
        if not q:
            return None
        env = q.popleft()
        if self._putters:
            self._wake_putter()
        return env

    def park(self) -> asyncio.Future[None]:
        """The future the consumer awaits when ``get_nowait`` found nothing: resolved by the next
        ``put``/``force`` or ``wake``. A consumer cancelled meanwhile may leave it set; every
        producer skips a done waiter. A plain function returning a bare future, not a coroutine:
        an idle actor's every wake-up would otherwise pay a coroutine, a frame and a try/finally."""
        fut = self._waiter = self._loop.create_future()
        return fut

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    wake = _wake

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> list[Envelope]:
        """Refuse further messages; return what was queued (the caller fails pending asks)."""
        self.closed = True
        pending = self._drain()
        while self._putters:  # woken senders see `closed` and raise ActorStopped
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_result(None)
        self._wake()
        return pending

    def _drain(self) -> list[Envelope]:
        pending = list(self._q)
        self._q.clear()
        return pending

    def reopen(self) -> None:
        self.closed = False


class DropOldestMailbox(Mailbox):
    __slots__ = ()

    def put(self, env: Envelope) -> None:
        q = self._q
        if self.closed:
            raise ActorStopped(f"{self.path or '/'} is stopped")
        if len(q) >= self.capacity:
            _refuse(q.popleft(), f"{self.path or '/'}: dropped (drop_oldest)")
            self.dropped += 1
        q.append(env)
        if len(q) > self.high_water:
            self.high_water = len(q)
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    async def room(self) -> None:
        if self.closed:
            raise ActorStopped(f"{self.path or '/'} is stopped")


class FailMailbox(Mailbox):
    """Same ``put`` as block (raise when full); ``send`` and ``ask`` never wait, they raise too."""

    __slots__ = ()

    async def room(self) -> None:
        if self.closed:
            raise ActorStopped(f"{self.path or '/'} is stopped")

    async def ask_room(self) -> None:
        await self.room()


class ConflateMailbox(Mailbox):
    """Queue of keys plus key -> newest envelope: a replaced message keeps its queue slot."""

    __slots__ = ("_key", "_slots", "_forced")

    def __init__(self, spec: MailboxSpec, path: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(spec, path, loop)
        assert spec.key is not None
        self._key = spec.key
        self._slots: dict[Hashable, Envelope] = {}
        self._forced = 0  # unique keys for system messages, which never conflate

    def put(self, env: Envelope) -> None:
        if self.closed:
            raise ActorStopped(f"{self.path or '/'} is stopped")
        key = self._key(env[0]) if env[2] is None else object()  # an ask is never conflated
        slots = self._slots
        old = slots.get(key)
        if old is not None:
            _refuse(old, f"{self.path or '/'}: replaced by a newer message (conflate)")
            slots[key] = env
            self.conflated += 1
            self.dropped += 1
            return  # already queued: the consumer is awake or will be
        q = self._q
        if len(q) >= self.capacity:
            _refuse(slots.pop(q.popleft()), f"{self.path or '/'}: dropped (conflate, full)")
            self.dropped += 1
        q.append(key)
        slots[key] = env
        if len(q) > self.high_water:
            self.high_water = len(q)
        self._wake()

    def _append_forced(self, env: Envelope) -> None:
        self._forced += 1
        key = ("__arbor_system__", self._forced)
        self._q.append(key)
        self._slots[key] = env
        self.high_water = max(self.high_water, len(self._q))

    def get_nowait(self) -> Envelope | None:
        q = self._q
        if not q:
            return None
        env = self._slots.pop(q.popleft())
        if self._putters:  # an ask waiting for room
            self._wake_putter()
        return env

    async def room(self) -> None:
        if self.closed:
            raise ActorStopped(f"{self.path or '/'} is stopped")

    def _drain(self) -> list[Envelope]:
        pending = [self._slots[k] for k in self._q]
        self._q.clear()
        self._slots.clear()
        return pending


_CLASSES: dict[str, type[Mailbox]] = {
    "block": Mailbox,
    "drop_oldest": DropOldestMailbox,
    "conflate": ConflateMailbox,
    "fail": FailMailbox,
}


def make_mailbox(spec: MailboxSpec, path: str, loop: asyncio.AbstractEventLoop) -> Mailbox:
    return _CLASSES[spec.policy](spec, path, loop)
