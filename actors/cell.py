"""One tree position (``ActorCell``): its mailbox, its ref, its lifecycle state and the tasks of
its current incarnation; ``spawn`` starts one standalone. The lifecycle contract is written in
``actors.runtime`` (what an actor sees) and ``actors.lifecycle`` (states and moves)."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from actors.lifecycle import Restart, State, restart_decision, transition
from actors.mailbox import Envelope, MailboxSpec, make_mailbox
from actors.ref import ActorRef
from actors.runtime import Actor, Factory
from actors.stats import ActorStats, Failure, RateMeter, WaitRing, failure_of
from protocols.errors import ActorStopped, MailboxFull

log = logging.getLogger("arbor.actors")
_MASK = 1023  # stats.RING_SIZE - 1


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
    """One tree position: mailbox, ref, lifecycle state and the current incarnation's tasks.

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
        self.state: State = "new"
        self.kind = type(factory).__name__ if isinstance(factory, Actor) else "?"
        self.incarnation = 0
        self.restarts = 0
        self.last_failure: Failure | None = None
        self.ring = WaitRing()
        self._rate = RateMeter()
        self._watchers: list[asyncio.Future[None]] = []
        self._started_at: float | None = None
        self._stop_requested = False  # the receive loop's exit flag (hot path)
        self._by_owner = False  # this incarnation's exit was asked for: the asker settles it
        self._deadline: float | None = None  # loop time by which the incarnation must have ended
        self._timeout: asyncio.Timeout | None = None  # bounds the cleanup while it runs
        self._tasks: set[asyncio.Task[Any]] = set()
        self._task_failure: BaseException | None = None
        self._cleaning = False
        self._exit_reason: BaseException | None = None

    def set_state(self, state: State) -> None:
        """The one way the state changes (``actors.lifecycle.transition`` checks the move)."""
        self.state = transition(self.state, state, self.path)
        if self._watchers:
            watchers, self._watchers = self._watchers, []
            for fut in watchers:
                if not fut.done():
                    fut.set_result(None)

    def changed(self) -> asyncio.Future[None]:
        """A future resolved at this position's next lifecycle move (for ``Tree.restarted``)."""
        fut = self.loop.create_future()
        self._watchers.append(fut)
        return fut

    # --- starting ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build a fresh instance and run its ``on_start`` in a new task; return when it
        succeeded, raise what it (or the factory) raised otherwise. If the caller is cancelled
        meanwhile, the incarnation is cancelled too and has ended when CancelledError leaves."""
        if self.task is not None and not self.task.done():
            raise RuntimeError(f"{self.path or '/'} is already running")
        self.set_state("starting")
        try:
            actor = self.factory if isinstance(self.factory, Actor) else self.factory()
            if not isinstance(actor, Actor):
                raise TypeError(f"factory for {self.path or '/'} returned {type(actor).__name__}, not an Actor")
        except Exception as exc:  # a factory failure is a start failure, reported to the starter
            self._exit_reason = exc
            self.last_failure = failure_of(exc)
            self.set_state("crashed")
            raise
        if isinstance(self.factory, Actor):
            self.factory = _spent  # an instance serves one incarnation only
        self.incarnation += 1
        self.actor = actor
        self.kind = type(actor).__name__
        actor.ref = self.ref
        actor._arbor_timers = set()
        self.mailbox.reopen()
        self._stop_requested = self._by_owner = self._cleaning = False
        self._exit_reason = self._task_failure = self._deadline = None
        started: asyncio.Future[None] = self.loop.create_future()
        task = self.loop.create_task(self._main(actor, started), name=f"actor:{self.path or '/'}")
        self.task = task
        task.add_done_callback(self._done)
        try:
            await started
        except asyncio.CancelledError:  # the starter gave up: nothing may outlive it without a ref
            self._begin_stop(None if self.shutdown_s is None else self.loop.time() + self.shutdown_s)
            if not self._cleaning:  # a cleanup under way keeps its deadline
                task.cancel()
            await asyncio.wait((task,))
            self.set_state("stopped")
            raise
        except Exception:  # supervised-boundary: the start failed; wait for its on_stop, then re-raise
            await asyncio.wait((task,))  # its on_stop has run
            if self.state == "starting":
                self.set_state("crashed")
            raise

    async def _main(self, actor: Actor[Any], started: asyncio.Future[None]) -> None:
        try:
            try:
                await actor.on_start()
            except Exception as exc:  # start failure: start() re-raises it in the starter
                self._exit_reason = exc
            except asyncio.CancelledError as exc:
                self._exit_reason = self._own_cancel(exc)  # an owned task failed while starting
            if self._exit_reason is not None:
                if not started.done():
                    started.set_exception(self._exit_reason)
                return
            if self.state == "starting":
                self.set_state("running")
            self._started_at = time.monotonic()
            if not started.done():
                started.set_result(None)
            try:
                await self._loop(actor)
            except asyncio.CancelledError as exc:
                self._exit_reason = self._own_cancel(exc)
        except Exception as exc:  # a crash: the exit reason handed to the supervisor
            self._exit_reason = exc
        finally:
            if not started.done():  # cancelled during on_start
                started.set_exception(ActorStopped(f"{self.path or '/'} stopped while starting"))
            self._started_at = None
            await self._cleanup(actor)

    def _own_cancel(self, exc: asyncio.CancelledError) -> BaseException:
        """The cancel that an owned task's failure sent us becomes that failure (a crash);
        any other cancellation propagates."""
        failure = self._task_failure
        if failure is None:
            raise exc
        self._exit_reason = failure
        task = self.task
        if task is None or task.uncancel() > 0:
            raise exc
        return failure

    async def _cleanup(self, actor: Actor[Any]) -> None:
        """Timers, ``on_stop``, owned tasks: all within the stop deadline (``shutdown_s`` from
        now unless a stop already set an earlier one)."""
        self._cleaning = True
        for timer in list(actor._arbor_timers):
            timer.cancel()
        if self.state == "running":
            self.set_state("stopping")
        deadline = self._deadline
        if deadline is None and self.shutdown_s is not None:
            deadline = self.loop.time() + self.shutdown_s
        try:
            async with asyncio.timeout_at(deadline) as self._timeout:
                await self._on_stop(actor)
        except TimeoutError:
            log.warning("actor %s overran its shutdown of %ss; cancelled", self.path or "/", self.shutdown_s,
                        extra={"path": self.path})
        finally:
            self._timeout = None
            await self._end_tasks()  # also when a cancel cut on_stop short: no owned task outlives us

    def _tighten(self, deadline: float) -> None:
        """Bring the incarnation's deadline forward (a cleanup already running included)."""
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        timeout = self._timeout
        if timeout is not None and not timeout.expired():
            timeout.reschedule(self._deadline)

    async def _on_stop(self, actor: Actor[Any]) -> None:
        try:
            await actor.on_stop()
        except Exception as exc:  # on_stop failing makes a normal exit abnormal
            if self._exit_reason is None:
                self._exit_reason = exc
            else:
                self._exit_reason.add_note(f"on_stop also failed: {type(exc).__name__}: {exc}")

    async def _end_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def own_task(self, actor: Actor[Any], coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        if actor is not self.actor or self._cleaning or self.task is None or self.task.done():
            coro.close()
            raise ActorStopped(f"{self.path or '/'}: this incarnation has ended; no task started")
        task = self.loop.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # also marks it retrieved when the actor does not read it
        main = self.task
        if exc is None or self._task_failure is not None or self._cleaning or main is None or main.done():
            return
        self._task_failure = exc
        main.cancel()  # crash now, even mid-message: _own_cancel turns it into this failure

    async def _loop(self, actor: Actor[Any]) -> None:
        # The hot path: no allocation beyond the envelope, locals for everything touched. An
        # empty mailbox parks the loop on a bare future (no coroutine per wake-up).
        mb = self.mailbox
        get = mb.get_nowait
        park = mb.park
        receive = actor.receive
        ring = self.ring
        samples = ring.samples
        now = time.monotonic_ns
        while not self._stop_requested:
            env = get()
            if env is None:
                await park()
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
                        fut.set_exception(_stopped_by(self.path, self._task_failure or sys.exc_info()[1]))

    def request_exit(self, actor: Actor[Any]) -> None:
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
        if reason is None and task.cancelled() and not self._by_owner:
            reason = self._exit_reason = ActorStopped(f"{self.path or '/'}: task cancelled")
        if reason is not None:
            self.last_failure = failure_of(reason)
        if self._by_owner or self.state == "starting":
            return  # the stopper / starter settles the state
        decision = restart_decision(self.restart, reason) if self.on_exit is not None else "stop"
        if decision == "restart":
            self.set_state("restarting")
        else:
            self.close()
        if self.on_exit is not None:
            self.on_exit(self, reason)
        elif reason is not None:
            log.error("actor %s crashed: %s: %s", self.path or "/", type(reason).__name__, reason,
                      exc_info=reason, extra={"path": self.path})

    def close(self) -> None:
        """Permanently stopped: refuse messages, fail queued asks, close the subtree."""
        crashed = self._exit_reason is not None and not self._by_owner
        self.set_state("crashed" if crashed else "stopped")
        for env in self.mailbox.close():
            _fail(env, self.path)
        if self.registry is not None:
            self.registry.close_under(self.path)

    def _begin_stop(self, deadline: float | None) -> None:
        self._by_owner = True
        self._stop_requested = True
        if self.state != "stopping":
            self.set_state("stopping")
        if deadline is not None:
            self._tighten(deadline)
        self.mailbox.wake()

    def cancel_now(self) -> None:
        """End the incarnation with no time left (its owner's own deadline has passed): what
        runs is cancelled, ``on_stop`` included. The caller waits for ``task`` and settles the
        state."""
        task = self.task
        if task is None or task.done():
            return
        self._begin_stop(self.loop.time())
        if not self._cleaning:
            task.cancel()

    async def stop(self, *, final: bool = True) -> None:
        """Stop the current incarnation: finish the current message, run ``on_stop``, end its
        tasks, all within ``shutdown_s``; past that, whatever runs is cancelled. ``final=False``
        keeps the mailbox for a restart."""
        task = self.task
        if task is None or task.done():
            # Not running (exited on its own, or never started): only a final stop acts.
            if final and not self.mailbox.closed:
                self.close()
            return
        if task is asyncio.current_task():
            self._stop_requested = True  # stopping ourselves: the loop exits after this message
            return
        self._begin_stop(None if self.shutdown_s is None else self.loop.time() + self.shutdown_s)
        done, _ = await asyncio.wait((task,), timeout=self.shutdown_s)
        if not done:
            if not self._cleaning:  # stuck before on_stop (a cleanup has its own deadline)
                log.warning("actor %s overran its shutdown of %ss; cancelling it", self.path or "/",
                            self.shutdown_s, extra={"path": self.path})
                task.cancel()
            await asyncio.wait((task,))  # bounded: its on_stop runs within the same deadline
        if final:
            self.close()
        else:
            self.set_state("restarting")

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

    def stats(self, *, waits: bool = True) -> ActorStats:
        """This position's ``ActorStats``. ``waits=False`` leaves out the queue waits (no fold,
        quantiles None, no buckets): the cheap row a listing filters and sorts before taking
        the full stats of the rows it shows."""
        mb = self.mailbox
        ring = self.ring
        if waits:
            ring.fold()
            p50, p99 = ring.quantiles_us()
            wait_fields: dict[str, Any] = {"queue_wait_buckets": tuple(ring.buckets),
                                           "queue_wait_sum_s": ring.sum_ns / 1e9,
                                           "queue_wait_unobserved": ring.unobserved}
        else:
            p50 = p99 = None
            wait_fields = {}
        extra = self.actor._stats_fields() if self.actor is not None else {}
        return ActorStats(
            path=self.path, kind=self.kind, state=self.state, mailbox_depth=len(mb),
            mailbox_capacity=mb.capacity, mailbox_high_water=mb.high_water,
            mailbox_policy=mb.policy, processed=ring.count, dropped=mb.dropped,
            conflated=mb.conflated, rate_per_s=self._rate.sample(ring.count),
            queue_wait_p50_us=p50, queue_wait_p99_us=p99, restarts=self.restarts,
            last_failure=self.last_failure,
            uptime_s=time.monotonic() - self._started_at if self._started_at is not None else 0.0,
            **wait_fields, **extra)


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
    started = False
    try:
        await cell.start()
        started = True
    finally:
        if not started:  # failed or abandoned: nobody will restart it
            cell.close()
    return cell.ref
