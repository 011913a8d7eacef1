"""Capture segments: round trip, rotation, torn tails, refused versions, a full queue, kill -9."""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.capture import (
    DROPPED,
    MAGIC,
    REST,
    WS,
    BlockBuilder,
    CaptureFormatError,
    CaptureWriter,
    Market,
    Segment,
    SegmentHeader,
    encode_block,
    encode_header,
    read_segment,
    segments,
)

MARKETS = {"binance": Market(kind="binance", symbols=("BTC/USDT",))}
ROOT = Path(__file__).resolve().parents[2]


def header(version: int = 1) -> SegmentHeader:
    return SegmentHeader(version=version, index=0, wall_s=1.0, mono_ns=2, markets=MARKETS, codec="lz4")


def frames(n: int, size: int = 40) -> list[tuple[int, str, int, int, str, str | bytes]]:
    """Binary frames, and every third one a TEXT frame (a str)."""
    rng = random.Random(n)
    return [(WS, "binance", i % 2, 1_000 + i, "", rng.randbytes(size).hex() if i % 3 == 0 else rng.randbytes(size))
            for i in range(n)]


def write_segment(path: Path, blocks: list[list[tuple[int, str, int, int, str, str | bytes]]],
                  version: int = 1) -> None:
    path.write_bytes(encode_header(header(version)) + b"".join(encode_block(b) for b in blocks))


record = st.tuples(st.sampled_from([WS, REST, DROPPED]), st.sampled_from(["mexc", "gateio", "binance"]),
                   st.integers(0, 1000), st.integers(0, 2**63 - 1), st.sampled_from(["", "GET /x?y=1"]),
                   st.one_of(st.binary(max_size=200), st.text(max_size=200)))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(record, min_size=1, max_size=20), max_size=6))
def test_blocks_read_back_exactly_as_written_in_order(tmp_path_factory, blocks):
    path = tmp_path_factory.mktemp("cap") / "000000.arbcap"
    write_segment(path, blocks)
    seg = Segment(path=str(path))
    assert list(read_segment(path, seg)) == [r for b in blocks for r in b]
    assert not seg.torn and seg.header == header()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(record, max_size=40), max_size=8), st.booleans())
def test_a_block_built_chunk_by_chunk_reads_back_as_one_block_of_every_record(tmp_path_factory, chunks, twice):
    builder = BlockBuilder()
    blocks = []
    for _ in range(2 if twice else 1):  # the buffer is reused: a second block holds only its own records
        for chunk in chunks:
            builder.add(chunk)
        assert builder.count == sum(map(len, chunks))
        head, payload = builder.finish()
        blocks.append(head + payload)
    assert builder.count == 0 and builder.size == 0
    path = tmp_path_factory.mktemp("cap") / "000000.arbcap"
    path.write_bytes(encode_header(header()) + b"".join(blocks))
    assert list(read_segment(path)) == [r for c in chunks for r in c] * len(blocks)


def test_a_chunk_of_sixteen_or_more_records_keeps_the_records_before_it(tmp_path):
    """msgpack's array header is 1 byte below 16 items and 3 from 16: both overlay saved bytes."""
    builder = BlockBuilder()
    for chunk in (frames(3), frames(16), frames(1), frames(70_000, size=1)):
        builder.add(chunk)
    head, payload = builder.finish()
    path = tmp_path / "000000.arbcap"
    path.write_bytes(encode_header(header()) + head + payload)
    assert list(read_segment(path)) == frames(3) + frames(16) + frames(1) + frames(70_000, size=1)


def test_a_segment_truncated_at_any_offset_reads_a_prefix_of_whole_blocks_and_stops_cleanly(tmp_path):
    blocks = [frames(30)[i:i + 10] for i in range(0, 30, 10)]
    path = tmp_path / "000000.arbcap"
    write_segment(path, blocks)
    data = path.read_bytes()
    head = len(encode_header(header()))
    ends = [head]
    for b in blocks:
        ends.append(ends[-1] + len(encode_block(b)))
    rng = random.Random(7)
    for cut in sorted({*rng.sample(range(head, len(data)), 60), *ends}):
        path.write_bytes(data[:cut])
        seg = Segment(path=str(path))
        got = list(read_segment(path, seg))
        whole = sum(1 for e in ends[1:] if e <= cut)
        assert got == [r for b in blocks[:whole] for r in b], cut
        assert seg.torn == (cut not in ends), cut


