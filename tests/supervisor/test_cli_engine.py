"""The introspection CLI against the REAL engine: ``python -m supervisor --config FILE`` (the
embedded default tree: three simulated venues, three symbols each) runs as a subprocess, and
every command is run as a user would run it, as its own process, checking exit codes and
output. The tests share one engine (module fixture) and run in file order; the last one
stops it. A second engine on TCP checks the bearer token.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "config" / "default.toml"
VENUES = ("mexc", "gateio", "binance")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
BOOK = "venues/mexc/books/BTCUSDT"
T = TypeVar("T")


class Engine:
    def __init__(self, cfg: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.cfg, self.proc, self.log = cfg, proc, log

    def cli(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """``python -m supervisor ARGS --config CFG``, as a user types it."""
        return subprocess.run([sys.executable, "-m", "supervisor", *args, "--config", str(self.cfg)],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)

    def ok(self, *args: str) -> str:
        done = self.cli(*args)
        assert done.returncode == 0, f"{args} exited {done.returncode}: {done.stderr}\n{self.tail()}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def tail(self) -> str:
        return "engine log (tail):\n" + "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])

    def wait_for(self, probe: Callable[[], T | None], what: str, timeout_s: float = 20.0) -> T:
        """Poll ``probe`` until it returns something truthy (cross-process state), with a deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, \
                f"the engine exited ({self.proc.returncode}) while waiting for {what}\n{self.tail()}"
            value = probe()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}\n{self.tail()}"
            time.sleep(0.1)

    def inspect(self, path: str) -> dict[str, Any] | None:
        done = self.cli("inspect", path, "--json")
        return json.loads(done.stdout) if done.returncode == 0 else None

    def in_sync(self, path: str, **stats: Any) -> dict[str, Any] | None:
        """The inspect reply once ``path`` is a running book in sync (and its stats match)."""
        reply = self.inspect(path)
        if (reply and reply["stats"]["state"] == "running" and (reply["describe"] or {}).get("in_sync")
                and all(reply["stats"][k] == v for k, v in stats.items())):
            return reply
        return None


def write_config(directory: Path, *, tcp: bool = False, mexc_symbols: str | None = None) -> Path:
    text = DEFAULT.read_text()
    if mexc_symbols is not None:
        mexc, rest = text.split("[venues.gateio]", 1)
        mexc = mexc.replace('symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]', f"symbols = {mexc_symbols}")
        assert mexc_symbols in mexc, "config/default.toml changed shape"
        text = mexc + "[venues.gateio]" + rest
    text = text.replace('path = "~/.arbor/journal.sqlite"', f'path = "{directory}/journal.sqlite"')
    if tcp:
        text = text.replace('transport = "unix"', 'transport = "tcp"')
    assert str(directory) in text and (not tcp or 'transport = "tcp"' in text), "config/default.toml changed shape"
    cfg = directory / "engine.toml"
    cfg.write_text(text)
    return cfg


def start_engine(directory: Path, *, tcp: bool = False, mexc_symbols: str | None = None) -> Iterator[Engine]:
    cfg = write_config(directory, tcp=tcp, mexc_symbols=mexc_symbols)
    log = directory / "engine.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "supervisor", "--config", str(cfg), "--duration", "60"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    engine = Engine(cfg, proc, log)
    try:
        # The control files appear when the control actor (started last) is listening.
        engine.wait_for(lambda: (directory / "control.json").exists(), "control.json", timeout_s=30)
        engine.wait_for(lambda: engine.cli("ps", "--json").returncode == 0, "`ps --json` to answer")
        yield engine
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # a clean stop, as Ctrl-C would do
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    # a short directory: a unix socket path must fit in 108 bytes
    yield from start_engine(tmp_path_factory.mktemp("eng"))


def default_tree_paths() -> set[str]:
    paths = {"execution/journal", "execution/executor", "control"}
    for venue in VENUES:
        paths.add(f"venues/{venue}/connections/0")
        paths |= {f"venues/{venue}/books/{s}" for s in SYMBOLS}
    # the live account views (private streams) and WebSocket order entry (Binance, Gate.io)
    paths |= {f"venues/{v}/account" for v in VENUES} | ({"venues/binance/orders", "venues/gateio/orders"} & {
        f"venues/{v}/orders" for v in VENUES})
    paths |= {f"detectors/{s}" for s in SYMBOLS}
    return paths


