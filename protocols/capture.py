"""Capture segments: the on-disk format of recorded market data, its writer and its reader.

A capture is a directory of segment files ``NNNNNN.arbcap``, written in order, append-only.
One segment::

    b"ARBORCAP" | version u16 | header length u32 | header (JSON, ``SegmentHeader``)
    block*      each: payload length u32 | crc32(payload) u32 | payload
                payload = codec(msgpack([record, ...])), record = (kind, venue, conn, recv_ns, key, data)

``codec`` is the header's: ``lz4`` (an LZ4 frame, compressed at ``LZ4_LEVEL``; what the
writer uses: a fraction of zlib's CPU per frame, see the capture benchmark) or ``zlib``.
``kind`` is ``WS`` (a WebSocket frame exactly as received: ``data`` is ``str`` for a TEXT frame
and ``bytes`` for a BINARY one, as decoders tell them apart; ``conn`` the socket index), ``REST``
(a 2xx REST reply body; ``key`` is ``"GET /path?query"``), ``DROPPED`` (``conn`` records were
dropped here because the writer's queue was full) or ``META`` (``data`` is a JSON object the
engine noted, e.g. ``{"taker_fees": {venue: fee}}``). ``recv_ns`` is the receive clock
(``time.monotonic_ns``, the same clock as ``BookDelta.recv_ns``); the header maps it to wall time.

Durability: a block is written with one ``os.writev`` on an ``O_APPEND`` descriptor, so once
written it is in the kernel's page cache and survives ``kill -9`` of the process; what is lost
is the block still being filled (at most ``block_s`` or ``block_bytes`` of frames). A torn
tail (a partial block, a bad checksum) ends a segment: ``read_segment`` yields everything before
it and reports ``torn``; it never raises on a torn tail. A segment of another format version is
refused with ``CaptureFormatError`` naming both versions.

The writer (``CaptureWriter``) never blocks the event loop: ``ws``/``rest`` append to a deque
(one ``len`` and one ``append``; a TEXT frame's ``str`` is kept as is, UTF-8 encoding happens on
the thread); a thread drains it, compresses and writes. When more than
``max_queued`` records are waiting (the disk cannot keep up), new records are dropped and
counted (``dropped``), and a ``DROPPED`` record marks the place in the stream, so a replay
knows the book there has a hole (its sync rule then resyncs it from a later snapshot).
"""

from __future__ import annotations

import collections
import itertools
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import lz4.frame  # type: ignore[import-untyped]
import msgspec

MAGIC = b"ARBORCAP"
VERSION = 1
SUFFIX = ".arbcap"
WS, REST, DROPPED, META = 0, 1, 2, 3
_PREFIX = struct.Struct("<8sHI")
_BLOCK = struct.Struct("<II")
_ARRAY32 = struct.Struct(">BI")  # msgpack array32: 0xdd, then the item count
# LZ4's "fast acceleration" (a negative level): the same frame format, decompressed by the same
# call. On the pipeline benchmark's depth frames, the writer's whole path (take, encode,
# compress, checksum) per record, cache-cold records, one thread: level 0 1.53 us at 3.5x,
# -8 1.40 us at 3.1x, -16 1.30 us at 2.6x, -32 1.24 us at 2.2x. The writer's CPU is the
# engine's (issue 18: <= 5% of it); at 20k frames/s of ~620 B, -16 writes ~4.8 MB/s.
LZ4_LEVEL = -16


def _lz4_fast(data: bytes | bytearray) -> bytes:
    return lz4.frame.compress(data, compression_level=LZ4_LEVEL)


CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "lz4": (_lz4_fast, lz4.frame.decompress),
    "zlib": (lambda data: zlib.compress(data, 1), zlib.decompress),
}
CODEC = "lz4"
MAX_BLOCK = 256 * 1024 * 1024  # a length above this is a torn/garbled header, not a block
CHUNK = 4096  # records the writer thread takes off the queue at a time
_popleft = collections.deque.popleft
POLL_S = 0.02  # how often the writer thread looks at its queue


class CaptureFormatError(Exception):
    """A file that is not a capture segment, or one of a format version this reader refuses."""


