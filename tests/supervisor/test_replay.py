"""Replay: a capture of the embedded simulator through the engine's path, deterministic in
virtual time; torn tails; refused versions; cryptofeed's files; the sweep."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

import config
from protocols.capture import segments
from protocols.errors import ConfigError
from supervisor import cli
from supervisor.replay import run_replay
from supervisor.replay_input import open_inputs
from tests.integration.engine_harness import (
    SYMBOLS,
    VENUES,
    book_equals_truth,
    book_paths,
    engine_running,
    fire,
    quiesce,
    wait_until,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "captures"
CAPTURE_FRAMES = 1_500  # ~5 s of the simulator at 300 updates/s over 9 books


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple], config.EngineConfig]:
    """A capture of the running engine against the simulator, and every book's final state:
    the market is paused and orders stopped, so each book's last state is the simulator's."""
    import asyncio

    base = tmp_path_factory.mktemp("capture")
    capture = base / "cap"

    async def record() -> tuple[dict[str, tuple], config.EngineConfig]:
        async with engine_running(base, extra=f'[capture]\ndir = "{capture}"\n') as h:
            await wait_until(h.all_in_sync, timeout=20, what="every book in sync")
            # A sequence gap: the live book resyncs from a fresh snapshot, which the capture holds.
            await fire(h, "gateio", "gap")
            await wait_until(lambda: any(h.restarts(p) for p in book_paths("gateio")), timeout=20,
                             what="a gateio book restarted on the gap")
            await wait_until(h.all_in_sync, timeout=20, what="every book in sync again")
            await wait_until(lambda: sum(c.frames for c in h.engine.counters.values()) >= CAPTURE_FRAMES,
                             timeout=40, what=f"{CAPTURE_FRAMES} frames captured")
            await quiesce(h)  # no more orders: nothing moves the simulator's books but the walk
            h.sim.pause()
            final = {}
            for venue in VENUES:
                for symbol in SYMBOLS:
                    await wait_until(lambda v=venue, s=symbol: book_equals_truth(h, v, s), timeout=10,
                                     what=f"{venue} {symbol} at the simulator's state")
                    view = await h.view(venue, symbol)
                    final[f"{venue}/{symbol}"] = (view.bids, view.asks)
            return final, h.cfg

    final, cfg = asyncio.run(record())
    return capture, final, cfg


def dump(journal: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(journal)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("opportunities", "orders", "fills", "balances", "restarts")}
    finally:
        conn.close()


def test_a_replay_at_max_speed_ends_with_every_book_at_the_captures_final_state(captured, tmp_path):
    capture, final, cfg = captured
    stats, _ = run_replay(open_inputs([capture]), cfg, tmp_path / "a")
    assert stats.frames >= CAPTURE_FRAMES and not stats.decode_errors
    assert set(stats.end_views) == set(final)
    for book, (bids, asks) in final.items():
        view = stats.end_views[book]
        assert view.in_sync and (view.bids, view.asks) == (bids, asks), book


def test_a_gap_in_the_capture_resyncs_the_book_from_the_next_recorded_snapshot(captured, tmp_path):
    capture, _, cfg = captured
    stats, journal = run_replay(open_inputs([capture]), cfg, tmp_path / "gap")
    conn = sqlite3.connect(journal)
    try:
        restarts = [path for (path,) in conn.execute("SELECT path FROM restarts WHERE reason LIKE '%Gap%'")]
    finally:
        conn.close()
    assert any(p.startswith("venues/gateio/books/") for p in restarts), restarts
    assert stats.snapshots_unanswered == 0
    assert all(view.in_sync for view in stats.end_views.values())


def test_two_replays_of_one_capture_write_identical_journals_and_trade(captured, tmp_path):
    capture, _, cfg = captured
    inputs = open_inputs([capture])
    cfg = msgspec.structs.replace(cfg, detector=msgspec.structs.replace(cfg.detector, min_edge_bps=2.0))
    _, first = run_replay(inputs, cfg, tmp_path / "a")
    _, second = run_replay(inputs, cfg, tmp_path / "b")
    a, b = dump(first), dump(second)
    assert a == b
    assert a["opportunities"] and a["fills"], "the capture opened edges: the replay must trade on them"


def test_real_time_speed_decides_exactly_what_max_speed_decides(captured, tmp_path):
    capture, _, cfg = captured
    inputs = open_inputs([capture])
    _, fast = run_replay(inputs, cfg, tmp_path / "max")
    _, slow = run_replay(inputs, cfg, tmp_path / "x8", speed=8.0)  # 8x: the same virtual schedule, paced
    assert dump(fast) == dump(slow)


def test_whole_market_mode_replays_the_markets_its_selection_picks_from_the_recorded_listings(captured, tmp_path):
    """``[markets] symbols = "shared"``: the markets actor runs over the paper venues, whose
    listings are the recorded exchange info (limited to the captured markets); an excluded
    market does not run (its frames find no book), the others do."""
    capture, final, cfg = captured
    dropped = SYMBOLS[0]
    shared = msgspec.structs.replace(
        cfg, markets=msgspec.structs.replace(cfg.markets, symbols="shared", min_venues=3, exclude=(dropped,),
                                             book_levels=5),
        venues={name: msgspec.structs.replace(v, symbols=()) for name, v in cfg.venues.items()})  # none pinned
    stats, _ = run_replay(open_inputs([capture]), shared, tmp_path / "shared")
    assert set(stats.end_views) == {book for book in final if not book.endswith(f"/{dropped}")}
    assert stats.unrouted > 0  # the excluded market's frames
    assert all(view.in_sync for view in stats.end_views.values())  # (small books: levels may differ from the truth)
    with pytest.raises(ConfigError, match=r"markets\.min_venues"):
        run_replay(open_inputs([capture]), msgspec.structs.replace(
            shared, markets=msgspec.structs.replace(shared.markets, min_venues=4)), tmp_path / "four")


def test_a_torn_final_segment_replays_up_to_the_tear(captured, tmp_path):
    capture, _, cfg = captured
    torn = tmp_path / "torn"
    torn.mkdir()
    files = segments(capture)
    for f in files:
        (torn / f.name).write_bytes(f.read_bytes())
    last = torn / files[-1].name
    data = last.read_bytes()
    last.write_bytes(data[: len(data) * 2 // 3])
    full = open_inputs([capture])
    inputs = open_inputs([torn])
    assert inputs.torn and str(last) in inputs.torn[0]
    assert 0 < inputs.frames_total < full.frames_total
    stats, _ = run_replay(inputs, cfg, tmp_path / "out")
    assert stats.frames == inputs.frames_total


def test_the_cli_refuses_a_capture_of_an_older_format_version_with_a_clear_message(captured, tmp_path, capsys):
    capture, _, _ = captured
    old = tmp_path / "old"
    old.mkdir()
    data = bytearray(segments(capture)[0].read_bytes())
    data[8:10] = (0).to_bytes(2, "little")
    (old / "000000.arbcap").write_bytes(bytes(data))
    assert cli.main(["replay", str(old), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "capture format version 0, this Arbor reads version 1 only; re-record it" in err


def test_a_sweep_replays_once_per_value_and_reports_side_by_side(captured, tmp_path, capsys):
    capture, _, _ = captured
    out = tmp_path / "sweep"
    assert cli.main(["replay", str(capture), "--sweep", "detector.min_edge_bps=2,50", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "== sweep" in text and "min_edge_bps=2" in text and "min_edge_bps=50" in text
    low, high = dump(out / "min_edge_bps=2" / "journal.sqlite"), dump(out / "min_edge_bps=50" / "journal.sqlite")
    assert len(low["opportunities"]) > len(high["opportunities"]) == 0
    assert (out / "report.html").read_text().count('class="col"') == 2


def test_a_bad_sweep_value_names_the_field(captured, tmp_path, capsys):
    capture, _, _ = captured
    assert cli.main(["replay", str(capture), "--sweep", "detector.min_edge_bps=5,x", "--out", str(tmp_path)]) == 2
    assert "--sweep detector.min_edge_bps" in capsys.readouterr().err


@pytest.mark.parametrize("exchange", ["BINANCE", "GATEIO"])
def test_cryptofeeds_recorded_2021_traffic_replays_and_syncs_books(exchange, tmp_path, capsys):
    ws, http = DATA / f"{exchange}.ws.1.0", DATA / f"{exchange}.http.0.0"
    if not ws.exists():
        pytest.skip(f"{ws} is absent (../shared/data is not beside the checkout)")
    assert cli.main(["replay", str(ws), str(http), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "in sync" in out and (tmp_path / "report.html").exists()
    stats, _ = run_replay(open_inputs([ws, http]), config.load(None), tmp_path / "again")
    synced = [b for b, s in stats.sync.items() if s.synced_ns > 0]
    assert stats.frames > 200 and len(synced) >= 3, stats.sync
