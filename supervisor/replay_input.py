"""What a replay reads: Arbor capture directories/segments and cryptofeed raw files, merged.

``open_inputs(paths)`` scans every input once for what must be known before the first frame
(the markets, the taker fees the engine used, every REST reply, the number of frames, the first
receive time) and returns a ``ReplayInput`` whose ``frames()`` streams the WebSocket records of
all inputs merged by receive time. Inputs of one replay must come from one recording (one
receive clock): one Arbor capture (its directory or segments), or a cryptofeed ws/http pair.

Failure: ``CaptureFormatError`` for a segment of another format version or a file that is
neither format (the message names the file). A torn segment tail is not an error: the replay
stops at it and ``torn`` lists where.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from protocols import capture, cryptofeed
from protocols.capture import (
    DROPPED,
    META,
    REST,
    WS,
    CaptureFormatError,
    Market,
    Record,
    Segment,
)


class ReplayInput(msgspec.Struct, kw_only=True):
    sources: list[str]  # files, in read order
    markets: dict[str, Market]
    taker_fees: dict[str, float]
    rest: list[Record]
    frames_total: int
    first_ns: int
    wall_at_first: float  # wall-clock seconds of the first record
    torn: list[str]  # "file at byte N" for each torn segment tail
    cryptofeed: bool

    def frames(self) -> Iterator[Record]:
        """WebSocket (and DROPPED) records of every input, merged by receive time.

        The segments of one capture directory are one stream (written in receive order, one
        after the other), read a block at a time; streams are merged only when there are several."""
        streams = [_frames(group) for group in _streams(self.sources)]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=operator.itemgetter(3))


def _streams(sources: Sequence[str]) -> list[list[str]]:
    """Consecutive Arbor segments of one directory form one stream; a cryptofeed file is one."""
    groups: list[list[str]] = []
    parent: Path | None = None
    for path in sources:
        if cryptofeed.is_cryptofeed(path):
            if cryptofeed.kind_of(path)[1] == "ws":  # an http file holds no frames
                groups.append([path])
            parent = None
        elif parent is not None and Path(path).parent == parent:
            groups[-1].append(path)
        else:
            groups.append([path])
            parent = Path(path).parent
    return groups or [[]]


def _frames(paths: Sequence[str]) -> Iterator[Record]:
    if len(paths) == 1 and cryptofeed.is_cryptofeed(paths[0]):
        return cryptofeed.read(paths[0])  # a ws file: frames only
    blocks = itertools.chain.from_iterable(capture.read_blocks(p) for p in paths)
    return itertools.chain.from_iterable([r for r in block if r[0] == WS or r[0] == DROPPED] for block in blocks)


def expand(paths: Sequence[str | Path]) -> list[str]:
    """Capture directories become their segments; files stay; anything else is refused."""
    out: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = capture.segments(p)
            if not found:
                raise CaptureFormatError(f"{p}: a directory without capture segments (*{capture.SUFFIX})")
            out.extend(map(str, found))
        elif not p.exists():
            raise CaptureFormatError(f"{p}: no such file or directory")
        elif cryptofeed.is_cryptofeed(p) or capture.is_capture(p):
            out.append(str(p))
        else:
            raise CaptureFormatError(f"{p}: neither an Arbor capture segment nor a cryptofeed "
                                     "EXCHANGE.ws.N.M / EXCHANGE.http.N.M file")
    return out


def open_inputs(paths: Sequence[str | Path]) -> ReplayInput:
    sources = expand(paths)
    markets: dict[str, Market] = {}
    fees: dict[str, float] = {}
    rest: list[Record] = []
    torn: list[str] = []
    frames = 0
    first_ns: int | None = None
    wall_at_first: float | None = None
    is_cf = False
    for path in sources:
        if cryptofeed.is_cryptofeed(path):
            is_cf = True
            for venue, market in cryptofeed.markets(path).items():
                markets[venue] = _merge(markets.get(venue), market)
            records: Iterator[Record] = cryptofeed.read(path)
            seg = None
        else:
            seg = Segment(path=path)
            records = capture.read_segment(path, seg)
        for rec in records:
            kind, recv_ns = rec[0], rec[3]
            if first_ns is None or recv_ns < first_ns:
                first_ns = recv_ns
                wall_at_first = (recv_ns / 1e9 if seg is None or seg.header is None
                                 else seg.header.wall_s + (recv_ns - seg.header.mono_ns) / 1e9)
            if kind == WS:
                frames += 1
            elif kind == REST:
                rest.append(rec)
            elif kind == META:
                fees.update(msgspec.json.decode(rec[5]).get("taker_fees", {}))
        if seg is not None:
            assert seg.header is not None
            for venue, market in seg.header.markets.items():
                markets[venue] = _merge(markets.get(venue), market)
            if seg.torn:
                torn.append(f"{path} at byte {seg.torn_at}")
    if first_ns is None:
        raise CaptureFormatError(f"no records in {', '.join(sources)}")
    rest.sort(key=lambda r: r[3])
    return ReplayInput(sources=sources, markets=markets, taker_fees=fees, rest=rest, frames_total=frames,
                       first_ns=first_ns, wall_at_first=wall_at_first or 0.0, torn=torn, cryptofeed=is_cf)


def _merge(old: Market | None, new: Market) -> Market:
    if old is None:
        return new
    return Market(kind=old.kind, symbols=tuple(dict.fromkeys(old.symbols + new.symbols)))
