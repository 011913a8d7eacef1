"""The journal's SQLite file: its tables (``SCHEMA``), the columns added since the first
release (``ADDED_COLUMNS``, added to an older file by ``migrate``), ``connect`` (open or
create a file with the durability pragmas) and which order and opportunity statuses are final
(``JOURNAL_FINAL``, ``UNSETTLED``, and their SQL lists for ``status IN ...``).

Used by the journal's writer (``actors.journal``), how records are written
(``actors.journal_records``) and its queries (``actors.journal_queries``).
"""

from __future__ import annotations

import sqlite3

from protocols.messages import FINAL_STATUSES

# An order is open (to be reconciled) until it reaches one of these. "intent" is journaled but
# not confirmed by the venue; "paper" was journaled and deliberately never sent.
JOURNAL_FINAL: frozenset[str] = FINAL_STATUSES | {"paper"}
# An opportunity is settled once it has a result other than these: "detected" (journaled, the
# process died before the result) and "pending" (a leg's outcome was unknown when it ended).
UNSETTLED: tuple[str, ...] = ("detected", "pending")

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

# SQL lists for ``status IN ...`` / ``status NOT IN ...``.
FINAL_SQL = "(" + ", ".join(f"'{s}'" for s in sorted(JOURNAL_FINAL)) + ")"
UNSETTLED_SQL = "(" + ", ".join(f"'{s}'" for s in UNSETTLED) + ")"


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

