"""The journal's queries, each a function of the connection run on the journal's writer
thread (so it sees every write queued before it): the open orders (``open_orders``), the
unsettled opportunities and those whose fee was estimated, each with all its orders
(``unsettled_opportunities``, ``estimated_fees``), realised PnL since a time
(``realised_since``), open positions (``open_positions``), the counts (``summary``) and the
market changes (``market_events``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from actors.journal_schema import FINAL_SQL, UNSETTLED, UNSETTLED_SQL
from protocols.messages import (
    EstimatedFees,
    JournalOpportunity,
    JournalOrder,
    JournalPosition,
    JournalSummary,
    MarketEvent,
    MarketEvents,
    OpenOrders,
    OpenPositions,
    RealisedPnl,
    UnsettledOpportunities,
)

_ORDER_COLUMNS = ("client_order_id, opportunity_id, venue, symbol, side, status, qty, price, filled_qty,"
                  " filled_quote, fee, fee_asset")


def _order(r: tuple[Any, ...]) -> JournalOrder:
    return JournalOrder(client_order_id=r[0], opportunity_id=r[1], venue=r[2], symbol=r[3], side=r[4],
                        status=r[5], qty=r[6], price=r[7], filled_qty=r[8], filled_quote=r[9], fee=r[10],
                        fee_asset=r[11])


def open_orders(conn: sqlite3.Connection) -> OpenOrders:
    rows = conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status NOT IN {FINAL_SQL}"
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
        f"SELECT {_OPPORTUNITY_COLUMNS} FROM opportunities o WHERE status NOT IN {UNSETTLED_SQL}"
        " AND EXISTS (SELECT 1 FROM orders WHERE opportunity_id = o.id AND filled_qty > 0 AND fee_asset = ''"
        f" AND status IN {FINAL_SQL}) ORDER BY created_ms DESC, id LIMIT ?", (limit,)).fetchall()
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
        f" WHERE open_qty != 0 AND status NOT IN {UNSETTLED_SQL} GROUP BY open_venue, symbol"
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
