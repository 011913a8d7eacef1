"""Gate.io spot v4 WebSocket frames → Arbor messages. Pure functions, no I/O.

A ``spot.order_book_update`` push (gateio.md §4.2)::

    {"time": 1606294781,                 # envelope, seconds (not read)
     "time_ms": 1606294781236,           # envelope, ms (not read)
     "channel": "spot.order_book_update",# the union tag: picks the struct in ONE decode
     "event": "update",                  # "subscribe"/"unsubscribe" on replies
     "result": {
        "t": 1606294781123,              # book update time, ms    → exchange_ts_ms
        "e": "depthUpdate",              # ignored
        "E": 1606294781,                 # deprecated, ignored
        "s": "BTC_USDT",                 # pair                     → symbol "BTC/USDT"
        "U": 48776301,                   # first update id          → first_seq
        "u": 48776306,                   # last update id           → last_seq
        "b": [["19137.74", "0.0001"], ["19088.37", "0"]],  # absolute amounts; "0" deletes
        "a": [["19137.75", "0.6135"]],
        "full": true}}                   # only on a full-book push (2025): replaces the book

A ``spot.obu`` push (order book v2, gateio.md §4.2; ``ob.PAIR.50`` every 20 ms) carries the
stream name in ``s`` (``"ob.BTC_USDT.50"`` → ``BTC/USDT``), ``U``/``u`` on incremental pushes
and ``full: true`` (no ``U``) on the first push and on in-band full books::

    {"channel": "spot.obu", "event": "update", "result": {"t": 1748572394325, "full": true,
     "s": "ob.BTC_USDT.50", "u": 28606981, "b": [["105000.1", "0.5"]], "a": [...]}}

Replies: ``{"channel": "spot.order_book_update", "event": "subscribe", "error": null,
"result": {"status": "success"}}`` → ``Control("ack")``; the same with ``"error": {"code": 2,
"message": "..."}`` → ``Control("error")``; ``{"channel": "spot.pong", ...}`` →
``Control("pong")``. Pushes on channels Arbor knows but does not consume (book_ticker,
order_book, trades) → ``None``. Anything else (truncated JSON, wrong types, an unknown
channel, an update without ids or with ``u < U``, a NaN/infinite number, a price <= 0 or a
negative amount) raises ``DecodeError`` with an excerpt of the frame.

Where the compiled core is built (``protocols.compiled``; ``CORE`` says which runs), a frame is
first read straight from its bytes by ``protocols._jsondepth.decode_gateio``, which gives the
same ``BookDelta`` for a plain update push of either channel or, for anything else, ``None``:
that frame then takes the msgspec path below, so every error is still reported from here.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from protocols import compiled
from protocols.errors import DecodeError
from protocols.gateio import wire
from protocols.levels import untrack_levels
from protocols.messages import BookDelta
from protocols.venue import Control

VENUE = "gateio"
BOOK_CHANNEL = "spot.order_book_update"
OBU_CHANNEL = "spot.obu"
OBU_LEVELS = 50  # ob.PAIR.50: 50 levels every 20 ms (ob.PAIR.400: 400 levels every 100 ms)

_compiled, CORE = compiled.load("protocols._jsondepth")
_read_depth = None if _compiled is None else _compiled.decode_gateio


def obu_stream(pair: str) -> str:
    return f"ob.{pair}.{OBU_LEVELS}"


def decode(frame: bytes | str, recv_ns: int, symbols: Mapping[str, str]) -> BookDelta | Control | None:
    """One frame → a delta, a control reply, or None. ``symbols`` maps ``BTC_USDT`` → ``BTC/USDT``
    (a pair missing from it is converted by replacing the underscore)."""
    if _read_depth is not None:
        delta = _read_depth(frame, recv_ns, symbols)
        if delta is not None:
            return delta
    try:
        msg = wire.FRAME.decode(frame)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass: one translation point
        return _undecodable(frame, exc)
    if type(msg) is wire.BookUpdateFrame and msg.event == "update":
        r = msg.result
        if r is None or r.last < 0 or r.t < 0 or not r.s or (r.first < 0 and not r.full):
            raise DecodeError(VENUE, "order_book_update without s/t/U/u", frame)
        if r.last < r.first:
            raise DecodeError(VENUE, f"last update id u={r.last} < first U={r.first}", frame)
        if untrack_levels is not None:
            untrack_levels(r.bids, r.asks)
        return BookDelta(
            venue=VENUE,
            symbol=symbols.get(r.s) or r.s.replace("_", "/"),
            first_seq=r.first if r.first >= 0 else r.last,  # a full push may omit U
            last_seq=r.last,
            bids=r.bids,
            asks=r.asks,
            exchange_ts_ms=r.t,
            recv_ns=recv_ns,
            full=r.full,
        )
    if type(msg) is wire.ObuFrame and msg.event == "update":
        return _obu(msg.result, recv_ns, symbols, frame)
    return _control(msg)


def _obu(r: wire.ObuUpdate | None, recv_ns: int, symbols: Mapping[str, str], frame: bytes | str) -> BookDelta:
    prefix, _, rest = r.s.partition(".") if r is not None else ("", "", "")
    pair = rest.rpartition(".")[0]
    if r is None or prefix != "ob" or not pair or r.last < 0 or r.t < 0 or (r.first < 0 and not r.full):
        raise DecodeError(VENUE, "spot.obu update without s=ob.PAIR.N/t/U/u", frame)
    if untrack_levels is not None:
        untrack_levels(r.bids, r.asks)
    return BookDelta(venue=VENUE, symbol=symbols.get(pair) or pair.replace("_", "/"),
                     first_seq=r.first if r.first >= 0 else r.last, last_seq=r.last, bids=r.bids, asks=r.asks,
                     exchange_ts_ms=r.t, recv_ns=recv_ns, full=r.full)


def _control(msg: wire.Frame) -> Control | None:
    channel = msg.__struct_config__.tag
    if msg.error is not None:
        return Control(kind="error", detail=f"{channel}: code {msg.error.code}: {msg.error.message}")
    if type(msg) is wire.PongFrame:
        return Control(kind="pong")
    if msg.event in ("subscribe", "unsubscribe"):
        return Control(kind="ack", detail=f"{msg.event} {channel}")
    return None  # a push on a channel we do not consume


def _undecodable(frame: bytes | str, exc: msgspec.DecodeError) -> Control:
    """Cold path: Gate's reply to a request it could not parse may lack a usable channel but
    still carry ``error``; that is a venue error reply, not a malformed frame."""
    try:
        reply = wire.ERROR_ONLY.decode(frame)
    except msgspec.DecodeError:
        reply = wire.ErrorOnly()
    if reply.error is not None:
        return Control(kind="error", detail=f"code {reply.error.code}: {reply.error.message}")
    raise DecodeError(VENUE, str(exc), frame) from exc
