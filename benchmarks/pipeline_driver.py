"""The pipeline case's driver: one repetition's segments, against whatever receives the frames.

Role: ``Driver(info, subject, http, progress).run(params)`` asks the replayer
(``benchmarks.replay``, ``info`` its start line) for segments of its stream at fixed rates over
its control endpoint and waits on ``subject``, the receiving side in this process: the engine
(``benchmarks.pipeline_engine.EngineSubject``) or a floor that only receives
(``benchmarks.pipeline_floor.FloorSubject``). Both are driven by this same code, so their rows
come from the same segments, schedule, criteria and CPU accounting (see ``benchmarks.pipeline``).

Per segment it also reads, from ``/proc``, this process's main-thread voluntary context
switches (each one a sleep in the event loop's ``epoll_wait`` that something woke: a wake-up)
and its time runnable but waiting for a CPU (``schedstat``: what the machine's other load costs
it), the process's read syscalls, and from ``getrusage`` its CPU in user mode and in the
kernel: in the progress lines (``wake-ups``, ``reads``, ``user``, ``kernel`` per frame,
``waited for a CPU`` per segment).

Failure mode: a subject that does not receive a segment's frames within 30 s, does not sync
within ``SYNC_TIMEOUT_S``, or yields no latency sample in the latency segment raises
``RuntimeError`` (the case is reported as an error).
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from benchmarks.pipeline import HW_FLAT, SYNC_RATE, SYNC_TIMEOUT_S, Outcome, Params, Step, percentile, vm_kib

# per latency segment, the four series a subject returns (ns, any may be empty)
Latencies = tuple[list[int], list[int], list[int], list[int]]


class Subject(Protocol):
    """The receiving side the driver waits on."""

    # what each of the four latency series measures, for the progress lines
    labels: tuple[str, str, str, str]

    def frames(self) -> int:
        """WebSocket data frames received so far."""
        ...

    def high_water(self) -> int | None:
        """The largest book mailbox high-water; None when there is no mailbox (a floor)."""
        ...

    def not_in_sync(self) -> list[str]:
        """What has not synced yet (empty once every book, or every socket, has)."""
        ...

    async def drained(self) -> None:
        """Until what the frames received left queued is processed."""
        ...

    def clear(self) -> None:
        """Forget the latency samples so far (the next segment is the timed one)."""
        ...

    def latencies(self, trace: dict[str, list[int]]) -> Latencies:
        """The timed segment's samples; ``trace`` is the replayer's per-frame write trace."""
        ...


def _status_field(name: str) -> int:
    for line in Path("/proc/thread-self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(name)


def _io_field(name: str) -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(name)


def wakeups_and_reads() -> tuple[int, int, int]:
    """This (the loop's) thread's voluntary context switches and its time runnable but waiting
    for a CPU (ns, ``schedstat``), and the process's read syscalls."""
    waited_ns = int(Path("/proc/thread-self/schedstat").read_text().split()[1])
    return _status_field("voluntary_ctxt_switches"), waited_ns, _io_field("syscr")


class Driver:
    def __init__(self, info: dict[str, Any], subject: Subject, http: aiohttp.ClientSession,
                 progress: Callable[[str], None]) -> None:
        self.info, self.subject, self.http, self.progress = info, subject, http, progress
        self.pos = 0  # next frame of the stream
        self.cpu_us_per_frame = 0.0  # this process's CPU time per frame over the last segment
        self.wakeups_per_frame = 0.0  # over the last segment, see the module docstring
        self.reads_per_frame = 0.0
        self.user_sys_us = (0.0, 0.0)  # the CPU per frame, in user mode and in the kernel
        self.waited_ms = 0.0  # over the last segment, the loop's thread runnable but not running

    async def segment(self, count: int, rate: float, arrivals: str = "poisson",
                      trace: bool = False) -> tuple[float, float, dict[str, Any]]:
        """Frames ``pos..pos+count`` at ``rate``: (achieved rate, the subject's lag in ms after
        the last write, the replayer's answer)."""
        frames = self.subject.frames
        target = frames() + count
        cpu0, usage0 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
        wake0, waited0, reads0 = wakeups_and_reads()
        async with self.http.post(f"{self.info['control_url']}/segment",
                                  json={"start": self.pos, "count": count, "rate": rate,
                                        "arrivals": arrivals, "trace": trace}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"replayer: {resp.status} {await resp.text()}")
            body = await resp.read()  # decoded once the subject has the frames: not on their path
        self.pos += count
        deadline = time.monotonic() + 30.0
        while frames() < target:  # cross-process state: poll with a deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"received {frames()} of {target} frames")
            await asyncio.sleep(0.002)
        received_ns = time.monotonic_ns()
        self.cpu_us_per_frame = (time.process_time() - cpu0) * 1e6 / max(1, count)
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        self.user_sys_us = ((usage1.ru_utime - usage0.ru_utime) * 1e6 / max(1, count),
                            (usage1.ru_stime - usage0.ru_stime) * 1e6 / max(1, count))
        wake1, waited1, reads1 = wakeups_and_reads()
        self.waited_ms = (waited1 - waited0) / 1e6
        self.wakeups_per_frame = (wake1 - wake0) / max(1, count)
        self.reads_per_frame = (reads1 - reads0) / max(1, count)
        sent = json.loads(body)
        lag_ms = (received_ns - sent["t1_ns"]) / 1e6
        achieved = count / max(1e-9, (sent["t1_ns"] - sent["t0_ns"]) / 1e9)
        return achieved, lag_ms, sent

    async def drained(self) -> None:
        await self.subject.drained()

    def _per_frame(self) -> str:
        return (f"CPU {self.cpu_us_per_frame:.1f} us/frame (user {self.user_sys_us[0]:.1f}, kernel "
                f"{self.user_sys_us[1]:.1f}), wake-ups {self.wakeups_per_frame:.2f}/frame, "
                f"reads {self.reads_per_frame:.2f}/frame, waited for a CPU {self.waited_ms:.1f} ms")

    async def latency(self, p: Params, arrivals: str) -> Latencies:
        """One latency segment at ``p.lat_rate`` (after a warm one): the subject's four series."""
        subject = self.subject
        await self.segment(int(p.lat_rate * p.warm_s), p.lat_rate, arrivals)
        await self.drained()
        subject.clear()
        achieved, lag_ms, sent = await self.segment(int(p.lat_rate * p.lat_s), p.lat_rate, arrivals, trace=True)
        await self.drained()
        out = subject.latencies(sent["trace"])
        subject.clear()
        series = ", ".join(f"{label} {_p(ns)}" for label, ns in zip(subject.labels, out) if ns)
        self.progress(f"{arrivals} arrivals at {p.lat_rate:,.0f}/s (achieved {achieved:,.0f}/s, writer late "
                      f"p99 {sent['late_p99_us']:.0f} us, lag {lag_ms:.1f} ms): {len(out[0])} samples; "
                      f"p50/p99 us: {series}; {self._per_frame()}")
        if not out[0]:
            raise RuntimeError(f"no {subject.labels[0]} sample in {p.lat_s}s at {p.lat_rate:,.0f} frames/s "
                               f"({arrivals})")
        return out

    async def sync(self) -> None:
        await self.segment(self.info["sync_frames"], SYNC_RATE, "tick")
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while behind := self.subject.not_in_sync():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(behind)} not in sync after {SYNC_TIMEOUT_S}s: {behind[:3]}")
            await asyncio.sleep(0.02)

    async def run(self, p: Params) -> Outcome:
        out = Outcome()
        t0 = time.monotonic()
        await self.sync()
        self.progress(f"in sync after {time.monotonic() - t0:.1f}s")
        out.wire_us, out.opp_us, out.view_us, _ = await self.latency(p, "poisson")
        out.cpu_us = self.cpu_us_per_frame
        out.rss_mb = vm_kib("VmRSS") / 1024
        out.tick_us, *_ = await self.latency(p, "tick")
        self.progress(f"RSS {out.rss_mb:.1f} MB")
        out.steps = await self.ladder(p)
        return out

    async def ladder(self, p: Params) -> list[Step]:
        """``p.ladder``'s rates in turn, ``p.step_s`` each, up to the first not sustained. A
        subject without mailboxes (a floor) is judged on delivery and lag alone."""
        steps: list[Step] = []
        stream_end = self.info["frames"]
        for rate in p.ladder:
            count = int(rate * p.step_s)
            if self.pos + count > stream_end:
                self.progress(f"stream exhausted before {rate:,.0f}/s")
                break
            hw_before = self.subject.high_water()
            achieved, lag_ms, _ = await self.segment(count, rate)
            await self.drained()
            hw = self.subject.high_water()
            why = []
            if achieved < 0.95 * rate:
                why.append(f"replayer delivered {achieved:,.0f}/s")
            if lag_ms > max(20.0, 0.05 * p.step_s * 1000):
                why.append(f"{lag_ms:.0f} ms behind")
            if hw is not None and hw_before is not None and hw > max(hw_before, HW_FLAT):
                why.append(f"book mailbox high-water {hw}")
            step = Step(rate, achieved, lag_ms, -1 if hw is None else hw, not why, "; ".join(why))
            steps.append(step)
            self.progress(f"{rate:,.0f}/s: achieved {achieved:,.0f}/s, lag {lag_ms:.1f} ms, book high-water "
                          f"{'-' if hw is None else hw}, {self._per_frame()}"
                          f" -> {'sustained' if step.sustained else 'NOT sustained: ' + step.why}")
            if not step.sustained:
                break
        return steps


def _p(ns: list[int]) -> str:
    if not ns:
        return "-"
    return f"{percentile(ns, 0.5) / 1000:.0f}/{percentile(ns, 0.99) / 1000:.0f}"
