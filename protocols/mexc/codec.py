"""MEXC WebSocket frames -> Arbor messages. Pure functions, the hot path of the connection.

Framing (mexc.md §1.1): control replies come as JSON **text** frames, market data as **binary**
frames each holding one ``PushDataV3ApiWrapper`` protobuf. So ``str`` means a control reply and
``bytes`` means a push. A decoded aggregated-depth push (fixture (a) of mexc.md §1.6, the
debug print of the protobuf; the wire is binary)::

    channel: "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"   # field 1, full channel
    symbol: "BTCUSDT"                                            # field 3 -> "BTC/USDT"
    sendTime: 1778075380657                                      # field 6 -> exchange_ts_ms
    publicAggreDepths {                                          # oneof body, field 313
      bids { price: "100" quantity: "4" }                        # absolute qty; "0" removes
      eventType: "spot@public.aggre.depth.v3.api.pb@100ms"       # channel without the symbol
      fromVersion: "10023"                                       # strings -> int first_seq
      toVersion: "10023"                                         #         -> int last_seq
      lastOrderCreateTime: 1778075380572
    }

gives ``BookDelta(venue="mexc", symbol="BTC/USDT", first_seq=10023, last_seq=10023,
bids=((100.0, 4.0),), asks=(), exchange_ts_ms=1778075380657, recv_ns=...)``.

Other bodies: ``publicLimitDepths`` (a top-N book, one ``version``) becomes a ``full`` delta
with first_seq = last_seq = version, which ``MexcSync.check`` answers with REPLACE;
``publicAggreBookTicker`` and ``publicAggreDeals`` are channels Arbor does not use -> ``None``.
A push with no body we know, a truncated/garbled protobuf, a non-numeric version or price, a
NaN/infinite number, a price <= 0, a negative quantity, toVersion < fromVersion, a symbol we
did not subscribe, or a text frame that is not a control reply -> ``DecodeError``
with a bounded excerpt. protobuf's and msgspec's errors are translated here and only here.

Where the compiled core is built (``protocols.compiled``; ``CORE`` says which runs), an
aggregated-depth push is first read straight from the wire by ``protocols.mexc._depth``, which
gives the same ``BookDelta`` or, for anything but the plain case, ``None``: that frame then
takes the protobuf path below, so every error is still reported from here.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

import msgspec
from google.protobuf.message import DecodeError as _PbDecodeError

from protocols import compiled
from protocols.errors import DecodeError
from protocols.messages import BookDelta
from protocols.mexc import push_pb2
from protocols.mexc.wire import control_decoder
from protocols.numbers import MAX_TS_MS, Level
from protocols.venue import Control

VENUE = "mexc"
# the fastest documented diff-depth channel (mexc.md §1.3: @100ms or @10ms)
DEPTH_CHANNEL = "spot@public.aggre.depth.v3.api.pb@10ms@"  # + UPPERCASE venue symbol
_PONG = Control(kind="pong")
_parse = push_pb2.PushDataV3ApiWrapper.FromString
_LEVELS = tuple[Level, ...]


def _levels(pairs: list[tuple[str, str]]) -> tuple[Level, ...]:
    return msgspec.convert(pairs, _LEVELS, strict=False)


_compiled, CORE = compiled.load("protocols.mexc._depth")
_decode_depth = None if _compiled is None else _compiled.decode_depth


def depth_channel(venue_symbol: str) -> str:
    return DEPTH_CHANNEL + venue_symbol.upper()


def decode_frame(frame: bytes | str, recv_ns: int, symbols: Mapping[str, str],
                 channels: Container[str]) -> BookDelta | Control | None:
    """One frame -> ``BookDelta`` | ``Control`` | ``None`` (a channel we ignore).

    ``symbols`` maps venue symbols (``BTCUSDT``) to internal ones (``BTC/USDT``); ``channels``
    holds the channel strings this connection may have requested, to tell an ack from a
    refusal (MEXC refuses by answering with a ``msg`` that is not the channel).
    """
    if type(frame) is bytes and _decode_depth is not None:
        delta = _decode_depth(frame, recv_ns, symbols)
        if delta is not None:
            return delta
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return _decode_push(bytes(frame), recv_ns, symbols)
    if isinstance(frame, str):
        return _decode_control(frame, channels)
    raise DecodeError(VENUE, f"frame of type {type(frame).__name__}", repr(frame))


def _decode_push(frame: bytes, recv_ns: int, symbols: Mapping[str, str]) -> BookDelta | None:
    try:
        push = _parse(frame)
        if push.HasField("publicAggreDepths"):
            body = push.publicAggreDepths
            first, last, full = int(body.fromVersion), int(body.toVersion), False
        elif push.HasField("publicLimitDepths"):
            body = push.publicLimitDepths
            first = last = int(body.version)
            full = True
        elif push.HasField("publicAggreBookTicker") or push.HasField("publicAggreDeals"):
            return None
        else:
            raise DecodeError(VENUE, "push without a known body", frame)
        # msgspec parses the strings and checks protocols.numbers' constraints in C (faster
        # than float() per string in Python): a NaN, an infinity, a price <= 0 or a negative
        # quantity raises ValidationError
        bids = _levels([(lv.price, lv.quantity) for lv in body.bids])
        asks = _levels([(lv.price, lv.quantity) for lv in body.asks])
    except (_PbDecodeError, ValueError, msgspec.ValidationError) as exc:  # ValueError: int("") of a version
        raise DecodeError(VENUE, f"{type(exc).__name__}: {exc}", frame) from exc
    # the wrapper's symbol is optional on the wire; the channel always ends with it
    if last < first:
        raise DecodeError(VENUE, f"toVersion {last} < fromVersion {first}", frame)
    if first < 0:
        raise DecodeError(VENUE, f"negative version {first}", frame)
    if not 0 <= push.sendTime <= MAX_TS_MS:
        raise DecodeError(VENUE, f"sendTime {push.sendTime}", frame)
    venue_sym = push.symbol if push.HasField("symbol") else push.channel.rpartition("@")[2]
    symbol = symbols.get(venue_sym)
    if symbol is None:
        raise DecodeError(VENUE, f"push for unsubscribed symbol {venue_sym!r}", frame)
    return BookDelta(venue=VENUE, symbol=symbol, first_seq=first, last_seq=last, bids=bids,
                     asks=asks, exchange_ts_ms=push.sendTime, recv_ns=recv_ns, full=full)


def _decode_control(frame: str, channels: Container[str]) -> Control:
    try:
        reply = control_decoder.decode(frame)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass: wrong types too
        raise DecodeError(VENUE, f"control reply: {exc}", frame) from exc
    if reply.msg == "PONG":
        return _PONG
    # A SUBSCRIPTION with several params is acknowledged with the channels joined by commas.
    if reply.code == 0 and reply.msg and all(part in channels for part in reply.msg.split(",")):
        return Control(kind="ack", detail=reply.msg)
    # e.g. "Not Subscribed successfully! [spot@public...].  Reason： Blocked!"
    return Control(kind="error", detail=f"code={reply.code} msg={reply.msg}")
