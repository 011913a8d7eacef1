"""Running a tree inside the caller's loop: ``async with run(root) as tree`` and the Tree API
(lookup, which_children, stats, describe, restart, start_child, terminate_child, wait)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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

    def stats(self) -> list[ActorStats]:
        """Every actor in the tree, supervisors included, depth-first in start order."""
        rows: list[ActorStats] = []

        def walk(cell: ActorCell) -> None:
            rows.append(cell.stats())
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
        reason = await asyncio.shield(self._done)
        if reason is not None:
            raise reason

    def _ended(self, reason: BaseException | None) -> None:
        if not self._done.done():
            self._done.set_result(reason)

    def _root_exited(self, cell: ActorCell, reason: BaseException | None) -> None:
        self._ended(reason)


@asynccontextmanager
async def run(root: Supervisor, *, shutdown_s: float | None = None) -> AsyncIterator[Tree]:
    """Start ``root`` (and so the whole tree, in order) in the running loop; on exit stop it,
    children in reverse order. Raises what the root's start raised (e.g. a child's intensity
    exceeded during start). ``shutdown_s`` bounds the whole shutdown (None: unbounded)."""
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
        if not started:
            cell.close()
    try:
        yield tree
    finally:
        await cell.stop(final=True)
        tree._ended(None)
