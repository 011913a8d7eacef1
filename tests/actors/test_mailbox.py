"""Mailbox policies: block, drop_oldest, conflate, fail; with a live actor and against models."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import Actor, MailboxSpec, spawn
from actors.mailbox import make_mailbox
from protocols.errors import MailboxFull
from protocols.messages import Msg


class Quote(Msg, kw_only=True):
    venue: str = "mexc"
    n: int = 0


class Hold(Msg, kw_only=True):
    pass


class Gated(Actor[Quote | Hold]):
    """Takes one Hold and blocks on it, so the mailbox fills behind it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.done = asyncio.Event()
        self.expect = -1

    async def receive(self, msg: Quote | Hold) -> Quote | None:
        if isinstance(msg, Hold):
            self.entered.set()
            await self.gate.wait()
            return None
        self.seen.append((msg.venue, msg.n))
        if len(self.seen) == self.expect:
            self.done.set()
        return msg


async def gated(spec: MailboxSpec) -> tuple[Gated, object]:
    actor = Gated()
    ref = await spawn(actor, name="g", mailbox=spec)
    ref.tell(Hold())
    await actor.entered.wait()
    return actor, ref


async def test_block_mailbox_makes_tell_raise_when_full_and_send_wait_for_room() -> None:
    actor, ref = await gated(MailboxSpec(capacity=2, policy="block"))
    ref.tell(Quote(n=1))
    ref.tell(Quote(n=2))
    with pytest.raises(MailboxFull):
        ref.tell(Quote(n=3))
    sender = asyncio.ensure_future(ref.send(Quote(n=3)))
    await asyncio.sleep(0)
    assert not sender.done()  # no room: the sender waits
    actor.expect = 3
    actor.gate.set()
    await sender
    await actor.done.wait()
    assert [n for _, n in actor.seen] == [1, 2, 3]
    assert ref.stats().dropped == 0
    await ref.stop()


async def test_cancelling_a_sender_blocked_on_a_full_mailbox_leaves_the_actor_healthy() -> None:
    actor, ref = await gated(MailboxSpec(capacity=1, policy="block"))
    ref.tell(Quote(n=1))
    sender = asyncio.ensure_future(ref.send(Quote(n=99)))
    await asyncio.sleep(0)
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    actor.gate.set()
    assert await ref.ask(Quote(n=2)) == Quote(n=2)
    assert [n for _, n in actor.seen] == [1, 2]  # the cancelled send enqueued nothing
    assert ref.alive
    await ref.stop()


async def test_drop_oldest_mailbox_drops_the_oldest_message_and_counts_it() -> None:
    actor, ref = await gated(MailboxSpec(capacity=3, policy="drop_oldest"))
    for n in range(1, 6):
        ref.tell(Quote(n=n))
    assert ref.stats().dropped == 2
    actor.expect = 3
    actor.gate.set()
    await actor.done.wait()
    assert [n for _, n in actor.seen] == [3, 4, 5]
    await ref.stop()


async def test_conflate_mailbox_keeps_only_the_newest_message_per_key_and_counts_replacements() -> None:
    spec = MailboxSpec(capacity=8, policy="conflate", key=lambda m: getattr(m, "venue", None))
    actor, ref = await gated(spec)
    for n, venue in enumerate(["mexc", "gate", "mexc", "binance", "gate", "mexc"]):
        ref.tell(Quote(venue=venue, n=n))
    s = ref.stats()
    assert (s.mailbox_depth, s.conflated, s.dropped) == (3, 3, 3)
    actor.expect = 3
    actor.gate.set()
    await actor.done.wait()
    # first-seen order of keys, newest message of each
    assert actor.seen == [("mexc", 5), ("gate", 4), ("binance", 3)]
    await ref.stop()


async def test_conflate_mailbox_requires_a_key_function() -> None:
    with pytest.raises(ValueError):
        MailboxSpec(policy="conflate")


async def test_fail_mailbox_raises_mailbox_full_in_the_caller_of_tell_and_send() -> None:
    actor, ref = await gated(MailboxSpec(capacity=1, policy="fail"))
    ref.tell(Quote(n=1))
    with pytest.raises(MailboxFull):
        ref.tell(Quote(n=2))
    with pytest.raises(MailboxFull):
        await ref.send(Quote(n=2))
    with pytest.raises(MailboxFull):
        await ref.ask(Quote(n=2))
    actor.expect = 1
    actor.gate.set()
    await actor.done.wait()
    assert ref.alive and actor.seen == [("mexc", 1)]
    await ref.stop()


async def test_an_ask_dropped_by_drop_oldest_fails_at_once_with_mailbox_full() -> None:
    actor, ref = await gated(MailboxSpec(capacity=1, policy="drop_oldest"))
    asked = asyncio.ensure_future(ref.ask(Quote(n=1), timeout=60))
    await asyncio.sleep(0)
    ref.tell(Quote(n=2))
    with pytest.raises(MailboxFull):
        await asked
    actor.gate.set()
    await ref.stop()


