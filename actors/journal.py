"""The SQLite journal: opportunities, orders, fills, balance snapshots and restarts.

``JournalActor`` inbox: ``JournalWrite`` (ask: durable write, replies ``JournalAck`` after
the commit) | a bare ``JournalRecord`` (tell: queued, no ack) | ``FlushJournal`` (ask: ack once
everything queued before it committed) | ``GetOpenOrders`` -> ``OpenOrders`` |
``GetJournalSummary`` -> ``JournalSummary`` | ``GetUnsettledOpportunities`` ->
``UnsettledOpportunities`` | ``GetRealisedPnl`` -> ``RealisedPnl`` | ``GetOpenPositions`` ->
``OpenPositions`` | ``GetEstimatedFees`` -> ``EstimatedFees`` | ``GetMarketEvents`` ->
``MarketEvents``.

What it refuses, so nothing journaled is ever overwritten (``actors.journal_records``, which
writes each record type): a second ``OrderIntent`` under a client id, or ``Opportunity`` under
an id, it holds (``JournalRefused`` to that write's asker, which ``write`` raises as
``DuplicateClientOrderId``/``DuplicateOpportunityId``; the write is rolled back alone, the rest
of the group commits); a late ``OrderRejectedRecord`` or non-final update on an order whose
status is final; an ``OpportunityResult`` for an opportunity already settled (a
``FeeCorrection`` changes only a settled one's money: an estimated fee made exact). A fill is
one row per order (its final state), replaced, never appended twice.

Writes are group-committed off the event loop by one dedicated writer thread that owns the
connection: it drains whatever is queued (up to ``batch_max`` items), applies it in ONE
transaction, commits, and only then resolves every waiting ask. The loop never blocks on
SQLite or the disk, with one exception taken on purpose: ``DurableWrites.commit_now`` (the
executor's opportunity + intents) commits ON THE CALLER'S THREAD when the writer is idle with
nothing queued, one small transaction on the same connection (held under the writer's lock),
so the legs leave in the same step, without two thread handoffs and the GIL between them;
when the writer is busy it returns None and the caller asks as usual.

Durability: WAL with ``synchronous=NORMAL``. A commit appends the transaction's frames to the
WAL file with ``write()`` before returning; it is not fsynced until a checkpoint. A
``kill -9`` of this process loses nothing acknowledged, because the written pages are in the
kernel's page cache, which survives the process; only an OS crash or power cut can lose the
last commits (``synchronous=FULL`` would cover that at one fsync per group commit).

Timestamps (``created_ms``/``updated_ms``) are the ``wall`` clock read on the event loop when
a record is handed over, so a replay in virtual time journals identical rows every run.
``inline=True`` (a replay) applies the items on the loop's thread, with no writer thread: in
virtual time the loop would wait for every write anyway, and a thread's timing must not change
what a replay decides. A write someone awaits (``FlushJournal`` included), and a query, is
applied when handed over, after everything queued before it, in one transaction; told records
(``Opportunity``, ``OpportunityResult``, ...: nearly all of a replay's writes) wait in the
inbox for the next of those, for ``batch_max`` of them, or for the actor's stop, so a replay
commits a few dozen times instead of once per opportunity. Nothing reads a replay's journal
while it runs but this actor, whose queries see every record handed over before them; its
file is recreated by every replay, hence also ``synchronous=OFF`` there.

Old files gain the columns added since (``actors.journal_schema.migrate``) when opened, and
the tables added since (``CREATE TABLE IF NOT EXISTS``: ``market_events``).

Failure: an ``sqlite3.Error`` in the writer fails the pending asks with it and crashes the
actor on its next message; the supervisor restarts it (the database file is the state). At
start the actor creates the file's directory (0700); a directory it cannot create or a file
it cannot open (read-only, not a database) is a ``PermanentFailure``: the process exits with
the reason instead of restarting the journal forever.
Queries (``actors.journal_queries``) run on the writer thread too, so they see every write
queued before them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from actors import Actor, ActorRef
from actors.journal_queries import (
    estimated_fees,
    market_events,
    open_orders,
    open_positions,
    realised_since,
    summary,
    unsettled_opportunities,
)
from actors.journal_records import RECORD_TYPES, apply
from actors.journal_schema import connect
from protocols.errors import DuplicateClientOrderId, DuplicateOpportunityId, PermanentFailure
from protocols.messages import (
    FlushJournal,
    GetEstimatedFees,
    GetJournalSummary,
    GetMarketEvents,
    GetOpenOrders,
    GetOpenPositions,
    GetRealisedPnl,
    GetUnsettledOpportunities,
    JournalAck,
    JournalRefused,
    JournalWrite,
)

log = logging.getLogger("arbor.journal")


class DurableWrites:
    """The journal's commit-now path, shared by the engine between the journal actor (which
    attaches its writer while it runs) and the executor. See the module docstring."""

    def __init__(self) -> None:
        self._writer: _Writer | None = None
        self._wall: Callable[[], float] = time.time
        self._mailbox_empty: Callable[[], bool] = lambda: False
        self.committed_now = 0  # writes committed on the caller's thread
        self.deferred = 0  # writes that found the writer busy (asked instead)

    def commit_now(self, records: tuple[Any, ...]) -> JournalAck | JournalRefused | None:
        """Commit ``records`` now, on this thread, or None: no journal attached, or records
        still waiting in its mailbox or its writer's queue, or its writer busy (the caller
        asks, so nothing told or asked before is overtaken)."""
        writer = self._writer
        if writer is None:
            return None
        reply = writer.commit_now(records, int(self._wall() * 1000)) if self._mailbox_empty() else None
        if reply is None:
            self.deferred += 1
        else:
            self.committed_now += 1
        return reply


async def write(journal: ActorRef, *records: Any, durable: DurableWrites | None = None) -> JournalAck:
    """Make ``records`` durable (one all-or-nothing write): committed now through ``durable``
    when it can, else asked of ``journal``. Raises ``DuplicateClientOrderId`` /
    ``DuplicateOpportunityId`` when it refused them."""
    reply = durable.commit_now(records) if durable is not None else None
    if reply is None:
        reply = await journal.ask(JournalWrite(records=records))
    if isinstance(reply, JournalRefused):
        raise (DuplicateClientOrderId if reply.kind == "client_order_id" else DuplicateOpportunityId)(reply.id)
    return reply


class JournalStatus(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    queued: int
    records_committed: int
    commits: int
    largest_batch: int
    committed_now: int = 0  # intent writes committed in the executor's step (DurableWrites)
    deferred: int = 0  # ... that found the writer busy and were asked instead


_STOP = object()


class _Writer(threading.Thread):
    """Owns the connection; group-commits what is queued; settles futures on the loop."""

    def __init__(self, path: str, batch_max: int, loop: asyncio.AbstractEventLoop, inline: bool = False) -> None:
        super().__init__(name=f"journal-writer:{path}", daemon=True)
        self.path, self.batch_max, self.loop, self.inline = path, batch_max, loop, inline
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.failure: BaseException | None = None
        self.records_committed = self.commits = self.largest_batch = 0
        self._conn: sqlite3.Connection | None = None  # inline mode; the thread's, for commit_now
        # Held while a batch (or a commit_now) uses the connection. ``_submitted`` is counted
        # by the loop's thread only, ``_done`` by whoever holds the lock: equal, nothing queued.
        self._lock = threading.Lock()
        self._submitted = self._done = 0

    def submit(self, records: tuple[Any, ...], fut: asyncio.Future[Any] | None, now_ms: int) -> None:
        self._submitted += 1
        self.inbox.put(("write", records, fut, now_ms))
        if self.inline and (fut is not None or self.inbox.qsize() >= self.batch_max):
            self._pump()  # told records wait for this (see the module doc)

    def query(self, fn: Any, fut: asyncio.Future[Any]) -> None:
        self._submitted += 1
        self.inbox.put(("query", fn, fut, 0))
        if self.inline:
            self._pump()

    def commit_now(self, records: tuple[Any, ...], now_ms: int) -> JournalAck | JournalRefused | None:
        """``DurableWrites.commit_now``: one write in its own transaction on the caller's
        thread, if the writer thread is idle with nothing queued; None otherwise."""
        if self.inline or self.failure is not None or self._conn is None or not self.is_alive():
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            conn = self._conn
            if conn is None or self._done != self._submitted:  # closed, or older writes queued: never overtake
                return None
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for rec in records:
                        apply(conn, rec, now_ms)
                except (DuplicateClientOrderId, DuplicateOpportunityId) as exc:  # what apply() raises
                    conn.execute("ROLLBACK")
                    return JournalRefused(id=exc.id, kind=exc.kind)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:  # as in the thread: the journal crashes on its next message
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self.failure = exc
                raise
            self.records_committed += len(records)
            self.commits += 1
            return JournalAck(committed=len(records))
        finally:
            self._lock.release()

    def open_inline(self) -> None:
        """Inline mode: the connection lives on the loop's thread, each item is applied when
        handed over (no thread, no handoff: a replay in virtual time, where the loop waits for
        every write anyway, and thread timing must not matter)."""
        self._conn = connect(self.path)
        self._conn.execute("PRAGMA synchronous=OFF")  # a replay's own file, recreated each run
        self._settle(self.ready, None, None)

    def close_inline(self) -> None:
        if self._conn is not None:
            self._pump()  # the told records still queued
            self._conn.close()
            self._conn = None

    def _pump(self) -> None:
        assert self._conn is not None
        batch = []
        while True:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        due: list[tuple[Any, Any, BaseException | None]] = []
        self._process(self._conn, batch, due)
        for answer in due:
            self._settle(*answer)

    def run(self) -> None:
        try:
            conn = connect(self.path, any_thread=True)
        except sqlite3.Error as exc:
            self._settle(self.ready, None, exc)
            return
        self._conn = conn
        self._settle(self.ready, None, None)
        try:
            self._loop(conn)
        finally:
            with self._lock:
                self._conn = None
                conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            batch = [self.inbox.get()]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            due: list[tuple[Any, Any, BaseException | None]] = []
            with self._lock:
                stop = self._process(conn, batch, due)
                self._done += sum(item is not _STOP for item in batch)
            # Answered once the lock is free and the batch counted done: an asker woken by its
            # answer (a flush, then the executor's intents) finds the writer idle, not busy.
            for answer in due:
                self._settle(*answer)
            if stop:
                return

    def _process(self, conn: sqlite3.Connection, batch: list[Any], due: list[tuple[Any, Any, BaseException | None]]
                 ) -> bool:
        """Apply one batch in one transaction; its waiters' answers go to ``due`` (the caller
        settles them); True: stop (or failed)."""
        stop = any(item is _STOP for item in batch)
        items = [item for item in batch if item is not _STOP]
        writes = [item for item in items if item[0] == "write"]
        n = sum(len(item[1]) for item in writes)
        error: sqlite3.Error | None = None
        refused: dict[int, DuplicateClientOrderId | DuplicateOpportunityId] = {}
        if writes:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for i, (_, records, _, now_ms) in enumerate(writes):
                    # Each write is all-or-nothing on its own: a refused one rolls back alone.
                    conn.execute("SAVEPOINT write")
                    try:
                        for rec in records:
                            apply(conn, rec, now_ms)
                    except (DuplicateClientOrderId, DuplicateOpportunityId) as exc:  # what apply() raises
                        conn.execute("ROLLBACK TO write")
                        refused[i] = exc
                        n -= len(records)
                    conn.execute("RELEASE write")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:  # named recovery: fail the waiters, crash the actor
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                error = self.failure = exc
            else:
                self.records_committed += n
                self.commits += 1
                self.largest_batch = max(self.largest_batch, n)
            for i, (_, _, fut, _) in enumerate(writes):
                no = refused.get(i)
                if fut is not None:
                    reply = JournalAck(committed=n) if no is None else JournalRefused(id=no.id, kind=no.kind)
                    due.append((fut, reply, error))
                elif no is not None and error is None:  # e.g. a rejected duplicate opportunity
                    log.warning("journal refused a told write: %s", no)
        for kind, fn, fut, _ in items:
            if kind == "query":
                try:
                    due.append((fut, fn(conn), None))
                except sqlite3.Error as exc:
                    due.append((fut, None, exc))
        return stop or error is not None

    def _settle(self, fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
        def settle() -> None:
            if fut.done():  # the asker gave up (timeout/cancel): nothing to deliver
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

        if self.inline:
            self.loop.call_soon(settle)
        else:
            self.loop.call_soon_threadsafe(settle)

    def stop(self) -> None:
        self.inbox.put(_STOP)


_TRANSIENT_OPEN_ERRORS = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})


class JournalActor(Actor):
    """SQLite journal actor; see the module docstring for the inbox and durability."""

    def __init__(self, *, path: str, batch_max: int = 256, wall: Callable[[], float] = time.time,
                 inline: bool = False, durable: DurableWrites | None = None) -> None:
        self.path, self.batch_max, self.wall, self.inline = path, batch_max, wall, inline
        self.durable = durable  # attached while we run: the executor's commit-now path
        self._writer: _Writer | None = None

    async def on_start(self) -> None:
        directory = Path(self.path).parent
        try:  # our own directory: nobody else's actor has to have created it first
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise PermanentFailure(f"cannot create the journal's directory {directory}: {exc}") from exc
        self._writer = _Writer(self.path, self.batch_max, asyncio.get_running_loop(), self.inline)
        try:
            if self.inline:
                self._writer.open_inline()
            else:
                self._writer.start()
            await self._writer.ready
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorname", "") in _TRANSIENT_OPEN_ERRORS:
                raise  # another process holds a lock: a restart may well succeed
            raise PermanentFailure(f"cannot open the journal {self.path}: {exc}") from exc
        if self.durable is not None:
            self.durable._writer, self.durable._wall = self._writer, self.wall
            self.durable._mailbox_empty = lambda: self.ref.queued == 0

    async def receive(self, msg: Any) -> Any:
        writer = self._writer
        assert writer is not None
        if writer.failure is not None:
            raise writer.failure
        loop = asyncio.get_running_loop()
        match msg:
            case JournalWrite(records=records):
                fut = loop.create_future()
                writer.submit(records, fut, int(self.wall() * 1000))
                return await fut
            case FlushJournal():
                fut = loop.create_future()
                writer.submit((), fut, 0)
                return await fut
            case GetOpenOrders():
                fut = loop.create_future()
                writer.query(open_orders, fut)
                return await fut
            case GetJournalSummary():
                fut = loop.create_future()
                writer.query(summary, fut)
                return await fut
            case GetUnsettledOpportunities():
                fut = loop.create_future()
                writer.query(unsettled_opportunities, fut)
                return await fut
            case GetEstimatedFees(limit=limit):
                fut = loop.create_future()
                writer.query(lambda conn: estimated_fees(conn, limit), fut)
                return await fut
            case GetOpenPositions():
                fut = loop.create_future()
                writer.query(open_positions, fut)
                return await fut
            case GetMarketEvents(limit=limit, symbol=symbol):
                fut = loop.create_future()
                writer.query(lambda conn: market_events(conn, limit, symbol), fut)
                return await fut
            case GetRealisedPnl(since_ms=since_ms):
                fut = loop.create_future()
                writer.query(lambda conn: realised_since(conn, since_ms), fut)
                return await fut
            case _ if isinstance(msg, RECORD_TYPES):
                writer.submit((msg,), None, int(self.wall() * 1000))
                return None
            case _:
                raise TypeError(f"journal: unexpected message {type(msg).__name__}")

    async def on_stop(self) -> None:
        if self.durable is not None and self.durable._writer is self._writer:
            self.durable._writer = None
        if self._writer is not None and self._writer.inline:
            self._writer.close_inline()  # applies the told records still queued first
            return
        # Everything queued is committed before the thread exits (the stop marker is last).
        if self._writer is not None and self._writer.is_alive():
            self._writer.stop()
            await asyncio.to_thread(self._writer.join)

    def describe(self) -> JournalStatus:
        w = self._writer
        return JournalStatus(
            path=self.path,
            queued=w.inbox.qsize() if w else 0,
            records_committed=w.records_committed if w else 0,
            commits=w.commits if w else 0,
            largest_batch=w.largest_batch if w else 0,
            committed_now=self.durable.committed_now if self.durable else 0,
            deferred=self.durable.deferred if self.durable else 0,
        )
