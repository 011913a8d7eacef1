"""Supervision: OTP restart types, strategies, intensity, escalation, shutdown, dynamic children."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
import tenacity

from actors import Actor
from protocols.errors import ActorStopped, PermanentFailure, RestartIntensityExceeded
from protocols.messages import Msg
from supervisor import ChildSpec, Supervisor, exponential_backoff, run
from testkit import FakeClock, until

NO_WAIT = tenacity.wait_none()


class Ping(Msg, kw_only=True):
    pass


class Count(Msg, kw_only=True):
    n: int
    incarnation: int


class Boom(Msg, kw_only=True):
    pass


class Quit(Msg, kw_only=True):
    pass


class Journal:
    """What the workers did, in order; tests wait on it changing, never on time."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.changed = asyncio.Event()
        self.incarnations: dict[str, int] = {}

    def add(self, what: str, name: str) -> None:
        self.items.append((what, name))
        self.changed.set()

    def count(self, what: str, name: str) -> int:
        return self.items.count((what, name))

    async def until(self, pred: Callable[[], bool]) -> None:
        await until(pred, self.changed, timeout=5)


class Worker(Actor[Ping | Boom | Quit]):
    def __init__(self, name: str, journal: Journal, *, gate: asyncio.Event | None = None,
                 hang_on_stop: bool = False) -> None:
        self.name, self.journal, self.gate, self.hang = name, journal, gate, hang_on_stop
        self.n = 0
        journal.incarnations[name] = journal.incarnations.get(name, 0) + 1
        self.incarnation = journal.incarnations[name]

    async def on_start(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.journal.add("start", self.name)

    async def receive(self, msg: Ping | Boom | Quit) -> Count | None:
        match msg:
            case Ping():
                self.n += 1
                return Count(n=self.n, incarnation=self.incarnation)
            case Boom():
                raise ValueError(f"{self.name} boom")
            case Quit():
                self.exit_after_message()
        return None

    async def on_stop(self) -> None:
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.journal.add("cancelled", self.name)
                raise
        self.journal.add("stop", self.name)


def worker(name: str, journal: Journal, restart: str = "permanent", **kw) -> ChildSpec:
    return ChildSpec(name, lambda: Worker(name, journal, **kw), restart=restart)  # type: ignore[arg-type]


def abc(journal: Journal, strategy: str, **kw) -> Supervisor:
    return Supervisor([worker(n, journal) for n in "abc"], strategy=strategy, backoff=NO_WAIT, **kw)  # type: ignore[arg-type]


async def crash(tree, path: str, journal: Journal, restarted: list[str]) -> list[tuple[str, str]]:
    """Crash ``path`` and return the journal entries until every name in ``restarted`` started again."""
    mark = len(journal.items)
    before = {n: journal.count("start", n) for n in restarted}
    tree.lookup(path).tell(Boom())
    await journal.until(lambda: all(journal.count("start", n) > before[n] for n in restarted))
    return journal.items[mark:]


async def test_a_crash_under_one_for_one_restarts_only_that_child_and_leaves_siblings_state_untouched() -> None:
    j = Journal()
    async with run(abc(j, "one_for_one")) as tree:
        for p in "abc":
            await tree.lookup(p).ask(Ping())
        assert await crash(tree, "b", j, ["b"]) == [("stop", "b"), ("start", "b")]
        assert await tree.lookup("a").ask(Ping()) == Count(n=2, incarnation=1)
        assert await tree.lookup("b").ask(Ping()) == Count(n=1, incarnation=2)
        assert await tree.lookup("c").ask(Ping()) == Count(n=2, incarnation=1)
        assert [c.restarts for c in tree.which_children("")] == [0, 1, 0]


async def test_rest_for_one_restarts_exactly_the_crashed_child_and_the_later_siblings_in_order() -> None:
    j = Journal()
    async with run(abc(j, "rest_for_one")) as tree:
        await tree.lookup("a").ask(Ping())
        assert await crash(tree, "b", j, ["b", "c"]) == [
            ("stop", "b"), ("stop", "c"), ("start", "b"), ("start", "c")]
        assert await tree.lookup("a").ask(Ping()) == Count(n=2, incarnation=1)


async def test_one_for_all_stops_the_others_in_reverse_then_restarts_all_in_start_order() -> None:
    j = Journal()
    async with run(abc(j, "one_for_all")) as tree:
        assert await crash(tree, "b", j, ["a", "b", "c"]) == [
            ("stop", "b"), ("stop", "c"), ("stop", "a"), ("start", "a"), ("start", "b"), ("start", "c")]
        assert [c.restarts for c in tree.which_children("")] == [1, 1, 1]


def nested(j: Journal, clock: Callable[[], float] | None = None, max_restarts: int = 2) -> Supervisor:
    kw = {"clock": clock} if clock else {}
    sub = lambda: Supervisor([worker("w", j)], max_restarts=max_restarts, within_s=10.0,  # noqa: E731
                             backoff=NO_WAIT, **kw)
    return Supervisor([ChildSpec("sub", sub)], backoff=NO_WAIT)


async def test_more_than_max_restarts_within_the_window_escalates_to_the_parent() -> None:
    j = Journal()
    async with run(nested(j, max_restarts=2)) as tree:
        for _ in range(2):
            await crash(tree, "sub/w", j, ["w"])
        assert tree.stats()[1].restarts_in_window == 2
        await crash(tree, "sub/w", j, ["w"])  # the third crash: sub gives up, root restarts it
        sub = next(s for s in tree.stats() if s.path == "sub")
        assert sub.restarts == 1 and sub.last_failure is not None
        assert sub.last_failure.type == "RestartIntensityExceeded"
        assert sub.restarts_in_window == 0  # a fresh supervisor, a fresh window
        assert tree.stats()[0].restarts_in_window == 1


async def test_the_same_number_of_restarts_spread_wider_than_the_window_does_not_escalate() -> None:
    j = Journal()
    clock = FakeClock(0.0)
    async with run(nested(j, clock=clock, max_restarts=2)) as tree:
        for _ in range(3):
            await crash(tree, "sub/w", j, ["w"])
            clock.advance(6.0)  # within_s is 10: at most two restarts ever share the window
        sub = next(s for s in tree.stats() if s.path == "sub")
        assert sub.restarts == 0 and sub.restarts_in_window == 1
        assert j.incarnations["w"] == 4


async def test_the_root_failing_makes_wait_raise_restart_intensity_exceeded() -> None:
    j = Journal()
    root = Supervisor([worker("a", j)], max_restarts=0, backoff=NO_WAIT)
    async with run(root) as tree:
        ref = tree.lookup("a")
        ref.tell(Boom())
        with pytest.raises(RestartIntensityExceeded):
            await tree.wait()
        assert not ref.alive and tree.stats()[0].state == "crashed"


async def test_a_normal_exit_of_a_transient_child_is_not_restarted() -> None:
    j = Journal()
    root = Supervisor([worker("t", j, restart="transient")], backoff=NO_WAIT)
    async with run(root) as tree:
        ref = tree.lookup("t")
        ref.tell(Quit())
        await j.until(lambda: j.count("stop", "t") == 1)
        await tree.start_child("", worker("barrier", j))  # handled after t's exit
        assert j.count("start", "t") == 1
        assert [(c.name, c.state) for c in tree.which_children("")] == [("t", "stopped"), ("barrier", "running")]
        with pytest.raises(ActorStopped):
            ref.tell(Ping())


async def test_an_abnormal_exit_of_a_transient_child_is_restarted() -> None:
    j = Journal()
    root = Supervisor([worker("t", j, restart="transient")], backoff=NO_WAIT)
    async with run(root) as tree:
        await crash(tree, "t", j, ["t"])
        assert tree.which_children("")[0].restarts == 1


async def test_a_temporary_child_is_never_restarted_and_is_removed() -> None:
    j = Journal()
    root = Supervisor([worker("tmp", j, restart="temporary"), worker("b", j)], backoff=NO_WAIT)
    async with run(root) as tree:
        ref = tree.lookup("tmp")
        ref.tell(Boom())
        await j.until(lambda: j.count("stop", "tmp") == 1)
        await tree.start_child("", worker("barrier", j))
        assert [c.name for c in tree.which_children("")] == ["b", "barrier"]
        assert not ref.alive and j.count("start", "tmp") == 1
        with pytest.raises(KeyError):
            tree.lookup("tmp")


async def test_a_permanent_child_is_restarted_even_after_a_normal_exit() -> None:
    j = Journal()
    async with run(Supervisor([worker("p", j)], backoff=NO_WAIT)) as tree:
        tree.lookup("p").tell(Quit())
        await j.until(lambda: j.count("start", "p") == 2)


class FlakyStart(Actor[Ping]):
    def __init__(self, failures: list[int]) -> None:
        self.failures = failures

    async def on_start(self) -> None:
        if self.failures[0] > 0:
            self.failures[0] -= 1
            raise ConnectionError("venue down")

    async def receive(self, msg: Ping) -> Count:
        return Count(n=1, incarnation=0)


async def test_a_child_whose_on_start_fails_counts_as_a_crash_and_is_restarted() -> None:
    failures = [2]
    root = Supervisor([ChildSpec("f", lambda: FlakyStart(failures))], max_restarts=3, backoff=NO_WAIT)
    async with run(root) as tree:
        assert await tree.lookup("f").ask(Ping()) == Count(n=1, incarnation=0)  # queued until it starts
        assert tree.which_children("")[0].restarts == 2
        assert tree.stats()[0].restarts_in_window == 2


async def test_a_child_that_never_starts_exceeds_the_intensity_and_fails_the_tree() -> None:
    root = Supervisor([ChildSpec("f", lambda: FlakyStart([99]))], max_restarts=2, backoff=NO_WAIT)
    async with run(root) as tree:
        with pytest.raises(RestartIntensityExceeded):
            await tree.wait()


async def test_shutdown_stops_children_in_reverse_start_order() -> None:
    j = Journal()
    async with run(abc(j, "one_for_one")):
        pass
    assert j.items == [("start", "a"), ("start", "b"), ("start", "c"),
                       ("stop", "c"), ("stop", "b"), ("stop", "a")]


async def test_a_child_that_overruns_its_shutdown_is_cancelled_and_the_rest_still_stop() -> None:
    j = Journal()
    slow = ChildSpec("slow", lambda: Worker("slow", j, hang_on_stop=True), shutdown_s=0.05)
    root = Supervisor([worker("a", j), slow], backoff=NO_WAIT)
    async with run(root) as tree:
        ref = tree.lookup("slow")
    assert j.items[-2:] == [("cancelled", "slow"), ("stop", "a")]
    assert not ref.alive


async def test_messages_told_while_a_child_restarts_reach_the_new_instance_through_the_same_ref() -> None:
    j = Journal()
    gate = asyncio.Event()
    first = [True]

    def factory() -> Worker:
        g = None if first[0] else gate
        first[0] = False
        return Worker("w", j, gate=g)

    async with run(Supervisor([ChildSpec("w", factory)], backoff=NO_WAIT)) as tree:
        ref = tree.lookup("w")
        ref.tell(Boom())
        await j.until(lambda: j.count("stop", "w") == 1)
        assert ref.alive  # restarting, not stopped
        pending = asyncio.ensure_future(ref.ask(Ping()))
        gate.set()
        assert await pending == Count(n=1, incarnation=2)
        assert tree.lookup("w") is ref


async def test_refs_survive_a_restart_of_their_parent_supervisor() -> None:
    j = Journal()
    async with run(nested(j)) as tree:
        ref = tree.lookup("sub/w")
        await tree.restart("sub")
        assert tree.lookup("sub/w") is ref
        assert await ref.ask(Ping()) == Count(n=1, incarnation=2)


async def test_trees_nest_and_paths_join_names_with_slashes() -> None:
    j = Journal()
    books = lambda: Supervisor([worker("BTCUSDT", j)], backoff=NO_WAIT)  # noqa: E731
    mexc = lambda: Supervisor([worker("connection", j), ChildSpec("books", books)],  # noqa: E731
                              strategy="rest_for_one", backoff=NO_WAIT)
    venues = lambda: Supervisor([ChildSpec("mexc", mexc)], backoff=NO_WAIT)  # noqa: E731
    async with run(Supervisor([ChildSpec("venues", venues)], backoff=NO_WAIT)) as tree:
        assert tree.lookup("venues/mexc/books/BTCUSDT").path == "venues/mexc/books/BTCUSDT"
        assert [s.path for s in tree.stats()] == [
            "", "venues", "venues/mexc", "venues/mexc/connection", "venues/mexc/books",
            "venues/mexc/books/BTCUSDT"]
        await crash(tree, "venues/mexc/connection", j, ["connection", "BTCUSDT"])  # books resync
        assert [c.name for c in tree.which_children("/venues/mexc")] == ["connection", "books"]


async def test_start_child_terminate_child_and_which_children_manage_dynamic_children() -> None:
    j = Journal()
    async with run(Supervisor([worker("a", j)], backoff=NO_WAIT)) as tree:
        ref = await tree.start_child("", worker("d", j))
        assert await ref.ask(Ping()) == Count(n=1, incarnation=1)
        with pytest.raises(ValueError):
            await tree.start_child("", worker("d", j))
        info = tree.which_children("")
        assert [(c.name, c.path, c.kind, c.state, c.restart) for c in info] == [
            ("a", "a", "Worker", "running", "permanent"), ("d", "d", "Worker", "running", "permanent")]
        await tree.terminate_child("d")
        assert not ref.alive and [c.name for c in tree.which_children("")] == ["a"]
        with pytest.raises(KeyError):
            await tree.terminate_child("d")


async def test_a_dynamic_child_that_fails_to_start_raises_and_is_not_added() -> None:
    async with run(Supervisor([], backoff=NO_WAIT)) as tree:
        with pytest.raises(ConnectionError):
            await tree.start_child("", ChildSpec("f", lambda: FlakyStart([1])))
        assert tree.which_children("") == []
        assert tree.stats()[0].restarts_in_window == 0


async def test_a_manual_restart_counts_for_intensity_and_logs_reason_manual(caplog) -> None:
    j = Journal()
    caplog.set_level(logging.WARNING, logger="arbor.supervisor")
    async with run(Supervisor([worker("a", j)], max_restarts=1, backoff=NO_WAIT)) as tree:
        await tree.restart("a")
        assert j.items[-2:] == [("stop", "a"), ("start", "a")]
        rec = next(r for r in caplog.records if r.levelno == logging.WARNING)
        assert (rec.path, rec.reason, rec.restarts_in_window) == ("a", "manual", 1)
        with pytest.raises(ActorStopped):  # the second one exceeds max_restarts=1
            await tree.restart("a")
        with pytest.raises(RestartIntensityExceeded):
            await tree.wait()


async def test_every_restart_logs_a_structured_record_with_path_reason_and_window(caplog) -> None:
    j = Journal()
    caplog.set_level(logging.WARNING, logger="arbor.supervisor")
    async with run(nested(j)) as tree:
        await crash(tree, "sub/w", j, ["w"])
        await crash(tree, "sub/w", j, ["w"])
    recs = [r for r in caplog.records if r.name == "arbor.supervisor"]
    assert [(r.path, r.reason, r.restarts_in_window) for r in recs] == [
        ("sub/w", "ValueError: w boom", 1), ("sub/w", "ValueError: w boom", 2)]


async def test_every_restart_is_reported_to_the_on_restart_listener_including_manual_ones() -> None:
    j = Journal()
    seen: list[tuple[str, str, int]] = []
    sup = Supervisor([worker("a", j)], backoff=tenacity.wait_none(),
                     on_restart=lambda path, reason, n: seen.append((path, reason, n)))
    async with run(sup) as tree:
        await crash(tree, "a", j, ["a"])
        await tree.restart("a")
    assert seen == [("a", "ValueError: a boom", 1), ("a", "manual", 2)]


async def test_backoff_is_a_plain_function_of_the_attempt_number_called_before_each_restart() -> None:
    j = Journal()
    attempts: list[int] = []

    def backoff(attempt: int) -> float:
        attempts.append(attempt)
        return 0.0

    async with run(Supervisor([worker("a", j)], backoff=backoff)) as tree:
        await crash(tree, "a", j, ["a"])
        await crash(tree, "a", j, ["a"])
    assert attempts == [1, 2]


async def test_backoff_also_accepts_a_tenacity_wait_strategy() -> None:
    j = Journal()
    async with run(Supervisor([worker("a", j)], backoff=tenacity.wait_fixed(0))) as tree:
        await crash(tree, "a", j, ["a"])
        assert tree.which_children()[0].restarts == 1


def test_exponential_backoff_doubles_from_its_initial_delay_up_to_its_cap() -> None:
    backoff = exponential_backoff(0.05, 0.3, jitter_s=0)
    assert [backoff(n) for n in range(1, 6)] == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.3])