def test_a_corrupted_block_ends_the_segment_there(tmp_path):
    blocks = [frames(10), frames(11), frames(12)]
    path = tmp_path / "000000.arbcap"
    write_segment(path, blocks)
    data = bytearray(path.read_bytes())
    second = len(encode_header(header())) + len(encode_block(blocks[0]))
    data[second + 12] ^= 0xFF  # inside the second block's payload: its checksum fails
    path.write_bytes(bytes(data))
    seg = Segment(path=str(path))
    assert list(read_segment(path, seg)) == blocks[0]
    assert seg.torn and seg.torn_at == second


def test_a_segment_of_an_older_format_version_is_refused_naming_both_versions(tmp_path):
    path = tmp_path / "000000.arbcap"
    write_segment(path, [frames(3)], version=0)
    with pytest.raises(CaptureFormatError,
                       match=r"capture format version 0, this Arbor reads version 1 only; re-record"):
        list(read_segment(path))


def test_a_file_that_is_not_a_segment_is_refused(tmp_path):
    path = tmp_path / "x.arbcap"
    path.write_bytes(b"not a capture")
    with pytest.raises(CaptureFormatError, match="not an Arbor capture segment"):
        list(read_segment(path))


def drained(writer: CaptureWriter) -> None:
    """Wait (bounded) until the writer thread has taken everything queued."""
    deadline = time.monotonic() + 10
    while writer.stats().queued and time.monotonic() < deadline:
        time.sleep(0.002)
    assert not writer.stats().queued


def test_the_writer_rotates_segments_and_they_read_back_in_order(tmp_path):
    writer = CaptureWriter(tmp_path, MARKETS, block_bytes=1_000, segment_bytes=3_000)
    written = frames(300, size=60)
    for i, (_, venue, conn, recv_ns, _, data) in enumerate(written):
        writer.ws(venue, conn, recv_ns, data)
        if i % 20 == 19:  # bursts: the thread takes each as a chunk of its own, a block each
            drained(writer)
    writer.rest("binance", "GET /api/v3/depth?symbol=BTCUSDT", 5_000, b"{}")
    writer.close()
    files = segments(tmp_path)
    assert len(files) > 2 and writer.stats().segments == len(files)
    got = [r for f in files for r in read_segment(f)]
    assert got == [*written, (REST, "binance", 0, 5_000, "GET /api/v3/depth?symbol=BTCUSDT", b"{}")]
    assert {type(r[5]) for r in got[:-1]} == {str, bytes}  # TEXT and BINARY frames stay apart
    assert writer.stats().dropped == 0


def test_a_full_queue_drops_records_counts_them_and_marks_the_place(tmp_path):
    writer = CaptureWriter(tmp_path, MARKETS, max_queued=10, block_s=0.2)
    for i in range(5_000):  # far faster than the thread's 20 ms polls: the queue overflows
        writer.ws("binance", 0, i, b"x")
    dropped_so_far = writer.dropped
    drained(writer)
    writer.ws("binance", 0, 10_000, b"after")  # the drop run ends: a DROPPED marker precedes it
    writer.close()
    records = [r for f in segments(tmp_path) for r in read_segment(f)]
    markers = [r for r in records if r[0] == DROPPED]
    assert dropped_so_far > 0 and writer.dropped == dropped_so_far
    assert sum(1 for r in records if r[0] == WS) + writer.dropped == 5_001
    assert markers and sum(m[2] for m in markers) == writer.dropped
    assert records[-1][5] == b"after" and records[-2][0] == DROPPED


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from protocols.capture import CaptureWriter, Market
    w = CaptureWriter(sys.argv[1], {"mexc": Market(kind="mexc", symbols=("BTC/USDT",))}, block_s=0.01)
    i = 0
    while True:
        w.ws("mexc", 0, i, b"frame-%d" % i)
        i += 1
        if i % 200 == 0:
            print(w.stats().records, flush=True)  # records already written to the file
            time.sleep(0.001)
""")


def test_a_kill_9_loses_at_most_the_unwritten_block_and_leaves_a_readable_capture(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    written = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            written = int(line)
            if written >= 2_000:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    records = [r for f in segments(tmp_path) for r in read_segment(f)]
    assert len(records) >= written >= 2_000
    assert [r[5] for r in records] == [b"frame-%d" % i for i in range(len(records))]


def test_a_zlib_segment_reads_like_an_lz4_one(tmp_path):
    path = tmp_path / "000000.arbcap"
    head = msgspec.structs.replace(header(), codec="zlib")
    path.write_bytes(encode_header(head) + encode_block(frames(5), "zlib"))
    assert list(read_segment(path)) == frames(5)


def test_the_header_is_magic_version_length_then_json():
    raw = encode_header(header())
    magic, version, size = struct.unpack_from("<8sHI", raw)
    assert (magic, version, len(raw)) == (MAGIC, 1, 14 + size)