async def test_an_ask_on_a_full_drop_oldest_mailbox_waits_for_room_and_evicts_nothing() -> None:
    actor, ref = await gated(MailboxSpec(capacity=2, policy="drop_oldest"))
    ref.tell(Quote(n=1))
    ref.tell(Quote(n=2))
    asked = asyncio.ensure_future(ref.ask(Quote(n=3), timeout=60))
    for _ in range(5):  # the asker runs as far as it can; the actor is still held
        await asyncio.sleep(0)
    assert not asked.done() and ref.stats().mailbox_depth == 2 and ref.stats().dropped == 0
    actor.expect = 3
    actor.gate.set()
    assert await asked == Quote(n=3)
    assert actor.seen == [("mexc", 1), ("mexc", 2), ("mexc", 3)] and ref.stats().dropped == 0
    await ref.stop()


async def test_an_ask_on_a_full_conflate_mailbox_waits_for_room_and_evicts_nothing() -> None:
    actor, ref = await gated(MailboxSpec(capacity=2, policy="conflate", key=lambda m: getattr(m, "venue", None)))
    ref.tell(Quote(venue="mexc", n=1))
    ref.tell(Quote(venue="binance", n=2))
    asked = asyncio.ensure_future(ref.ask(Quote(venue="gateio", n=3), timeout=60))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not asked.done() and ref.stats().dropped == 0
    actor.gate.set()
    assert await asked == Quote(venue="gateio", n=3)
    assert actor.seen == [("mexc", 1), ("binance", 2), ("gateio", 3)]
    await ref.stop()


async def test_conflate_never_replaces_an_ask_nor_lets_an_ask_replace_anything() -> None:
    # Every message has the same key: tells conflate with each other, asks never take part.
    actor, ref = await gated(MailboxSpec(capacity=8, policy="conflate", key=lambda m: "same"))
    first = asyncio.ensure_future(ref.ask(Quote(n=1), timeout=60))
    second = asyncio.ensure_future(ref.ask(Quote(n=2), timeout=60))
    await asyncio.sleep(0)
    ref.tell(Quote(n=3))
    ref.tell(Quote(n=4))  # replaces n=3 only
    actor.expect = 3
    actor.gate.set()
    assert (await first, await second) == (Quote(n=1), Quote(n=2))
    await actor.done.wait()
    assert actor.seen == [("mexc", 1), ("mexc", 2), ("mexc", 4)]
    assert (ref.stats().conflated, ref.stats().dropped) == (1, 1)
    await ref.stop()


# --- the pure mailboxes against naive models ----------------------------------------------------

ops = st.lists(st.one_of(st.tuples(st.just("put"), st.integers(0, 4)), st.just(("get", 0))), max_size=60)


@settings(max_examples=200, deadline=None)
@given(ops=ops, capacity=st.integers(1, 5))
def test_drop_oldest_mailbox_matches_a_bounded_deque_model(ops: list[tuple[str, int]], capacity: int) -> None:
    loop = asyncio.new_event_loop()
    try:
        mb = make_mailbox(MailboxSpec(capacity=capacity, policy="drop_oldest"), "m", loop)
        model: deque[int] = deque(maxlen=capacity)
        dropped = 0
        for i, (op, _key) in enumerate(ops):
            if op == "put":
                dropped += len(model) == capacity
                model.append(i)
                mb.put((Quote(n=i), 0, None))
            else:
                env = mb.get_nowait()
                assert (env[0].n if env else None) == (model.popleft() if model else None)
        assert [e[0].n for e in mb._drain()] == list(model)
        assert mb.dropped == dropped
    finally:
        loop.close()


@settings(max_examples=200, deadline=None)
@given(ops=ops, capacity=st.integers(1, 5))
def test_conflate_mailbox_matches_an_ordered_dict_model(ops: list[tuple[str, int]], capacity: int) -> None:
    loop = asyncio.new_event_loop()
    try:
        mb = make_mailbox(MailboxSpec(capacity=capacity, policy="conflate", key=lambda m: m.venue), "m", loop)
        model: dict[str, int] = {}  # insertion-ordered: key -> newest n
        for i, (op, key) in enumerate(ops):
            if op == "put":
                venue = f"v{key}"
                if venue not in model and len(model) == capacity:
                    del model[next(iter(model))]
                model[venue] = i
                mb.put((Quote(venue=venue, n=i), 0, None))
            else:
                env = mb.get_nowait()
                expect = model.pop(next(iter(model))) if model else None
                assert (env[0].n if env else None) == expect
            assert len(mb) == len(model) <= capacity
        assert [(e[0].venue, e[0].n) for e in mb._drain()] == list(model.items())
    finally:
        loop.close()