async def test_stats_list_every_actor_with_kind_and_supervisor_strategy_and_intensity() -> None:
    j = Journal()
    async with run(nested(j)) as tree:
        rows = {s.path: s for s in tree.stats()}
        assert list(rows) == ["", "sub", "sub/w"]
        assert (rows[""].kind, rows[""].strategy, rows[""].max_restarts, rows[""].within_s) == (
            "Supervisor", "one_for_one", 3, 5.0)
        assert rows["sub"].max_restarts == 2 and rows["sub"].within_s == 10.0
        assert rows["sub/w"].kind == "Worker" and rows["sub/w"].strategy is None
        assert tree.describe("sub/w") is None
        with pytest.raises(KeyError):
            tree.lookup("nope")


async def test_a_start_failure_under_rest_for_one_restarts_it_and_then_starts_the_children_after_it() -> None:
    j = Journal()
    fails = [True]

    class FirstStartFails(Worker):
        async def on_start(self) -> None:
            if fails.pop() if fails else False:
                raise ValueError("first start fails")
            await super().on_start()

    root = Supervisor([ChildSpec("a", lambda: FirstStartFails("a", j)), worker("b", j)],
                      strategy="rest_for_one", backoff=NO_WAIT)
    async with run(root) as tree:
        await j.until(lambda: j.count("start", "b") == 1)
        assert [(c.name, c.state, c.restarts) for c in tree.which_children()] == [
            ("a", "running", 1), ("b", "running", 1)]
        assert j.items == [("stop", "a"), ("start", "a"), ("start", "b")]


