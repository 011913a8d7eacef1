"""Binance WebSocket frames → Arbor messages. Pure functions, no I/O.

A combined-stream diff-depth frame (binance.md §3.1), the only one on the hot path::

    {"stream": "bnbbtc@depth@100ms",        # <lowercase symbol>@depth[@100ms]
     "data": {"e": "depthUpdate",           # event type
              "E": 1672515782136,           # event time, ms        -> exchange_ts_ms
              "s": "BNBBTC",                # venue symbol          -> symbol "BNB/BTC"
              "U": 157,                     # first update ID       -> first_seq
              "u": 160,                     # final update ID       -> last_seq
              "b": [["0.0024", "10"]],      # bids [price, qty] strings -> floats, qty 0 removes
              "a": [["0.0026", "100"]]}}    # asks

Everything else is rare and goes through the slow path: ``{"result":null,"id":1}`` → ack,
``{"code":2,"msg":"..."}`` → error, ``serverShutdown`` → info (the connection reconnects),
bookTicker / partial-depth streams → None (subscribed by nobody here, ignored), anything else
→ ``DecodeError`` with an excerpt, and so does a depth frame with a NaN/infinite number, a
price <= 0, a negative quantity (``wire``'s constraints) or ``u < U``. msgspec's errors become
``DecodeError`` in ``parse`` only (the REST adapter uses it too).

Where the compiled core is built (``protocols.compiled``; ``CORE`` says which runs), a frame is
first read straight from its bytes by ``protocols._jsondepth.decode_binance``, which gives the
same ``BookDelta`` for a plain depth frame or, for anything else, ``None``: that frame then
takes the msgspec path below, so every error is still reported from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec

from protocols import compiled
from protocols.binance import wire
from protocols.errors import DecodeError
from protocols.levels import untrack_levels
from protocols.messages import BookDelta
from protocols.venue import Control

VENUE = "binance"
T = TypeVar("T")
_IGNORED_CHANNELS = frozenset(
    {"bookTicker", "depth5", "depth10", "depth20", "depth5@100ms", "depth10@100ms", "depth20@100ms"}
)
_DEPTH_CHANNELS = frozenset({"depth", "depth@100ms"})

_compiled, CORE = compiled.load("protocols._jsondepth")
_read_depth = None if _compiled is None else _compiled.decode_binance


def decode(frame: bytes | str, recv_ns: int, symbols: Mapping[str, str]) -> BookDelta | Control | None:
    """One frame → a delta, a control reply, or None. ``symbols`` maps ``BNBBTC`` → ``BNB/BTC``."""
    if _read_depth is not None:
        delta = _read_depth(frame, recv_ns, symbols)
        if delta is not None:
            return delta
    try:
        data = wire.DEPTH_ENVELOPE.decode(frame).data
    except msgspec.DecodeError:  # not a depth envelope: control reply, other channel or garbage
        return _decode_other(frame, recv_ns, symbols)
    symbol = symbols.get(data.symbol)
    if symbol is None or data.event != "depthUpdate":
        return _decode_other(frame, recv_ns, symbols)
    if data.last < data.first:
        raise DecodeError(VENUE, f"final update id u={data.last} < first U={data.first}", frame)
    if untrack_levels is not None:
        untrack_levels(data.bids, data.asks)
    return BookDelta(
        venue=VENUE, symbol=symbol, first_seq=data.first, last_seq=data.last, bids=data.bids,
        asks=data.asks, exchange_ts_ms=data.event_ms, recv_ns=recv_ns,
    )


def parse(decoder: msgspec.json.Decoder[T], payload: bytes | str | msgspec.Raw, frame: bytes | str) -> T:
    """The one place msgspec's errors become ``DecodeError`` (with an excerpt of ``frame``)."""
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise DecodeError(VENUE, str(exc), frame) from exc


def _decode_other(frame: bytes | str, recv_ns: int, symbols: Mapping[str, str]) -> BookDelta | Control | None:
    top = parse(wire.ANY_FRAME, frame, frame)
    if top.stream is not None and top.data is not msgspec.UNSET:  # a combined-stream event
        channel = top.stream.partition("@")[2]
        if channel in _DEPTH_CHANNELS:
            return _depth(parse(wire.DEPTH_UPDATE, top.data, frame), recv_ns, symbols, frame)
        if channel in _IGNORED_CHANNELS:
            return None
        if parse(wire.EVENT_TYPE, top.data, frame).event == "serverShutdown":
            return Control(kind="info", detail="serverShutdown")
        raise DecodeError(VENUE, f"unknown stream {top.stream!r}", frame)
    if top.code is not None:
        return Control(kind="error", detail=f"code {top.code}: {top.msg or ''} (id={top.id})")
    if top.result is not msgspec.UNSET and top.id is not None:
        return Control(kind="ack", detail=f"id={top.id} result={bytes(top.result).decode()}")
    if top.event == "serverShutdown":
        return Control(kind="info", detail="serverShutdown")
    if top.event == "depthUpdate":  # a raw /ws/<symbol>@depth stream (no envelope)
        return _depth(parse(wire.DEPTH_UPDATE, frame, frame), recv_ns, symbols, frame)
    raise DecodeError(VENUE, "not a stream event, reply or error", frame)


def _depth(data: wire.DepthUpdate, recv_ns: int, symbols: Mapping[str, str], frame: bytes | str) -> BookDelta:
    symbol = symbols.get(data.symbol)
    if symbol is None:
        raise DecodeError(VENUE, f"depth for unknown symbol {data.symbol!r}", frame)
    if data.event != "depthUpdate":
        raise DecodeError(VENUE, f"depth stream carries event {data.event!r}", frame)
    if data.last < data.first:
        raise DecodeError(VENUE, f"final update id u={data.last} < first U={data.first}", frame)
    if untrack_levels is not None:
        untrack_levels(data.bids, data.asks)
    return BookDelta(
        venue=VENUE, symbol=symbol, first_seq=data.first, last_seq=data.last, bids=data.bids,
        asks=data.asks, exchange_ts_ms=data.event_ms, recv_ns=recv_ns,
    )
