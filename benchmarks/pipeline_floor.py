"""The pipeline case's floors: what receiving the replayer's frames costs with no engine at all.

Role: ``run_once(info, params, progress, impl)`` opens, in this process's uvloop, the same
picows sockets the engine's connections open (per venue ``ceil(symbols /
max_streams_per_connection)``, at ``venue.ws_url(chunk)``, subscribed with
``venue.subscribe_frames(chunk)``: 1 Binance, 1 Gate.io, 2 MEXC for 50 symbols), and has
``benchmarks.pipeline_driver.Driver`` drive them (``FloorSubject``) through the same
repetition as the engine: the same replayer, stream, Poisson schedule, segments and CPU
accounting. Per frame, ``_FloorReader.on_ws_frame`` takes the payload as
``actors.connection._Reader`` does (UTF-8 text for TEXT, bytes for BINARY), stamps
``time.monotonic_ns()`` and keeps the stamp (the count is the stamps kept), and nothing else
(``floor-receive``); ``floor-decode`` adds ``venue.decode(payload, stamp)``, the venue codec
as the connection calls it (its result dropped: no book, detector or actor).

The latency rows of a floor are write -> receive: per frame, its callback's stamp minus when
the replayer wrote it (the trace's ``written_ns``; one CLOCK_MONOTONIC for both processes). A
socket delivers its frames in the order they were written to it, so the trace, routed to
sockets as the subscriptions are, pairs each frame with its stamp (``write_to_receive``).
The ``max-rate`` row has the engine's ladder and criterion minus the book-mailbox one (a
floor has no mailbox). A floor does not sync: it is "in sync" once it has the sync frames.

Failure modes: a socket that does not open, a subscription ack that does not arrive within
``ACK_TIMEOUT_S``, a socket that closes, a frame whose decode raises (``floor-decode``) or a
trace that does not pair with the stamps raise ``RuntimeError`` (the case is an error).
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from benchmarks.harness import FLOOR_IMPLS, FLOOR_ROWS
from benchmarks.pipeline import Params
from benchmarks.pipeline_driver import Driver, Latencies
from protocols.binance import BinanceVenue
from protocols.gateio import GateVenue
from protocols.mexc import MexcVenue
from protocols.venue import Venue

ACK_TIMEOUT_S = 10.0
_ADAPTERS: dict[str, type] = {"binance": BinanceVenue, "gateio": GateVenue, "mexc": MexcVenue}
# as actors.connection reads them: an enum member read on 3.11 goes through EnumType.__getattr__
_TEXT, _BINARY = WSMsgType.TEXT, WSMsgType.BINARY


class _FloorReader(WSListener):
    """One socket: per TEXT/BINARY frame, the payload taken, a stamp kept, optionally decoded."""

    def __init__(self, name: str, decode: Callable[[str | bytes, int], Any] | None) -> None:
        super().__init__()
        self.name, self.decode = name, decode
        self.stamps: list[int] = []  # receive stamps since the last clear, in arrival order
        self.count = 0  # TEXT/BINARY frames since connected
        self.acked = asyncio.Event()  # set once ``acks`` frames have arrived (the subscriptions' acks)
        self.acks = 0
        self.failure: BaseException | None = None
        self.closing = False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == _TEXT:
            data: str | bytes = frame.get_payload_as_utf8_text()
        elif kind == _BINARY:
            data = frame.get_payload_as_bytes()
        else:
            return  # PING (picows pongs), PONG, CLOSE (on_ws_disconnected reports it)
        now = time.monotonic_ns()
        self.stamps.append(now)
        self.count += 1
        if self.decode is not None and self.failure is None:
            try:
                self.decode(data, now)
            except Exception as exc:  # to the driver: FloorSubject.frames raises it at its next poll
                self.failure = exc
        if self.count == self.acks:
            self.acked.set()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.closing and self.failure is None:
            self.failure = RuntimeError(f"{self.name}: the socket closed")


class FloorSubject:
    """The floor's sockets as ``Driver`` drives them; see the module docstring."""

    labels = ("write->receive", "", "", "")

    def __init__(self, info: dict[str, Any], decode: bool) -> None:
        self.info, self.decode = info, decode
        # the replayer writes Gate's spot.order_book_update frames, as benchmarks.pipeline_engine says
        self.venues: dict[str, Venue] = {
            name: _ADAPTERS[name](rest_url=v["rest_url"], ws_url=v["ws_url"], symbols=info["symbols"],
                                  **({"book_channel": "spot.order_book_update"} if name == "gateio" else {}))
            for name, v in info["venues"].items()}
        self.readers: list[_FloorReader] = []
        self.transports: list[WSTransport] = []
        # route[venue index][symbol index]: the index of the socket subscribed to it
        self.route: list[list[int]] = []

    async def open(self) -> None:
        """The sockets, subscribed as the engine's connections subscribe, acks received."""
        symbols: list[str] = self.info["symbols"]
        for name, venue in self.venues.items():
            per_socket = max(1, venue.max_streams_per_connection)
            route: list[int] = []
            for i in range(math.ceil(len(symbols) / per_socket)):
                chunk = symbols[i * per_socket:(i + 1) * per_socket]
                reader = _FloorReader(f"{name}{i}", venue.decode if self.decode else None)
                transport, _ = await ws_connect(lambda r=reader: r, venue.ws_url(chunk),
                                                enable_auto_pong=True, use_aiofastnet=False)
                frames = venue.subscribe_frames(chunk)
                reader.acks = len(frames)  # one ack per subscribe frame, on every venue
                if not frames:
                    reader.acked.set()
                for frame in frames:
                    transport.send(_TEXT, frame.encode())
                route += [len(self.readers)] * len(chunk)
                self.readers.append(reader)
                self.transports.append(transport)
            self.route.append(route)
        for reader in self.readers:
            try:
                await asyncio.wait_for(reader.acked.wait(), ACK_TIMEOUT_S)
            except TimeoutError:
                raise RuntimeError(f"{reader.name}: {reader.count} of {reader.acks} subscription acks "
                                   f"after {ACK_TIMEOUT_S}s") from None
        self.clear()

    async def close(self) -> None:
        for reader, transport in zip(self.readers, self.transports):
            reader.closing = True
            transport.disconnect()
            await transport.wait_disconnected()

    def frames(self) -> int:
        for reader in self.readers:
            if reader.failure is not None:
                raise RuntimeError(f"floor socket {reader.name} failed: {reader.failure!r}") from reader.failure
        return sum(r.count for r in self.readers) - sum(r.acks for r in self.readers)

    def high_water(self) -> None:
        return None

    def not_in_sync(self) -> list[str]:
        return []  # the driver's sync segment has waited for every sync frame: nothing to sync

    async def drained(self) -> None:
        return None  # a frame counted is a frame handled: nothing queues behind the callback

    def clear(self) -> None:
        for reader in self.readers:
            reader.stamps = []

    def latencies(self, trace: dict[str, list[int]]) -> Latencies:
        wire = write_to_receive(trace, self.route, [r.stamps for r in self.readers])
        return sorted(wire), [], [], []


