"""The actor runtime: ``Actor`` (what you subclass), ``ActorCell`` (one tree position: a mailbox,
a ref, and the task of the current incarnation) and ``spawn`` (a standalone actor).

Lifecycle of one incarnation, all inside one task named ``actor:<path>``::

    factory() -> on_start() -> receive(msg)... -> on_stop()
                  |  raises: start failure (start() raises it; counts as a crash)
                               |  raises: crash (abnormal exit)
                               |  self.stop(): normal exit after the current message

``on_stop`` runs on every exit once ``on_start`` was entered (normal, crash, shutdown, even a
failed start), so it must tolerate a partial start. Timers die with the incarnation.

The runtime is the supervisor's handler boundary: it is the one place that catches the
exceptions escaping actor code, records them as the exit reason and reports them to the
owner (``ActorCell.on_exit``); a standalone actor that crashes is logged and stays stopped.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

import msgspec

from actors.mailbox import Envelope, MailboxSpec, make_mailbox
from actors.ref import ActorRef, _not_a_message
from actors.stats import ActorStats, Failure, RateMeter, WaitRing, failure_of
from protocols.errors import ActorStopped, MailboxFull

log = logging.getLogger("arbor.actors")

Inbox = TypeVar("Inbox")
Restart = Literal["permanent", "transient", "temporary"]
_MASK = 1023  # stats.RING_SIZE - 1


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

    def stop(self) -> None:
        """Exit normally after the current message (a transient child is then not restarted)."""
        self.ref._cell.request_stop(self)

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


class Registry:
    """path -> cell for one tree, so a position keeps its ref and mailbox across restarts of
    its parents, not only its own."""

    def __init__(self) -> None:
        self.cells: dict[str, ActorCell] = {}

    def close_under(self, path: str) -> None:
        """Permanently close every descendant of ``path`` (their tasks have ended already)."""
        prefix = path + "/" if path else ""
        for p in [p for p in self.cells if p.startswith(prefix) and p != path]:
            cell = self.cells.pop(p, None)  # closing a supervisor cell closes its own subtree
            if cell is not None:
                cell.close()


class ActorCell:
    """One tree position: mailbox, ref and the current incarnation's task.

    Owners (supervisors) set ``on_exit`` to hear about exits they did not ask for,
    ``terminate_hook`` to route ``ref.stop()`` through themselves, and bump ``restarts``.
    """

    def __init__(self, factory: Factory | Actor[Any], *, path: str, mailbox: MailboxSpec | None = None,
                 restart: Restart = "temporary", shutdown_s: float | None = 5.0,
                 registry: Registry | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.factory = factory
        self.path = path
        self.spec = mailbox or MailboxSpec()
        self.mailbox = make_mailbox(self.spec, path, self.loop)
        self.ref = ActorRef(self)
        self.restart: Restart = restart
        self.shutdown_s = shutdown_s
        self.registry = registry
        self.on_exit: Callable[[ActorCell, BaseException | None], None] | None = None
        self.terminate_hook: Callable[[], Any] | None = None
        self.actor: Actor[Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.state = "new"
        self.kind = type(factory).__name__ if isinstance(factory, Actor) else "?"
        self.incarnation = 0
        self.restarts = 0
        self.last_failure: Failure | None = None
        self.ring = WaitRing()
        self._rate = RateMeter()
        self._started_at: float | None = None
        self._stop_requested = False
        self._shutdown = False
        self._start_failed = False
        self._exit_reason: BaseException | None = None

    # --- starting ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build a fresh instance and run its ``on_start`` in a new task; return when it
        succeeded, raise what it (or the factory) raised otherwise."""
        if self.task is not None and not self.task.done():
            raise RuntimeError(f"{self.path or '/'} is already running")
        self.state = "starting"
        try:
            actor = self.factory if isinstance(self.factory, Actor) else self.factory()
            if not isinstance(actor, Actor):
                raise TypeError(f"factory for {self.path or '/'} returned {type(actor).__name__}, not an Actor")
        except Exception as exc:  # a factory failure is a start failure, reported to the starter
            self.last_failure = failure_of(exc)
            self.state = "crashed"
            raise
        if isinstance(self.factory, Actor):
            self.factory = _spent  # an instance serves one incarnation only
        self.incarnation += 1
        self.actor = actor
        self.kind = type(actor).__name__
        actor.ref = self.ref
        actor._arbor_timers = set()
        self.mailbox.reopen()
        self._stop_requested = self._shutdown = self._start_failed = False
        self._exit_reason = None
        started: asyncio.Future[None] = self.loop.create_future()
        task = self.loop.create_task(self._main(actor, started), name=f"actor:{self.path or '/'}")
        self.task = task
        task.add_done_callback(self._done)
        await started

    async def _main(self, actor: Actor[Any], started: asyncio.Future[None]) -> None:
        try:
            try:
                await actor.on_start()
            except Exception as exc:  # start failure: start() re-raises it in the starter
                self._start_failed = True
                self._exit_reason = exc
                if not started.done():
                    started.set_exception(exc)
                return
            self.state = "running"
            self._started_at = time.monotonic()
            if not started.done():
                started.set_result(None)
            await self._loop(actor)
        except Exception as exc:  # a crash: the exit reason handed to the supervisor
            self._exit_reason = exc
        finally:
            for timer in list(actor._arbor_timers):
                timer.cancel()
            if not started.done():  # cancelled during on_start
                started.set_exception(ActorStopped(f"{self.path or '/'} stopped while starting"))
            self._started_at = None
            if self.state == "running":
                self.state = "stopping"
            await self._on_stop(actor)

    async def _on_stop(self, actor: Actor[Any]) -> None:
        try:
            await actor.on_stop()
        except Exception as exc:  # on_stop failing makes a normal exit abnormal
            if self._exit_reason is None:
                self._exit_reason = exc
            else:
                self._exit_reason.add_note(f"on_stop also failed: {type(exc).__name__}: {exc}")

    async def _loop(self, actor: Actor[Any]) -> None:
        # The hot path: no allocation beyond the envelope, locals for everything touched.
        mb = self.mailbox
        get = mb.get_nowait
        wait = mb.wait
        receive = actor.receive
        ring = self.ring
        samples = ring.samples
        now = time.monotonic_ns
        while not self._stop_requested:
            env = get()
            if env is None:
                await wait()
                continue
            msg, t, fut = env
            n = ring.count
            samples[n & _MASK] = now() - t
            ring.count = n + 1
            if fut is None:
                await receive(msg)
                continue
            ok = False
            reply = None
            try:
                reply = await receive(msg)
                ok = True
            finally:
                if not fut.done():
                    if ok:
                        fut.set_result(reply)
                    else:
                        fut.set_exception(_stopped_by(self.path, sys.exc_info()[1]))

    def request_stop(self, actor: Actor[Any]) -> None:
        if actor is self.actor:
            self._stop_requested = True
            self.mailbox.wake()

    def deliver_timer(self, msg: msgspec.Struct) -> None:
        try:
            self.mailbox.put((msg, time.monotonic_ns(), None))
        except MailboxFull:  # a tick that finds the mailbox full is dropped, and counted
            self.mailbox.dropped += 1
        except ActorStopped:  # raced with the final stop; the timer is being cancelled
            pass

    def post(self, msg: msgspec.Struct) -> bool:
        """Enqueue a system message past capacity (never dropped). False once closed."""
        return self.mailbox.force((msg, time.monotonic_ns(), None))

    # --- exits ---------------------------------------------------------------------------------

    def _done(self, task: asyncio.Task[None]) -> None:
        if task is not self.task:
            return
        reason = self._exit_reason
        if reason is None and task.cancelled() and not self._shutdown:
            reason = ActorStopped(f"{self.path or '/'}: task cancelled")
        if reason is not None:
            self.last_failure = failure_of(reason)
        if self._shutdown or self._start_failed:
            # The stopper / starter owns what happens next; it sets the final state.
            if self._start_failed and self.on_exit is None:
                self.close()
            return
        abnormal = reason is not None
        will_restart = self.on_exit is not None and (
            self.restart == "permanent" or (self.restart == "transient" and abnormal))
        if will_restart:
            self.state = "restarting"
        else:
            self.close()
        if self.on_exit is not None:
            self.on_exit(self, reason)
        elif abnormal:
            log.error("actor %s crashed: %s: %s", self.path or "/", type(reason).__name__, reason,
                      exc_info=reason, extra={"path": self.path})

    def close(self) -> None:
        """Permanently stopped: refuse messages, fail queued asks, close the subtree."""
        self.state = "crashed" if self._exit_reason is not None and not self._shutdown else "stopped"
        for env in self.mailbox.close():
            _fail(env, self.path)
        if self.registry is not None:
            self.registry.close_under(self.path)

    async def stop(self, *, final: bool = True) -> None:
        """Stop the current incarnation: finish the current message, run ``on_stop``; cancel the
        task if that overruns ``shutdown_s``. ``final=False`` keeps the mailbox for a restart."""
        task = self.task
        if task is None or task.done():
            # Not running (exited on its own, or never started): only a final stop acts.
            if final and not self.mailbox.closed:
                self._shutdown = self._exit_reason is None
                self.close()
            return
        if task is not None and not task.done():
            self._shutdown = True
            self._stop_requested = True
            self.state = "stopping"
            self.mailbox.wake()
            if task is asyncio.current_task():
                return  # stopping ourselves: the loop exits after this message
            done, _ = await asyncio.wait((task,), timeout=self.shutdown_s)
            if not done:
                log.warning("actor %s overran its shutdown of %ss; cancelling it", self.path or "/",
                            self.shutdown_s, extra={"path": self.path})
                task.cancel()
                await asyncio.wait((task,))
        self._shutdown = True
        if final:
            self.close()
        else:
            self.state = "restarting"

    async def stop_permanently(self) -> None:
        if self.task is not None and self.task is asyncio.current_task():
            self._stop_requested = True  # from inside: a normal exit after this message
            return
        if self.terminate_hook is not None:
            await self.terminate_hook()
        else:
            await self.stop(final=True)

    # --- introspection -------------------------------------------------------------------------

    def describe(self) -> msgspec.Struct | None:
        if self.actor is None or self.state not in ("running", "stopping"):
            return None
        return self.actor.describe()

    def stats(self) -> ActorStats:
        mb = self.mailbox
        p50, p99 = self.ring.percentiles_us()
        extra = self.actor._stats_fields() if self.actor is not None else {}
        return ActorStats(
            path=self.path, kind=self.kind, state=self.state, mailbox_depth=len(mb),
            mailbox_capacity=mb.capacity, mailbox_high_water=mb.high_water,
            mailbox_policy=mb.policy, processed=self.ring.count, dropped=mb.dropped,
            conflated=mb.conflated, rate_per_s=self._rate.sample(self.ring.count),
            queue_wait_p50_us=p50, queue_wait_p99_us=p99, restarts=self.restarts,
            last_failure=self.last_failure,
            uptime_s=time.monotonic() - self._started_at if self._started_at is not None else 0.0,
            **extra)


def _spent() -> Actor[Any]:
    raise ActorStopped("this actor was given as an instance; it cannot be started twice")


def _stopped_by(path: str, exc: BaseException | None) -> ActorStopped:
    err = ActorStopped(f"{path or '/'} stopped while handling this ask"
                       + (f": {type(exc).__name__}: {exc}" if exc is not None else ""))
    err.__cause__ = exc
    return err


def _fail(env: Envelope, path: str) -> None:
    fut = env[2]
    if fut is not None and not fut.done():
        fut.set_exception(ActorStopped(f"{path or '/'} is stopped"))


async def spawn(factory: Factory | Actor[Any], *, name: str, mailbox: MailboxSpec | None = None) -> ActorRef:
    """Start one actor standalone in the running loop; return its ref once ``on_start``
    succeeded (raise its error otherwise). ``await ref.stop()`` stops it; if it crashes it is
    logged and stays stopped. ``factory`` is a zero-argument callable or an Actor instance."""
    cell = ActorCell(factory, path=name, mailbox=mailbox, restart="temporary")
    await cell.start()
    return cell.ref
