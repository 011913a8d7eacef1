"""One owner for every task: a start abandoned by its caller, tasks started with
``Actor.start_task``, and the stop deadline that bounds ``on_stop`` too."""

from __future__ import annotations

import asyncio

import pytest

from actors import Actor, ActorStopped, Msg, spawn
from testkit import eventually


class Work(Msg, frozen=True, kw_only=True):
    pass


class Hang(Msg, frozen=True, kw_only=True):
    pass


class Ping(Msg, frozen=True, kw_only=True):
    pass


class Slow(Actor[Ping]):
    """on_start waits forever (it signals when it got there); on_stop records that it ran."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.stopped = False

    async def on_start(self) -> None:
        self.entered.set()
        await asyncio.Event().wait()

    async def on_stop(self) -> None:
        self.stopped = True


def actor_tasks(name: str) -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(f"actor:{name}") or
            t.get_name().startswith(f"{name}:")]


async def test_a_spawn_cancelled_while_on_start_runs_leaves_no_actor_running() -> None:
    slow = Slow()
    starting = asyncio.ensure_future(spawn(slow, name="slow"))
    await slow.entered.wait()
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert actor_tasks("slow") == [] and slow.stopped


async def test_a_spawn_that_times_out_in_wait_for_leaves_no_actor_running() -> None:
    slow = Slow()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(spawn(slow, name="slow"), timeout=0.05)
    assert slow.entered.is_set() and slow.stopped and actor_tasks("slow") == []


class Owner(Actor[Work | Hang | Ping]):
    """Starts owned tasks: ``Work`` one that fails when released, ``Hang`` one that runs until
    cancelled; ``Ping`` replies, proving the actor is alive."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.cancelled: list[str] = []
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()

    async def _fail_later(self) -> None:
        await self.release.wait()
        raise ValueError("the owned task failed")

    async def _forever(self, name: str) -> None:
        try:
            self.started.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise

    async def receive(self, msg: Work | Hang | Ping) -> Ping | None:
        match msg:
            case Work():
                self.start_task(self._fail_later(), name="owner:fail")
            case Hang():
                self.start_task(self._forever("h"), name="owner:hang")
            case Ping():
                return Ping()
        return None

    async def on_stop(self) -> None:
        self.stopped.set()


async def test_an_owned_task_that_raises_crashes_its_actor_with_that_error() -> None:
    owner = Owner()
    ref = await spawn(owner, name="owner")
    await ref.ask(Work())
    owner.release.set()
    await eventually(lambda: not ref.alive, every=0)  # settled in the task's done callback
    assert ref.state == "crashed" and owner.stopped.is_set()
    assert ref.stats().last_failure.type == "ValueError"
    with pytest.raises(ActorStopped):
        await ref.ask(Ping())


async def test_an_owned_task_that_raises_interrupts_the_message_being_handled() -> None:
    class Busy(Owner):
        async def receive(self, msg: Work | Hang | Ping) -> Ping | None:
            self.start_task(self._fail_later(), name="busy:fail")
            self.release.set()
            await asyncio.Event().wait()  # would never return by itself
            return None

    busy = Busy()
    ref = await spawn(busy, name="busy")
    with pytest.raises(ActorStopped) as caught:
        await ref.ask(Work())
    assert isinstance(caught.value.__cause__, ValueError)  # the owned task's error, not a cancel
    await eventually(lambda: not ref.alive, every=0)
    assert ref.stats().last_failure.type == "ValueError" and busy.stopped.is_set()


async def test_stopping_an_actor_cancels_the_tasks_it_owns() -> None:
    owner = Owner()
    ref = await spawn(owner, name="owner")
    await ref.ask(Hang())
    await owner.started.wait()
    await ref.stop()
    assert owner.cancelled == ["h"] and actor_tasks("owner") == []


async def test_a_crash_cancels_the_tasks_its_actor_owns() -> None:
    class Crashing(Owner):
        async def receive(self, msg: Work | Hang | Ping) -> Ping | None:
            if isinstance(msg, Ping):
                raise RuntimeError("crash")
            return await super().receive(msg)

    owner = Crashing()
    ref = await spawn(owner, name="owner")
    await ref.ask(Hang())
    await owner.started.wait()
    with pytest.raises(ActorStopped):
        await ref.ask(Ping())
    await eventually(lambda: not ref.alive, every=0)
    assert owner.cancelled == ["h"] and actor_tasks("owner") == []


async def test_a_task_cannot_be_started_for_an_incarnation_that_has_ended() -> None:
    owner = Owner()
    ref = await spawn(owner, name="owner")
    await ref.stop()
    coro = owner._forever("late")
    with pytest.raises(ActorStopped):
        owner.start_task(coro, name="owner:late")


class Stuck(Actor[Hang]):
    """Stuck in receive, and its on_stop hangs too (it records being cancelled there)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.on_stop_cancelled = False

    async def receive(self, msg: Hang) -> None:
        self.entered.set()
        await asyncio.Event().wait()

    async def on_stop(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.on_stop_cancelled = True
            raise


async def test_the_stop_deadline_also_cancels_an_on_stop_that_hangs() -> None:
    from actors.cell import ActorCell

    stuck = Stuck()
    cell = ActorCell(stuck, path="stuck", shutdown_s=0.1)
    await cell.start()
    cell.ref.tell(Hang())
    await stuck.entered.wait()
    async with asyncio.timeout(10):  # bounded by shutdown_s; this is only the test's guard
        await cell.stop()
    assert stuck.on_stop_cancelled and cell.state == "stopped" and actor_tasks("stuck") == []
