"""The benchmark harness: every case in its own process, repeated, reduced to ratios.

Role: ``run(groups, quick=..., repeat=...)`` runs each selected case in a fresh subprocess
(``python -m benchmarks._case NAME``), so no case inherits another's heap, imports, JIT-less
warm caches or event loop. In that process the case is prepared once (inputs built, untimed),
run once as a warm-up (skipped under ``--quick``), then ``repeat`` times. Each repetition
returns rows ``{"case", "impl", "value", "unit"[, "status"]}``; the parent reduces every
``(case, impl)`` to median/min/max over the repetitions and divides the median by the median
of its reference (``REFS``: the floor or peer measured in the same run).

GC: ``gc.collect()`` before every repetition, and the collector is left ENABLED while timing,
as it is in the engine (hot-path Structs are ``gc=False`` where the code says so).

Failure modes: a case that raises ``Skip`` (an optional peer not installed, the engine not
built yet) yields its expected rows as ``skipped`` with the reason; a case process that exits
non-zero yields them as ``error`` with its last stderr line; an expected row a case did not
produce is ``missing``. Only ``error``/``missing`` make ``python -m benchmarks`` exit 1.
A row whose implementation ended in a book state different from the reference is ``wrong``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import peers

GC_NOTE = "gc.collect() before each repetition; GC left enabled while timing (as in the engine)"


class Skip(Exception):
    """Raised by a case's ``prepare`` when it cannot run here; the message is the reason."""


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    module: str
    expect: tuple[tuple[str, str], ...]  # (case, impl) rows the case must produce
    prepare: str | None = None  # module function (quick, *args) -> rep(); else module.run(quick) per rep
    args: tuple[Any, ...] = ()
    row_case: str | None = None  # overrides the rows' "case" (the decode modules all say "decode")
    env: tuple[tuple[str, str], ...] = ()  # set in the case's process (the pure core: ARBOR_PURE_PYTHON=1)