# --- one engine, in file order ------------------------------------------------------------


def test_ps_filters_by_path_glob_kind_and_state_and_keeps_the_top_n_when_asked(engine: Engine) -> None:
    mexc = {r["path"] for r in engine.json("ps", "--path", "venues/mexc/books/*")}
    assert mexc == {f"venues/mexc/books/{s}" for s in SYMBOLS}
    assert {r["path"] for r in engine.json("ps", "--path", "venues/mexc/connections")} == \
        {"venues/mexc/connections", "venues/mexc/connections/0"}  # a subtree without a glob
    books = engine.json("ps", "--kind", "bookactor", "--state", "running")
    assert len(books) == len(VENUES) * len(SYMBOLS) and {r["kind"] for r in books} == {"BookActor"}
    top = engine.json("ps", "--sort", "rate", "--top", "2")
    assert len(top) == 2 and top[0]["rate_per_s"] >= top[1]["rate_per_s"]
    text = engine.ok("ps", "--kind", "DetectorActor")
    header = text.splitlines()[0]
    assert header.startswith("books ") and "in sync" in header and f"markets {len(SYMBOLS)}" in header
    assert f"actors {len(SYMBOLS)}/" in header


def test_ps_shows_every_actor_of_the_default_tree_running(engine: Engine) -> None:
    rows = {row["path"]: row for row in engine.json("ps")}
    supervisors = {"", "venues", "detectors", "execution"} | {f"venues/{v}" for v in VENUES} \
        | {f"venues/{v}/books" for v in VENUES} | {f"venues/{v}/connections" for v in VENUES}
    assert set(rows) == default_tree_paths() | supervisors
    assert all(row["state"] == "running" for row in rows.values()), \
        {p: r["state"] for p, r in rows.items() if r["state"] != "running"}
    assert {rows[f"venues/{v}/books/BTCUSDT"]["kind"] for v in VENUES} == {"BookActor"}
    assert rows["detectors/BTCUSDT"]["mailbox_policy"] == "conflate"
    table = engine.ok("ps").splitlines()[1:]  # under the summary header
    assert table[0].split()[:3] == ["PATH", "KIND", "STATE"]
    assert {line.split()[0] for line in table[1:]} == {p or "/" for p in rows}


def test_inspect_of_a_book_shows_it_in_sync_with_its_best_bid_below_its_best_ask(engine: Engine) -> None:
    reply = engine.wait_for(lambda: engine.in_sync(BOOK), f"{BOOK} in sync")
    assert reply["describe_type"] == "BookStatus"
    book = reply["describe"]
    assert (book["venue"], book["symbol"]) == ("mexc", "BTC/USDT")
    assert book["best_bid"] < book["best_ask"] and book["levels_bid"] > 0 and book["levels_ask"] > 0
    text = engine.ok("inspect", BOOK)
    assert f"path: {BOOK}" in text and "in_sync: True" in text and "describe (BookStatus)" in text


def test_restart_of_a_book_brings_it_back_in_sync_with_its_restart_counter_incremented(engine: Engine) -> None:
    before = engine.wait_for(lambda: engine.in_sync(BOOK), f"{BOOK} in sync")
    restarts = before["stats"]["restarts"]
    assert engine.ok("restart", BOOK).strip() == f"restarted {BOOK}"
    after = engine.wait_for(lambda: engine.in_sync(BOOK, restarts=restarts + 1),
                            f"{BOOK} back in sync with {restarts + 1} restarts")
    # a fresh instance: it fetched its own snapshot and counts its deltas from zero
    assert after["describe"]["resync_attempts"] >= 1
    assert after["describe"]["deltas_applied"] < before["describe"]["deltas_applied"] + 1000
    assert after["stats"]["last_failure"] is None  # a manual restart is not a crash of the actor
    siblings = {r["path"]: r["restarts"] for r in engine.json("ps")}
    assert siblings["venues/mexc/books/ETHUSDT"] == 0 and siblings["venues/mexc/connections/0"] == 0


