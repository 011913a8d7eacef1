"""Running a tree inside the caller's loop: ``async with run(root) as tree`` and the Tree API
(lookup, which_children, stats, describe, restart, restarted, start_child, terminate_child,
wait).

The block is a scope, as a task group's is: the tree lives exactly as long as the block.

- Leaving the block (normally, by an exception, or by the body's task being cancelled) stops
  the tree, children in reverse start order, each within its ``shutdown_s``.
- Cancelled while the tree is still starting, ``run`` stops what had started (no child starts
  after the cancel) and re-raises CancelledError: no task of the tree is left behind.
- If the root supervisor *fails* (a child's restart intensity escalated to it), the body's
  task is cancelled at its next ``await`` and the block then raises the failure (normally
  ``RestartIntensityExceeded``) instead of CancelledError, so a body that never looks at the
  tree still learns of it. A body waiting in ``await tree.wait()`` is not cancelled: ``wait``
  raises the failure there (and returns when the tree stops normally).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from actors import ActorCell, ActorRef, ActorStats, MailboxSpec, Registry
from supervisor.spec import ChildInfo, ChildSpec
from supervisor.tree import REQUEST_TIMEOUT_S, Supervisor

ROOT_MAILBOX = MailboxSpec(capacity=4096)


def _norm(path: str) -> str:
    return path.strip().strip("/")


def _split(path: str) -> tuple[str, str]:
    parent, _, name = _norm(path).rpartition("/")
    if not name:
        raise LookupError("the root has no parent supervisor")
    return parent, name


class Tree:
    """A running supervision tree, addressed by paths like ``venues/mexc/books/BTCUSDT``
    (the root is ``""`` or ``"/"``). Unknown paths raise LookupError (KeyError)."""

    def __init__(self, root: ActorCell, registry: Registry) -> None:
        self._root = root
        self._registry = registry
        self._done: asyncio.Future[BaseException | None] = root.loop.create_future()
        self._body: asyncio.Task[Any] | None = None  # the task inside ``async with``, while there
        self._body_waits = 0  # the body is in wait(): it learns of a failure there, uncancelled
        self._body_cancelled = False

    @property
    def root(self) -> ActorRef:
        return self._root.ref

    def _cell(self, path: str) -> ActorCell:
        path = _norm(path)
        if not path:
            return self._root
        cell = self._registry.cells.get(path)
        if cell is None:
            raise KeyError(f"no actor at path {path!r}")
        return cell

    def _supervisor(self, path: str) -> Supervisor:
        actor = self._cell(path).actor
        if not isinstance(actor, Supervisor):
            raise KeyError(f"{_norm(path) or '/'} is not a running supervisor")
        return actor

    def lookup(self, path: str) -> ActorRef:
        return self._cell(path).ref

    def describe(self, path: str) -> msgspec.Struct | None:
        return self._cell(path).describe()

    def which_children(self, path: str = "") -> list[ChildInfo]:
        return self._supervisor(path).which_children()

    def stats(self, *, waits: bool = True) -> list[ActorStats]:
        """Every actor in the tree, supervisors included, depth-first in start order.
        ``waits=False``: without their queue waits (``ActorCell.stats``), a fraction of the cost."""
        rows: list[ActorStats] = []

        def walk(cell: ActorCell) -> None:
            rows.append(cell.stats(waits=waits))
            if isinstance(cell.actor, Supervisor) and cell.state != "stopped":
                for child in cell.actor.child_cells():
                    walk(child)

        walk(self._root)
        return rows

    async def restart(self, path: str, reason: str = "manual", timeout: float = REQUEST_TIMEOUT_S) -> None:
        parent, name = _split(path)
        await self._supervisor(parent).restart_child(name, reason, timeout=timeout)

    async def start_child(self, parent_path: str, spec: ChildSpec,
                          timeout: float = REQUEST_TIMEOUT_S) -> ActorRef:
        return await self._supervisor(parent_path).start_child(spec, timeout=timeout)

    async def terminate_child(self, path: str, timeout: float = REQUEST_TIMEOUT_S) -> None:
        parent, name = _split(path)
        await self._supervisor(parent).terminate_child(name, timeout=timeout)

    async def wait(self) -> None:
        """Return when the tree has stopped; raise the root's failure (normally
        RestartIntensityExceeded) if it stopped by failing."""
        body = self._body is not None and asyncio.current_task() is self._body
        self._body_waits += body
        try:
            reason = await asyncio.shield(self._done)
        finally:
            self._body_waits -= body
        if reason is not None:
            raise reason

    async def restarted(self, path: str, *, after: int | None = None) -> ActorRef:
        """Wait until the actor at ``path`` has been restarted and is running again: its
        ``restarts`` count exceeds ``after`` (default: the count now, so call this before the
        restart can have completed, e.g. right after the ``tell`` that crashes it, or pass the
        count read earlier). Returns its ref. LookupError if nothing is at ``path``; bound it
        with ``asyncio.timeout`` if it may never happen."""
        cell = self._cell(path)
        n = cell.restarts if after is None else after
        while not (cell.restarts > n and cell.state == "running"):
            await cell.changed()
            current = self._cell(path)
            if current is not cell:  # its parent rebuilt the position: a fresh start counts
                cell, n = current, -1
        return cell.ref

    def _ended(self, reason: BaseException | None) -> None:
        if not self._done.done():
            self._done.set_result(reason)

    def _root_exited(self, cell: ActorCell, reason: BaseException | None) -> None:
        self._ended(reason)
        body = self._body
        if reason is not None and body is not None and not body.done() and not self._body_waits:
            self._body_cancelled = True
            body.cancel(f"the tree's root failed: {type(reason).__name__}")

    def _leave_body(self) -> BaseException | None:
        """The root's failure, if it cancelled the body (that cancel is then taken back);
        None if someone else cancelled the body too: their cancellation goes on."""
        self._body = None
        if not self._body_cancelled:
            return None
        self._body_cancelled = False
        task = asyncio.current_task()
        if task is not None and task.uncancel() > 0:
            return None
        reason = self._done.result()
        if reason is not None:
            reason.__suppress_context__ = True  # not "during handling of CancelledError"
        return reason


@asynccontextmanager
async def run(root: Supervisor, *, shutdown_s: float | None = None) -> AsyncIterator[Tree]:
    """Start ``root`` (and so the whole tree, in order) in the running loop; on exit stop it,
    children in reverse order. Raises what the root's start raised (e.g. a child's intensity
    exceeded during start), and the root's failure if it fails while the body runs (see the
    module docstring). ``shutdown_s`` bounds the whole shutdown (None: unbounded)."""
    if not isinstance(root, Supervisor):
        raise TypeError(f"run() needs a Supervisor as the root, got {type(root).__name__}")
    registry = Registry()
    cell = ActorCell(root, path="", mailbox=ROOT_MAILBOX, restart="temporary",
                     shutdown_s=shutdown_s, registry=registry)
    tree = Tree(cell, registry)
    cell.on_exit = tree._root_exited
    started = False
    try:
        await cell.start()
        started = True
    finally:
        if not started:  # failed, or cancelled: start() has ended what had started
            cell.close()
    tree._body = asyncio.current_task()
    failure: BaseException | None = None
    try:
        yield tree
    except asyncio.CancelledError:
        failure = tree._leave_body()
        if failure is None:
            raise
    finally:
        if failure is None:
            failure = tree._leave_body()  # the body ended before our cancel reached it
        await cell.stop(final=True)
        tree._ended(None)
    if failure is not None:
        raise failure
