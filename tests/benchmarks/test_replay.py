"""The pipeline replayer's pre-framed WebSocket frames are valid RFC 6455 server frames."""

from __future__ import annotations

import struct

import pytest

from benchmarks.replay import symbols, ws_frame


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
