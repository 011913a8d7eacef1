"""Tick to trade: from the simulator writing the frame that creates an opportunity to the
arrival of each leg's order at the simulator.

Role: ``run(quick)`` starts the simulator (Binance and Gate.io, BTC/USDT) in its OWN process
(``benchmarks.tick_to_trade_sim``: its work does not share the engine's event loop, and at a
lower priority it does not take the engine's core: it stands for venues elsewhere) and the
production engine (``supervisor.app.assembled``, live against it) in this one, for each entry
mode (``rest``: both legs over REST; ``ws``: both over the venues' WebSocket APIs)
and each frame rate (``light``: 50 book updates/s per venue; ``heavy``: 2,000). Each sample:
the simulator makes a dip (a Binance ask under Gate's best bid), stamps
``t0 = time.monotonic_ns()`` as it enqueues that frame, and answers with the arrival times of
the first order each venue gets after it (stamped by its request handlers with the same
system-wide monotonic clock). The executor's balance check reads the live account views (no
REST before the legs); the detector's cooldown keeps it to one opportunity per dip.

Rows: ``t2t-first-p50|p99@<rate>`` (first leg), ``t2t-second-gap-p50|p99@<rate>`` (second
leg after the first), unit us, impl ``rest`` or ``ws``; ``t2t-wire-recv`` (``t0`` until the engine's
read callback stamped the dip frame, ``BookDelta.recv_ns``: the kernel and the wake-up) and
``t2t-recv-detect`` (that stamp until the opportunity was created: decode, book, detector and
their hops), read from the detector's last opportunity; and the engine's own share from the
journal's latency columns (``supervisor.latency``): ``t2t-detect-intent`` (opportunity created
until its intents were durable), ``t2t-intent-sent`` (durable until the leg was handed to its
socket), ``t2t-detect-sent``, ``t2t-sent-gap`` (the second leg handed over after the first).
A dip that brings no legs within the simulator's ``LEG_TIMEOUT_S`` (the market moved it away)
is logged and retried; more than five, or a quarter of ``samples``, raises ``RuntimeError``
(the case is reported as an error).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import config
from benchmarks.pipeline import percentile
from protocols.messages import FlushJournal, GetLastOpportunity
from supervisor import latency
from supervisor.app import assembled

RATES = {"light": 50.0, "heavy": 2000.0}
MODES = ("rest", "ws")
LEG_TIMEOUT_S = 5.0
SYMBOL = "BTC/USDT"
COOLDOWN_MS = 100  # one opportunity per dip: the next sample waits past it


def _toml(directory: Path, ws: bool, urls: dict[str, Any]) -> str:
    venues = "".join(
        f'[venues.{v}]\nkind = "{v}"\nsymbols = ["{SYMBOL}"]\nrest_url = "{u["rest"]}"\nws_url = "{u["ws"]}"\n'
        f'api_key_env = "ARBOR_T2T_{v.upper()}_KEY"\napi_secret_env = "ARBOR_T2T_{v.upper()}_SECRET"\n'
        f"ws_order_entry = {'true' if ws else 'false'}\n" for v, u in urls.items())
    return (venues + f"[detector]\nmin_edge_bps = 5.0\ncooldown_ms = {COOLDOWN_MS}\nmax_notional = 100.0\n"
            f'[journal]\npath = "{directory / "journal.sqlite"}"\n')


async def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


STAGES = {"t2t-detect-intent": "detect->intent", "t2t-intent-sent": "intent->sent",
          "t2t-detect-sent": "detect->sent", "t2t-sent-gap": "second leg sent after first"}


async def _measure(ws: bool, rate: float, samples: int) -> tuple[dict[str, list[int]], dict[str, latency.Stage]]:
    firsts: list[int] = []
    gaps: list[int] = []
    wire: list[int] = []  # t0 -> the dip frame's receive stamp in the engine (BookDelta.recv_ns)
    detect: list[int] = []  # that stamp -> the opportunity created (read, decode, book, detector)
    stages: dict[str, latency.Stage] = {}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.tick_to_trade_sim", str(rate),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def ask(command: str) -> dict[str, Any]:
        stdin.write(command.encode() + b"\n")
        await stdin.drain()
        answer: dict[str, Any] = json.loads(await stdout.readline())
        return answer

    try:
        urls = json.loads(await stdout.readline())
        for v, u in urls.items():
            os.environ[f"ARBOR_T2T_{v.upper()}_KEY"] = u["key"]
            os.environ[f"ARBOR_T2T_{v.upper()}_SECRET"] = u["secret"]
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config.loads(_toml(Path(tmp), ws, urls), source="tick-to-trade")
            async with assembled(cfg, live=True) as (_, engine), engine.running() as tree:
                def ready() -> bool:
                    books = all(getattr(tree.describe(f"venues/{v}/books/BTCUSDT"), "in_sync", False)
                                for v in urls)
                    views = all(engine.accounts.usable(v) is not None for v in urls)
                    return books and views and (not ws or all(engine.gateways.channel(v).connected for v in urls))

                def status() -> Any:  # the executor's ExecutorStatus
                    return tree.describe("execution/executor")

                await _until(ready, 15, "books in sync, account views and gateways up")
                misses = 0
                while len(firsts) < samples:
                    executed = status().executed
                    got = await ask("dip")
                    if "error" in got:  # the dip did not become an opportunity: say why, go on
                        misses += 1
                        sys.stderr.write(f"tick-to-trade: a dip without legs ({got['error']}; executor: "
                                         f"{status().last_result})\n")
                        if misses > max(5, samples // 4):
                            raise RuntimeError(f"tick-to-trade: {misses} dips without legs")
                        await ask("undip")
                        continue
                    first, second = sorted((got["binance"], got["gateio"]))
                    firsts.append(first - got["t0"])
                    gaps.append(second - first)
                    opp = await tree.lookup(f"detectors/{SYMBOL.replace('/', '')}").ask(GetLastOpportunity())
                    if opp is not None and opp.buy_recv_ns >= got["t0"]:  # the dip is Binance's ask
                        wire.append(opp.buy_recv_ns - got["t0"])
                        detect.append(opp.created_ns - opp.buy_recv_ns)
                    await _until(lambda n=executed: status().executed > n
                                 or status().open_legs == 0, LEG_TIMEOUT_S, "settled")
                    await ask("undip")
                    await asyncio.sleep(COOLDOWN_MS / 1000 * 1.5)
                await tree.lookup("execution/journal").ask(FlushJournal())
                stages = {s.name: s for s in latency.read(Path(tmp) / "journal.sqlite").stages}
    finally:
        if proc.returncode is None:
            stdin.write(b"quit\n")
            await stdin.drain()
            await proc.wait()
    return {"t2t-first": firsts, "t2t-second-gap": gaps, "t2t-wire-recv": wire, "t2t-recv-detect": detect}, stages


def run(quick: bool) -> list[dict[str, Any]]:
    samples = 5 if quick else 60
    rows: list[dict[str, Any]] = []
    for label, rate in RATES.items():
        for mode in MODES:
            measured, stages = asyncio.run(_measure(mode == "ws", rate, samples))
            for name, values in measured.items():
                values.sort()
                for q, tag in ((0.5, "p50"), (0.99, "p99")):
                    rows.append({"case": f"{name}-{tag}@{label}", "impl": mode,
                                 "value": percentile(values, q) / 1000.0, "unit": "us"})
            for name, stage in STAGES.items():
                got = stages[stage]
                rows.append({"case": f"{name}-p50@{label}", "impl": mode, "value": got.p50_us, "unit": "us"})
                rows.append({"case": f"{name}-p99@{label}", "impl": mode, "value": got.p99_us, "unit": "us"})
    return rows