def test_restart_or_inspect_of_a_path_that_does_not_exist_exits_1_naming_it(engine: Engine) -> None:
    for args in (("inspect", "venues/mexc/books/NOPEUSDT"), ("restart", "venues/nowhere")):
        done = engine.cli(*args)
        assert done.returncode == 1, done
        assert "no actor at path" in done.stderr and args[1] in done.stderr


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text format 0.0.4, strictly: every sample belongs to a family typed before it."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped"), line
            assert name not in types, f"family {name} typed twice"
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.groups()
        family = name.rsplit("_", 1)[0] if name.endswith(("_bucket", "_sum", "_count")) else name
        assert name in types or types.get(family) == "histogram", f"sample before its TYPE line: {line!r}"
        pairs = dict(LABEL.findall(labels)) if labels else {}
        assert not labels or ",".join(f'{k}="{v}"' for k, v in pairs.items()) == labels, line
        families.setdefault(name, []).append((pairs, float(value)))
    return families


def test_metrics_are_prometheus_text_per_kind_and_venue_and_per_path_for_the_few(engine: Engine) -> None:
    rows = {row["path"] or "/": row for row in engine.json("ps")}
    families = parse_prometheus(engine.ok("metrics"))
    up = {labels["path"]: value for labels, value in families["arbor_actor_up"]}
    few = {p for p, r in rows.items() if r["kind"] not in ("BookActor", "DetectorActor", "ConnectionActor")}
    assert set(up) == few and set(up.values()) == {1.0}  # books, detectors, shards: per kind and venue only
    restarts = {labels["path"]: value for labels, value in families["arbor_actor_restarts_total"]}
    assert restarts["execution/executor"] == rows["execution/executor"]["restarts"]  # the same figures as ps
    actors = {(labels["kind"], labels["venue"], labels["state"]): value for labels, value in families["arbor_actors"]}
    assert actors[("BookActor", "mexc", "running")] == len(SYMBOLS)
    assert actors[("DetectorActor", "", "running")] == len(SYMBOLS)
    waits = {(labels["kind"], labels["venue"]): value
             for labels, value in families["arbor_queue_wait_seconds_count"]}
    assert waits[("BookActor", "gateio")] > 0
    [(_, books)] = families["arbor_engine_books"]
    assert books == len(VENUES) * len(SYMBOLS)