def _rows(cases: tuple[str, ...], impls: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((c, i) for c in cases for i in impls)


_BOOK_IMPLS = ("arbor", "arbor-python", "dict", "sorteddict-pair", "ccxt", "order-book-c", "nautilus")
_BOOK_ROWS = ("book-apply", "book-top", "book-depth20")
PIPELINE_ROWS = ("pipeline-p50@20k", "pipeline-p99@20k", "pipeline-tick-p50@20k", "pipeline-tick-p99@20k",
                 "pipeline-recv-p50@20k", "pipeline-recv-p99@20k", "pipeline-view-p50@20k", "pipeline-view-p99@20k",
                 "pipeline-opps@20k", "pipeline-cpu@20k", "pipeline-max-rate", "pipeline-rss-3x50")
# what a process that only receives the frames (benchmarks.pipeline_floor) measures of them
FLOOR_IMPLS = ("floor-receive", "floor-decode")
FLOOR_ROWS = ("pipeline-p50@20k", "pipeline-p99@20k", "pipeline-tick-p50@20k", "pipeline-tick-p99@20k",
              "pipeline-cpu@20k", "pipeline-max-rate", "pipeline-rss-3x50")

T2T_ROWS = tuple(f"t2t-{leg}-{q}@{rate}" for rate in ("light", "heavy")
                 for leg in ("first", "second-gap", "wire-recv", "recv-detect", "detect-intent", "intent-sent",
                             "detect-sent", "sent-gap")
                 for q in ("p50", "p99"))

CASES: tuple[Case, ...] = (
    Case("runtime", "runtime", "benchmarks.runtime",
         _rows(("tell", "ask_p50", "ask_p99"), ("floor", "arbor", "pykka"))),
    Case("decode-binance", "decode", "benchmarks.decode_binance",
         _rows(("decode-binance",), ("floor-msgspec", "binance")), row_case="decode-binance"),
    Case("decode-gateio", "decode", "benchmarks.decode_gateio",
         _rows(("decode-gateio",), ("floor-msgspec", "gateio")), row_case="decode-gateio"),
    Case("decode-mexc", "decode", "benchmarks.decode_mexc",
         _rows(("decode-mexc",), ("floor-protobuf", "mexc", "mexc-python")), row_case="decode-mexc"),
    *(Case(f"book-{impl}", "book", "benchmarks.book_peers",
           _rows(_BOOK_ROWS, (impl,)) + ((("book-bookview20", impl),) if impl.startswith("arbor") else ()),
           prepare="prepare", args=(impl,))
      for impl in _BOOK_IMPLS),
    # the engine on the selected core (compiled where built), then on the pure-Python core
    Case("pipeline", "pipeline", "benchmarks.pipeline", _rows(PIPELINE_ROWS, ("arbor",)), prepare="prepare",
         args=("arbor",)),
    Case("pipeline-python", "pipeline", "benchmarks.pipeline", _rows(PIPELINE_ROWS, ("arbor-python",)),
         prepare="prepare", args=("arbor-python",), env=(("ARBOR_PURE_PYTHON", "1"),)),
    # the machine's floor under those rows: the same replayer and driver into a process that only
    # receives the frames (floor-receive), and decodes them (floor-decode); no engine
    *(Case(f"pipeline-{impl}", "pipeline", "benchmarks.pipeline", _rows(FLOOR_ROWS, (impl,)), prepare="prepare",
           args=(impl,)) for impl in FLOOR_IMPLS),
    Case("pipeline-capture", "pipeline", "benchmarks.capture_replay",
         (*_rows(("capture-cpu@20k", "capture-loop-cpu@20k"), ("arbor", "arbor+capture")),
          ("capture-writer-cpu@20k", "arbor+capture")),
         prepare="prepare_capture_cost"),
    Case("replay", "replay", "benchmarks.capture_replay",
         _rows(("replay-frames-per-s", "replay-cpu-per-frame"), ("arbor", "live")), prepare="prepare_replay"),
    Case("tick-to-trade", "tick-to-trade", "benchmarks.tick_to_trade", _rows(T2T_ROWS, ("rest", "ws"))),
)
GROUPS = ("runtime", "decode", "book", "pipeline", "replay", "tick-to-trade")

# the reference each row's median is divided by: case -> (ref case, ref impl)
REFS: dict[str, tuple[str, str]] = {
    "tell": ("tell", "floor"), "ask_p50": ("ask_p50", "floor"), "ask_p99": ("ask_p99", "floor"),
    "decode-binance": ("decode-binance", "floor-msgspec"), "decode-gateio": ("decode-gateio", "floor-msgspec"),
    "decode-mexc": ("decode-mexc", "floor-protobuf"),
    "book-apply": ("book-apply", "sorteddict-pair"), "book-top": ("book-top", "sorteddict-pair"),
    "book-depth20": ("book-depth20", "sorteddict-pair"), "book-bookview20": ("book-depth20", "arbor"),
    "capture-cpu@20k": ("capture-cpu@20k", "arbor"), "capture-loop-cpu@20k": ("capture-loop-cpu@20k", "arbor"),
    "capture-writer-cpu@20k": ("capture-loop-cpu@20k", "arbor"), "replay-frames-per-s": ("replay-frames-per-s", "live"),
    "replay-cpu-per-frame": ("replay-cpu-per-frame", "live"),
    # the engine (and floor-decode) against the bare receive of the same frames in the same run
    **{case: (case, "floor-receive") for case in ("pipeline-p50@20k", "pipeline-p99@20k", "pipeline-cpu@20k",
                                                  "pipeline-max-rate")},
}

# impl -> peer (peers.PEERS name): its rows are skipped, not missing, when the peer is absent
PEER_OF = {"pykka": "pykka", "ccxt": "ccxt", "order-book-c": "order-book", "nautilus": "nautilus_trader"}


@dataclass(frozen=True)
class Target:
    label: str
    case: str
    impl: str
    ref: tuple[str, str] | None  # None: an absolute bound on the median
    op: str  # ">=" or "<="
    bound: float


TARGETS: tuple[Target, ...] = (
    Target("runtime tell >= 0.9x floor", "tell", "arbor", ("tell", "floor"), ">=", 0.9),
    Target("runtime ask p50 <= 1.3x floor", "ask_p50", "arbor", ("ask_p50", "floor"), "<=", 1.3),
    Target("decode Binance <= 1.3x msgspec floor", "decode-binance", "binance", REFS["decode-binance"], "<=", 1.3),
    Target("decode Gate.io <= 1.3x msgspec floor", "decode-gateio", "gateio", REFS["decode-gateio"], "<=", 1.3),
    Target("decode MEXC <= 2x protobuf floor", "decode-mexc", "mexc", REFS["decode-mexc"], "<=", 2.0),
    Target("book apply >= 6x ccxt", "book-apply", "arbor", ("book-apply", "ccxt"), ">=", 6.0),
    Target("book apply >= 1.5x order-book (C)", "book-apply", "arbor", ("book-apply", "order-book-c"), ">=", 1.5),
    Target("BookView of 20 levels <= 2 us", "book-bookview20", "arbor", None, "<=", 2.0),
    Target("pipeline p50 <= 50 us at 20k frames/s", "pipeline-p50@20k", "arbor", None, "<=", 50.0),
    Target("pipeline p99 <= 500 us at 20k frames/s", "pipeline-p99@20k", "arbor", None, "<=", 500.0),
    Target("pipeline >= 60k frames/s sustained", "pipeline-max-rate", "arbor", None, ">=", 60_000.0),
    Target("engine CPU <= 15 us per frame at 20k frames/s", "pipeline-cpu@20k", "arbor", None, "<=", 15.0),
    Target("pipeline RSS <= 150 MB at 3 x 50", "pipeline-rss-3x50", "arbor", None, "<=", 150.0),
    Target("pipeline RSS <= the pure core's", "pipeline-rss-3x50", "arbor",
           ("pipeline-rss-3x50", "arbor-python"), "<=", 1.0),
    # the pure-Python core no slower than before the compiled one (the same code: a guard)
    Target("pure core: book apply >= 2x ccxt", "book-apply", "arbor-python", ("book-apply", "ccxt"), ">=", 2.0),
    Target("pure core: decode MEXC <= 1.3x protobuf floor", "decode-mexc", "mexc-python", REFS["decode-mexc"],
           "<=", 1.3),
    Target("capture <= 1.05x engine CPU per frame", "capture-cpu@20k", "arbor+capture",
           ("capture-cpu@20k", "arbor"), "<=", 1.05),
    Target("capture <= 1.05x event-loop CPU per frame", "capture-loop-cpu@20k", "arbor+capture",
           ("capture-loop-cpu@20k", "arbor"), "<=", 1.05),
    Target("capture writer thread <= 5% of engine CPU per frame", "capture-writer-cpu@20k", "arbor+capture",
           ("capture-loop-cpu@20k", "arbor"), "<=", 0.05),
    Target("replay at max >= live sustained frame rate (same repetition)", "replay-frames-per-s", "arbor",
           ("replay-frames-per-s", "live"), ">=", 1.0),
    Target("tick-to-trade first leg p50 <= 1 ms (WS entry, light)", "t2t-first-p50@light", "ws", None, "<=", 1000.0),
    Target("tick-to-trade first leg p50 <= 1 ms (WS entry, heavy)", "t2t-first-p50@heavy", "ws", None, "<=", 1000.0),
    Target("tick-to-trade second leg <= 200 us after the first (WS, light)", "t2t-second-gap-p50@light", "ws", None,
           "<=", 200.0),
    Target("tick-to-trade second leg <= 200 us after the first (WS, heavy)", "t2t-second-gap-p50@heavy", "ws", None,
           "<=", 200.0),
)


@dataclass
class Result:
    case: str
    impl: str
    group: str
    unit: str = ""
    values: list[float] = field(default_factory=list)
    status: str = "ok"  # ok | wrong | skipped | error | missing
    note: str = ""
    median: float | None = None
    min: float | None = None
    max: float | None = None
    ref: str = ""  # "impl" or "case/impl" of the reference
    ratio: float | None = None


def select(groups: list[str]) -> list[Case]:
    wanted = set(GROUPS) if "all" in groups else set(groups)
    return [c for c in CASES if c.group in wanted]


def _progress(line: str, final: bool = False) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[2K" + line + ("\n" if final else ""))
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _run_case(case: Case, index: int, total: int, quick: bool, repeat: int, env: dict[str, str]) -> dict:
    """One case in one subprocess; returns its JSON report ({"reps"}, {"skipped"} or {"error"})."""
    cmd = [sys.executable, "-m", "benchmarks._case", case.name, "--repeat", str(repeat),
           *(["--quick"] if quick else [])]
    tail: list[str] = []
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True, env={**env, **dict(case.env)})
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            if line.startswith("@progress "):
                _progress(f"[{index}/{total}] {case.name}: {line[10:]}")
            else:
                tail = [*tail, line][-20:]
        rc = proc.wait()
        out.seek(0)
        text = out.read()
    if rc != 0:
        last = next((ln for ln in reversed(tail) if ln.strip()), f"exit status {rc}")
        return {"error": last.strip(), "stderr": tail}
    return json.loads(text)


def _reduce(case: Case, report: dict) -> list[Result]:
    results: dict[tuple[str, str], Result] = {}
    for rows in report.get("reps", []):
        for row in rows:
            key = (case.row_case or row["case"], row["impl"])
            r = results.setdefault(key, Result(key[0], key[1], case.group, row["unit"]))
            r.values.append(float(row["value"]))
            if row.get("status", "ok") != "ok":
                r.status = row["status"]
    for key in case.expect:
        if key in results:
            continue
        r = results[key] = Result(key[0], key[1], case.group)
        peer = PEER_OF.get(key[1])
        if "skipped" in report:
            r.status, r.note = "skipped", report["skipped"]
        elif "error" in report:
            r.status, r.note = "error", report["error"]
        elif peer is not None and (reason := peers.missing(peer)):
            r.status, r.note = "skipped", reason
        else:
            r.status, r.note = "missing", "the case did not produce this row"
    for r in results.values():
        if r.values:
            r.median, r.min, r.max = statistics.median(r.values), min(r.values), max(r.values)
    return list(results.values())


def _ratios(results: list[Result]) -> None:
    by = {(r.case, r.impl): r for r in results}
    for r in results:
        ref_key = REFS.get(r.case)
        if ref_key is None or ref_key == (r.case, r.impl) or r.median is None:
            continue
        ref = by.get(ref_key)
        r.ref = ref_key[1] if ref_key[0] == r.case else f"{ref_key[0]}/{ref_key[1]}"
        if ref is not None and ref.median:
            r.ratio = r.median / ref.median


def evaluate_targets(results: list[Result]) -> list[dict]:
    """Each target with its measured ratio (or absolute median) and whether it is met."""
    by = {(r.case, r.impl): r for r in results}
    out: list[dict[str, Any]] = []
    for t in TARGETS:
        r = by.get((t.case, t.impl))
        ref = by.get(t.ref) if t.ref else None
        measured: float | None = None
        if r is not None and r.median is not None and r.status == "ok":
            if t.ref is None:
                measured = r.median
            elif ref is not None and ref.median and ref.status == "ok":
                measured = r.median / ref.median
        if measured is None:
            missing = r if (r is None or r.median is None or r.status != "ok") else ref
            why = "" if missing is None else f"({missing.impl}: {missing.status} {missing.note})".strip()
            out.append({"target": t.label, "measured": None, "met": None, "note": why})
        else:
            met = measured >= t.bound if t.op == ">=" else measured <= t.bound
            out.append({"target": t.label, "measured": measured, "ratio": t.ref is not None, "met": met, "note": ""})
        if t.ref is None:  # an absolute bound: what the floors under it measured in the same run
            floors = {impl: f.median for impl in FLOOR_IMPLS
                      if (f := by.get((t.case, impl))) is not None and f.median is not None and f.status == "ok"}
            if floors:
                out[-1]["floors"] = floors
    return out


def run(groups: list[str], *, quick: bool, repeat: int, warmup: bool) -> list[Result]:
    """Run the selected groups' cases, one subprocess each; the book stream is generated once."""
    cases = select(groups)
    env = dict(os.environ)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="arbor-bench-") as tmp:
        if any(c.group == "book" for c in cases):
            from benchmarks import book_peers, book_stream
            _progress("generating the seeded book stream (once, shared by every implementation)")
            path = Path(tmp) / "book-stream.msgpack"
            book_stream.save(book_stream.generate(book_stream.n_messages(quick)), path)
            env[book_peers.ENV_STREAM] = str(path)
        env["ARBOR_BENCH_WARMUP"] = "1" if warmup else "0"
        for i, case in enumerate(cases, 1):
            _progress(f"[{i}/{len(cases)}] {case.name}: starting")
            results.extend(_reduce(case, _run_case(case, i, len(cases), quick, repeat, env)))
        _progress(f"done: {len(cases)} cases", final=True)
    _ratios(results)
    # within a case, its reference first, then the rest in the order measured
    first: dict[str, int] = {}
    for r in results:
        first.setdefault(r.case, len(first))
    results.sort(key=lambda r: (first[r.case], REFS.get(r.case) != (r.case, r.impl)))
    return results


def failed(results: list[Result]) -> bool:
    return any(r.status in ("error", "missing") for r in results)
