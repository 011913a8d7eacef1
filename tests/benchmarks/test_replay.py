"""The pipeline replayer: valid RFC 6455 server frames, and the arrival schedules it writes them on."""

from __future__ import annotations

import struct

import pytest

from benchmarks.replay import NOISE_STD, Replayer, arrival_schedule, symbols, ws_frame
from simulator import market


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_a_text_frame_carries_fin_its_opcode_and_the_payload_length_in_the_right_width(size: int) -> None:
    payload = "x" * size
    frame = ws_frame(payload)
    assert frame[0] == 0x81 and frame[1] & 0x80 == 0  # FIN + text, unmasked (server to client)
    if size < 126:
        assert frame[1] == size and frame[2:] == payload.encode()
    elif size < 65536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == size and frame[4:] == payload.encode()
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == size and frame[10:] == payload.encode()


def test_a_bytes_payload_becomes_a_binary_frame() -> None:
    assert ws_frame(b"\x0a\x01") == b"\x82\x02\x0a\x01"


def test_symbols_are_distinct_internal_pairs_well_known_first() -> None:
    names = symbols(50)
    assert len(set(names)) == 50 and names[0] == "BTC/USDT" and all(s.endswith("/USDT") for s in names)


def test_poisson_arrivals_ascend_at_the_asked_rate_and_replay_the_same_for_a_segment() -> None:
    due = arrival_schedule(start=100, count=20_000, rate=20_000.0, arrivals="poisson")
    assert due == sorted(due) and len(due) == 20_000
    assert 0.95 < due[-1] / 1e9 < 1.05  # 20k exponential gaps of 50 us: about one second
    assert arrival_schedule(100, 50, 20_000.0, "poisson") == due[:50]
    assert arrival_schedule(101, 50, 20_000.0, "poisson") != due[:50]


def test_tick_arrivals_put_the_frames_due_on_one_millisecond_boundaries() -> None:
    due = arrival_schedule(start=0, count=60, rate=20_000.0, arrivals="tick")
    assert due[:20] == [0] * 20 and due[20:40] == [1_000_000] * 20 and due[40:] == [2_000_000] * 20


def test_an_unknown_arrival_process_is_refused() -> None:
    with pytest.raises(ValueError, match="poisson"):
        arrival_schedule(0, 1, 1.0, "uniform")


def test_building_a_replayer_leaves_the_simulators_venue_noise_as_it_found_it() -> None:
    """The pipeline tests and scripts build a replayer in their own process, beside simulator tests."""
    before = market.NOISE_STD, market.NOISE_TAU_S
    assert before[0] != NOISE_STD
    Replayer(1, steps=3, seed=1)
    assert before == (market.NOISE_STD, market.NOISE_TAU_S)