class Market(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # the adapter: mexc | binance | gateio
    symbols: tuple[str, ...]
    options: dict[str, str] = {}  # the adapter's options, e.g. Gate's book_channel: what the frames are


class SegmentHeader(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    index: int  # segment number within the capture, from 0
    wall_s: float  # time.time() when the segment was opened ...
    mono_ns: int  # ... and time.monotonic_ns() at the same instant: recv_ns -> wall time
    markets: dict[str, Market]  # venue name -> what was subscribed at start
    codec: str  # how each block's payload is compressed (``CODECS``)


Record = tuple[int, str, int, int, str, str | bytes]  # kind, venue, conn, recv_ns, key, data
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[tuple[int, str, int, int, str, Any]]).decode  # Any: str or bytes


def encode_header(header: SegmentHeader) -> bytes:
    body = msgspec.json.encode(header)
    return _PREFIX.pack(MAGIC, header.version, len(body)) + body


def encode_block(records: Sequence[Record], codec: str = CODEC) -> bytes:
    payload = CODECS[codec][0](_encode(records))
    return _BLOCK.pack(len(payload), zlib.crc32(payload)) + payload


class BlockBuilder:
    """One block's payload, built on the writer thread as records are taken off the queue.

    Each chunk of records is msgpack-encoded once, straight into a reused buffer, with no Python
    work per record (the chunk's own array header lands on bytes saved and put back, so the
    elements follow the previous chunk's): the buffer is the payload of ``encode_block`` with
    an ``array32`` header (msgpack's widest array length: any reader takes it), and its length
    is the block's size. ``finish`` compresses it and returns the block header and payload for
    one ``os.writev`` (the payload is never copied behind its header)."""

    def __init__(self) -> None:
        self._encode_into = msgspec.msgpack.Encoder().encode_into
        self._buf = bytearray(_ARRAY32.size)
        self.count = 0

    @property
    def size(self) -> int:
        return len(self._buf) - _ARRAY32.size

    def add(self, records: Sequence[Record]) -> None:
        n = len(records)
        if not n:
            return
        end = len(self._buf)
        head = end - (1 if n < 16 else 3 if n < 65536 else 5)  # msgpack's array header for n items
        saved = self._buf[head:end]
        self._encode_into(records, self._buf, head)
        self._buf[head:end] = saved
        self.count += n

    def finish(self) -> tuple[bytes, bytes]:
        _ARRAY32.pack_into(self._buf, 0, 0xDD, self.count)
        payload = _lz4_fast(self._buf)
        del self._buf[_ARRAY32.size:]
        self.count = 0
        return _BLOCK.pack(len(payload), zlib.crc32(payload)), payload


class Segment(msgspec.Struct, kw_only=True):
    """What reading one segment found: its header, and whether it ended in a torn tail."""

    path: str
    header: SegmentHeader | None = None
    records: int = 0
    torn: bool = False
    torn_at: int | None = None  # byte offset of the first unreadable block


def read_header(data: bytes, path: str) -> tuple[SegmentHeader, int]:
    if len(data) < _PREFIX.size or data[:8] != MAGIC:
        raise CaptureFormatError(f"{path}: not an Arbor capture segment (no {MAGIC!r} header)")
    _, version, size = _PREFIX.unpack_from(data)
    if version != VERSION:
        raise CaptureFormatError(
            f"{path}: capture format version {version}, this Arbor reads version {VERSION} only; "
            f"{'re-record it' if version < VERSION else 'upgrade Arbor'} to replay it")
    end = _PREFIX.size + size
    try:
        header = msgspec.json.decode(data[_PREFIX.size:end], type=SegmentHeader)
    except msgspec.DecodeError as exc:
        raise CaptureFormatError(f"{path}: unreadable segment header: {exc}") from exc
    if header.codec not in CODECS:
        raise CaptureFormatError(f"{path}: unknown block codec {header.codec!r} (this Arbor reads {', '.join(CODECS)})")
    return header, end


def read_segment(path: str | Path, into: Segment | None = None) -> Iterator[Record]:
    """Every record of one segment, in order, up to a torn tail (noted in ``into``)."""
    for records in read_blocks(path, into):
        yield from records


def read_blocks(path: str | Path, into: Segment | None = None) -> Iterator[list[Record]]:
    """``read_segment`` a block at a time: one list per block (a replay's frame loop filters
    and iterates them without a generator step per record)."""
    data = Path(path).read_bytes()
    header, pos = read_header(data, str(path))
    seg = into if into is not None else Segment(path=str(path), header=header)
    seg.header = header
    decompress = CODECS[header.codec][1]
    while pos < len(data):
        if pos + _BLOCK.size > len(data):
            break
        size, crc = _BLOCK.unpack_from(data, pos)
        start, end = pos + _BLOCK.size, pos + _BLOCK.size + size
        if size > MAX_BLOCK or end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        try:
            records = _decode(decompress(data[start:end]))
        except (zlib.error, RuntimeError, msgspec.DecodeError):  # lz4 raises RuntimeError
            break
        seg.records += len(records)
        yield records
        pos = end
    if pos < len(data):
        seg.torn, seg.torn_at = True, pos


def segments(directory: str | Path) -> list[Path]:
    """The segment files of a capture directory, in write order."""
    return sorted(Path(directory).glob(f"*{SUFFIX}"))


def is_capture(path: str | Path) -> bool:
    p = Path(path)
    if p.is_dir():
        return bool(segments(p))
    with open(p, "rb") as f:
        return f.read(8) == MAGIC


class WriterStats(msgspec.Struct, frozen=True, kw_only=True):
    records: int
    dropped: int
    blocks: int
    bytes_written: int
    segments: int
    queued: int
    error: str | None  # why the writer stopped writing (disk full, directory gone), if it did


class CaptureWriter:
    """Rotating, compressed, append-only segments written by one thread. ``ws``/``rest`` are
    called on the event loop and never block; ``close`` writes what is queued and stops.

    Failure: an ``OSError`` on the writer thread (disk full, directory gone) stops the capture
    (``error`` holds it; later records are counted as dropped): losing the recording must not
    stop the trading engine it observes."""

    def __init__(self, directory: str | Path, markets: Mapping[str, Market], *,
                 block_bytes: int = 256 * 1024, block_s: float = 0.2,
                 segment_bytes: int = 64 * 1024 * 1024, segment_s: float = 3600.0,
                 max_queued: int = 200_000) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.markets = dict(markets)
        self.block_bytes, self.block_s = block_bytes, block_s
        self.segment_bytes, self.segment_s = segment_bytes, segment_s
        self.max_queued = max_queued
        self._queue: collections.deque[Record] = collections.deque()
        self._dropped_run = 0  # dropped since the last record that made it (loop thread only)
        self.dropped = 0
        self.error: OSError | None = None
        self._records = self._blocks = self._bytes = self._segments = 0
        self._next_index = len(segments(self.directory))  # appending to a capture never overwrites
        self._fd: int | None = None
        self._seg_bytes = 0
        self._seg_opened = 0.0
        self._block = BlockBuilder()  # the writer thread's own
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-writer:{self.directory}", daemon=True)
        self._thread.start()

    # --- the event loop's side (never blocks) -------------------------------------------------

    def ws(self, venue: str, conn: int, recv_ns: int, data: bytes | str) -> None:
        self._put((WS, venue, conn, recv_ns, "", data))

    def rest(self, venue: str, key: str, recv_ns: int, body: bytes) -> None:
        self._put((REST, venue, 0, recv_ns, key, body))

    def meta(self, **fields: object) -> None:
        self._put((META, "", 0, time.monotonic_ns(), "", msgspec.json.encode(fields)))

    def _put(self, record: Record) -> None:
        queue = self._queue
        if len(queue) >= self.max_queued or self.error is not None:
            self._dropped_run += 1
            self.dropped += 1
            return
        if self._dropped_run:
            queue.append((DROPPED, record[1], self._dropped_run, record[3], "", b""))
            self._dropped_run = 0
        queue.append(record)

    def thread_cpu_s(self) -> float:
        """CPU seconds the writer thread has used (what the capture costs off the loop)."""
        ident = self._thread.ident
        if ident is None or not self._thread.is_alive():
            return 0.0
        return time.clock_gettime(time.pthread_getcpuclockid(ident))

    def stats(self) -> WriterStats:
        return WriterStats(records=self._records, dropped=self.dropped, blocks=self._blocks,
                           bytes_written=self._bytes, segments=self._segments, queued=len(self._queue),
                           error=None if self.error is None else repr(self.error))

    def close(self) -> None:
        """Write everything queued, close the segment, join the thread."""
        self._stop.set()
        self._thread.join()

    # --- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        block = self._block
        queue = self._queue
        first = 0.0
        try:
            while True:
                stopping = self._stop.is_set()
                while queue:
                    if not block.count:
                        first = time.monotonic()
                    # Taken and encoded a chunk at a time by C code (map/repeat, msgspec), with
                    # no Python step per record: the writer's CPU is the engine's.
                    block.add(list(map(_popleft, itertools.repeat(queue, min(len(queue), CHUNK)))))
                    if block.size >= self.block_bytes:
                        self._write()
                if block.count and (stopping or time.monotonic() - first >= self.block_s):
                    self._write()
                if stopping:
                    return
                self._stop.wait(min(POLL_S, self.block_s))
        except OSError as exc:
            self.error = exc
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _write(self) -> None:
        now = time.monotonic()
        if self._fd is None or self._seg_bytes >= self.segment_bytes or now - self._seg_opened >= self.segment_s:
            self._rotate(now)
        records = self._block.count
        head, payload = self._block.finish()
        assert self._fd is not None
        size = os.writev(self._fd, (head, payload))  # one write: the block is in the file whole or torn
        if size != len(head) + len(payload):
            raise OSError(f"short write to the capture segment ({size} of {len(head) + len(payload)} bytes)")
        self._records += records
        self._blocks += 1
        self._bytes += size
        self._seg_bytes += size

    def _rotate(self, now: float) -> None:
        if self._fd is not None:
            os.close(self._fd)
        path = self.directory / f"{self._next_index:06d}{SUFFIX}"
        header = SegmentHeader(version=VERSION, index=self._next_index, wall_s=time.time(),
                               mono_ns=time.monotonic_ns(), markets=self.markets, codec=CODEC)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        head = encode_header(header)
        os.write(self._fd, head)
        self._next_index += 1
        self._segments += 1
        self._seg_bytes, self._seg_opened = len(head), now
