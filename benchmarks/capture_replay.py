"""Capture cost and replay speed (issue 18), on the pipeline benchmark's stream.

Role: two cases, both driving the pipeline benchmark's engine (``pipeline_engine.BenchEngine``,
the production tree with a recording executor) against its loopback replayer process (real
Binance / Gate.io / MEXC frames over real WebSockets, 3 venues x 50 symbols):

- ``pipeline-capture`` (group ``pipeline``): per repetition, two fresh engines take the same
  stream (sync, a warm segment, then ``LAT_S`` s at 20k frames/s, Poisson arrivals): one
  without capture, one with ``--capture``. Row ``capture-cpu@20k``: this process's CPU time
  (every thread: the capture writer's compression included) per frame over the timed segment
  and the ``CPU_TAIL_S`` after it (so the writer's last block is counted too); ``arbor`` without
  capture, ``arbor+capture`` with it. Its ratio is the capture's cost (target <= 1.05).
  ``capture-loop-cpu@20k``: the same on the event loop's thread alone (``time.thread_time``):
  what the capture takes from the engine's frame path. ``capture-writer-cpu@20k``: the writer
  thread's own CPU per frame (its clock, so other load on the machine does not blur it), as a
  fraction of the engine's CPU per frame without capture (the ratio column).
- ``replay`` (group ``replay``): prepares (untimed) a capture of that engine taking the stream
  at 20k frames/s. Each repetition first runs the live engine again on the same stream (a fresh
  one, from frame 0): its CPU per frame at 20k, then the pipeline case's rate ladder (its rule:
  delivered, received within max(20 ms, 5%), no book backlog), so the live side of every ratio
  is measured in the same repetition, under the same load; then it replays the capture at
  ``--speed max`` through ``supervisor.replay`` (books, detectors, executor on paper venues,
  journal). Rows ``replay-frames-per-s``: ``arbor`` the replay (frames / wall seconds),
  ``live`` the live engine's highest sustained rate; target: ratio >= 1.
  ``replay-cpu-per-frame``: this process's CPU per frame, ``arbor`` replaying, ``live`` taking
  the stream at 20k. The stream is the pipeline's, tuned to open edges often: thousands of
  opportunities go through the replay's real executor and journal (the live engine here has the
  pipeline case's recording executor), which a calm market would not ask of it.

``--quick``: 5 symbols, low rates (a smoke run). Failure modes: as the pipeline case's.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks.pipeline import Params, _progress, start_replayer

CPU_TAIL_S = 0.3  # after the timed segment: the capture writer's last block (block_s = 0.2 s)
FULL = Params(symbols=50, lat_rate=20_000.0, lat_s=2.0, warm_s=0.25, ladder=(), step_s=0.4)
QUICK = Params(symbols=5, lat_rate=2_000.0, lat_s=0.5, warm_s=0.1, ladder=(), step_s=0.25)
# The replay case's live engine also climbs the pipeline case's ladder (its sustained rate).
REPLAY_FULL = dataclasses.replace(FULL, ladder=(2_500.0, 5_000.0, 7_500.0, 10_000.0, 12_500.0, 15_000.0, 17_500.0,
                                                  20_000.0, 25_000.0, 30_000.0, 40_000.0, 50_000.0, 60_000.0))
REPLAY_QUICK = dataclasses.replace(QUICK, ladder=(1_000.0, 2_000.0))


class Live(NamedTuple):
    """One live engine's figures over the stream (see ``engine_cpu_per_frame``)."""

    cpu_us: float  # the whole process, per frame of the timed segment
    loop_us: float  # the event loop's thread alone
    writer_us: float  # the capture writer's thread (0 without capture)
    max_rate: float  # highest ladder rate sustained (0 without a ladder)