def test_metrics_follow_prometheus_naming_counters_total_durations_seconds_and_no_precomputed_rates(
        engine: Engine) -> None:
    text = engine.ok("metrics")
    families = parse_prometheus(text)
    types = dict(line.split(" ")[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
    assert all(name.endswith("_total") for name, kind in types.items() if kind == "counter")
    assert {"arbor_engine_frames_total", "arbor_engine_opportunities_total", "arbor_engine_restarts_total",
            "arbor_engine_uptime_seconds"} <= set(families)
    assert not [n for n in families if n.endswith(("_per_s", "_per_second", "_s"))]


def test_tree_shows_the_supervision_tree_with_its_strategies(engine: Engine) -> None:
    lines = engine.ok("tree").splitlines()
    assert lines[0].startswith("/") and "one_for_one" in lines[0]
    by_name: dict[str, list[str]] = {}
    for line in lines:
        name = line.lstrip("│├└─ ").split()[0]
        by_name.setdefault(name, []).append(line)
    for venue in VENUES:
        [line] = by_name[venue]
        assert "rest_for_one" in line and "intensity" in line and "running" in line
    [execution] = by_name["execution"]
    assert "rest_for_one" in execution
    assert all("one_for_one" in line for line in by_name["books"] + by_name["detectors"] + by_name["venues"])
    assert len(by_name["BTCUSDT"]) == len(VENUES) + 1  # three books and a detector


def test_unsubscribe_then_subscribe_removes_the_book_and_brings_a_fresh_one_back_in_sync(engine: Engine) -> None:
    # The simulator only lists the configured symbols, so the market re-added is an existing one.
    path, connection = "venues/binance/books/SOLUSDT", "venues/binance/connections/0"
    engine.wait_for(lambda: engine.in_sync(path), f"{path} in sync")
    assert engine.ok("unsubscribe", "binance", "SOL/USDT").strip() == "unsubscribed binance SOL/USDT"
    gone = engine.cli("inspect", path)
    assert gone.returncode == 1 and "no actor at path" in gone.stderr
    assert path not in {r["path"] for r in engine.json("ps")}
    assert "SOL/USDT" not in engine.inspect(connection)["describe"]["subscriptions"]  # type: ignore[index]
    again = engine.cli("unsubscribe", "binance", "SOL/USDT")
    assert again.returncode == 1 and "not subscribed" in again.stderr

    assert "subscribed binance SOL/USDT" in engine.ok("subscribe", "binance", "SOL/USDT")
    reply = engine.wait_for(lambda: engine.in_sync(path), f"{path} back in sync")
    assert reply["stats"]["restarts"] == 0  # a new dynamic child, not a restart of the old one
    assert "SOL/USDT" in engine.inspect(connection)["describe"]["subscriptions"]  # type: ignore[index]
    assert engine.inspect(connection)["stats"]["restarts"] == 0  # type: ignore[index]
    bad = engine.cli("subscribe", "binance", "SOLUSDT")
    assert bad.returncode == 1 and "HTTP 400" in bad.stderr


def test_subscribing_to_a_market_the_venue_does_not_list_is_refused_and_builds_nothing(engine: Engine) -> None:
    refused = engine.cli("subscribe", "binance", "DOGE/USDT")
    assert refused.returncode == 1 and "binance does not list DOGE/USDT" in refused.stderr
    assert not {r["path"] for r in engine.json("ps")} & {"venues/binance/books/DOGEUSDT", "detectors/DOGEUSDT"}


def test_stop_exits_0_and_the_engine_exits_0_with_its_journal_flushed(engine: Engine) -> None:
    # The supervisor journals every restart, and the executor a record every time it starts.
    assert engine.ok("restart", "execution/executor").strip() == "restarted execution/executor"
    engine.wait_for(lambda: (r := engine.inspect("execution/executor")) and r["stats"]["restarts"] == 1
                    and r["stats"]["state"] == "running", "the executor running again")
    done = engine.cli("stop")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["stopping", "stopped"]
    assert engine.proc.wait(timeout=30) == 0, engine.tail()
    directory = engine.cfg.parent
    assert not (directory / "control.sock").exists() and not (directory / "control.json").exists()
    with sqlite3.connect(f"file:{directory / 'journal.sqlite'}?mode=ro", uri=True) as db:
        starts = db.execute("SELECT reason FROM restarts WHERE path = 'execution/executor' ORDER BY id").fetchall()
        assert starts == [("start",), ("manual",), ("start",)]
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after = engine.cli("ps")
    assert after.returncode == 1 and "no engine running" in after.stderr


# --- a second engine on TCP ---------------------------------------------------------------


@pytest.fixture
def tcp_engine(tmp_path: Path) -> Iterator[Engine]:
    yield from start_engine(tmp_path, tcp=True)


def test_a_tcp_engine_refuses_a_request_with_a_wrong_or_missing_token(tcp_engine: Engine, tmp_path: Path) -> None:
    address = json.loads((tmp_path / "control.json").read_text())
    assert address["transport"] == "tcp" and address["url"].startswith("http://127.0.0.1:")
    token_file = Path(address["token_file"])
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert tcp_engine.json("ps")  # the right token (found through the config) works

    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-" + token_file.read_text())
    for auth in (["--token-file", str(wrong)], []):
        done = subprocess.run([sys.executable, "-m", "supervisor", "ps", "--url", address["url"], *auth],
                              capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert done.returncode == 1, done
        assert "HTTP 401" in done.stderr and done.stdout == ""
        assert token_file.read_text() not in done.stderr  # the token is never echoed

    assert tcp_engine.ok("stop").split() == ["stopping", "stopped"]
    assert tcp_engine.proc.wait(timeout=30) == 0, tcp_engine.tail()
    assert not token_file.exists()


# --- markets outside the config -------------------------------------------------------------


@pytest.fixture
def mexc_without_sol(tmp_path: Path) -> Iterator[Engine]:
    # SOL/USDT stays configured on gateio and binance, so the simulator serves it on MEXC too.
    yield from start_engine(tmp_path, mexc_symbols='["BTC/USDT", "ETH/USDT"]')


def test_subscribing_mexc_to_a_symbol_outside_its_config_brings_the_book_in_sync(mexc_without_sol: Engine) -> None:
    engine = mexc_without_sol
    assert "subscribed mexc SOL/USDT" in engine.ok("subscribe", "mexc", "SOL/USDT")
    engine.wait_for(lambda: engine.in_sync("venues/mexc/books/SOLUSDT"), "mexc SOL/USDT in sync", timeout_s=8)
    assert engine.inspect("venues/mexc/connections/0")["stats"]["restarts"] == 0  # type: ignore[index]
