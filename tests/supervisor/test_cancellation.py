"""A Ctrl-C at the wrong moment never leaves actors behind; a stop is bounded; a failing root
reaches the body of ``async with run(...)``; lookups and restarts as a library user sees them."""

from __future__ import annotations

import asyncio

import pytest

from actors import Actor, Msg, RestartIntensityExceeded
from supervisor import ChildSpec, Supervisor, run
from testkit import until

NO_WAIT = lambda attempt: 0.0  # noqa: E731


class Boom(Msg, frozen=True, kw_only=True):
    pass


class Hang(Msg, frozen=True, kw_only=True):
    pass


class Log:
    """What the children did, in order; tests wait on it changing."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    def add(self, what: str, name: str) -> None:
        self.items.append((what, name))
        self.changed.set()

    def has(self, what: str, name: str) -> bool:
        return (what, name) in self.items


class Child(Actor[Boom | Hang]):
    """``slow_start``: on_start waits forever; ``hang_on_stop``: on_stop waits forever.
    ``Hang`` blocks receive forever; ``Boom`` crashes."""

    def __init__(self, name: str, log: Log, *, slow_start: bool = False, hang_on_stop: bool = False) -> None:
        self.name, self.log, self.slow_start, self.hang_on_stop = name, log, slow_start, hang_on_stop

    async def on_start(self) -> None:
        self.log.add("starting", self.name)
        if self.slow_start:
            await asyncio.Event().wait()
        self.log.add("started", self.name)

    async def receive(self, msg: Boom | Hang) -> None:
        match msg:
            case Boom():
                raise ValueError(f"{self.name} boom")
            case Hang():
                self.log.add("hanging", self.name)
                await asyncio.Event().wait()

    async def on_stop(self) -> None:
        try:
            if self.hang_on_stop:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.log.add("on_stop cancelled", self.name)
            raise
        self.log.add("stopped", self.name)


def child(name: str, log: Log, *, shutdown_s: float = 5.0, **kw: bool) -> ChildSpec:
    return ChildSpec(name, lambda: Child(name, log, **kw), shutdown_s=shutdown_s)


def tree_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("actor:")]


async def test_cancelling_the_body_while_the_tree_starts_stops_what_started_and_starts_nothing_more() -> None:
    log = Log()
    root = Supervisor([child("a", log), child("slow", log, slow_start=True), child("c", log)])

    async def body() -> None:
        async with run(root):
            raise AssertionError("the tree never finishes starting")

    task = asyncio.ensure_future(body())
    await until(lambda: log.has("starting", "slow"), log.changed)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not log.has("starting", "c")  # nothing started after the cancel
    assert log.has("stopped", "a") and log.has("stopped", "slow")  # on_stop ran for both
    assert tree_tasks() == []


async def test_a_child_stuck_in_receive_whose_on_stop_hangs_is_cancelled_at_its_shutdown_timeout() -> None:
    log = Log()
    inner = Supervisor([child("stuck", log, shutdown_s=0.1, hang_on_stop=True)])
    root = Supervisor([child("a", log), ChildSpec("sub", lambda: inner, shutdown_s=60.0)])
    async with asyncio.timeout(10):  # the test's guard: stuck's own 0.1 s must end it, not sub's 60 s
        async with run(root) as tree:
            tree.lookup("sub/stuck").tell(Hang())
            await until(lambda: log.has("hanging", "stuck"), log.changed)
    assert log.has("on_stop cancelled", "stuck") and log.has("stopped", "a")
    assert tree_tasks() == []


async def test_a_supervisor_whose_own_stop_overruns_cancels_its_children_and_the_tree_still_stops() -> None:
    log = Log()
    inner = Supervisor([child("stuck", log, shutdown_s=30.0, hang_on_stop=True)])
    root = Supervisor([ChildSpec("sub", lambda: inner, shutdown_s=0.1)])
    async with asyncio.timeout(10):  # sub's 0.1 s bounds the whole subtree, whatever its children say
        async with run(root) as tree:
            tree.lookup("sub/stuck").tell(Hang())
            await until(lambda: log.has("hanging", "stuck"), log.changed)
    assert log.has("on_stop cancelled", "stuck") and tree_tasks() == []


async def test_the_root_failing_cancels_the_body_and_the_block_raises_the_failure() -> None:
    log = Log()
    root = Supervisor([child("a", log)], max_restarts=0, backoff=NO_WAIT)
    with pytest.raises(RestartIntensityExceeded) as caught:
        async with run(root) as tree:
            tree.lookup("a").tell(Boom())
            await asyncio.Event().wait()  # a body that never looks at the tree
    assert isinstance(caught.value.__cause__, ValueError)
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0  # our cancel was taken back
    await asyncio.sleep(0)  # and is not pending either
    assert tree_tasks() == []


async def test_a_body_that_cancels_itself_is_not_mistaken_for_a_root_failure() -> None:
    log = Log()

    async def body() -> None:
        async with run(Supervisor([child("a", log)])):
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            await asyncio.sleep(0)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.ensure_future(body())
    assert log.has("stopped", "a") and tree_tasks() == []


async def test_restarted_returns_once_the_child_runs_again_after_a_crash() -> None:
    log = Log()
    async with run(Supervisor([child("a", log)], backoff=NO_WAIT)) as tree:
        tree.lookup("a").tell(Boom())
        ref = await tree.restarted("a")
        assert ref is tree.lookup("a") and ref.state == "running" and ref.stats().restarts == 1
        tree.lookup("a").tell(Boom())
        await tree.restarted("a", after=1)
        assert ref.stats().restarts == 2


async def test_lookup_of_an_unknown_path_or_before_the_start_raises_lookup_error() -> None:
    log = Log()
    root = Supervisor([child("a", log)])
    with pytest.raises(LookupError):
        root.lookup("a")  # not started yet
    async with run(root) as tree:
        for call in (lambda: tree.lookup("nope"), lambda: root.lookup("a/nope"),
                     lambda: tree.which_children("a"), lambda: tree.describe("nope")):
            with pytest.raises(LookupError):
                call()
        with pytest.raises(LookupError):
            await tree.restarted("nope")


async def test_a_body_cancelled_from_outside_as_the_root_fails_ends_cancelled_not_with_the_failure() -> None:
    log = Log()
    started = asyncio.Event()
    root = Supervisor([child("a", log)], max_restarts=0, backoff=NO_WAIT)

    async def body() -> None:
        async with run(root) as tree:
            # Right after run() has cancelled us for the root's failure, someone else does too.
            tree.root._cell.task.add_done_callback(lambda _: task.cancel())  # type: ignore[union-attr]
            started.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(body())
    await started.wait()
    root.lookup("a").tell(Boom())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tree_tasks() == []
