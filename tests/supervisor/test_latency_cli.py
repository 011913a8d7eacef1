"""``python -m supervisor latency`` reads the legs' timelines (journal latency columns) and
prints per-stage percentiles; an older journal gains the columns when opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from actors.journal_records import apply
from actors.journal_schema import connect
from protocols.messages import LegLatency, OrderIntent
from supervisor import cli, latency


def leg(opp: str, cid: str, side: str) -> OrderIntent:
    return OrderIntent(client_order_id=cid, opportunity_id=opp, venue="binance", symbol="BTC/USDT", side=side,
                       order_type="ioc", qty=0.001, price=100.0)


def journal_with_two_opportunities(path: Path) -> None:
    conn = connect(str(path))
    for opp, base in (("o1", 1_000_000), ("o2", 5_000_000)):
        for cid, side, sent in ((f"{opp}b", "buy", 300_000), (f"{opp}s", "sell", 310_000)):
            apply(conn, leg(opp, cid, side), 0)
            apply(conn, LegLatency(client_order_id=cid, detected_ns=base, intent_ns=base + 200_000,
                                   sent_ns=base + sent, ack_ns=base + sent + 500_000, fill_ns=base + sent + 500_000,
                                   ack_source="stream" if side == "buy" else "reply"), 0)
    apply(conn, leg("o3", "o3b", "buy"), 0)  # paper: no timeline, left out
    conn.close()


def test_the_stages_are_read_from_the_journal_columns(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal_with_two_opportunities(path)
    r = latency.read(path)
    stages = {s.name: s for s in r.stages}
    assert r.legs == 4 and r.acks_by_source == {"reply": 2, "stream": 2}
    assert stages["detect->intent"].p50_us == pytest.approx(200.0)
    assert stages["detect->sent"].max_us == pytest.approx(310.0)
    assert stages["sent->ack"].p99_us == pytest.approx(500.0)
    assert stages["second leg sent after first"].n == 2
    assert stages["second leg sent after first"].p50_us == pytest.approx(10.0)


def test_the_cli_prints_the_stages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.sqlite"
    journal_with_two_opportunities(path)
    assert cli.main(["latency", "--journal", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4 legs with a timeline; first answer from: reply 2, stream 2" in out
    assert "intent->sent" in out and "second leg sent after first" in out


def test_an_older_journal_gains_the_latency_columns_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, opportunity_id TEXT NOT NULL DEFAULT '',"
                " venue TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL, price REAL,"
                " qty REAL NOT NULL, status TEXT NOT NULL, filled_qty REAL NOT NULL DEFAULT 0,"
                " filled_quote REAL NOT NULL DEFAULT 0, fee REAL NOT NULL DEFAULT 0,"
                " fee_asset TEXT NOT NULL DEFAULT '', venue_code TEXT NOT NULL DEFAULT '',"
                " venue_message TEXT NOT NULL DEFAULT '', order_id TEXT NOT NULL DEFAULT '',"
                " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL)")
    old.execute("INSERT INTO orders (client_order_id, venue, symbol, side, type, qty, status, created_ms,"
                " updated_ms) VALUES ('x', 'mexc', 'BTC/USDT', 'buy', 'ioc', 1, 'filled', 0, 0)")
    old.commit()
    old.close()
    connect(str(path)).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT detected_ns, sent_ns, ack_source FROM orders").fetchall() == [(None, None, "")]
    conn.close()
    assert latency.read(path).legs == 0
