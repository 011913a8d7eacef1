"""How each journal record is written: ``apply`` writes one record inside the caller's
transaction, and ``RECORD_TYPES`` are the records it knows (a bare one told to the
``JournalActor`` is queued without an ack).

What it refuses, so nothing journaled is ever overwritten: a second ``OrderIntent`` under a
client id, or ``Opportunity`` under an id (raised as ``DuplicateClientOrderId`` /
``DuplicateOpportunityId``: the journal rolls that write back alone); a late
``OrderRejectedRecord`` or non-final update on an order whose status is final, and an
``OpportunityResult`` for an opportunity already settled, are ignored (a ``FeeCorrection``
changes only a settled one's money). A fill is one row per order, replaced, never appended twice.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from actors.journal_schema import FINAL_SQL, UNSETTLED_SQL
from protocols.errors import DuplicateClientOrderId, DuplicateOpportunityId
from protocols.messages import (
    Balances,
    FeeCorrection,
    Fill,
    LegLatency,
    MarketEvent,
    Opportunity,
    OpportunityResult,
    OrderIntent,
    OrderRejectedRecord,
    OrderUpdate,
    RestartRecord,
)

RECORD_TYPES = (Opportunity, OrderIntent, OrderUpdate, Fill, Balances, OrderRejectedRecord,
                OpportunityResult, RestartRecord, FeeCorrection, LegLatency, MarketEvent)


_INSERT_OPPORTUNITY = (
    "INSERT INTO opportunities (id, symbol, buy_venue, sell_venue, size, buy_price, sell_price, edge_bps,"
    " expected_pnl, buy_seq, sell_seq, created_ns, expires_ns, created_ms, updated_ms)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
_INSERT_INTENT = (
    "INSERT INTO orders (client_order_id, opportunity_id, venue, symbol, side, type, price, qty, status,"
    " created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,'intent',?,?)")


def _insert_new(conn: sqlite3.Connection, sql: str, row: tuple[Any, ...]) -> bool:
    """Insert ``row``; False when the table's primary key already holds its key (the failed
    statement changed nothing; the caller's transaction goes on)."""
    try:
        conn.execute(sql, row)
    except sqlite3.IntegrityError as exc:
        if exc.sqlite_errorname != "SQLITE_CONSTRAINT_PRIMARYKEY":  # any other constraint: a bug, raised
            raise
        return False
    return True


def apply(conn: sqlite3.Connection, rec: Any, now_ms: int) -> None:
    """Write one record (inside the caller's transaction)."""
    match rec:
        case Opportunity():
            # The primary key refuses an id held (one statement, no lookup first: this is the
            # executor's critical step, ``DurableWrites.commit_now``).
            if not _insert_new(conn, _INSERT_OPPORTUNITY, (
                    rec.id, rec.symbol, rec.buy_venue, rec.sell_venue, rec.size, rec.buy_price, rec.sell_price,
                    rec.edge_bps, rec.expected_pnl, rec.buy_seq, rec.sell_seq, rec.created_ns, rec.expires_ns,
                    now_ms, now_ms)):
                raise DuplicateOpportunityId(rec.id)
        case OrderIntent():
            if not _insert_new(conn, _INSERT_INTENT, (
                    rec.client_order_id, rec.opportunity_id, rec.venue, rec.symbol, rec.side, rec.order_type,
                    rec.price, rec.qty if rec.qty is not None else 0.0, now_ms, now_ms)):
                raise DuplicateClientOrderId(rec.client_order_id)
        case OrderUpdate():
            # Never downgrade a final status: a late "new" must not reopen a filled order.
            conn.execute(
                "INSERT INTO orders (client_order_id, venue, symbol, side, type, price, qty, status, filled_qty,"
                " filled_quote, fee, fee_asset, order_id, created_ms, updated_ms)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(client_order_id) DO UPDATE SET status=excluded.status,"
                " filled_qty=excluded.filled_qty, filled_quote=excluded.filled_quote, fee=excluded.fee,"
                " fee_asset=excluded.fee_asset, order_id=excluded.order_id, updated_ms=excluded.updated_ms"
                f" WHERE orders.status NOT IN {FINAL_SQL} OR excluded.status IN {FINAL_SQL}",
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
                f" WHERE client_order_id=? AND status NOT IN {FINAL_SQL}",
                (rec.status, rec.code, rec.message, now_ms, rec.client_order_id))
        case OpportunityResult():
            # A settled opportunity keeps its result (a duplicate id's result never replaces it).
            conn.execute(
                "UPDATE opportunities SET status=?, realised_pnl=?, detail=?, updated_ms=?, matched_qty=?,"
                " fees_quote=?, fee_unconverted=?, open_qty=?, open_venue=?, open_price=?"
                f" WHERE id=? AND status IN {UNSETTLED_SQL}",
                (rec.status, rec.realised_pnl, rec.detail, now_ms, rec.matched_qty, rec.fees_quote,
                 rec.fee_unconverted, rec.open_qty, rec.open_venue, rec.open_price, rec.opportunity_id))
        case FeeCorrection():
            # Money only: the status, quantities and settlement time (the day it counts for) stay.
            conn.execute(
                "UPDATE opportunities SET realised_pnl=?, fees_quote=?, fee_unconverted=?, detail=?"
                f" WHERE id=? AND status NOT IN {UNSETTLED_SQL}",
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
