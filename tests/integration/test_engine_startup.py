"""Start-up through the real entry point (``python -m supervisor``) against a simulator the test
runs: a 429, a 503 and a held response from the venues during start-up are retried and the
engine runs; credentials a venue refuses end the start with exit 4 and one line naming it; the
journal makes its own directory, and one it cannot make ends the start with exit 3; the
embedded simulator's admin API needs the token the engine writes beside the control files."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import aiohttp
import pytest

from engine_harness import engine_running, engine_toml
from simulator import SimConfig, Simulator

ROOT = Path(__file__).resolve().parents[2]
VENUES = ("mexc", "gateio", "binance")


def config_for(sim: Simulator, directory: Path) -> Path:
    """The three venues as *real* (non-simulated) venues at the simulator's URLs, keys from env."""
    venues = {name: {"rest_url": sim.venues[name].rest_url, "ws_url": sim.venues[name].ws_url,
                     "api_key_env": f"T_{name.upper()}_KEY", "api_secret_env": f"T_{name.upper()}_SECRET"}
              for name in VENUES}
    path = directory / "engine.toml"
    path.write_text(engine_toml(directory, venues=venues))
    return path


def env_for(sim: Simulator, **secrets: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in VENUES:
        creds = sim.venues[name].credentials
        env[f"T_{name.upper()}_KEY"] = creds.api_key
        env[f"T_{name.upper()}_SECRET"] = secrets.get(name, creds.secret)
    return env


async def run_engine(cfg: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "supervisor", "--config", str(cfg), *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 50)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode()


async def test_a_429_a_503_and_a_held_response_at_start_up_are_retried_and_the_engine_runs(state_dir: Path) -> None:
    async with Simulator(SimConfig(seed=1, fault_timeout_s=0.5)) as sim:
        sim.venues["binance"].faults.inject("http_429")
        sim.venues["gateio"].faults.inject("http_5xx")
        sim.venues["mexc"].faults.inject("timeout")
        code, out = await run_engine(config_for(sim, state_dir), env_for(sim), "--duration", "2")
        fired = {name: sim.venues[name].faults.counts for name in VENUES}
    assert code == 0, out
    assert (fired["binance"]["http_429"], fired["gateio"]["http_5xx"], fired["mexc"]["timeout"]) == (1, 1, 1)
    assert "Traceback" not in out
    retried = [line for line in out.splitlines() if "start-up:" in line and "retrying" in line]
    assert len(retried) == 3 and {v for v in VENUES if any(line.count(v) for line in retried)} == set(VENUES), out


@pytest.mark.parametrize("venue", VENUES)
async def test_credentials_a_venue_refuses_exit_4_with_one_line_naming_the_venue(state_dir: Path, venue: str) -> None:
    async with Simulator(SimConfig(seed=1)) as sim:
        code, out = await run_engine(config_for(sim, state_dir), env_for(sim, **{venue: "not-the-secret"}),
                                     "--duration", "5")
    assert code == 4, out
    assert "Traceback" not in out
    [line] = [line for line in out.splitlines() if "CRITICAL" in line]
    assert "credentials refused" in line and f"{venue}:" in line, out


def embedded_config(directory: Path, journal: Path, state_dir: Path) -> Path:
    path = directory / "engine.toml"
    text = engine_toml(directory, venues={"binance": {}})
    text = text.replace(f'path = "{directory / "journal.sqlite"}"', f'path = "{journal}"')
    path.write_text(text + f'[control]\nstate_dir = "{state_dir}"\n')
    return path


async def test_journal_in_a_directory_that_does_not_exist_yet_starts_with_no_restart_and_no_warning(
        state_dir: Path) -> None:
    journal = state_dir / "fresh" / "deeper" / "journal.sqlite"
    cfg = embedded_config(state_dir, journal, state_dir / "elsewhere")
    code, out = await run_engine(cfg, dict(os.environ), "--duration", "2")
    assert code == 0, out
    assert journal.exists()
    assert "WARNING" not in out and "restarting" not in out, out
    assert '"restarts":0' in out, out  # the final summary


async def test_journal_path_that_cannot_be_created_exits_3_with_one_line_naming_the_journal(state_dir: Path) -> None:
    blocker = state_dir / "a-file"
    blocker.write_text("not a directory")
    cfg = embedded_config(state_dir, blocker / "journal.sqlite", state_dir / "ctl")
    code, out = await run_engine(cfg, dict(os.environ), "--duration", "5")
    assert code == 3, out
    assert "Traceback" not in out and "WARNING" not in out, out  # no restart was tried
    [line] = [line for line in out.splitlines() if "CRITICAL" in line]
    assert "execution/journal" in line and "a-file" in line, out


async def test_the_embedded_simulators_admin_api_needs_the_token_the_engine_writes_0600(state_dir: Path) -> None:
    async with engine_running(state_dir) as h:
        token_file = state_dir / "sim.token"
        assert stat.S_IMODE(os.lstat(token_file).st_mode) == 0o600
        token = token_file.read_text()
        assert token == h.sim.admin_token
        url = h.sim.venues["binance"].admin_url + "/faults"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={"kind": "http_5xx"}) as r:
                assert r.status == 401
            async with http.post(url, json={"kind": "http_5xx"}, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200 and (await r.json())["armed"] == {"http_5xx": 1}
    assert not token_file.exists()


async def test_the_embedded_default_on_a_fresh_home_starts_with_no_restart_and_no_warning(state_dir: Path) -> None:
    home = state_dir / "home"
    home.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "supervisor", "--duration", "3", cwd=ROOT, env={**os.environ, "HOME": str(home)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await asyncio.wait_for(proc.communicate(), 50))[0].decode()
    assert proc.returncode == 0, out
    assert (home / ".arbor" / "journal.sqlite").exists()
    assert stat.S_IMODE(os.stat(home / ".arbor").st_mode) == 0o700
    assert "WARNING" not in out and '"restarts":0' in out, out
