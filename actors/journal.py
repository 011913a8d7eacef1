"""The SQLite journal: opportunities, orders, fills, balance snapshots and restarts.

``JournalActor`` inbox: ``JournalWrite`` (ask: durable write, replies ``JournalAck`` after
the commit) | a bare ``JournalRecord`` (tell: queued, no ack) | ``FlushJournal`` (ask: ack once
everything queued before it committed) | ``GetOpenOrders`` -> ``OpenOrders`` |
``GetJournalSummary`` -> ``JournalSummary`` | ``GetUnsettledOpportunities`` ->
``UnsettledOpportunities`` | ``GetRealisedPnl`` -> ``RealisedPnl`` | ``GetOpenPositions`` ->
``OpenPositions`` | ``GetEstimatedFees`` -> ``EstimatedFees`` | ``GetMarketEvents`` ->
``MarketEvents``.

What it refuses, so nothing journaled is ever overwritten: a second ``OrderIntent`` under a
client id, or ``Opportunity`` under an id, it holds (``JournalRefused`` to that write's asker,
which ``write`` raises as ``DuplicateClientOrderId``/``DuplicateOpportunityId``; the write is
rolled back alone, the rest of the group commits); a late ``OrderRejectedRecord`` or non-final update on
an order whose status is final; an ``OpportunityResult`` for an opportunity already settled
(a ``FeeCorrection`` changes only a settled one's money: an estimated fee made exact).
A fill is one row per order (its final state), replaced, never appended twice.

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
``inline=True`` (a replay) applies each item on the loop's thread when it is handed over, with
no writer thread: in virtual time the loop would wait for every write anyway, and a thread's
timing must not change what a replay decides.

Old files gain the columns added since (``migrate``) when opened, and the tables added since
(``CREATE TABLE IF NOT EXISTS``: ``market_events``).

Failure: an ``sqlite3.Error`` in the writer fails the pending asks with it and crashes the
actor on its next message; the supervisor restarts it (the database file is the state). At
start the actor creates the file's directory (0700); a directory it cannot create or a file
it cannot open (read-only, not a database) is a ``PermanentFailure``: the process exits with
the reason instead of restarting the journal forever.
Queries run on the writer thread too, so they see every write queued before them.
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
from protocols.errors import DuplicateClientOrderId, DuplicateOpportunityId, PermanentFailure
from protocols.messages import (
    FINAL_STATUSES,
    Balances,
    EstimatedFees,
    FeeCorrection,
    Fill,
    FlushJournal,
    GetEstimatedFees,
    GetJournalSummary,
    GetMarketEvents,
    GetOpenOrders,
    GetOpenPositions,
    GetRealisedPnl,
    GetUnsettledOpportunities,
    JournalAck,
    JournalOpportunity,
    JournalOrder,
    JournalPosition,
    JournalRefused,
    JournalSummary,
    JournalWrite,
    LegLatency,
    MarketEvent,
    MarketEvents,
    OpenOrders,
    OpenPositions,
    Opportunity,
    OpportunityResult,
    OrderIntent,
    OrderRejectedRecord,
    OrderUpdate,
    RealisedPnl,
    RestartRecord,
    UnsettledOpportunities,
)

# An order is open (to be reconciled) until it reaches one of these. "intent" is journaled but
# not confirmed by the venue; "paper" was journaled and deliberately never sent.
JOURNAL_FINAL: frozenset[str] = FINAL_STATUSES | {"paper"}
# An opportunity is settled once it has a result other than these: "detected" (journaled, the
# process died before the result) and "pending" (a leg's outcome was unknown when it ended).
UNSETTLED: tuple[str, ...] = ("detected", "pending")
RECORD_TYPES = (Opportunity, OrderIntent, OrderUpdate, Fill, Balances, OrderRejectedRecord,
                OpportunityResult, RestartRecord, FeeCorrection, LegLatency, MarketEvent)

SCHEMA = """
CREATE TABLE IF NOT EXISTS opportunities (
    id TEXT PRIMARY KEY, symbol TEXT NOT NULL, buy_venue TEXT NOT NULL, sell_venue TEXT NOT NULL,
    size REAL NOT NULL, buy_price REAL NOT NULL, sell_price REAL NOT NULL, edge_bps REAL NOT NULL,
    expected_pnl REAL NOT NULL, buy_seq INTEGER, sell_seq INTEGER, created_ns INTEGER,
    expires_ns INTEGER, status TEXT NOT NULL DEFAULT 'detected', realised_pnl REAL,
    detail TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    matched_qty REAL NOT NULL DEFAULT 0, fees_quote REAL NOT NULL DEFAULT 0,
    fee_unconverted TEXT NOT NULL DEFAULT '', open_qty REAL NOT NULL DEFAULT 0,
    open_venue TEXT NOT NULL DEFAULT '', open_price REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, opportunity_id TEXT NOT NULL DEFAULT '',
    venue TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL,
    price REAL, qty REAL NOT NULL, status TEXT NOT NULL,
    filled_qty REAL NOT NULL DEFAULT 0, filled_quote REAL NOT NULL DEFAULT 0,
    fee REAL NOT NULL DEFAULT 0, fee_asset TEXT NOT NULL DEFAULT '',
    venue_code TEXT NOT NULL DEFAULT '', venue_message TEXT NOT NULL DEFAULT '',
    order_id TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS orders_by_opportunity ON orders(opportunity_id);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders(status);
CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY, client_order_id TEXT NOT NULL, venue TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, price REAL NOT NULL, qty REAL NOT NULL,
    fee REAL NOT NULL, fee_asset TEXT NOT NULL, ts_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS fills_by_order ON fills(client_order_id);
CREATE TABLE IF NOT EXISTS balances (
    id INTEGER PRIMARY KEY, venue TEXT NOT NULL, asset TEXT NOT NULL, free REAL NOT NULL,
    locked REAL NOT NULL, ts_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS restarts (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, reason TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    run_id TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS market_events (
    id INTEGER PRIMARY KEY, event TEXT NOT NULL, symbol TEXT NOT NULL, venues TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', prices TEXT NOT NULL DEFAULT '{}', ts_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS market_events_by_symbol ON market_events(symbol);
"""
# Columns added after the first release: ``migrate`` adds them to an older file.
ADDED_COLUMNS = (
    ("opportunities", "matched_qty", "REAL NOT NULL DEFAULT 0"),
    ("opportunities", "fees_quote", "REAL NOT NULL DEFAULT 0"),
    ("opportunities", "fee_unconverted", "TEXT NOT NULL DEFAULT ''"),
    ("opportunities", "open_qty", "REAL NOT NULL DEFAULT 0"),
    ("opportunities", "open_venue", "TEXT NOT NULL DEFAULT ''"),
    ("opportunities", "open_price", "REAL NOT NULL DEFAULT 0"),
    ("restarts", "run_id", "TEXT NOT NULL DEFAULT ''"),
    # a leg's timeline (LegLatency), monotonic ns; NULL: not recorded (paper, or an older file)
    ("orders", "detected_ns", "INTEGER"),
    ("orders", "intent_ns", "INTEGER"),
    ("orders", "sent_ns", "INTEGER"),
    ("orders", "ack_ns", "INTEGER"),
    ("orders", "fill_ns", "INTEGER"),
    ("orders", "ack_source", "TEXT NOT NULL DEFAULT ''"),
)

log = logging.getLogger("arbor.journal")

_FINAL_SQL = "(" + ", ".join(f"'{s}'" for s in sorted(JOURNAL_FINAL)) + ")"
_UNSETTLED_SQL = "(" + ", ".join(f"'{s}'" for s in UNSETTLED) + ")"


def connect(path: str, *, any_thread: bool = False) -> sqlite3.Connection:
    """Open (creating) a journal database with the schema and the durability pragmas.
    ``any_thread``: the caller serialises use across threads itself (the writer's lock)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=not any_thread)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    for table, column, decl in ADDED_COLUMNS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def apply(conn: sqlite3.Connection, rec: Any, now_ms: int) -> None:
    """Write one record (inside the caller's transaction)."""
    match rec:
        case Opportunity():
            if conn.execute("SELECT 1 FROM opportunities WHERE id = ?", (rec.id,)).fetchone():
                raise DuplicateOpportunityId(rec.id)
            conn.execute(
                "INSERT INTO opportunities (id, symbol, buy_venue, sell_venue, size, buy_price,"
                " sell_price, edge_bps, expected_pnl, buy_seq, sell_seq, created_ns, expires_ns, created_ms,"
                " updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.id, rec.symbol, rec.buy_venue, rec.sell_venue, rec.size, rec.buy_price, rec.sell_price,
                 rec.edge_bps, rec.expected_pnl, rec.buy_seq, rec.sell_seq, rec.created_ns, rec.expires_ns,
                 now_ms, now_ms))
        case OrderIntent():
            if conn.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (rec.client_order_id,)).fetchone():
                raise DuplicateClientOrderId(rec.client_order_id)
            conn.execute(
                "INSERT INTO orders (client_order_id, opportunity_id, venue, symbol, side, type, price,"
                " qty, status, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,'intent',?,?)",
                (rec.client_order_id, rec.opportunity_id, rec.venue, rec.symbol, rec.side, rec.order_type,
                 rec.price, rec.qty if rec.qty is not None else 0.0, now_ms, now_ms))
        case OrderUpdate():
            # Never downgrade a final status: a late "new" must not reopen a filled order.
            conn.execute(
                "INSERT INTO orders (client_order_id, venue, symbol, side, type, price, qty, status, filled_qty,"
                " filled_quote, fee, fee_asset, order_id, created_ms, updated_ms)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(client_order_id) DO UPDATE SET status=excluded.status,"
                " filled_qty=excluded.filled_qty, filled_quote=excluded.filled_quote, fee=excluded.fee,"
                " fee_asset=excluded.fee_asset, order_id=excluded.order_id, updated_ms=excluded.updated_ms"
                f" WHERE orders.status NOT IN {_FINAL_SQL} OR excluded.status IN {_FINAL_SQL}",
                (rec.client_order_id, rec.venue, rec.symbol, rec.side, rec.order_type, rec.price, rec.qty,
                 rec.status, rec.filled_qty, rec.filled_quote, rec.fee, rec.fee_asset, rec.order_id,
                 now_ms, now_ms))
        case Fill():
            # One row per order (the final state of an IOC): a second final update of the same
            # order (a leg and a reconciliation both saw it) replaces it, never doubles it.
            row = (rec.venue, rec.symbol, rec.side, rec.price, rec.qty, rec.fee, rec.fee_asset, rec.ts_ms or now_ms,
                   rec.client_order_id)
            if not conn.execute("UPDATE fills SET venue=?, symbol=?, side=?, price=?, qty=?, fee=?, fee_asset=?,"
                                " ts_ms=? WHERE client_order_id=?", row).rowcount:
                conn.execute("INSERT INTO fills (venue, symbol, side, price, qty, fee, fee_asset, ts_ms,"
                             " client_order_id) VALUES (?,?,?,?,?,?,?,?,?)", row)
        case Balances():
            conn.executemany(
                "INSERT INTO balances (venue, asset, free, locked, ts_ms) VALUES (?,?,?,?,?)",
                [(rec.venue, b.asset, b.free, b.locked, now_ms) for b in rec.balances])
        case OrderRejectedRecord():
            # A late rejection (or "unknown") never replaces a final status.
            conn.execute(
                "UPDATE orders SET status=?, venue_code=?, venue_message=?, updated_ms=?"
                f" WHERE client_order_id=? AND status NOT IN {_FINAL_SQL}",
                (rec.status, rec.code, rec.message, now_ms, rec.client_order_id))
        case OpportunityResult():
            # A settled opportunity keeps its result (a duplicate id's result never replaces it).
            conn.execute(
                "UPDATE opportunities SET status=?, realised_pnl=?, detail=?, updated_ms=?, matched_qty=?,"
                " fees_quote=?, fee_unconverted=?, open_qty=?, open_venue=?, open_price=?"
                f" WHERE id=? AND status IN {_UNSETTLED_SQL}",
                (rec.status, rec.realised_pnl, rec.detail, now_ms, rec.matched_qty, rec.fees_quote,
                 rec.fee_unconverted, rec.open_qty, rec.open_venue, rec.open_price, rec.opportunity_id))
        case FeeCorrection():
            # Money only: the status, quantities and settlement time (the day it counts for) stay.
            conn.execute(
                "UPDATE opportunities SET realised_pnl=?, fees_quote=?, fee_unconverted=?, detail=?"
                f" WHERE id=? AND status NOT IN {_UNSETTLED_SQL}",
                (rec.realised_pnl, rec.fees_quote, rec.fee_unconverted, rec.detail, rec.opportunity_id))
        case LegLatency():
            # Zero: the stage did not happen (kept NULL, never overwriting a stage recorded earlier).
            conn.execute(
                "UPDATE orders SET detected_ns=coalesce(nullif(?, 0), detected_ns),"
                " intent_ns=coalesce(nullif(?, 0), intent_ns), sent_ns=coalesce(nullif(?, 0), sent_ns),"
                " ack_ns=coalesce(nullif(?, 0), ack_ns), fill_ns=coalesce(nullif(?, 0), fill_ns),"
                " ack_source=coalesce(nullif(?, ''), ack_source) WHERE client_order_id=?",
                (rec.detected_ns, rec.intent_ns, rec.sent_ns, rec.ack_ns, rec.fill_ns, rec.ack_source,
                 rec.client_order_id))
        case RestartRecord():
            conn.execute("INSERT INTO restarts (path, reason, ts_ms, run_id) VALUES (?,?,?,?)",
                         (rec.path, rec.reason, rec.ts_ms, rec.run_id))
        case MarketEvent():
            conn.execute("INSERT INTO market_events (event, symbol, venues, reason, prices, ts_ms)"
                         " VALUES (?,?,?,?,?,?)", (rec.event, rec.symbol, ",".join(rec.venues), rec.reason,
                          msgspec.json.encode(rec.prices).decode(), rec.ts_ms or now_ms))
        case _:
            raise TypeError(f"not a journal record: {type(rec).__name__}")


_ORDER_COLUMNS = ("client_order_id, opportunity_id, venue, symbol, side, status, qty, price, filled_qty,"
                  " filled_quote, fee, fee_asset")


def _order(r: tuple[Any, ...]) -> JournalOrder:
    return JournalOrder(client_order_id=r[0], opportunity_id=r[1], venue=r[2], symbol=r[3], side=r[4],
                        status=r[5], qty=r[6], price=r[7], filled_qty=r[8], filled_quote=r[9], fee=r[10],
                        fee_asset=r[11])


def open_orders(conn: sqlite3.Connection) -> OpenOrders:
    rows = conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status NOT IN {_FINAL_SQL}"
        " ORDER BY created_ms, client_order_id").fetchall()
    return OpenOrders(orders=tuple(_order(r) for r in rows))


_OPPORTUNITY_COLUMNS = "id, symbol, buy_venue, sell_venue, size, buy_price, sell_price, status, detail"


def _with_orders(conn: sqlite3.Connection, opps: list[Any]) -> tuple[JournalOpportunity, ...]:
    out = []
    for r in opps:
        orders = conn.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE opportunity_id = ?"
                              " ORDER BY created_ms, client_order_id", (r[0],)).fetchall()
        out.append(JournalOpportunity(id=r[0], symbol=r[1], buy_venue=r[2], sell_venue=r[3], size=r[4],
                                      buy_price=r[5], sell_price=r[6], status=r[7], detail=r[8],
                                      orders=tuple(_order(o) for o in orders)))
    return tuple(out)


def unsettled_opportunities(conn: sqlite3.Connection) -> UnsettledOpportunities:
    """Opportunities with at least one order and no final result, each with all its orders."""
    marks = ",".join("?" * len(UNSETTLED))
    opps = conn.execute(
        f"SELECT {_OPPORTUNITY_COLUMNS} FROM opportunities o"
        f" WHERE status IN ({marks}) AND EXISTS (SELECT 1 FROM orders WHERE opportunity_id = o.id)"
        " ORDER BY created_ms, id", UNSETTLED).fetchall()
    return UnsettledOpportunities(opportunities=_with_orders(conn, opps))


def estimated_fees(conn: sqlite3.Connection, limit: int) -> EstimatedFees:
    """Settled opportunities with a final, filled order whose fee was never reported (the
    settlement estimated it), most recent first, each with all its orders."""
    opps = conn.execute(
        f"SELECT {_OPPORTUNITY_COLUMNS} FROM opportunities o WHERE status NOT IN {_UNSETTLED_SQL}"
        " AND EXISTS (SELECT 1 FROM orders WHERE opportunity_id = o.id AND filled_qty > 0 AND fee_asset = ''"
        f" AND status IN {_FINAL_SQL}) ORDER BY created_ms DESC, id LIMIT ?", (limit,)).fetchall()
    return EstimatedFees(opportunities=_with_orders(conn, opps))


def realised_since(conn: sqlite3.Connection, since_ms: int) -> RealisedPnl:
    marks = ",".join("?" * len(UNSETTLED))
    total = conn.execute(
        "SELECT coalesce(sum(realised_pnl), 0.0) FROM opportunities"
        f" WHERE updated_ms >= ? AND status NOT IN ({marks})", (since_ms, *UNSETTLED)).fetchone()[0]
    return RealisedPnl(realised_pnl=total)


def open_positions(conn: sqlite3.Connection) -> OpenPositions:
    """Unmatched base of every settled opportunity, per (venue, symbol); flat ones left out."""
    rows = conn.execute(
        "SELECT open_venue, symbol, sum(open_qty), sum(open_qty * open_price) FROM opportunities"
        f" WHERE open_qty != 0 AND status NOT IN {_UNSETTLED_SQL} GROUP BY open_venue, symbol"
        " HAVING abs(sum(open_qty)) > 1e-12 ORDER BY open_venue, symbol").fetchall()
    return OpenPositions(positions=tuple(JournalPosition(venue=r[0], symbol=r[1], qty=r[2], cost=r[3]) for r in rows))


def summary(conn: sqlite3.Connection) -> JournalSummary:
    def count(table: str) -> int:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    return JournalSummary(
        opportunities=count("opportunities"),
        orders=count("orders"),
        fills=count("fills"),
        orders_by_status=dict(conn.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall()),
        opportunities_by_status=dict(
            conn.execute("SELECT status, count(*) FROM opportunities GROUP BY status").fetchall()),
        realised_pnl=conn.execute("SELECT coalesce(sum(realised_pnl), 0.0) FROM opportunities").fetchone()[0],
        market_events=_market_counts(conn),
    )


def _market_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT event, count(*) FROM market_events GROUP BY event").fetchall())


def market_events(conn: sqlite3.Connection, limit: int, symbol: str | None = None) -> MarketEvents:
    where, params = ("WHERE symbol = ?", (symbol,)) if symbol is not None else ("", ())
    rows = conn.execute(f"SELECT event, symbol, venues, reason, prices, ts_ms FROM market_events {where}"
                        " ORDER BY id DESC LIMIT ?", (*params, max(0, limit))).fetchall()
    return MarketEvents(
        events=tuple(MarketEvent(event=r[0], symbol=r[1], venues=tuple(v for v in r[2].split(",") if v), reason=r[3],
                                 prices=msgspec.json.decode(r[4], type=dict[str, float]), ts_ms=r[5]) for r in rows),
        counts=_market_counts(conn))


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
        if self.inline:
            self._pump()

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
        self._settle(self.ready, None, None)

    def close_inline(self) -> None:
        if self._conn is not None:
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
        self._process(self._conn, batch)

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
            with self._lock:
                stop = self._process(conn, batch)
                self._done += sum(item is not _STOP for item in batch)
            if stop:
                return

    def _process(self, conn: sqlite3.Connection, batch: list[Any]) -> bool:
        """Apply one batch in one transaction, settle its waiters; True: stop (or failed)."""
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
                    self._settle(fut, reply, error)
                elif no is not None and error is None:  # e.g. a rejected duplicate opportunity
                    log.warning("journal refused a told write: %s", no)
        for kind, fn, fut, _ in items:
            if kind == "query":
                try:
                    self._settle(fut, fn(conn), None)
                except sqlite3.Error as exc:
                    self._settle(fut, None, exc)
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
            self._writer.close_inline()  # nothing is ever queued: each item was applied when handed over
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
