"""Rendering of harness results: the terminal table, ``--json`` and ``benchmarks/RESULTS.md``.

Every row shows its median, min and max over the repetitions and its ratio against the
reference measured in the same run (``harness.REFS``); the targets table says which of the
issues' targets are met.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path

from benchmarks import harness, peers
from benchmarks.harness import Result

RESULTS_MD = Path(__file__).with_name("RESULTS.md")


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit.endswith("/s"):
        return f"{value:,.0f}"
    if unit == "ns":
        return f"{value:,.0f}"
    return f"{value:,.3f}" if value < 100 else f"{value:,.1f}"


def _ratio(r: Result) -> str:
    if r.ratio is None:
        return "-" if not r.ref else f"? vs {r.ref}"
    return f"{r.ratio:.2f}x {r.ref}"


def _status(r: Result) -> str:
    text = {"ok": "ok", "wrong": "WRONG"}.get(r.status, r.status)
    return f"{text}: {r.note}" if r.note and r.status != "ok" else text


def rows(results: list[Result]) -> list[list[str]]:
    return [[r.case, r.impl, fmt(r.median, r.unit), fmt(r.min, r.unit), fmt(r.max, r.unit), r.unit,
             _ratio(r), _status(r)] for r in results]


HEADER = ["case", "impl", "median", "min", "max", "unit", "ratio (median / ref)", "status"]


def target_rows(results: list[Result]) -> list[list[str]]:
    out = []
    for t in harness.evaluate_targets(results):
        m = t["measured"]
        shown = "-" if m is None else (f"{m:.2f}x" if t.get("ratio") else f"{m:,.3f}")
        met = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        floors = ", ".join(f"{impl} {value:,.1f}" for impl, value in t.get("floors", {}).items())
        verdict = " ".join(filter(None, [met, t["note"], floors and f"(the floors: {floors})"]))
        out.append([t["target"], shown, verdict])
    return out


def table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line, rule, *("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body)])


def terminal(results: list[Result], *, quick: bool, repeat: int) -> str:
    mode = "quick (smoke run: figures are not meaningful)" if quick else f"{repeat} repetitions per case"
    return "\n".join([
        f"Arbor benchmarks - {mode}; {harness.GC_NOTE}",
        "", table(HEADER, rows(results)),
        "", table(["target", "measured", "verdict"], target_rows(results)),
    ])


def to_json(results: list[Result], *, quick: bool, repeat: int) -> str:
    return json.dumps({
        "machine": machine(), "versions": peers.versions(), "quick": quick, "repeat": repeat, "gc": harness.GC_NOTE,
        "rows": [dict(vars(r)) for r in results],
        "targets": harness.evaluate_targets(results),
    }, indent=2)


def machine() -> dict[str, str | int | None]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(),
            "python": f"{platform.python_implementation()} {platform.python_version()}"}


def _md_table(header: list[str], body: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in body]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(row) + " |" for row in esc)])


_METHOD = """\
- Each case runs in its own process (`python -m benchmarks._case NAME`): prepared once
  (inputs built untimed), one warm-up repetition, then N timed repetitions. Figures are the
  median over the repetitions, with min and max beside it.
- {gc}.
- The machine is shared (2 cores, other work running), so each row is read as a **ratio**
  against its floor or peer measured in the same run; absolute figures are context only.
- runtime: tell = `ref.send` through a 1024-slot `block` mailbox vs a bare bounded
  `asyncio.Queue` + task on uvloop (same Struct messages); ask = round trip, p50/p99. Peer: Pykka.
- decode: µs per 10+10-level depth frame; floors = bare `msgspec` decode into a Struct with
  float levels (JSON venues), bare protobuf `ParseFromString` + reading the levels (MEXC).
- Cores: `arbor` rows run the core `protocols.compiled` selects ({core}); `arbor-python`
  and `mexc-python` rows run the pure-Python core (`PyL2Book`, the codec's protobuf path;
  the `pipeline-python` case runs the whole engine with `ARBOR_PURE_PYTHON=1`).
