"""SnapshotGate: at most ``slots`` fetches at once, the rest by priority, ties by arrival."""

from __future__ import annotations

import asyncio

import pytest

from actors.snapshots import SnapshotGate
from testkit import FakeClock, until


class Fetches:
    """Books that each take one turn of the gate and record when they got it."""

    def __init__(self, gate: SnapshotGate) -> None:
        self.gate = gate
        self.order: list[str] = []
        self.changed = asyncio.Event()
        self.release: dict[str, asyncio.Event] = {}

    def start(self, name: str, priority: tuple[float, ...] | list[tuple[float, ...]]) -> asyncio.Task[None]:
        self.release[name] = asyncio.Event()
        key = priority if isinstance(priority, list) else [priority]

        async def book() -> None:
            async with self.gate.turn(lambda: key[0]):
                self.order.append(name)
                self.changed.set()
                await self.release[name].wait()

        return asyncio.create_task(book(), name=f"book:{name}")

    async def queued(self, n: int) -> None:
        for _ in range(100):  # each start reaches the gate within a few loop turns
            if self.gate.waiting == n:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"{n} waiters expected, {self.gate.waiting} queued")


async def test_waiting_books_get_the_slot_largest_priority_first_and_equal_ones_in_arrival_order():
    gate = SnapshotGate(1)
    f = Fetches(gate)
    tasks = [f.start("first", (0.0, 0.0))]
    await until(lambda: f.order == ["first"], f.changed)
    for name, prio in (("quiet", (0.0, 1.0)), ("busy", (0.0, 50.0)), ("edge", (1.0, 0.5)),
                       ("quiet2", (0.0, 1.0)), ("edge_busy", (1.0, 9.0))):
        tasks.append(f.start(name, prio))
    await f.queued(5)
    for expected in ("first", "edge_busy", "edge", "busy", "quiet", "quiet2"):
        await until(lambda e=expected: f.order[-1] == e, f.changed, what=f"{expected} fetching")
        assert gate.in_flight == 1
        f.release[expected].set()
    await asyncio.gather(*tasks)
    assert (gate.in_flight, gate.waiting, gate.granted, gate.granted_waiting) == (0, 0, 6, 5)


async def test_several_slots_run_at_once_and_a_freed_one_goes_to_the_best_waiter():
    gate = SnapshotGate(2)
    f = Fetches(gate)
    tasks = [f.start("a", (0.0,)), f.start("b", (0.0,))]
    await until(lambda: len(f.order) == 2, f.changed)
    tasks += [f.start("low", (1.0,)), f.start("high", (2.0,))]
    await f.queued(2)
    f.release["b"].set()
    await until(lambda: len(f.order) == 3, f.changed)
    assert f.order[-1] == "high" and gate.in_flight == 2
    for name in ("a", "high", "low"):
        f.release[name].set()
    await asyncio.gather(*tasks)
    assert f.order == ["a", "b", "high", "low"]


async def test_priorities_are_read_again_once_rekey_s_has_passed():
    clock = FakeClock(0.0)
    gate = SnapshotGate(1, rekey_s=1.0, clock=clock)
    f = Fetches(gate)
    tasks = [f.start("first", (0.0,))]
    await until(lambda: f.order == ["first"], f.changed)
    rising = [(1.0,)]
    tasks += [f.start("rising", rising), f.start("steady", (5.0,))]
    await f.queued(2)
    rising[0] = (9.0,)  # e.g. its market just showed an edge
    clock.advance(1.0)
    f.release["first"].set()
    await until(lambda: len(f.order) == 2, f.changed)
    assert f.order[-1] == "rising"
    f.release["rising"].set()
    f.release["steady"].set()
    await asyncio.gather(*tasks)


async def test_a_waiter_cancelled_in_the_queue_leaves_it_and_one_cancelled_after_its_grant_frees_the_slot():
    gate = SnapshotGate(1)
    f = Fetches(gate)
    first = f.start("first", (0.0,))
    await until(lambda: f.order == ["first"], f.changed)
    gone = f.start("gone", (9.0,))
    later = f.start("later", (1.0,))
    await f.queued(2)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert gate.waiting == 1
    f.release["first"].set()
    await until(lambda: f.order[-1] == "later", f.changed)
    # granted but cancelled before it ran: the slot is handed on, not lost
    waiting = f.start("granted_then_cancelled", (1.0,))
    last = f.start("last", (0.0,))
    await f.queued(2)
    f.release["later"].set()
    await asyncio.sleep(0)  # the grant is made; the task has not resumed yet
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await until(lambda: f.order[-1] == "last", f.changed)
    f.release["last"].set()
    await asyncio.gather(first, later, last)
    assert (gate.in_flight, gate.waiting) == (0, 0)


def test_a_gate_needs_at_least_one_slot():
    with pytest.raises(ValueError, match="at least 1"):
        SnapshotGate(0)


async def test_waiters_cancelled_together_while_a_slot_frees_are_skipped_and_no_slot_is_lost():
    # a books supervisor restarting every book at once: each waiter's task is cancelled, and the
    # running fetch ends before those tasks resume; the next book must still get the slot
    gate = SnapshotGate(1)
    f = Fetches(gate)
    first = f.start("first", (0.0,))
    await until(lambda: f.order == ["first"], f.changed)
    doomed = [f.start(f"doomed{i}", (5.0,)) for i in range(3)]
    await f.queued(3)
    f.release["first"].set()  # "first" resumes (and frees its slot) before the cancelled tasks do
    for task in doomed:
        task.cancel()
    await first
    for task in doomed:
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (gate.in_flight, gate.waiting) == (0, 0)
    survivor = f.start("survivor", (0.0,))
    await until(lambda: f.order[-1] == "survivor", f.changed)
    f.release["survivor"].set()
    await survivor
    assert (gate.in_flight, gate.waiting, f.order) == (0, 0, ["first", "survivor"])
