"""The control endpoint and the CLI against a REAL small tree on the real runtime: a couple of
trivial actors under a supervisor, plus a ControlActor whose EngineHandle is a tiny real
implementation over that tree. The CLI is driven in-process (``cli.main_async``) and once as a
``python -m supervisor`` subprocess."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

import config
from actors import Actor, ActorStats, spawn
from config import ControlConfig
from protocols.errors import ConfigError, PermanentFailure
from protocols.messages import Msg
from supervisor import ChildSpec, Supervisor, cli, run
from supervisor.control import ControlActor, ErrorReply
from testkit import eventually

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? [-+]?(NaN|Inf|\d+(\.\d*)?([eE][-+]?\d+)?)$')


class Ping(Msg, kw_only=True):
    text: str = "ping"


class EchoStatus(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    last: str | None
    api_secret: str  # a credential-looking field: the endpoint must hide it


class Echo(Actor[Ping]):
    def __init__(self) -> None:
        self.count, self.last = 0, None

    async def receive(self, msg: Ping) -> Ping:
        self.count, self.last = self.count + 1, msg.text
        return msg

    def describe(self) -> EchoStatus:
        return EchoStatus(count=self.count, last=self.last, api_secret="hunter2-never-shown")


class Idle(Actor[Ping]):
    pass


class TinySummary(msgspec.Struct, frozen=True, kw_only=True):
    actors: int
    subscriptions: int


class TinyEngine:
    """A real EngineHandle over a running tree: markets are a set, stop is an event."""

    def __init__(self) -> None:
        self.tree: Any = None
        self.markets: set[tuple[str, str]] = set()
        self.stop_requested = asyncio.Event()

    async def subscribe(self, venue: str, symbol: str) -> None:
        if venue != "sim":
            raise LookupError(f"no venue {venue!r}")
        self.markets.add((venue, symbol))

    async def unsubscribe(self, venue: str, symbol: str) -> None:
        if (venue, symbol) not in self.markets:
            raise LookupError(f"{venue} {symbol} is not subscribed")
        self.markets.discard((venue, symbol))

    def request_stop(self) -> None:
        self.stop_requested.set()

    def summary(self) -> TinySummary:
        return TinySummary(actors=len(self.tree.stats()), subscriptions=len(self.markets))


def control_config(directory: Path, transport: str = "unix") -> ControlConfig:
    return ControlConfig(transport=transport, unix_path=str(directory / "control.sock"),  # type: ignore[arg-type]
                         state_dir=str(directory))


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Short on purpose: a unix socket path must fit in 107 bytes.
    with tempfile.TemporaryDirectory(prefix="arb") as d:
        yield Path(d)


async def start_tree(engine: TinyEngine, cfg: ControlConfig) -> Any:
    root = Supervisor([
        ChildSpec("workers", lambda: Supervisor([ChildSpec("echo", Echo), ChildSpec("idle", Idle)],
                                                strategy="one_for_one", max_restarts=3, within_s=5.0)),
        ChildSpec("control", lambda: ControlActor(engine=engine, config=cfg)),
    ], strategy="one_for_one", max_restarts=3, within_s=5.0)
    return run(root)


@pytest.fixture
async def engine(state_dir: Path) -> AsyncIterator[TinyEngine]:
    handle = TinyEngine()
    async with await start_tree(handle, control_config(state_dir)) as tree:
        handle.tree = tree
        yield handle


async def cli_run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await cli.main_async(list(argv), out=out)
    return code, out.getvalue()


def sock(state_dir: Path) -> list[str]:
    return ["--socket", str(state_dir / "control.sock")]


async def test_ps_shows_every_actor_of_the_tree(engine: TinyEngine, state_dir: Path) -> None:
    code, out = await cli_run("ps", *sock(state_dir))
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}  # under the header and column names
    paths = {s.path or "/" for s in engine.tree.stats()}
    assert {"workers", "workers/echo", "workers/idle", "control"} <= paths
    assert set(rows) == paths
    assert rows["workers/echo"][1:3] == ["Echo", "running"]


async def test_ps_json_is_the_stats_of_every_actor(engine: TinyEngine, state_dir: Path) -> None:
    code, out = await cli_run("ps", "--json", "--sort", "restarts", *sock(state_dir))
    assert code == 0
    rows = msgspec.json.decode(out, type=list[ActorStats])
    assert {r.path for r in rows} == {s.path for s in engine.tree.stats()}


async def test_inspect_shows_the_actors_describe_and_hides_credential_fields(
        engine: TinyEngine, state_dir: Path) -> None:
    echo = engine.tree.lookup("workers/echo")
    for text in ("a", "b", "c"):
        await echo.ask(Ping(text=text))
    code, out = await cli_run("inspect", "workers/echo", *sock(state_dir))
    assert code == 0
    lines = out.splitlines()
    assert "path: workers/echo" in lines and "state: running" in lines
    assert "describe (EchoStatus):" in lines
    assert "  count: 3" in lines and "  last: c" in lines
    assert "  api_secret: <hidden>" in lines
    assert "hunter2" not in out
    code, raw = await cli_run("inspect", "--json", "workers/echo", *sock(state_dir))
    assert msgspec.json.decode(raw)["describe"]["count"] == 3 and "hunter2" not in raw


async def test_restart_through_the_cli_increments_the_restart_counter(engine: TinyEngine, state_dir: Path) -> None:
    echo = engine.tree.lookup("workers/echo")
    await echo.ask(Ping())
    assert echo.stats().restarts == 0
    code, out = await cli_run("restart", "workers/echo", *sock(state_dir))
    assert code == 0 and "restarted workers/echo" in out
    assert echo.stats().restarts == 1
    assert await echo.ask(Ping(text="again")) == Ping(text="again")  # the same ref, a fresh actor
    code, out = await cli_run("inspect", "workers/echo", *sock(state_dir))
    assert "restarts: 1" in out.splitlines() and "  count: 1" in out.splitlines()


async def test_metrics_parse_as_prometheus_text_with_a_sample_per_actor_and_per_kind(
        engine: TinyEngine, state_dir: Path) -> None:
    code, text = await cli_run("metrics", *sock(state_dir))
    assert code == 0
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    for line in samples:
        assert SAMPLE.match(line), f"not a Prometheus sample: {line!r}"
    depth = [line for line in samples if line.startswith("arbor_actor_mailbox_depth{")]
    assert len(depth) == len(engine.tree.stats())  # no books or detectors here: every actor has its series
    assert any('path="workers/echo"' in line for line in depth)
    assert any(line.startswith('arbor_queue_wait_seconds_count{kind="Echo",venue=""}') for line in samples)
    assert "arbor_engine_subscriptions 0.0" in samples


async def test_tree_draws_supervisors_with_strategy_intensity_and_child_states(
        engine: TinyEngine, state_dir: Path) -> None:
    code, out = await cli_run("tree", *sock(state_dir))
    assert code == 0
    lines = out.splitlines()
    assert any(re.match(r"^[├└]── workers  \S+  one_for_one  intensity 0/3 in 5s  running", line) for line in lines)
    assert any(re.match(r"^│   [├└]── echo  Echo  running", line) for line in lines)
    assert any(re.match(r"^└── control  ControlActor  running", line) for line in lines)


async def test_an_unknown_path_exits_1_naming_the_path(engine: TinyEngine, state_dir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("inspect", "restart"):
        code, _ = await cli_run(command, "workers/nope", *sock(state_dir))
        assert code == 1
        assert "no actor at path 'workers/nope'" in capsys.readouterr().err


async def test_subscribe_and_unsubscribe_reach_the_engine_and_bad_input_exits_1(
        engine: TinyEngine, state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (await cli_run("subscribe", "sim", "DOGE/USDT", *sock(state_dir)))[0] == 0
    assert engine.markets == {("sim", "DOGE/USDT")}
    assert (await cli_run("subscribe", "sim", "DOGEUSDT", *sock(state_dir)))[0] == 1
    assert 'expected "BASE/QUOTE"' in capsys.readouterr().err
    assert (await cli_run("subscribe", "kraken", "BTC/USDT", *sock(state_dir)))[0] == 1
    assert "no venue 'kraken'" in capsys.readouterr().err
    assert (await cli_run("unsubscribe", "sim", "DOGE/USDT", *sock(state_dir)))[0] == 0
    assert engine.markets == set()


async def test_stop_asks_the_engine_to_stop(engine: TinyEngine, state_dir: Path) -> None:
    code, out = await cli_run("stop", "--no-wait", *sock(state_dir))
    assert code == 0 and "stopping" in out
    assert engine.stop_requested.is_set()


async def test_unknown_route_is_a_json_404(engine: TinyEngine, state_dir: Path) -> None:
    connector = aiohttp.UnixConnector(path=str(state_dir / "control.sock"))
    async with aiohttp.ClientSession(connector=connector) as session, session.get("http://arbor/v1/nothing") as resp:
        assert resp.status == 404
        assert msgspec.json.decode(await resp.read(), type=ErrorReply).status == 404


async def test_the_socket_is_private_and_removed_when_the_tree_stops(state_dir: Path) -> None:
    handle = TinyEngine()
    async with await start_tree(handle, control_config(state_dir)) as tree:
        handle.tree = tree
        assert stat.S_IMODE(os.stat(state_dir / "control.sock").st_mode) == 0o600
        assert stat.S_IMODE(os.stat(state_dir / "control.json").st_mode) == 0o600
    assert not (state_dir / "control.sock").exists() and not (state_dir / "control.json").exists()


async def test_a_second_endpoint_does_not_take_over_a_live_engines_socket(engine: TinyEngine, state_dir: Path) -> None:
    with pytest.raises(PermanentFailure, match=r"control\.unix_path") as info:
        await spawn(lambda: ControlActor(engine=engine, config=control_config(state_dir)), name="control2")
    assert isinstance(info.value.__cause__, ConfigError)
    assert (await cli_run("ps", *sock(state_dir)))[0] == 0  # the first one still answers


async def test_a_non_loopback_tcp_bind_is_refused_unless_allowed(state_dir: Path) -> None:
    cfg = ControlConfig(transport="tcp", host="0.0.0.0", state_dir=str(state_dir))
    with pytest.raises(PermanentFailure, match=r"control\.host: expected a loopback address"):
        await spawn(lambda: ControlActor(engine=TinyEngine(), config=cfg), name="control")
    assert not (state_dir / "control.token").exists()


async def test_tcp_endpoint_needs_the_token_and_the_cli_finds_it_through_the_config(
        state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = state_dir / "engine.toml"
    conf.write_text(f'[venues.sim]\nkind = "mexc"\nsymbols = ["BTC/USDT"]\n'
                    f'[journal]\npath = "{state_dir}/journal.sqlite"\n[control]\ntransport = "tcp"\n')
    cfg = config.load(conf)
    handle = TinyEngine()
    async with await start_tree(handle, cfg.control) as tree:
        handle.tree = tree
        token_file = state_dir / "control.token"
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        assert len(token_file.read_text()) >= 32
        code, out = await cli_run("ps", "--config", str(conf))  # finds control.json and the token
        assert code == 0 and "workers/echo" in out
        url = msgspec.json.decode((state_dir / "control.json").read_bytes())["url"]
        assert url.startswith("http://127.0.0.1:")
        wrong = state_dir / "wrong.token"
        wrong.write_text("not-the-token")
        code, _ = await cli_run("ps", "--url", url, "--token-file", str(wrong))
        assert code == 1 and "wrong or missing token (HTTP 401)" in capsys.readouterr().err
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"Authorization": "Bearer nope"}):
                async with session.get(url + "/metrics", headers=headers) as resp:
                    assert resp.status == 401
                    assert msgspec.json.decode(await resp.read(), type=ErrorReply).error == \
                        "missing or wrong bearer token"
    assert not token_file.exists()


async def test_python_m_supervisor_ps_works_as_a_subprocess(engine: TinyEngine, state_dir: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "supervisor", "ps", "--sort", "path", *sock(state_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "workers/echo" in out.decode() and "control" in out.decode()


async def test_watch_redraws_ps_in_place(engine: TinyEngine, state_dir: Path) -> None:
    code, out = await cli_run("watch", "--interval", "0.01", "--count", "2", *sock(state_dir))
    assert code == 0
    frames = out.split("\x1b[H\x1b[2J")[1:]
    assert len(frames) == 2 and all("workers/echo" in frame for frame in frames)


async def test_stop_waits_until_the_engine_has_exited_and_its_socket_is_gone(state_dir: Path) -> None:
    handle = TinyEngine()
    started = asyncio.Event()

    async def serve() -> None:  # a miniature engine: runs until asked to stop
        async with await start_tree(handle, control_config(state_dir)) as tree:
            handle.tree = tree
            started.set()
            await handle.stop_requested.wait()

    async with asyncio.TaskGroup() as tg:
        engine_task = tg.create_task(serve(), name="tiny-engine")
        await started.wait()
        code, out = await cli_run("stop", "--timeout", "10", *sock(state_dir))
        assert code == 0 and out.splitlines() == ["stopping", "stopped"]
        assert engine_task.done() or not (state_dir / "control.sock").exists()
    assert not (state_dir / "control.sock").exists()


async def test_inspect_of_a_supervisor_lists_its_children_and_strategy(engine: TinyEngine, state_dir: Path) -> None:
    code, out = await cli_run("inspect", "workers", *sock(state_dir))
    assert code == 0
    lines = out.splitlines()
    assert "children: workers/echo, workers/idle" in lines
    assert "strategy: one_for_one, intensity 0/3 in 5s" in lines


async def test_restarting_the_endpoint_through_itself_answers_ok_and_the_endpoint_comes_back(
        engine: TinyEngine, state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    control = engine.tree.lookup("control")
    with caplog.at_level(logging.WARNING):
        code, out = await cli_run("restart", "control", *sock(state_dir))
        assert code == 0 and "restarting control" in out
        # the restart is posted: wait for it to complete
        await eventually(lambda: control.stats().restarts == 1 and control.stats().state == "running",
                         timeout=10, what="control restarted and running")
        code, out = await cli_run("ps", *sock(state_dir))
    assert code == 0 and "control" in out
    assert not [r for r in caplog.records if "overran" in r.getMessage()]


async def test_under_umask_0_the_socket_and_files_are_private_from_creation_in_a_0700_directory() -> None:
    parent = Path(tempfile.mkdtemp(prefix="arb", dir="/tmp"))
    directory = parent / "state"  # created by the endpoint
    old = os.umask(0)  # the bug: under umask 0 the socket was world-connectable until chmod
    try:
        handle = TinyEngine()
        async with await start_tree(handle, control_config(directory)) as tree:
            handle.tree = tree
            assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
            assert stat.S_IMODE(os.stat(directory / "control.sock").st_mode) == 0o600
            assert stat.S_IMODE(os.stat(directory / "control.json").st_mode) == 0o600
    finally:
        os.umask(old)
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o1777])
async def test_a_state_directory_others_can_enter_is_refused_and_left_as_it_was(mode: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="arb", dir="/tmp"))
    try:
        os.chmod(directory, mode)
        with pytest.raises(PermanentFailure, match=f"is mode {mode & 0o7777:03o}: .*chmod 700"):
            await spawn(lambda: ControlActor(engine=TinyEngine(), config=control_config(directory)), name="control")
        assert stat.S_IMODE(os.stat(directory).st_mode) == mode and not (directory / "control.sock").exists()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_a_symlinked_state_directory_is_refused(tmp_path: Path) -> None:
    real = Path(tempfile.mkdtemp(prefix="arb", dir="/tmp"))
    link = real.with_name(real.name + "-link")
    try:
        link.symlink_to(real)
        with pytest.raises(PermanentFailure, match="not a usable private directory"):
            await spawn(lambda: ControlActor(engine=TinyEngine(), config=control_config(link)), name="control")
        assert not (real / "control.sock").exists()
    finally:
        link.unlink(missing_ok=True)
        shutil.rmtree(real, ignore_errors=True)


async def test_a_token_file_planted_as_a_symlink_is_replaced_not_written_through(state_dir: Path) -> None:
    target = state_dir / "elsewhere.txt"
    target.write_text("keep me")
    (state_dir / "control.token").symlink_to(target)
    cfg = ControlConfig(transport="tcp", state_dir=str(state_dir))
    ref = await spawn(lambda: ControlActor(engine=TinyEngine(), config=cfg), name="control")
    try:
        token = state_dir / "control.token"
        assert not token.is_symlink() and stat.S_IMODE(os.lstat(token).st_mode) == 0o600
        assert target.read_text() == "keep me"
    finally:
        await ref.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
async def test_a_state_directory_owned_by_another_user_is_refused() -> None:
    theirs = Path(tempfile.mkdtemp(prefix="arb", dir="/tmp"))
    try:
        os.chown(theirs, 54321, -1)
        with pytest.raises(PermanentFailure, match="belongs to uid 54321"):
            await spawn(lambda: ControlActor(engine=TinyEngine(), config=control_config(theirs)), name="control")
        assert not (theirs / "control.sock").exists()
    finally:
        shutil.rmtree(theirs, ignore_errors=True)
