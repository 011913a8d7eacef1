"""Pipeline speed (issue 6): frame -> opportunity latency, sustained frame rate, RSS of the engine.

Role: the ``pipeline`` case. ``prepare`` starts the loopback frame replayer
(``benchmarks.replay``) in its own process: it pre-generates (untimed, seeded) the simulator's
market as real Binance / Gate.io / MEXC frames for 3 venues x 50 symbols and serves them, with
the venues' REST (exchangeInfo, a depth snapshot that continues into the stream), over real
WebSockets on 127.0.0.1. Each repetition builds a fresh engine in THIS process and drives it:

- the engine is ``supervisor.engine.Engine`` itself (connection -> book -> detector actors,
  journal, control endpoint, the supervision tree and its mailboxes as configured), with two
  substitutions: the executor is a recording actor (the latency ends at the Opportunity; a
  real executor would fetch balances over REST for every opportunity and the replayer does not
  model fills), and each detector is ``DetectorActor`` plus one ``monotonic_ns`` read per view
  (the frame -> detector hop);
- sync: the first frames of every book, then every book must be in sync;
- arrivals: the replayer writes each frame at its own time, with exponential gaps (Poisson
  arrivals, the superposition of 150 independent streams), except the ``tick`` rows, where
  the frames due are written together once per 1 ms (bursts of 20 at 20k/s);
- latency: a short warm segment, then ``LAT_S`` seconds at 20k frames/s, Poisson then tick.
  ``p50/p99@20k`` (the issue's target) per Opportunity: ``created_ns`` minus when the
  replayer WROTE the newer of its two views' frames (both ``time.monotonic_ns``, one
  CLOCK_MONOTONIC for every process on the machine): the kernel, picows, the queueing behind
  earlier frames and the engine's hops, all of it. ``recv-*``: from the connection reader's
  receive stamp (``recv_ns``) instead, the in-process part; ``view-*``: receive -> detector;
- GC: ``gc.freeze()`` once the tree is up, as ``Engine.serve`` does; the driver polls cheap
  counters (``ActorRef.queued``, frames received) and decodes the replayer's per-frame trace
  only once the frames are in, so that its own work stays off the frames' path;
- max rate: rising rates, ``STEP_S`` each; a rate is sustained when the replayer delivered it
  (>= 95%), the engine had received every frame within ``max(20 ms, 5% of the step)`` of the
  last one being written, and no book's mailbox high-water grew past ``HW_FLAT``. The ladder
  stops at the first rate not sustained; the row is the highest one sustained.

Rows: ``harness.PIPELINE_ROWS``, impl ``arbor`` (the core ``protocols.compiled`` selects: the
compiled one where it is built) or ``arbor-python`` (the harness runs that case with
``ARBOR_PURE_PYTHON=1``). ``pipeline-cpu@20k`` is this process's CPU time per frame over the
Poisson latency segment (the engine's work; the driver only polls counters meanwhile).
``--quick`` uses 3 venues x 5 symbols and low rates (a smoke run: the figures mean nothing, the
rows keep their full-run names).

Floors (``harness.FLOOR_ROWS``, impl ``floor-receive`` / ``floor-decode``,
``benchmarks.pipeline_floor``): the same replayer, stream, segments and driver
(``benchmarks.pipeline_driver``) into a process that only receives the frames on the engine's
sockets (and, for ``floor-decode``, decodes them): what no engine in one Python process here
can go below. Their ``p50/p99`` rows are write -> receive, their ``max-rate`` is judged without
the mailbox criterion (no mailbox).

Failure modes: ``Skip`` when ``supervisor.engine`` is absent (the engine's rows); a replayer that does not start, a
book that does not sync within ``SYNC_TIMEOUT_S`` or a latency segment without a single
Opportunity raise (the harness reports the case as an error).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import Skip

SEED = 1
SYNC_RATE = 5_000.0
SYNC_TIMEOUT_S = 30.0
HW_FLAT = 64  # book mailbox high-water above this is a backlog, not a burst


@dataclass(frozen=True)
class Params:
    symbols: int
    lat_rate: float
    lat_s: float
    warm_s: float
    ladder: tuple[float, ...]
    step_s: float

    def frames_needed(self, sync_frames: int) -> int:
        return (sync_frames + 2 * int(self.lat_rate * (self.lat_s + self.warm_s))  # poisson, then tick
                + sum(int(r * self.step_s) for r in self.ladder))


FULL = Params(symbols=50, lat_rate=20_000.0, lat_s=1.5, warm_s=0.25, step_s=0.4,
              ladder=(10_000.0, 15_000.0, 20_000.0, 25_000.0, 30_000.0, 40_000.0, 50_000.0, 60_000.0, 80_000.0))
QUICK = Params(symbols=5, lat_rate=2_000.0, lat_s=0.5, warm_s=0.1, ladder=(1_000.0, 2_000.0), step_s=0.25)


def _engine_available() -> bool:
    try:
        return importlib.util.find_spec("supervisor.engine") is not None
    except ImportError:
        return False


def _progress(text: str) -> None:
    sys.stderr.write(f"@progress {text}\n")
    sys.stderr.flush()


def start_replayer(params: Params) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The replayer process with enough frames for one repetition; its info line."""
    books = 3 * params.symbols
    steps = math.ceil(params.frames_needed(2 * books) / books * 1.02) + 2
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.replay", "--symbols", str(params.symbols), "--steps", str(steps),
         "--seed", str(SEED)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def stop() -> None:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()  # the replayer exits when its stdin closes
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    atexit.register(stop)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        stop()
        raise RuntimeError(f"the replayer exited with status {proc.wait()} before serving")
    return proc, json.loads(line)


