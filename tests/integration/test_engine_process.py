"""``python -m supervisor`` as a real process: bad configs exit 2 naming the field, SIGTERM is a
clean stop with the journal flushed, and a kill -9 with legs in flight is reconciled on the
next start (journal and venue agree, the lone landed leg is hedged, the opportunity's result and
realised PnL are journaled). The legs are held in flight by the simulator's ``order_timeout``
and ``order_latency`` faults.

The kill -9 test runs the simulator in the test process (an embedded one would die with the
engine) and the engine with ``--live`` against it through non-simulated venues whose URLs point
at the loopback simulator, with the simulator's credentials in the environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from actors.journal_schema import JOURNAL_FINAL
from actors.risk import client_order_id
from engine_harness import (
    SYMBOLS,
    assert_journal_matches_venues,
    engine_toml,
    journal_rows,
    venue_client_id,
    venue_status,
    wait_until,
)
from simulator import SimConfig, Simulator

ROOT = Path(__file__).resolve().parents[2]
FINAL = tuple(sorted(JOURNAL_FINAL))
OPEN_ORDERS = f"SELECT client_order_id, venue FROM orders WHERE status NOT IN ({','.join('?' * len(FINAL))})"


def engine(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = cfg.with_suffix(f".{time.monotonic_ns()}.log").open("wb")
    try:
        return subprocess.Popen([sys.executable, "-m", "supervisor", "--config", str(cfg), *args], cwd=ROOT,
                                env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()  # the child has its own copy


def poll(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Cross-process state: poll with a deadline (sync tests)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(0.05)


def rows(journal: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return journal_rows(journal, sql, params)


def rows_soon(journal: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """For polling while the engine starts: a journal not created yet (no file, no schema yet)
    reads as empty."""
    try:
        return journal_rows(journal, sql, params)
    except sqlite3.OperationalError:
        return []


@pytest.fixture
def reaper() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Engines a test started; any still running at the end is killed (by its pid)."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


# --- bad configs ---------------------------------------------------------------------------

GOOD_VENUE = '[venues.mexc]\nkind = "mexc"\nsimulated = true\nsymbols = ["BTC/USDT"]\n'


@pytest.mark.parametrize(("toml", "path"), [
    (GOOD_VENUE + '[detector]\nmin_edge_bps = "five"\n', "detector.min_edge_bps"),
    (GOOD_VENUE + "[risk]\nmax_notionall = 5.0\n", "risk.max_notionall"),
    ('[venues.mexc]\nkind = "mexc"\nsimulated = true\nsymbols = ["BTC/USDT", "ETHUSDT"]\n', "venues.mexc.symbols[1]"),
    ('[venues.mexc]\nkind = "kraken"\nsymbols = ["BTC/USDT"]\n', "venues.mexc.kind"),
], ids=["wrong-type", "unknown-field", "bad-symbol", "bad-kind"])
def test_bad_config_file_exits_2_and_names_the_field_path(tmp_path: Path, toml: str, path: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(toml)
    done = subprocess.run([sys.executable, "-m", "supervisor", "--config", str(bad), "--duration", "1"],
                          cwd=ROOT, capture_output=True, timeout=30)
    assert done.returncode == 2, done.stderr.decode()
    assert path in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


# --- the per-frame core --------------------------------------------------------------------

@pytest.mark.parametrize("pure", ["1", ""], ids=["pure-selected", "default"])
def test_the_engine_logs_which_per_frame_core_it_runs(state_dir: Path, pure: str) -> None:
    cfg = state_dir / "engine.toml"
    cfg.write_text(engine_toml(state_dir))
    done = subprocess.run([sys.executable, "-m", "supervisor", "--config", str(cfg), "--duration", "0.5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=45,
                          env={**os.environ, "ARBOR_PURE_PYTHON": pure})
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stderr.splitlines() if "per-frame core:" in ln)
    if pure:
        assert ("book python (ARBOR_PURE_PYTHON=1), MEXC decode python (ARBOR_PURE_PYTHON=1), "
                "JSON levels untracked python (ARBOR_PURE_PYTHON=1), "
                "JSON depth decode python (ARBOR_PURE_PYTHON=1)") in line
    else:
        from actors import l2book  # this checkout's choice, made the same way
        from protocols.binance import codec
        assert f"book {l2book.CORE}" in line and f"JSON depth decode {codec.CORE}" in line


# --- SIGTERM -------------------------------------------------------------------------------

def test_sigterm_exits_0_with_the_journal_flushed_and_the_control_socket_removed(
        state_dir: Path, reaper: list[subprocess.Popen[bytes]]) -> None:
    cfg = state_dir / "engine.toml"
    cfg.write_text(engine_toml(state_dir))
    journal, sock = state_dir / "journal.sqlite", state_dir / "control.sock"
    proc = engine(cfg, "--duration", "60")
    reaper.append(proc)
    poll(lambda: sock.exists(), timeout=15, what="the control socket")
    poll(lambda: rows_soon(journal, "SELECT 1 FROM orders"), timeout=15, what="an order in the journal")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert not sock.exists(), "the control socket was left behind"
    assert rows(journal, "SELECT count(*) FROM opportunities")[0][0] >= 1
    assert rows(journal, OPEN_ORDERS, FINAL) == [], "an order was left without a final status"


# --- kill -9 with a leg in flight -----------------------------------------------------------


async def test_kill_9_with_one_leg_landed_is_reconciled_on_restart_the_leg_hedged_and_the_result_journaled(
        state_dir: Path, reaper: list[subprocess.Popen[bytes]]) -> None:
    """Two venues, so the first opportunity has a leg on each. On MEXC its order request is held
    before it executes (``order_timeout``: it never lands); on Gate the order executes and its
    answer is held (``order_latency``), and its push on the private stream is lost
    (``private_miss``: the push would settle the leg without the answer). Killed then, the
    journal has both legs open. The next start must settle both from the venues, hedge the lone
    landed leg with a bounded IOC on the other venue, and journal the opportunity's result with
    its realised PnL."""
    journal = state_dir / "journal.sqlite"
    two = ("mexc", "gateio")
    held_s = 60.0  # longer than the test: held requests are let go when the simulator stops
    async with Simulator(SimConfig(seed=1, symbols=SYMBOLS, updates_per_s=300.0, fault_order_latency_s=held_s,
                                   fault_timeout_s=held_s)) as sim:
        env, venues = {}, {}
        for name in two:
            server = sim.venues[name]
            key, secret = f"ARBOR_IT_{name.upper()}_KEY", f"ARBOR_IT_{name.upper()}_SECRET"
            env[key], env[secret] = server.credentials.api_key, server.credentials.secret
            venues[name] = {"rest_url": server.rest_url, "ws_url": server.ws_url, "api_key_env": key,
                            "api_secret_env": secret}
        cfg = state_dir / "engine.toml"
        cfg.write_text(engine_toml(state_dir, venues=venues))
        sim.venues["mexc"].faults.inject("order_timeout")
        sim.venues["gateio"].faults.inject("order_latency")
        sim.venues["gateio"].faults.inject("private_miss")

        first = engine(cfg, "--live", env=env)
        reaper.append(first)

        def in_flight() -> list[tuple[Any, ...]]:
            if sim.venues["mexc"].faults.counts["order_timeout"] < 1:
                return []
            landed = sim.venues["gateio"].orders
            return [(cid, v) for cid, v in rows_soon(journal, OPEN_ORDERS, FINAL) if venue_client_id(v, cid) in landed]

        flying = await wait_until(in_flight, timeout=20, what="a journaled Gate order on the venue without an answer"
                                                               " while its MEXC twin is held unexecuted")
        first.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
        for name in two:
            sim.venues[name].faults.clear()

        [(landed_id, _)] = flying
        [(opp_id,)] = rows(journal, "SELECT opportunity_id FROM orders WHERE client_order_id = ?", (landed_id,))
        legs_at_kill = rows(journal, "SELECT client_order_id, venue, status FROM orders WHERE opportunity_id = ?",
                            (opp_id,))
        assert len(legs_at_kill) == 2 and all(status not in JOURNAL_FINAL for _, _, status in legs_at_kill)
        [(lost_id, _, _)] = [leg for leg in legs_at_kill if leg[1] == "mexc"]
        assert rows(journal, "SELECT status FROM opportunities WHERE id = ?", (opp_id,)) == [("detected",)]

        second = engine(cfg, "--live", env=env)
        reaper.append(second)
        await wait_until(lambda: rows(journal, "SELECT 1 FROM opportunities WHERE id = ?"
                                               " AND status NOT IN ('detected', 'pending')", (opp_id,)),
                         timeout=20, what="the opportunity open at the kill settled by reconciliation")
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 20) == 0
        assert rows(journal, OPEN_ORDERS, FINAL) == []
        assert_journal_matches_venues(journal, sim)

        [(symbol, buy_price, sell_price, status, pnl)] = rows(
            journal, "SELECT symbol, buy_price, sell_price, status, realised_pnl FROM opportunities WHERE id = ?",
            (opp_id,))
        orders = {r[0]: SimpleNamespace(venue=r[1], side=r[2], status=r[3], qty=r[4], price=r[5], filled_qty=r[6],
                                        filled_quote=r[7], fee=r[8], fee_asset=r[9]) for r in rows(
            journal, "SELECT client_order_id, venue, side, status, qty, price, filled_qty, filled_quote, fee,"
                     " fee_asset FROM orders WHERE opportunity_id = ?", (opp_id,))}
        lost, landed = orders[lost_id], orders[landed_id]
        assert lost.status == "rejected" and venue_client_id("mexc", lost_id) not in sim.venues["mexc"].orders
        gate = sim.venues["gateio"].orders[venue_client_id("gateio", landed_id)]
        assert landed.status == venue_status("gateio", gate)  # the venue's own outcome
        hedge_id = client_order_id(opp_id, "u")
        step = sim.venues["mexc"].books[symbol].spec.step  # the simulator's lot step, the same on every venue
        if landed.filled_qty >= step:  # a lone filled leg: hedged with one bounded IOC on the other venue
            hedge, slip = orders[hedge_id], 20e-4  # RiskParams.unwind_slippage_bps default
            assert (hedge.venue, hedge.side) == ("mexc", "sell" if landed.side == "buy" else "buy")
            assert hedge.qty == pytest.approx(landed.filled_qty)
            assert hedge.price == pytest.approx(sell_price * (1 - slip) if landed.side == "buy"
                                                else buy_price * (1 + slip))
            assert venue_client_id("mexc", hedge_id) in sim.venues["mexc"].orders
        else:  # nothing filled: nothing to hedge
            assert hedge_id not in orders
        # Expected PnL from the simulator's own records of every order of the opportunity,
        # computed here: matched base x (average sell - average buy) - every fee in quote.
        flows = {"buy": [0.0, 0.0], "sell": [0.0, 0.0]}  # side -> [base, quote]
        fees = 0.0
        for cid, o in orders.items():
            on_venue = sim.venues[o.venue].orders.get(venue_client_id(o.venue, cid))
            if on_venue is None or not on_venue.filled:
                continue
            qty = on_venue.filled * sim.venues[o.venue].books[symbol].spec.step
            flows[on_venue.side][0] += qty
            flows[on_venue.side][1] += on_venue.filled_quote
            fees += on_venue.fee * on_venue.filled_quote / qty if on_venue.fee_asset == symbol.split("/")[0] \
                else on_venue.fee
        (bought, paid), (sold, received) = flows["buy"], flows["sell"]
        matched = min(bought, sold)
        expected = (matched * (received / sold - paid / bought) if matched else 0.0) - fees
        assert pnl == pytest.approx(expected, rel=1e-6, abs=1e-6)
        if landed.filled_qty >= step:
            assert fees > 0  # the venues charged fees, and the PnL nets them
        assert status in ("executed", "partial", "unfilled")