async def engine_cpu_per_frame(info: dict[str, Any], p: Params, capture_dir: str | None,
                               progress: Callable[[str], None]) -> Live:
    """One fresh engine over the stream from frame 0: CPU us per frame of the timed segment,
    of the whole process, of the event loop's thread alone, and of the capture writer's thread;
    then, when ``p.ladder`` has rates, the highest one it sustains (the pipeline case's rule)."""
    import aiohttp
    import msgspec

    from benchmarks.pipeline_driver import Driver
    from benchmarks.pipeline_engine import BenchEngine, EngineSubject, Record, engine_config
    from supervisor.app import build_adapters, fetch_taker_fees
    from supervisor.capture import open_capture

    with tempfile.TemporaryDirectory(prefix="arbor-capture-bench-") as tmp:
        cfg = engine_config(info, tmp)
        venues, dry_run = build_adapters(cfg, None, live=False)
        writer = None
        if capture_dir is not None:
            cfg = msgspec.structs.replace(cfg, capture=msgspec.structs.replace(cfg.capture, dir=capture_dir))
            writer = open_capture(cfg, venues)
        try:
            fees = await fetch_taker_fees(venues, cfg)
            if writer is not None:
                writer.meta(taker_fees=fees)
            engine = BenchEngine(cfg, venues, dry_run=dry_run, taker_fees=fees, record=Record(),
                                 capture=writer.ws if writer is not None else None)
            async with aiohttp.ClientSession() as http, engine.running() as tree:
                gc.freeze()
                try:
                    driver = Driver(info, EngineSubject(info, engine, tree), http, progress)
                    await driver.sync()
                    await driver.segment(int(p.lat_rate * p.warm_s), p.lat_rate)
                    await driver.drained()
                    count = int(p.lat_rate * p.lat_s)
                    cpu0, loop0 = time.process_time(), time.thread_time()
                    writer0 = writer.thread_cpu_s() if writer is not None else 0.0
                    await driver.segment(count, p.lat_rate)
                    await driver.drained()
                    await asyncio.sleep(CPU_TAIL_S)  # accounting window, the same for both variants
                    cpu_us = (time.process_time() - cpu0) * 1e6 / count
                    loop_us = (time.thread_time() - loop0) * 1e6 / count
                    writer_us = ((writer.thread_cpu_s() - writer0) * 1e6 / count) if writer is not None else 0.0
                    steps = await driver.ladder(p)
                    max_rate = max((step.rate for step in steps if step.sustained), default=0.0)
                finally:
                    gc.unfreeze()
        finally:
            for venue in venues.values():
                await venue.close()
            if writer is not None:
                writer.close()
                if writer.dropped:
                    raise RuntimeError(f"the capture dropped {writer.dropped} records")
    progress(f"{'with' if capture_dir else 'without'} capture: {cpu_us:.1f} us CPU per frame "
             f"({loop_us:.1f} on the event loop's thread, {writer_us:.2f} on the capture writer's)"
             + (f", sustains {max_rate:,.0f} frames/s" if p.ladder else ""))
    return Live(cpu_us, loop_us, writer_us, max_rate)


def prepare_capture_cost(quick: bool) -> Callable[[], list[dict]]:
    import uvloop

    p = QUICK if quick else FULL
    _, info = start_replayer(p)

    def rep() -> list[dict]:
        off, off_loop, _, _ = uvloop.run(engine_cpu_per_frame(info, p, None, _progress))
        with tempfile.TemporaryDirectory(prefix="arbor-capture-") as cap:
            on, on_loop, writer, _ = uvloop.run(engine_cpu_per_frame(info, p, cap, _progress))
        return [{"case": "capture-cpu@20k", "impl": "arbor", "value": off, "unit": "us/frame"},
                {"case": "capture-cpu@20k", "impl": "arbor+capture", "value": on, "unit": "us/frame"},
                {"case": "capture-loop-cpu@20k", "impl": "arbor", "value": off_loop, "unit": "us/frame"},
                {"case": "capture-loop-cpu@20k", "impl": "arbor+capture", "value": on_loop, "unit": "us/frame"},
                {"case": "capture-writer-cpu@20k", "impl": "arbor+capture", "value": writer, "unit": "us/frame"}]

    return rep


def prepare_replay(quick: bool) -> Callable[[], list[dict]]:
    import uvloop

    import config
    from supervisor.replay import run_replay
    from supervisor.replay_input import open_inputs

    p = QUICK if quick else FULL
    _, info = start_replayer(REPLAY_QUICK if quick else REPLAY_FULL)
    keep = tempfile.TemporaryDirectory(prefix="arbor-replay-bench-")
    atexit.register(keep.cleanup)
    work = Path(keep.name)
    _progress("recording a capture of the engine taking the stream (untimed)")
    uvloop.run(engine_cpu_per_frame(info, p, str(work / "capture"), _progress))
    inputs = open_inputs([work / "capture"])
    cfg = config.load(None)

    def rep() -> list[dict]:
        live = uvloop.run(engine_cpu_per_frame(info, REPLAY_QUICK if quick else REPLAY_FULL, None, _progress))
        cpu0 = time.process_time()
        stats, _ = run_replay(inputs, cfg, work / "out")
        cpu_us = (time.process_time() - cpu0) * 1e6 / stats.frames
        _progress(f"replayed {stats.frames} frames ({stats.span_ns / 1e9:.1f} s recorded, "
                  f"{len(stats.detections)} opportunities) in {stats.wall_s:.2f} s, {cpu_us:.1f} us CPU per frame")
        return [{"case": "replay-frames-per-s", "impl": "arbor", "value": stats.frames / stats.wall_s,
                 "unit": "frames/s"},
                {"case": "replay-frames-per-s", "impl": "live", "value": live.max_rate, "unit": "frames/s"},
                {"case": "replay-cpu-per-frame", "impl": "arbor", "value": cpu_us, "unit": "us/frame"},
                {"case": "replay-cpu-per-frame", "impl": "live", "value": live.cpu_us, "unit": "us/frame"}]

    return rep