def prepare(quick: bool, impl: str = "arbor") -> Callable[[], list[dict]]:
    floor = impl.startswith("floor-")
    if not floor and not _engine_available():
        raise Skip("engine not available (supervisor.engine not in the tree yet)")
    import uvloop

    if floor:
        from benchmarks.pipeline_floor import run_once
    else:
        from benchmarks.pipeline_engine import run_once

    params = QUICK if quick else FULL
    _progress(f"generating {3 * params.symbols} books of frames in the replayer process")
    _, info = start_replayer(params)
    from benchmarks.report import core
    _progress(f"core: {core()}")
    return lambda: uvloop.run(run_once(info, params, _progress, impl))


def vm_kib(field_name: str) -> int:
    """A ``/proc/self/status`` field in KiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(field_name)


def percentile(sorted_values: list[int], q: float) -> float:
    return float(sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))])


@dataclass
class Step:
    rate: float
    achieved: float
    lag_ms: float
    high_water: int
    sustained: bool
    why: str = ""


@dataclass
class Outcome:
    """One repetition's figures, turned into rows by ``rows``."""

    wire_us: list[int] = field(default_factory=list)  # replayer write -> Opportunity (a floor: receive), poisson
    tick_us: list[int] = field(default_factory=list)  # the same, 1 ms tick bursts
    opp_us: list[int] = field(default_factory=list)  # frame receive -> Opportunity, poisson
    view_us: list[int] = field(default_factory=list)  # frame receive -> detector, poisson
    cpu_us: float = 0.0  # engine process CPU per frame over the Poisson latency segment
    rss_mb: float = 0.0
    steps: list[Step] = field(default_factory=list)

    def max_rate(self) -> float:
        sustained = [s.rate for s in self.steps if s.sustained]
        return max(sustained, default=0.0)

    def rows(self, impl: str = "arbor", names: tuple[str, ...] | None = None) -> list[dict]:
        """The ``harness.PIPELINE_ROWS`` of this repetition, or only those in ``names`` (a
        floor's: it has no Opportunity, so no ``recv``/``view``/``opps`` series)."""
        wire, tick, opp, view = sorted(self.wire_us), sorted(self.tick_us), sorted(self.opp_us), sorted(self.view_us)
        value: dict[str, tuple[Callable[[], float], str]] = {
            "pipeline-p50@20k": (lambda: percentile(wire, 0.50) / 1000, "us"),
            "pipeline-p99@20k": (lambda: percentile(wire, 0.99) / 1000, "us"),
            "pipeline-tick-p50@20k": (lambda: percentile(tick, 0.50) / 1000, "us"),
            "pipeline-tick-p99@20k": (lambda: percentile(tick, 0.99) / 1000, "us"),
            "pipeline-recv-p50@20k": (lambda: percentile(opp, 0.50) / 1000, "us"),
            "pipeline-recv-p99@20k": (lambda: percentile(opp, 0.99) / 1000, "us"),
            "pipeline-view-p50@20k": (lambda: percentile(view, 0.50) / 1000, "us"),
            "pipeline-view-p99@20k": (lambda: percentile(view, 0.99) / 1000, "us"),
            "pipeline-opps@20k": (lambda: float(len(wire)), "opps"),
            "pipeline-cpu@20k": (lambda: self.cpu_us, "us/frame"),
            "pipeline-max-rate": (self.max_rate, "frames/s"),
            "pipeline-rss-3x50": (lambda: self.rss_mb, "MB"),
        }
        return [{"case": case, "impl": impl, "value": fn(), "unit": unit}
                for case, (fn, unit) in value.items() if names is None or case in names]


def since(t0: float) -> float:
    return time.monotonic() - t0