# --- permanent failures ---------------------------------------------------------------------


class Unstartable(Actor[Ping]):
    """Cannot start, and no restart will change that."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def on_start(self) -> None:
        self.journal.add("start", "unstartable")
        raise PermanentFailure("its directory is not writable")

    async def receive(self, msg: Ping) -> None:
        return None


class GivesUp(Worker):
    """Starts; a Boom makes it fail permanently."""

    async def receive(self, msg: Ping | Boom | Quit) -> Count | None:
        if isinstance(msg, Boom):
            raise PermanentFailure("the venue refused our key")
        return await super().receive(msg)


async def test_a_child_that_cannot_start_for_a_permanent_reason_is_not_restarted_and_fails_the_whole_tree() -> None:
    j = Journal()
    inner = lambda: Supervisor([worker("a", j), ChildSpec("u", lambda: Unstartable(j)), worker("b", j)],  # noqa: E731
                               backoff=NO_WAIT, max_restarts=100)
    root = Supervisor([ChildSpec("inner", inner)], backoff=NO_WAIT, max_restarts=100)
    with pytest.raises(PermanentFailure) as info:
        async with run(root):
            pass
    assert info.value.path == "inner/u" and str(info.value) == "inner/u: its directory is not writable"
    assert j.count("start", "unstartable") == 1  # never retried
    assert j.count("start", "b") == 0  # nothing is started after it
    assert j.count("stop", "a") == 1  # what had started is stopped


async def test_a_running_child_failing_permanently_ends_the_tree_and_wait_raises_it() -> None:
    j = Journal()
    inner = lambda: Supervisor([ChildSpec("g", lambda: GivesUp("g", j))], backoff=NO_WAIT)  # noqa: E731
    with pytest.raises(PermanentFailure, match="inner/g: the venue refused our key"):
        async with run(Supervisor([worker("a", j), ChildSpec("inner", inner)], backoff=NO_WAIT)) as tree:
            tree.lookup("inner/g").tell(Boom())
            await tree.wait()  # raises the failure here, and so does the block
    assert j.count("start", "g") == 1 and j.count("stop", "a") == 1
