"""Supervisor: an actor that starts, watches and restarts other actors (OTP semantics).

The restart contract
====================

Children are started **in order** (the order of ``children``, then dynamic children in the
order they were added). ``start()`` of a child returns once its ``on_start`` succeeded; a
child whose factory or ``on_start`` raises has *crashed* (it counts like any crash).

When a child exits without having been asked to, its **restart type** decides:

==========  =====================================================================
permanent   always restarted (even after a normal exit, i.e. ``self.exit_after_message()``)
transient   restarted only after an abnormal exit (an exception); a normal exit
            leaves it stopped (listed by ``which_children`` as ``stopped``)
temporary   never restarted; removed from the children when it exits
==========  =====================================================================

A restart applies the supervisor's **strategy**:

============  ==================================================================
one_for_one   only the exited child is restarted; siblings are not touched
one_for_all   the other children are stopped in reverse start order, then all
              are restarted in start order
rest_for_one  the children started after the exited one are stopped in reverse
              order, then the exited child and those are restarted in order
============  ==================================================================

Temporary siblings caught in a one_for_all/rest_for_one restart are stopped and removed, not
restarted; transient siblings that had stopped normally are restarted with the rest (OTP).

**Restart intensity**: every restart event (one per exit handled, however many children it
restarts; a manual restart counts too) is stamped on the supervisor's monotonic clock. If more
than ``max_restarts`` stamps fall within the last ``within_s`` seconds (a sliding window), the
supervisor does not restart: it *fails* with ``RestartIntensityExceeded``. Failing stops its
children in reverse start order and is, to its own parent, an ordinary abnormal exit of a
child (escalation). The root failing ends the tree: ``Tree.wait()`` raises the error.

**Permanent failures**: a permanent or transient child that exits (or fails to start) with
``protocols.errors.PermanentFailure`` is not restarted and uses no intensity: the supervisor
fails at once with that same error (its ``path`` set to the child's), so it climbs to the root
and ends the tree (``run()`` or ``Tree.wait()`` raises it; the engine process exits 3, or 4
when an ``AuthError`` caused it). Raise it only for what no restart can fix (an unwritable
journal path, refused credentials); a temporary child is removed as usual.

**Backoff**: before a restart the supervisor waits ``backoff(n)`` seconds, ``n`` = restarts in
the window including this one (a plain function of the attempt number; a tenacity wait
strategy works too; default ``exponential_backoff()``: 50 ms doubling, capped at 2 s, plus up
to 50 ms of jitter). It stays responsive meanwhile: the restart is a
timer that posts ``RestartDue`` to its own mailbox. A manual restart is not delayed.

**Refs and mailboxes** belong to tree positions, not incarnations: a restarted child keeps its
ref and its queued messages (also when its parent supervisor is restarted). Only a child that
will not be restarted closes its mailbox; then ``tell``/``ask`` raise ``ActorStopped``.

**Shutdown**: children are stopped in reverse start order, one at a time; each finishes its
current message, runs ``on_stop`` and ends the tasks it owns, all within its ``shutdown_s``;
past that, whatever it still runs (``on_stop`` included) is cancelled. A supervisor whose own
stop overruns is cancelled the same way, and ends the children it had not stopped yet with no
time left, waiting for them: a tree's stop takes at most the sum of the ``shutdown_s`` along
the path, and leaves no task behind.

**Dynamic children** (``start_child``, ``terminate_child``, ``restart_child``) are handled
inside the supervisor's task, in mailbox order with exits. ``start_child`` of a child whose
start fails raises that error and does not add it (OTP); ``terminate_child`` stops the child
and deletes its spec (OTP's terminate + delete); ``restart_child`` stops and restarts the
child under the strategy, immediately, counting for intensity, reason ``manual``.

Every restart logs ``arbor.supervisor`` at WARNING with ``extra={"path", "child", "reason",
"restarts_in_window"}``; an escalation logs at ERROR with the same fields.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from actors import Actor, ActorCell, ActorRef, Registry
from actors.lifecycle import restart_decision
from protocols.errors import ActorStopped, PermanentFailure, RestartIntensityExceeded
from supervisor.spec import (
    STRATEGIES,
    Backoff,
    ChildExited,
    ChildInfo,
    ChildSpec,
    Reply,
    RestartChild,
    RestartDue,
    StartChild,
    Strategy,
    SupervisorInbox,
    TerminateChild,
    backoff_delay,
    default_backoff,
)

log = logging.getLogger("arbor.supervisor")
REQUEST_TIMEOUT_S = 60.0


class _Child:
    __slots__ = ("spec", "cell", "pending")

    def __init__(self, spec: ChildSpec, cell: ActorCell) -> None:
        self.spec = spec
        self.cell = cell
        self.pending = 0  # epoch of the scheduled restart this child waits for; 0 = none


def _reason_text(reason: BaseException | None) -> str:
    return "normal" if reason is None else f"{type(reason).__name__}: {reason}"


class Supervisor(Actor[SupervisorInbox]):
    """Supervises ``children`` with ``strategy``; see the module docstring for the contract.

    Inbox: its own control messages only (child exits, restart timers, Tree requests).
    Fails with RestartIntensityExceeded; ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(self, children: Iterable[ChildSpec] = (), strategy: Strategy = "one_for_one",
                 max_restarts: int = 3, within_s: float = 5.0,
                 backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_restart: Callable[[str, str, int], None] | None = None) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if max_restarts < 0 or within_s <= 0:
            raise ValueError("max_restarts must be >= 0 and within_s > 0")
        self._specs = list(children)
        names = [s.name for s in self._specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate child names: {names}")
        self.strategy: Strategy = strategy
        self.max_restarts = max_restarts
        self.within_s = within_s
        self._backoff: Backoff = backoff if backoff is not None else default_backoff()
        self._clock = clock
        self._on_restart = on_restart  # (path, reason, restarts_in_window), e.g. to journal it
        self._children: dict[str, _Child] = {}  # insertion order is start order
        self._window: deque[float] = deque()
        self._epoch = 0
        self._timers: set[asyncio.TimerHandle] = set()
        self._registry: Registry | None = None  # set by on_start (the tree's, or our own)

    # --- lifecycle -----------------------------------------------------------------------------

    async def on_start(self) -> None:
        cell = self.ref._cell
        if cell.registry is None:  # spawned standalone: it roots its own registry
            cell.registry = Registry()
        self._registry = cell.registry
        for spec in self._specs:
            self._add(spec)
        self._close_orphans()
        await self._start_in_order(list(self._children))

    async def on_stop(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        children = list(self._children.values())
        stopped = 0
        try:
            for child in reversed(children):
                await child.cell.stop(final=False)  # the mailbox survives if we are restarted
                stopped += 1
        finally:
            # Cancelled mid-way (our own shutdown overran): the rest end now, with no time left.
            rest = [c.cell for c in children[: len(children) - stopped]
                    if c.cell.task is not None and not c.cell.task.done()]
            for cell in rest:
                cell.cancel_now()
            await _all_ended([cell.task for cell in rest if cell.task is not None])
            for cell in rest:
                cell.set_state("restarting")  # the mailbox survives, as in a normal stop

    async def receive(self, msg: SupervisorInbox) -> Reply | None:
        match msg:
            case ChildExited():
                await self._on_exit(msg)
            case RestartDue():
                await self._on_restart_due(msg)
            case StartChild():
                return await self._on_start_child(msg.spec)
            case TerminateChild():
                return await self._on_terminate(msg.name)
            case RestartChild():
                return await self._on_manual_restart(msg.name, msg.reason)
        return None

    # --- the public API (each call is a request handled in the supervisor's own task) --------

    async def start_child(self, spec: ChildSpec, timeout: float = REQUEST_TIMEOUT_S) -> ActorRef:
        reply = await self.ref.ask(StartChild(spec=spec), timeout=timeout)
        return _unwrap(reply).ref

    async def terminate_child(self, name: str, timeout: float = REQUEST_TIMEOUT_S) -> None:
        _unwrap(await self.ref.ask(TerminateChild(name=name), timeout=timeout))

    async def restart_child(self, name: str, reason: str = "manual",
                            timeout: float = REQUEST_TIMEOUT_S) -> None:
        _unwrap(await self.ref.ask(RestartChild(name=name, reason=reason), timeout=timeout))

    def which_children(self) -> list[ChildInfo]:
        return [ChildInfo(name=name, path=c.cell.path, kind=c.cell.kind, state=c.cell.state,
                          restart=c.spec.restart, restarts=c.cell.restarts,
                          supervisor=isinstance(c.cell.actor, Supervisor))
                for name, c in self._children.items()]

    def child_cells(self) -> list[ActorCell]:
        """The children's cells in start order (the Tree walks these)."""
        return [c.cell for c in self._children.values()]

    def _report_restart(self, path: str, reason: str, n: int, when: str = "") -> None:
        log.warning("restarting %s%s (%s) [%d in window]", path, when, reason, n,
                    extra={"path": path, "child": path.rpartition("/")[2], "reason": reason,
                           "restarts_in_window": n})
        if self._on_restart is not None:
            self._on_restart(path, reason, n)

    def lookup(self, path: str) -> ActorRef:
        """The ref at an absolute path anywhere in this supervisor's tree. Usable from a child
        factory while the tree starts (children are registered before any of them starts), so
        an engine can wire a later sibling to an earlier one. LookupError (a KeyError) when
        nothing is there, also before this supervisor started."""
        if self._registry is None:
            raise KeyError(f"no actor at path {path.strip('/')!r}: the supervisor has not started")
        cell = self._registry.cells.get(path.strip("/"))
        if cell is None:
            raise KeyError(f"no actor at path {path.strip('/')!r}")
        return cell.ref

    def _cells(self) -> dict[str, ActorCell]:
        assert self._registry is not None, "used only once started"
        return self._registry.cells

    def restarts_in_window(self) -> int:
        self._prune(self._clock())
        return len(self._window)

    def _stats_fields(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "max_restarts": self.max_restarts,
                "within_s": self.within_s, "restarts_in_window": self.restarts_in_window()}

    # --- children ----------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return f"{self.ref.path}/{name}" if self.ref.path else name

    def _add(self, spec: ChildSpec) -> _Child:
        path = self._path(spec.name)
        cell = self._cells().get(path)
        if cell is None or cell.mailbox.closed:
            cell = ActorCell(spec.factory, path=path, mailbox=spec.mailbox, restart=spec.restart,
                             shutdown_s=spec.shutdown_s, registry=self._registry)
            self._cells()[path] = cell
        else:  # our previous incarnation's child: same ref, same queued messages
            cell.factory, cell.restart, cell.shutdown_s = spec.factory, spec.restart, spec.shutdown_s
        post = self.ref._cell.post
        name = spec.name

        def exited(c: ActorCell, reason: BaseException | None) -> None:
            post(ChildExited(name=name, incarnation=c.incarnation, reason=reason))

        async def terminate() -> None:
            try:
                await self.terminate_child(name)
            except ActorStopped:  # we are gone already: stop it directly
                await cell.stop(final=True)

        cell.on_exit = exited
        cell.terminate_hook = terminate
        child = self._children[name] = _Child(spec, cell)
        return child

    def _remove(self, name: str) -> None:
        child = self._children.pop(name)
        self._cells().pop(child.cell.path, None)
        child.cell.on_exit = None
        child.cell.terminate_hook = None

    def _close_orphans(self) -> None:
        """Cells under our path left by a previous incarnation's dynamic children."""
        prefix = self.ref.path + "/" if self.ref.path else ""
        for path in list(self._cells()):
            if path.startswith(prefix) and path != self.ref.path:
                top = path[len(prefix):].partition("/")[0]
                if top not in self._children:
                    self._cells().pop(path).close()

    async def _start_in_order(self, names: list[str]) -> None:
        for name in names:
            child = self._children.get(name)
            if child is None:
                continue
            child.pending = 0
            try:
                await child.cell.start()
            except Exception as exc:  # a failed start is a crash of that child
                await self._crashed(name, exc, "start failed: ")
                if self.strategy != "one_for_one":
                    return  # the restart plan just made covers the rest of `names`

    # --- exits and restarts --------------------------------------------------------------------

    async def _on_exit(self, msg: ChildExited) -> None:
        child = self._children.get(msg.name)
        if child is None or child.cell.incarnation != msg.incarnation:
            return  # stale: that incarnation was already replaced or removed
        if child.pending:  # already part of a scheduled restart plan
            if child.spec.restart == "temporary":
                self._remove(msg.name)
            return
        await self._crashed(msg.name, msg.reason, "")

    async def _crashed(self, name: str, reason: BaseException | None, prefix: str) -> None:
        child = self._children[name]
        decision = restart_decision(child.spec.restart, reason)
        if decision == "remove":
            child.cell.close()
            self._remove(name)
            return
        if decision == "stop":
            return
        if isinstance(reason, PermanentFailure):  # no restart can fix it: escalate at once
            reason.path = reason.path or child.cell.path
            log.error("supervisor %s fails: %s cannot work, not restarting it", self.ref.path or "/",
                      reason.path, extra={"path": child.cell.path, "child": name, "reason": str(reason)})
            raise reason
        text = prefix + _reason_text(reason)
        n = self._count_restart(name, text, reason)
        targets = self._targets(name)
        await self._stop_siblings(name, targets)
        targets = [t for t in targets if t in self._children]
        self._epoch += 1
        for t in targets:
            self._children[t].pending = self._epoch
            self._children[t].cell.set_state("restarting")
        delay = backoff_delay(self._backoff, n)
        self._report_restart(child.cell.path, text, n, f" in {delay:.3f}s")
        due = RestartDue(epoch=self._epoch, names=tuple(targets))
        if delay <= 0:
            self.ref._cell.post(due)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            assert handle is not None
            self._timers.discard(handle)
            self.ref._cell.post(due)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def _count_restart(self, name: str, text: str, reason: BaseException | None) -> int:
        now = self._clock()
        self._window.append(now)
        self._prune(now)
        n = len(self._window)
        if n > self.max_restarts:
            path = self.ref.path or "/"
            log.error("supervisor %s gives up: %d restarts within %ss (max %d); last: %s: %s", path, n,
                      self.within_s, self.max_restarts, self._path(name), text,
                      extra={"path": self._path(name), "child": name, "reason": text,
                             "restarts_in_window": n})
            raise RestartIntensityExceeded(
                f"{path}: {n} restarts within {self.within_s}s (max {self.max_restarts}); "
                f"last: {self._path(name)}: {text}") from reason
        return n

    def _prune(self, now: float) -> None:
        window = self._window
        while window and window[0] <= now - self.within_s:
            window.popleft()

    def _targets(self, name: str) -> list[str]:
        names = list(self._children)
        if self.strategy == "one_for_all":
            return names
        if self.strategy == "rest_for_one":
            return names[names.index(name):]
        return [name]

    async def _stop_siblings(self, name: str | None, targets: list[str]) -> None:
        """Stop ``targets`` but ``name`` in reverse start order (temporary ones for good)."""
        for t in reversed(targets):
            if t == name:
                continue
            child = self._children[t]
            if child.spec.restart == "temporary":
                await child.cell.stop(final=True)
                self._remove(t)
            else:
                await child.cell.stop(final=False)

    async def _on_restart_due(self, msg: RestartDue) -> None:
        names = [n for n in msg.names if n in self._children and self._children[n].pending == msg.epoch]
        for n in names:
            self._children[n].cell.restarts += 1
        await self._start_in_order(names)

    # --- requests --------------------------------------------------------------------------------

    async def _on_start_child(self, spec: ChildSpec) -> Reply:
        if spec.name in self._children:
            return Reply(error=ValueError(f"{self._path(spec.name)} already exists"))
        child = self._add(spec)
        try:
            await child.cell.start()
        except Exception as exc:  # OTP: a dynamic child that fails to start is not added
            self._remove(spec.name)
            child.cell.close()
            return Reply(error=exc)
        return Reply(ref=child.cell.ref)

    async def _on_terminate(self, name: str) -> Reply:
        child = self._children.get(name)
        if child is None:
            return Reply(error=KeyError(f"no child {self._path(name)}"))
        self._remove(name)
        await child.cell.stop(final=True)
        return Reply()

    async def _on_manual_restart(self, name: str, reason: str) -> Reply:
        child = self._children.get(name)
        if child is None:
            return Reply(error=KeyError(f"no child {self._path(name)}"))
        n = self._count_restart(name, reason, None)
        self._report_restart(child.cell.path, reason, n)
        targets = self._targets(name)
        await self._stop_siblings(None, targets)
        targets = [t for t in targets if t in self._children]
        for t in targets:
            self._children[t].cell.restarts += 1
        await self._start_in_order(targets)
        return Reply()


async def _all_ended(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for tasks cancelled with no time left; a cancel of ours meanwhile does not cut
    the wait short (it is re-raised once they have ended), so no child outlives its parent."""
    cancelled: asyncio.CancelledError | None = None
    pending = {t for t in tasks if not t.done()}
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        raise cancelled


def _unwrap(reply: Reply) -> Reply:
    if reply.error is not None:
        raise reply.error
    return reply
