"""The HTML report: self-contained (nothing fetched), and drawn by a real browser (headless
Chromium) with every plot present and no console error."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from supervisor.report import BookRow, Report, Row
from supervisor.report_html import render

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def report(label: str = "min_edge_bps=5") -> Report:
    return Report(
        label=label, sources=["cap/000000.arbcap"], span_s=20.0, frames=6000, replay_s=0.5, frames_per_s=12000.0,
        decode_errors=1, dropped_in_capture=0, snapshots_unanswered=0, torn=[], opportunities=3,
        statuses={"executed": 2, "rejected_by_risk": 1},
        orders_filled=4, realised_pnl=1.25, fees=0.5,
        by_market=[Row(key="BTC/USDT", opportunities=2, executed=2, realised_pnl=1.0, fees=0.4),
                   Row(key="SOL/USDT", opportunities=1, executed=0, realised_pnl=0.25, fees=0.1)],
        by_pair=[Row(key="binance->mexc", opportunities=3, executed=2, realised_pnl=1.25, fees=0.5)],
        edge_bins=[(5.0, 6.0, 2), (6.0, 7.0, 0), (7.0, 8.0, 1)], edge_p50=5.5, edge_max=7.2,
        pnl_curve=[(0.0, 0.0), (3.0, 0.5), (9.0, 1.25), (20.0, 1.25)],
        books=[BookRow(book="binance/BTC/USDT", frames_span_s=19.0, in_sync_s=18.5, in_sync_at_end=True)],
        detection_latency_ms=(0.0, 0.0, 0.1))


def test_the_page_references_nothing_outside_itself():
    page = render([report(), report("min_edge_bps=10")])
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", page, re.IGNORECASE)
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    assert page.count('<svg class="plot"') == 6  # three plots per report, side by side


def browse(page: str, tmp_path: Path) -> tuple[str, str]:
    """Chromium's DOM after the page's scripts ran, and its console log."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`apt-get install chromium`; .ci/run installs it)")
    path = tmp_path / "report.html"
    path.write_text(page)
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=50, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = "\n".join(line for line in proc.stderr.splitlines() if "CONSOLE" in line)
    return proc.stdout, console


def test_headless_chromium_draws_every_plot_without_a_console_error(tmp_path):
    dom, console = browse(render([report(), report("min_edge_bps=10")]), tmp_path)
    assert 'data-plots="ok"' in dom
    assert dom.count("<polyline") == 2 and dom.count("<rect") >= 6
    assert console == "", console


def test_the_browser_check_sees_a_console_error_and_a_missing_plot(tmp_path):
    """The two checks above can fail: a page with a script error and an empty plot trips both."""
    page = render([report()]).replace('class="data"', 'class="nodata"', 1)
    page = page.replace("</body>", "<script>undefinedFunction()</script></body>")
    dom, console = browse(page, tmp_path)
    assert 'data-plots="missing"' in dom
    assert "undefinedFunction" in console


def test_the_report_of_a_real_replay_renders_with_every_plot(tmp_path):
    """End to end: cryptofeed's recorded Binance session replayed, reported, drawn by Chromium."""
    import config
    from supervisor import report as report_mod
    from supervisor.replay import run_replay
    from supervisor.replay_input import open_inputs

    data = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "captures"
    if not (data / "BINANCE.ws.1.0").exists():
        pytest.skip(f"{data} is absent (../shared/data is not beside the checkout)")
    inputs = open_inputs([data / "BINANCE.ws.1.0", data / "BINANCE.http.0.0"])
    stats, journal = run_replay(inputs, config.load(None), tmp_path / "out")
    page = render([report_mod.build("binance 2021", inputs, stats, journal)])
    dom, console = browse(page, tmp_path)
    assert 'data-plots="ok"' in dom and "binance/NKN/USDT" in dom
    assert console == "", console