- book: one seeded stream ({book}) fed to every implementation in its native form.
  `book-apply` = level updates/s over the whole stream; `book-top` = ns to read best bid and
  ask (price and size) after every message, minus an empty call; `book-depth20` = µs to read
  20 levels per side; `book-bookview20` = `L2Book.top(20)` + the `BookView` Struct.
  Every implementation's final top 20 levels are checked against the generator's reference
  (status WRONG otherwise).
- pipeline: `supervisor.engine.Engine` (3 venues x 50 symbols; executor replaced by a recording
  actor) in the benchmark process, fed over loopback WebSockets by `benchmarks.replay` in its
  own process: seeded simulator-market frames (Binance/Gate JSON, MEXC protobuf), pre-framed,
  ~19 level updates each, REST snapshot continuing the stream. Arrivals: each frame written at
  its own time with exponential gaps (Poisson), except `tick-*` (the frames due written once
  per 1 ms, bursts of rate/1000). `p50/p99@20k` = per Opportunity, `created_ns` minus when the
  replayer wrote the newer of its two views' frames (one CLOCK_MONOTONIC for both processes:
  kernel, aiohttp, queueing and every hop included), over 1.5 s at 20k frames/s;
  `recv-*` = the same from the reader's receive stamp (`max(buy_recv_ns, sell_recv_ns)`);
  `view-*` = detector receive - `BookView.recv_ns`; `cpu` = the engine process's CPU time per
  frame over the Poisson segment; `gc.freeze()` after start-up as in `Engine.serve`. `max-rate` =
  highest Poisson ladder rate (10k..80k, 0.4 s each) delivered,
  fully received within max(20 ms, 5%) of the last write, book mailbox high-water <= 64; `rss`
  = VmRSS after the 20k segment. The replayer's sockets send each frame inside the write call.
- pipeline floors: `floor-receive` = the same replayer, stream and driver into a process with no
  engine that only receives the frames on the engine's sockets (picows, uvloop; payload taken as
  the connection takes it, stamped, counted); `floor-decode` also decodes them (`venue.decode`).
  Their `p50/p99` = write -> receive per frame; `max-rate` without the mailbox criterion (no
  mailbox). The pipeline rows' ratio column is against `floor-receive` of the same run."""


def core() -> str:
    from actors import l2book
    from protocols import levels
    from protocols.binance import codec as json_codec
    from protocols.mexc import codec
    return (f"book {l2book.CORE}, MEXC decode {codec.CORE}, JSON levels untracked {levels.CORE}, "
            f"JSON depth decode {json_codec.CORE}")


def markdown(results: list[Result], *, quick: bool, repeat: int, book_note: str) -> str:
    m = machine()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{k} {v}" for k, v in peers.versions().items())
    parts = [
        "# Arbor benchmark results", "",
        f"Generated by `python -m benchmarks all --markdown` on {date}"
        f"{' (QUICK smoke run)' if quick else f', {repeat} repetitions per case'}. Do not edit by hand.", "",
        "## Machine", "",
        f"- CPU: {m['cpu']}, {m['cores']} cores (shared; load average {load} when the run ended)",
        f"- OS: {m['os']}", f"- Python: {m['python']}",
        f"- Packages: {versions}", "",
        "## Method", "", _METHOD.format(gc=harness.GC_NOTE, book=book_note, core=core()), "",
        "## Targets", "",
        f"Core under test in the `arbor` rows: {core()}. The `pure core:` targets read the pure-Python"
        " rows of the same run.", "", _md_table(["target", "measured", "verdict"], target_rows(results)), "",
    ]
    for group in harness.GROUPS:
        body = [row for r, row in zip(results, rows(results)) if r.group == group]
        if body:
            parts += [f"## {group}", "", _md_table(HEADER, body), ""]
    parts += ["Hand-run cases (the whole-market benchmark) and the tick-to-trade analysis: "
              "[NOTES.md](NOTES.md). Where each missed per-frame target's time goes: "
              "[docs/speed.md](../docs/speed.md).", ""]
    return "\n".join(parts)
