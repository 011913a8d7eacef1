"""``python -m supervisor latency``: the legs' timelines from a journal (``orders.detected_ns``
... ``fill_ns``, written by ``actors.legs`` as ``LegLatency``), as per-stage percentiles.

Stages, all on the engine's monotonic clock: detect->intent (the opportunity created until its
intents were durable in the journal), intent->sent (the order handed to its socket), sent->ack
(the venue's first answer: reply or private-stream push), ack->fill, detect->sent (the engine's
whole tick-to-trade share), and the second leg's send after the first's in one opportunity.
Read-only: safe while the engine runs (WAL).
"""

from __future__ import annotations

import argparse
import math
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

import config

STAGES = (("detect->intent", "detected_ns", "intent_ns"), ("intent->sent", "intent_ns", "sent_ns"),
          ("sent->ack", "sent_ns", "ack_ns"), ("ack->fill", "ack_ns", "fill_ns"),
          ("detect->sent", "detected_ns", "sent_ns"))


class Stage(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    n: int
    p50_us: float
    p99_us: float
    max_us: float


class LegLatencies(msgspec.Struct, frozen=True, kw_only=True):
    legs: int  # legs with a recorded timeline
    stages: list[Stage]
    acks_by_source: dict[str, int]  # "reply" | "stream": which answer came first


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))] if s else 0.0


def _stage(name: str, values: list[float]) -> Stage:
    return Stage(name=name, n=len(values), p50_us=percentile(values, 0.5), p99_us=percentile(values, 0.99),
                 max_us=max(values, default=0.0))


def read(journal: Path, *, since_ns: int = 0) -> LegLatencies:
    """Every leg with a timeline whose detection is at or after ``since_ns``."""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT opportunity_id, detected_ns, intent_ns, sent_ns, ack_ns, fill_ns, ack_source FROM orders"
            " WHERE sent_ns > 0 AND detected_ns >= ? ORDER BY opportunity_id, sent_ns", (since_ns,)).fetchall()
    finally:
        conn.close()
    cols = ("opportunity_id", "detected_ns", "intent_ns", "sent_ns", "ack_ns", "fill_ns", "ack_source")
    legs: list[dict[str, Any]] = [dict(zip(cols, r, strict=True)) for r in rows]
    stages = []
    for name, a, b in STAGES:
        stages.append(_stage(name, [(leg[b] - leg[a]) / 1000 for leg in legs if leg[a] and leg[b]]))
    by_opp: dict[str, list[int]] = {}
    for leg in legs:
        if leg["detected_ns"]:  # the legs of an opportunity (hedges carry no detection)
            by_opp.setdefault(leg["opportunity_id"], []).append(leg["sent_ns"])
    gaps = [(s[1] - s[0]) / 1000 for s in by_opp.values() if len(s) >= 2]
    stages.append(_stage("second leg sent after first", gaps))
    sources: dict[str, int] = {}
    for leg in legs:
        if leg["ack_source"]:
            sources[leg["ack_source"]] = sources.get(leg["ack_source"], 0) + 1
    return LegLatencies(legs=len(legs), stages=stages, acks_by_source=sources)


def text(r: LegLatencies) -> str:
    lines = [f"{r.legs} legs with a timeline; first answer from: "
             + (", ".join(f"{k} {v}" for k, v in sorted(r.acks_by_source.items())) or "-"),
             f"{'stage':<30}{'n':>6}{'p50 us':>12}{'p99 us':>12}{'max us':>12}"]
    lines += [f"{s.name:<30}{s.n:>6}{s.p50_us:>12,.1f}{s.p99_us:>12,.1f}{s.max_us:>12,.1f}" for s in r.stages]
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("latency", help="the legs' latency stages from a journal (read-only)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--journal", metavar="FILE", help="the journal's SQLite file")
    where.add_argument("--config", metavar="FILE", help="the engine's config (its journal path)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    path = Path(args.journal) if args.journal else Path(config.load(args.config).journal.path).expanduser()
    if not path.exists():
        print(f"no journal at {path}")
        return 1
    report = read(path)
    print(msgspec.json.encode(report).decode() if args.json else text(report))
    return 0
