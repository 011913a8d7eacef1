"""A replay's report: what the engine would have done on the recorded market.

Built from the replay's journal (opportunities, their results, realised PnL net of fees, orders)
and the feed's statistics (frames, decode errors, time in sync, detection latency). Rendered
as text for the terminal (``text``, ``side_by_side`` for a sweep) and as one self-contained
HTML file (``supervisor.report_html``).

Detection latency is measured in virtual time: from the newer of the two views' receive time
to the opportunity. A replay processes a frame in zero virtual time, so it is 0 unless a book
was behind (queued frames, a snapshot fetch); the live figure is in the benchmarks.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import msgspec

from supervisor.replay import START_NS, ReplayStats
from supervisor.replay_input import ReplayInput


class Row(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # a market "BTC/USDT", or a venue pair "binance->mexc"
    opportunities: int
    executed: int
    realised_pnl: float
    fees: float


class BookRow(msgspec.Struct, frozen=True, kw_only=True):
    book: str
    frames_span_s: float
    in_sync_s: float
    in_sync_at_end: bool


class Report(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    sources: list[str]
    span_s: float  # recorded time replayed
    frames: int
    replay_s: float  # real seconds
    frames_per_s: float
    decode_errors: int
    dropped_in_capture: int
    snapshots_unanswered: int  # snapshot requests no recorded reply answered (the book stayed out of sync)
    torn: list[str]
    opportunities: int
    statuses: dict[str, int]
    orders_filled: int
    orders_partial: int = 0  # filled some, not all, of their quantity (the book held less by then)
    orders_rejected: int = 0  # refused at the order boundary (the venue's filters) or by the venue
    rules_recorded: tuple[int, int] = (0, 0)  # markets whose filters came from the capture, of those traded
    realised_pnl: float
    fees: float
    by_market: list[Row]
    by_pair: list[Row]
    edge_bins: list[tuple[float, float, int]]  # [lo, hi) bps, count
    edge_p50: float | None
    edge_max: float | None
    pnl_curve: list[tuple[float, float]]  # (seconds since start, cumulative realised PnL)
    books: list[BookRow]
    detection_latency_ms: tuple[float, float, float] | None  # p50, p99, max


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(q * len(s)) - 1)] if s else 0.0


def build(label: str, inputs: ReplayInput, stats: ReplayStats, journal: Path) -> Report:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        opps = conn.execute("SELECT symbol, buy_venue, sell_venue, edge_bps, status, COALESCE(realised_pnl, 0),"
                            " fees_quote, created_ns FROM opportunities ORDER BY created_ns, id").fetchall()
        filled, partial, rejected = conn.execute(
            "SELECT COUNT(*) FILTER (WHERE filled_qty > 0),"
            " COUNT(*) FILTER (WHERE filled_qty > 0 AND filled_qty < qty * (1 - 1e-9)),"
            " COUNT(*) FILTER (WHERE status = 'rejected') FROM orders").fetchone()
    finally:
        conn.close()
    statuses: dict[str, int] = {}
    markets: dict[str, list[float]] = {}
    pairs: dict[str, list[float]] = {}
    curve: list[tuple[float, float]] = [(0.0, 0.0)]
    total = fees = 0.0
    for symbol, buy, sell, _edge, status, pnl, fee, created_ns in opps:
        statuses[status] = statuses.get(status, 0) + 1
        for table, key in ((markets, symbol), (pairs, f"{buy}->{sell}")):
            row = table.setdefault(key, [0, 0, 0.0, 0.0])
            row[0] += 1
            row[1] += status == "executed"
            row[2] += pnl
            row[3] += fee
        total += pnl
        fees += fee
        curve.append(((created_ns - START_NS) / 1e9, total))
    curve.append((stats.span_ns / 1e9, total))
    edges = [d[4] for d in stats.detections]
    latencies = [d[6] / 1e6 for d in stats.detections]

    def rows(table: dict[str, list[float]]) -> list[Row]:
        return [Row(key=k, opportunities=int(v[0]), executed=int(v[1]), realised_pnl=v[2], fees=v[3])
                for k, v in sorted(table.items())]

    return Report(
        label=label, sources=inputs.sources, span_s=stats.span_ns / 1e9, frames=stats.frames,
        replay_s=stats.wall_s, frames_per_s=stats.frames / stats.wall_s if stats.wall_s else 0.0,
        decode_errors=sum(stats.decode_errors.values()), dropped_in_capture=stats.dropped_in_capture,
        snapshots_unanswered=stats.snapshots_unanswered, torn=inputs.torn, opportunities=len(opps),
        statuses=statuses, orders_filled=filled, orders_partial=partial, orders_rejected=rejected,
        rules_recorded=(sum(stats.rules_recorded.values()), len(stats.rules_recorded)), realised_pnl=total,
        fees=fees, by_market=rows(markets), by_pair=rows(pairs), edge_bins=_bins(edges),
        edge_p50=_pct(edges, 0.5) if edges else None, edge_max=max(edges) if edges else None, pnl_curve=curve,
        books=[BookRow(book=f"{v}/{s}", frames_span_s=(b.last_ns - b.first_ns) / 1e9, in_sync_s=b.synced_ns / 1e9,
                       in_sync_at_end=b.in_sync_at_end) for (v, s), b in sorted(stats.sync.items())],
        detection_latency_ms=(_pct(latencies, 0.5), _pct(latencies, 0.99), max(latencies)) if latencies else None)


def _bins(edges: list[float], n: int = 12) -> list[tuple[float, float, int]]:
    if not edges:
        return []
    lo, hi = math.floor(min(edges)), math.ceil(max(edges))
    width = max(1.0, math.ceil((hi - lo) / n))
    counts: dict[int, int] = {}
    for e in edges:
        i = int((e - lo) // width)
        counts[i] = counts.get(i, 0) + 1
    return [(lo + i * width, lo + (i + 1) * width, counts.get(i, 0)) for i in range(max(counts) + 1)]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def text(r: Report) -> str:
    out = [(f"== replay {r.label}: {len(r.sources)} input(s), {r.span_s:.1f}s recorded, {r.frames} frames "
            f"in {r.replay_s:.2f}s ({r.frames_per_s:,.0f} frames/s)")]
    if r.torn:
        out.append("torn segment tail (replayed up to it): " + "; ".join(r.torn))
    if r.decode_errors or r.dropped_in_capture:
        out.append(f"frames not decoded (channels/symbols the engine does not subscribe): {r.decode_errors}; "
                   f"dropped while capturing: {r.dropped_in_capture}")
    if r.snapshots_unanswered:
        out.append(f"snapshot requests the capture holds no later reply for: {r.snapshots_unanswered} "
                   "(those books stayed out of sync from there)")
    status = ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items())) or "none"
    out.append(f"opportunities {r.opportunities} ({status}); orders filled {r.orders_filled} "
               f"(partially {r.orders_partial}), rejected {r.orders_rejected}; "
               f"realised PnL {r.realised_pnl:+.6f} (net of {r.fees:.6f} fees)")
    recorded, traded = r.rules_recorded
    if traded:
        out.append(f"symbol filters from the recorded exchange info for {recorded} of {traded} markets traded"
                   + ("" if recorded == traded else " (the rest: permissive, none was recorded)"))
    for title, rows in (("per market", r.by_market), ("per venue pair (buy->sell)", r.by_pair)):
        if rows:
            out.append(f"\n{title}:\n" + _table(["", "opportunities", "executed", "PnL", "fees"], [
                [x.key, str(x.opportunities), str(x.executed), f"{x.realised_pnl:+.6f}", f"{x.fees:.6f}"]
                for x in rows]))
    if r.edge_bins:
        peak = max(c for _, _, c in r.edge_bins)
        out.append(f"\nedge after fees (bps): median {r.edge_p50:.2f}, max {r.edge_max:.2f}")
        out.extend(f"  [{lo:6.1f}, {hi:6.1f})  {'#' * max(1, round(30 * c / peak)) if c else '':30} {c}"
                   for lo, hi, c in r.edge_bins)
    if r.detection_latency_ms:
        p50, p99, mx = r.detection_latency_ms
        out.append(f"detection latency (virtual, ms): p50 {p50:.3f}  p99 {p99:.3f}  max {mx:.3f}")
    if r.books:
        out.append("\nbooks:\n" + _table(["", "in sync", "of span", "at end"], [
            [b.book, f"{b.in_sync_s:.1f}s", f"{100 * b.in_sync_s / b.frames_span_s:.0f}%" if b.frames_span_s else "-",
             "in sync" if b.in_sync_at_end else "OUT OF SYNC"] for b in r.books]))
    return "\n".join(out)


def side_by_side(reports: list[Report]) -> str:
    """A sweep: one column per setting."""
    rows = [
        ["opportunities", *(str(r.opportunities) for r in reports)],
        ["executed", *(str(r.statuses.get("executed", 0)) for r in reports)],
        ["orders filled", *(str(r.orders_filled) for r in reports)],
        ["  partially", *(str(r.orders_partial) for r in reports)],
        ["orders rejected", *(str(r.orders_rejected) for r in reports)],
        ["realised PnL", *(f"{r.realised_pnl:+.6f}" for r in reports)],
        ["fees", *(f"{r.fees:.6f}" for r in reports)],
        ["median edge bps", *(f"{r.edge_p50:.2f}" if r.edge_p50 is not None else "-" for r in reports)],
    ]
    markets = sorted({m.key for r in reports for m in r.by_market})
    for m in markets:
        rows.append([f"PnL {m}", *(next((f"{x.realised_pnl:+.6f}" for x in r.by_market if x.key == m), "-")
                                   for r in reports)])
    return "== sweep\n" + _table(["", *(r.label for r in reports)], rows)