def write_to_receive(trace: dict[str, list[int]], route: list[list[int]], stamps: list[list[int]]) -> list[int]:
    """Per frame of ``trace`` (in stream order), its receive stamp minus its write time (ns).
    ``route[venue][symbol]`` is the socket the frame went to, and ``stamps[socket]`` that
    socket's receive stamps over the same frames, in order (TCP keeps a socket's order)."""
    taken = [0] * len(stamps)
    out = []
    for v, s, written in zip(trace["venue"], trace["symbol"], trace["written_ns"]):
        k = route[v][s]
        i = taken[k]
        if i == len(stamps[k]):
            raise RuntimeError(f"socket {k}: more frames written to it than it received ({i})")
        out.append(stamps[k][i] - written)
        taken[k] = i + 1
    extra = [(k, len(st) - n) for k, (st, n) in enumerate(zip(stamps, taken)) if len(st) != n]
    if extra:
        raise RuntimeError(f"frames received beyond the trace (socket, how many): {extra}")
    return out


async def run_once(info: dict[str, Any], params: Params, progress: Callable[[str], None], impl: str) -> list[dict]:
    """One repetition of a floor (``impl`` in ``FLOOR_IMPLS``) against the replayer, from frame 0."""
    if impl not in FLOOR_IMPLS:
        raise ValueError(f"impl: expected one of {FLOOR_IMPLS}, got {impl!r}")
    subject = FloorSubject(info, decode=impl == "floor-decode")
    try:
        await subject.open()
        progress(f"{impl}: {len(subject.readers)} sockets subscribed")
        async with aiohttp.ClientSession() as http:
            gc.freeze()  # as the engine's run does (Engine.serve)
            try:
                outcome = await Driver(info, subject, http, progress).run(params)
            finally:
                gc.unfreeze()
    finally:
        await subject.close()
        for venue in subject.venues.values():
            await venue.close()
    return outcome.rows(impl, FLOOR_ROWS)
