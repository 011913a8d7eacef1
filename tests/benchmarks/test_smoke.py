"""Smoke test of the benchmark harness: ``python -m benchmarks all --quick`` runs end to end and
produces every expected row. It never asserts a speed (that is the benchmark's job, not a test's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import cold, harness

# rows whose implementation is an optional package may be skipped; every other row (the
# pipeline's included: the engine is built) must have been measured
MAY_SKIP = set(harness.PEER_OF)


def test_quick_run_of_all_groups_produces_every_expected_row_and_a_table(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "all", "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    rows = {(r["case"], r["impl"]): r for r in report["rows"]}
    expected = {key for case in harness.CASES for key in case.expect}
    assert expected <= set(rows), f"missing rows: {sorted(expected - set(rows))}"
    for (case, impl), row in rows.items():
        group = next(c.group for c in harness.CASES if (case, impl) in c.expect)
        if row["status"] == "skipped":
            assert impl in MAY_SKIP, f"{case}/{impl} ({group}) skipped: {row['note']}"
            continue
        assert row["status"] == "ok", f"{case}/{impl}: {row['status']} {row['note']}"
        assert row["median"] is not None and row["median"] > 0
    for case, impl in expected:
        if rows[(case, impl)]["status"] == "ok" and (case, impl) != harness.REFS.get(case) and case in harness.REFS:
            ref = rows[harness.REFS[case]]
            assert (rows[(case, impl)]["ratio"] is None) == (ref["status"] != "ok"), f"{case}/{impl} ratio"
    assert "ratio (median / ref)" in proc.stdout and "target" in proc.stdout


def test_the_harness_reports_a_missing_peer_as_skipped_not_failed() -> None:
    case = next(c for c in harness.CASES if c.name == "book-ccxt")
    results = harness._reduce(case, {"skipped": "not installed (pip install ccxt)"})
    assert {r.status for r in results} == {"skipped"}
    assert not harness.failed(results)


def test_a_crashed_case_is_an_error_that_fails_the_run() -> None:
    case = next(c for c in harness.CASES if c.name == "decode-mexc")
    results = harness._reduce(case, {"error": "ValueError: boom"})
    assert {r.status for r in results} == {"error"} and harness.failed(results)


def test_the_cold_case_times_both_pieces_of_work_back_to_back_and_after_every_pause(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cold.main(["--samples", "2"]) == 0
    out = capsys.readouterr().out
    for name in ("journal-intents", "frame-to-view"):
        assert name in out
    rows = [line.split()[:4] for line in out.splitlines() if line.startswith("  ")]
    assert [r for r in rows if r[:3] == ["back", "to", "back"]] and len(rows) == 2 * (1 + 2 * len(cold.GAPS_MS))
    assert sum(r[-1] == "spinning" for r in rows) == sum(r[-1] == "asleep" for r in rows) == 2 * len(cold.GAPS_MS)
