"""The pipeline's floors receive every frame the replayer writes on the engine's sockets and time
each one from its write; a frame the decoding floor cannot decode fails the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from benchmarks import harness, report
from benchmarks.harness import FLOOR_ROWS
from benchmarks.pipeline import Outcome, Step
from benchmarks.pipeline_floor import FloorSubject, write_to_receive
from benchmarks.replay import Replayer, ws_frame
from testkit import eventually

# 31 symbols: MEXC takes 30 a connection, so its frames come over two sockets, as in the engine
SYMBOLS = 31


@pytest.fixture(scope="module")
def replayer() -> Replayer:
    return Replayer(SYMBOLS, steps=4, seed=1)


@pytest.fixture
async def served(replayer: Replayer) -> AsyncIterator[tuple[Replayer, dict[str, Any]]]:
    for server in replayer.servers.values():
        await server.start()
    try:
        yield replayer, {"venues": {n: {"rest_url": s.rest_url, "ws_url": s.ws_url}
                                    for n, s in replayer.servers.items()},
                         "symbols": list(replayer.symbols)}
    finally:
        for server in replayer.servers.values():
            await server.stop()


@pytest.mark.parametrize("decode", [False, True], ids=["floor-receive", "floor-decode"])
async def test_a_floor_receives_every_frame_of_a_segment_and_times_each_from_its_write(
        served: tuple[Replayer, dict[str, Any]], decode: bool) -> None:
    rp, info = served
    floor = FloorSubject(info, decode=decode)
    try:
        await floor.open()
        assert len(floor.readers) == 4  # Binance 1, Gate.io 1, MEXC 2
        assert floor.frames() == 0  # the subscriptions' acks are not frames of the stream
        await rp.play(0, rp.sync_frames, 5_000.0, "tick")
        await eventually(lambda: floor.frames() == rp.sync_frames, what="the sync frames")
        floor.clear()
        count = len(rp.frames) - rp.sync_frames
        sent = await rp.play(rp.sync_frames, count, 5_000.0, trace=True)
        await eventually(lambda: floor.frames() == len(rp.frames), what="the segment's frames")
        wire, *rest = floor.latencies(sent["trace"])
        assert len(wire) == count and rest == [[], [], []]
        assert wire == sorted(wire) and wire[0] > 0  # each stamp after its write, one clock
        assert sum(len(r.stamps) for r in floor.readers[2:]) == sum(1 for v in sent["trace"]["venue"] if v == 2)
    finally:
        await floor.close()


async def test_a_frame_the_decoding_floor_cannot_decode_fails_the_run_at_the_next_count(
        served: tuple[Replayer, dict[str, Any]]) -> None:
    rp, info = served
    receive, decode = FloorSubject(info, decode=False), FloorSubject(info, decode=True)
    try:
        await receive.open()
        await decode.open()
        for transport in rp.servers["binance"].transports.values():
            transport.write(ws_frame('{"not": "a depth frame"'))
        await eventually(lambda: receive.frames() == 1, what="the bad frame on the receiving floor")
        with pytest.raises(RuntimeError, match="binance0 failed"):
            await eventually(decode.frames, what="the decode failure")
    finally:
        await receive.close()
        await decode.close()


async def test_the_replayer_sockets_buffer_nothing_past_the_write_call(
        served: tuple[Replayer, dict[str, Any]]) -> None:
    """Under uvloop a write below the high-water mark waits for the loop's next turn, which the
    spinning writer takes only every SPIN_NS: the ``written`` stamp would run ahead of the send."""
    rp, info = served
    floor = FloorSubject(info, decode=False)
    try:
        await floor.open()
        transports = [t for server in rp.servers.values() for t in server.transports.values() if not t.is_closing()]
        assert len(transports) == 4 and all(t.get_write_buffer_limits() == (0, 0) for t in transports)
    finally:
        await floor.close()


def test_each_frame_pairs_with_the_next_stamp_of_the_socket_it_was_routed_to() -> None:
    trace = {"venue": [0, 1, 0, 1, 1], "symbol": [0, 0, 1, 1, 0], "written_ns": [10, 20, 30, 40, 50]}
    route = [[0, 0], [1, 2]]  # venue 0 on one socket; venue 1's two symbols on two sockets
    stamps = [[15, 31], [25, 58], [47]]
    assert write_to_receive(trace, route, stamps) == [5, 5, 1, 7, 8]


@pytest.mark.parametrize("stamps, match", [([[15], [25, 58], [47]], "more frames written"),
                                           ([[15, 31, 99], [25, 58], [47]], r"beyond the trace.*\(0, 1\)")])
def test_stamps_that_do_not_pair_with_the_trace_are_an_error(stamps: list[list[int]], match: str) -> None:
    trace = {"venue": [0, 1, 0, 1, 1], "symbol": [0, 0, 1, 1, 0], "written_ns": [10, 20, 30, 40, 50]}
    with pytest.raises(RuntimeError, match=match):
        write_to_receive(trace, [[0, 0], [1, 2]], stamps)


def test_a_floor_outcome_gives_only_the_floor_rows_and_needs_no_opportunity() -> None:
    out = Outcome(wire_us=[3_000, 1_000, 2_000], tick_us=[5_000], cpu_us=4.0, rss_mb=40.0,
                  steps=[Step(10_000.0, 10_000.0, 1.0, -1, True), Step(15_000.0, 12_000.0, 1.0, -1, False)])
    rows = {r["case"]: r["value"] for r in out.rows("floor-receive", FLOOR_ROWS)}
    assert tuple(rows) == FLOOR_ROWS
    assert rows["pipeline-p50@20k"] == 2.0 and rows["pipeline-max-rate"] == 10_000.0


def test_an_absolute_pipeline_target_shows_what_the_floors_measured_in_the_same_run() -> None:
    def rep(impl: str, cpu: float) -> dict:
        return {"reps": [[{"case": "pipeline-cpu@20k", "impl": impl, "value": cpu, "unit": "us/frame"}]]}

    cases = {c.name: c for c in harness.CASES}
    results = [*harness._reduce(cases["pipeline"], rep("arbor", 40.0)),
               *harness._reduce(cases["pipeline-floor-receive"], rep("floor-receive", 8.0)),
               *harness._reduce(cases["pipeline-floor-decode"], rep("floor-decode", 12.0))]
    harness._ratios(results)
    cpu = next(r for r in results if (r.case, r.impl) == ("pipeline-cpu@20k", "arbor"))
    assert cpu.ratio == 5.0 and cpu.ref == "floor-receive"
    row = next(r for r in report.target_rows(results) if r[0].startswith("engine CPU"))
    assert row[1:] == ["40.000", "MISSED (the floors: floor-receive 8.0, floor-decode 12.0)"]
