"""The actor runtime: tasks, tell/send/ask, timers, self-stop, stats, standalone spawn."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from actors import Actor, MailboxSpec, spawn
from protocols.errors import ActorStopped, AskTimeout
from protocols.messages import Msg
from testkit import eventually


class Ping(Msg, kw_only=True):
    n: int = 0


class Boom(Msg, kw_only=True):
    pass


class Hold(Msg, kw_only=True):
    """Block ``receive`` until the test releases the gate."""


class Quit(Msg, kw_only=True):
    pass


class Probe(Actor[Ping | Boom | Hold | Quit]):
    def __init__(self) -> None:
        self.seen: list[int] = []
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.got = asyncio.Event()
        self.stopped = asyncio.Event()
        self.task_name: str | None = None

    async def on_start(self) -> None:
        self.task_name = asyncio.current_task().get_name()  # type: ignore[union-attr]

    async def receive(self, msg: Ping | Boom | Hold | Quit) -> Ping | None:
        match msg:
            case Ping(n=n):
                self.seen.append(n)
                self.got.set()
                return Ping(n=n * 10)
            case Boom():
                raise ValueError("boom")
            case Hold():
                self.entered.set()
                await self.gate.wait()
            case Quit():
                self.exit_after_message()
        return None

    async def on_stop(self) -> None:
        self.stopped.set()


async def test_each_actor_runs_in_one_task_named_with_its_path() -> None:
    probe = Probe()
    ref = await spawn(probe, name="venues/mexc/books/BTCUSDT")
    assert probe.task_name == "actor:venues/mexc/books/BTCUSDT"
    assert ref.path == "venues/mexc/books/BTCUSDT" and ref.alive
    await ref.stop()
    assert not ref.alive and probe.stopped.is_set()


async def test_tell_never_awaits_and_messages_arrive_in_order() -> None:
    probe = Probe()
    ref = await spawn(probe, name="p")
    for n in range(5):
        assert ref.tell(Ping(n=n)) is None  # sync: returns before the actor runs
    assert probe.seen == []
    await eventually(lambda: len(probe.seen) == 5, every=0)
    assert probe.seen == [0, 1, 2, 3, 4]
    await ref.stop()


@pytest.mark.parametrize("bad", [{"n": 1}, "ping", 1, None, (1, 2)])
async def test_non_struct_messages_raise_type_error_at_the_call_site(bad: object) -> None:
    probe = Probe()
    ref = await spawn(probe, name="p")
    with pytest.raises(TypeError):
        ref.tell(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await ref.send(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await ref.ask(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        probe.send_after(0.01, bad)  # type: ignore[arg-type]
    assert ref.stats().processed == 0
    await ref.stop()


async def test_ask_returns_what_receive_returned() -> None:
    ref = await spawn(Probe, name="p")
    assert await ref.ask(Ping(n=4)) == Ping(n=40)
    await ref.stop()


async def test_ask_timeout_raises_and_the_late_reply_never_reaches_a_later_ask() -> None:
    probe = Probe()
    ref = await spawn(probe, name="p")
    ref.tell(Hold())
    with pytest.raises(AskTimeout):
        await ref.ask(Ping(n=1), timeout=0.05)  # queued behind Hold: no reply in time
    later = asyncio.ensure_future(ref.ask(Ping(n=2), timeout=5))
    probe.gate.set()
    assert await later == Ping(n=20)  # its own reply, not the late Ping(n=10)
    assert probe.seen == [1, 2]  # the timed-out message was still handled, its reply dropped
    await ref.stop()


async def test_ask_on_a_stopped_actor_raises_actor_stopped_at_once() -> None:
    ref = await spawn(Probe, name="p")
    await ref.stop()
    with pytest.raises(ActorStopped):
        await ref.ask(Ping(), timeout=100)
    with pytest.raises(ActorStopped):
        ref.tell(Ping())


async def test_an_error_in_receive_during_ask_gives_the_asker_actor_stopped_caused_by_it() -> None:
    ref = await spawn(Probe, name="p")
    with pytest.raises(ActorStopped) as info:
        await ref.ask(Boom())
    assert isinstance(info.value.__cause__, ValueError)
    await eventually(lambda: not ref.alive, every=0)
    assert ref.stats().state == "crashed"
    assert ref.stats().last_failure is not None and ref.stats().last_failure.type == "ValueError"


async def test_cancelling_an_asker_leaves_the_actor_healthy() -> None:
    probe = Probe()
    ref = await spawn(probe, name="p")
    ref.tell(Hold())
    await probe.entered.wait()
    asker = asyncio.ensure_future(ref.ask(Ping(n=1), timeout=5))
    await eventually(lambda: ref.stats().mailbox_depth == 1, every=0)
    asker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asker
    probe.gate.set()
    assert await ref.ask(Ping(n=2)) == Ping(n=20)
    assert ref.alive and ref.stats().state == "running"
    await ref.stop()


async def test_an_actor_that_stops_itself_exits_normally_after_the_current_message() -> None:
    probe = Probe()
    ref = await spawn(probe, name="p")
    ref.tell(Quit())
    ref.tell(Ping(n=1))
    await probe.stopped.wait()
    await eventually(lambda: not ref.alive, every=0)
    assert probe.seen == [] and ref.stats().state == "stopped" and ref.stats().last_failure is None


class Ticker(Actor[Ping]):
    def __init__(self) -> None:
        self.ticks = 0
        self.ticked = asyncio.Event()
        self.timers: list = []

    async def on_start(self) -> None:
        self.timers.append(self.send_interval(0.001, Ping(n=1)))
        self.timers.append(self.send_after(3600, Ping(n=2)))

    async def receive(self, msg: Ping) -> None:
        if msg.n == 1:
            self.ticks += 1
            if self.ticks == 3:
                self.ticked.set()
        elif msg.n == 3:
            raise ValueError("crash")


async def test_timers_fire_and_are_cancelled_when_the_actor_stops() -> None:
    ticker = Ticker()
    ref = await spawn(ticker, name="t")
    await ticker.ticked.wait()
    await ref.stop()
    assert all(t.handle.cancelled() for t in ticker.timers)
    assert ticker._arbor_timers == set()


async def test_timers_are_cancelled_when_the_actor_crashes() -> None:
    ticker = Ticker()
    ref = await spawn(ticker, name="t")
    await ticker.ticked.wait()
    ref.tell(Ping(n=3))
    await eventually(lambda: not ref.alive, every=0)
    assert all(t.handle.cancelled() for t in ticker.timers)


async def test_stats_report_mailbox_processed_queue_wait_and_uptime() -> None:
    probe = Probe()
    ref = await spawn(probe, name="p", mailbox=MailboxSpec(capacity=8))
    ref.tell(Hold())
    await probe.entered.wait()
    for n in range(3):
        ref.tell(Ping(n=n))
    s = ref.stats()
    assert (s.mailbox_depth, s.mailbox_capacity, s.mailbox_high_water) == (3, 8, 3)
    assert s.kind == "Probe" and s.state == "running" and s.restarts == 0 and s.uptime_s >= 0
    probe.gate.set()
    await eventually(lambda: ref.stats().processed == 4, every=0)
    s = ref.stats()
    assert s.mailbox_depth == 0 and s.mailbox_high_water == 3 and s.dropped == 0
    assert s.queue_wait_p50_us is not None and 0 <= s.queue_wait_p50_us <= s.queue_wait_p99_us
    assert msgspec.json.decode(msgspec.json.encode(s))["path"] == "p"
    await ref.stop()


class FailsToStart(Actor[Ping]):
    stopped = False

    async def on_start(self) -> None:
        raise ConnectionError("no venue")

    async def on_stop(self) -> None:
        FailsToStart.stopped = True


async def test_spawn_raises_the_error_of_a_failing_on_start_and_still_runs_on_stop() -> None:
    with pytest.raises(ConnectionError):
        await spawn(FailsToStart, name="f")
    assert FailsToStart.stopped


async def test_a_crash_of_a_standalone_actor_fails_its_queued_asks() -> None:
    probe = Probe()
    ref = await spawn(probe, name="p")
    ref.tell(Hold())
    await probe.entered.wait()
    ref.tell(Boom())
    queued = asyncio.ensure_future(ref.ask(Ping(n=1), timeout=5))
    await eventually(lambda: ref.stats().mailbox_depth == 2, every=0)
    probe.gate.set()
    with pytest.raises(ActorStopped):
        await queued
    assert not ref.alive


async def test_describe_is_none_unless_the_actor_defines_it() -> None:
    ref = await spawn(Probe, name="p")
    assert ref.describe() is None
    await ref.stop()


async def test_a_ref_reports_how_many_messages_wait_behind_the_one_being_handled() -> None:
    probe = Probe()
    ref = await spawn(probe, name="queued")
    assert ref.queued == 0
    ref.tell(Hold())
    await probe.entered.wait()
    ref.tell(Ping(n=1))
    ref.tell(Ping(n=2))
    assert ref.queued == 2
    probe.gate.set()
    await ref.ask(Ping(n=3))
    assert ref.queued == 0
    await ref.stop()
