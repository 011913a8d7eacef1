"""One self-contained HTML file for one replay or a sweep: inline SVG plots, no external assets.

Per report: PnL over time (line), the edge distribution (histogram), opportunities per market
(bars), and the tables of the text report. A sweep puts the reports side by side, one column
each. Nothing is fetched: no script, style sheet or font from the network; the one inline
script only checks that every plot was drawn and marks ``<body data-plots="ok">`` (what the
headless-browser test reads).
"""

from __future__ import annotations

import html

from supervisor.report import Report

W, H, PAD = 420, 220, 36

_STYLE = """
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
.cols{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.col{flex:1 1 440px;min-width:440px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}svg{background:#fafafa;border:1px solid #ddd}
.bad{color:#b00}
"""

_CHECK = """
(function(){
  var plots=document.querySelectorAll('svg.plot'), ok=plots.length>0;
  plots.forEach(function(s){ if(!s.querySelector('.data')) ok=false; });
  document.body.setAttribute('data-plots', ok ? 'ok' : 'missing');
})();
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _axes(title: str, x_label: str, y_label: str, y_min: float, y_max: float) -> list[str]:
    return [f'<text x="{W / 2}" y="14" text-anchor="middle" font-size="12">{_e(title)}</text>',
            f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 8}" y2="{H - PAD}" stroke="#888"/>',
            f'<line x1="{PAD}" y1="20" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>',
            f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle" font-size="11">{_e(x_label)}</text>',
            f'<text x="4" y="28" font-size="10">{y_max:.4g}</text>',
            f'<text x="4" y="{H - PAD}" font-size="10">{y_min:.4g}</text>',
            f'<text x="{PAD + 4}" y="30" font-size="10" fill="#666">{_e(y_label)}</text>']


def _svg(parts: list[str]) -> str:
    return f'<svg class="plot" width="{W}" height="{H}" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg">' \
           + "".join(parts) + "</svg>"


def line_plot(points: list[tuple[float, float]], title: str, x_label: str, y_label: str) -> str:
    xs, ys = [p[0] for p in points] or [0.0], [p[1] for p in points] or [0.0]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(0.0, *ys), max(0.0, *ys)
    y1 = y1 if y1 > y0 else y0 + 1

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (W - PAD - 8)

    def sy(y: float) -> float:
        return H - PAD - (y - y0) / (y1 - y0) * (H - PAD - 20)

    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    parts = _axes(title, x_label, y_label, y0, y1)
    parts.append(f'<line x1="{PAD}" y1="{sy(0):.1f}" x2="{W - 8}" y2="{sy(0):.1f}" stroke="#ccc" '
                 'stroke-dasharray="3"/>')
    parts.append(f'<polyline class="data" fill="none" stroke="#1565c0" stroke-width="1.5" points="{path}"/>')
    return _svg(parts)


def bar_plot(bars: list[tuple[str, float]], title: str, x_label: str, y_label: str) -> str:
    peak = max((v for _, v in bars), default=0.0) or 1.0
    n = max(len(bars), 1)
    width = (W - PAD - 8) / n
    parts = _axes(title, x_label, y_label, 0.0, peak)
    for i, (label, value) in enumerate(bars):
        h = value / peak * (H - PAD - 20)
        x = PAD + i * width
        parts.append(f'<rect class="data" x="{x + 1:.1f}" y="{H - PAD - h:.1f}" width="{max(width - 2, 1):.1f}" '
                     f'height="{h:.1f}" fill="#2e7d32"><title>{_e(label)}: {value:g}</title></rect>')
        if n <= 12:
            parts.append(f'<text x="{x + width / 2:.1f}" y="{H - PAD + 12}" text-anchor="middle" '
                         f'font-size="9">{_e(label)}</text>')
    if not bars:  # nothing to plot is a drawn, empty plot, not a missing one
        parts.append(f'<text class="data" x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#888">none</text>')
    return _svg(parts)


def _rows(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def column(r: Report) -> str:
    out = [f"<h2>{_e(r.label)}</h2>",
           (f"<p>{r.span_s:.1f}s recorded, {r.frames} frames, replayed in {r.replay_s:.2f}s "
            f"({r.frames_per_s:,.0f} frames/s)</p>")]
    if r.torn:
        out.append(f'<p class="bad">torn segment tail (replayed up to it): {_e("; ".join(r.torn))}</p>')
    out.append(_rows(["", "value"], [
        ["opportunities", r.opportunities], *[[f"  {k}", v] for k, v in sorted(r.statuses.items())],
        ["orders filled", r.orders_filled], ["  partially", r.orders_partial], ["orders rejected", r.orders_rejected],
        ["realised PnL (net of fees)", f"{r.realised_pnl:+.6f}"],
        ["fees", f"{r.fees:.6f}"], ["frames not decoded", r.decode_errors],
        ["dropped while capturing", r.dropped_in_capture],
        ["snapshot requests unanswered by the capture", r.snapshots_unanswered],
        ["detection latency p50/p99/max ms (virtual)",
         " / ".join(f"{x:.3f}" for x in r.detection_latency_ms) if r.detection_latency_ms else "-"]]))
    out.append(line_plot(r.pnl_curve, "realised PnL over time", "seconds into the capture", "PnL (quote)"))
    out.append(bar_plot([(f"{lo:g}", float(c)) for lo, _, c in r.edge_bins], "edge after fees (bps)",
                        "edge, bps (bin start)", "opportunities"))
    out.append(bar_plot([(m.key, float(m.opportunities)) for m in r.by_market], "opportunities per market",
                        "market", "opportunities"))
    for title, rows in (("per market", r.by_market), ("per venue pair (buy->sell)", r.by_pair)):
        out.append(f"<h3>{_e(title)}</h3>" + _rows(["", "opportunities", "executed", "PnL", "fees"], [
            [x.key, x.opportunities, x.executed, f"{x.realised_pnl:+.6f}", f"{x.fees:.6f}"] for x in rows]))
    out.append("<h3>books</h3>" + _rows(["", "in sync", "of span", "at end"], [
        [b.book, f"{b.in_sync_s:.1f}s", f"{100 * b.in_sync_s / b.frames_span_s:.0f}%" if b.frames_span_s else "-",
         "in sync" if b.in_sync_at_end else "out of sync"] for b in r.books]))
    return '<div class="col">' + "".join(out) + "</div>"


def render(reports: list[Report], title: str = "Arbor replay") -> str:
    sources = sorted({s for r in reports for s in r.sources})
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{_e(title)}</h1><p>inputs: {_e(', '.join(sources))}</p>"
            f'<div class="cols">{"".join(column(r) for r in reports)}</div>'
            f"<script>{_CHECK}</script></body></html>")
