"""``python -m supervisor`` as a real process: bad configs exit 2 naming the field, SIGTERM is a
clean stop with the journal flushed, and a kill -9 with legs in flight is reconciled on the
next start (journal and venue agree).

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
from typing import Any

import pytest
from engine_harness import (
    SYMBOLS,
    VENUES,
    assert_journal_matches_venues,
    engine_toml,
    journal_rows,
    venue_client_id,
    venue_status,
    wait_until,
)

from actors.journal import JOURNAL_FINAL
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

def hold_order_answers(sim: Simulator, release: asyncio.Event) -> Callable[[], None]:
    """Every order executes on the venue, then its answer is held until ``release``: the
    engine has the leg in flight (journaled intent, order on the venue, no answer). The
    simulator's fault kinds cannot do this (``order_unknown`` answers at once, ``timeout``
    holds a request before it executes), so the venue's post-execution hook is wrapped.
    Returns the undo."""
    originals = {name: server.order_unknown for name, server in sim.venues.items()}

    def wrap(original: Any) -> Any:
        async def held() -> Any:
            await release.wait()
            return await original()
        return held

    for name, server in sim.venues.items():
        server.order_unknown = wrap(originals[name])  # type: ignore[method-assign]

    def undo() -> None:
        for name, server in sim.venues.items():
            server.order_unknown = originals[name]  # type: ignore[method-assign]
    return undo


async def test_kill_9_with_a_leg_in_flight_is_reconciled_on_restart_journal_and_venue_agree(
        state_dir: Path, reaper: list[subprocess.Popen[bytes]]) -> None:
    journal = state_dir / "journal.sqlite"
    async with Simulator(SimConfig(seed=1, symbols=SYMBOLS, updates_per_s=300.0)) as sim:
        env, venues = {}, {}
        for name in VENUES:
            server = sim.venues[name]
            key, secret = f"ARBOR_IT_{name.upper()}_KEY", f"ARBOR_IT_{name.upper()}_SECRET"
            env[key], env[secret] = server.credentials.api_key, server.credentials.secret
            venues[name] = {"rest_url": server.rest_url, "ws_url": server.ws_url, "api_key_env": key,
                            "api_secret_env": secret}
        cfg = state_dir / "engine.toml"
        cfg.write_text(engine_toml(state_dir, venues=venues))
        release = asyncio.Event()
        undo = hold_order_answers(sim, release)

        first = engine(cfg, "--live", env=env)
        reaper.append(first)

        def in_flight() -> list[tuple[Any, ...]]:
            landed = {cid for server in sim.venues.values() for cid in server.orders}
            return [(cid, v) for cid, v in rows_soon(journal, OPEN_ORDERS, FINAL) if venue_client_id(v, cid) in landed]

        flying = await wait_until(in_flight, timeout=20, what="a journaled order on its venue without an answer")
        first.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
        undo()
        release.set()  # the held answers go to a dead socket

        open_at_kill = rows(journal, OPEN_ORDERS, FINAL)
        assert set(flying) <= set(open_at_kill)
        second = engine(cfg, "--live", env=env)
        reaper.append(second)
        ids = [cid for cid, _ in open_at_kill]
        await wait_until(lambda: not rows(journal, OPEN_ORDERS + f" AND client_order_id IN ({','.join('?' * len(ids))})",
                                          FINAL + tuple(ids)),
                         timeout=20, what="every order open at the kill settled by reconciliation")
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 20) == 0
        assert rows(journal, OPEN_ORDERS, FINAL) == []
        assert_journal_matches_venues(journal, sim)
        for cid, venue in flying:  # the landed legs: journaled with the venue's own outcome
            status, = rows(journal, "SELECT status FROM orders WHERE client_order_id = ?", (cid,))[0]
            assert status == venue_status(venue, sim.venues[venue].orders[venue_client_id(venue, cid)])
