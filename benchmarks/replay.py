"""Loopback frame replayer for the pipeline benchmark: real venue frames at a fixed rate.

Role: ``python -m benchmarks.replay --symbols N --steps K [--seed S]`` runs in its OWN process
(so it never shares the engine's core). It pre-generates, untimed and seeded, K steps of the
simulator's market (``simulator.market.Market``: one shared random walk per symbol, each venue
lagged and noisy, so cross-venue edges open now and then) for Binance, Gate.io and MEXC, and
encodes every step's delta with the simulator's own encoders: Binance combined-stream
``depthUpdate`` JSON (continuous ``U``/``u``), Gate ``spot.order_book_update`` JSON, MEXC
protobuf ``aggre.depth``. Every frame is pre-framed as a WebSocket frame (unmasked, server to
client) so that replaying it costs one ``transport.write`` per socket per batch of frames due.

It serves the three venues with the simulator's servers (``simulator.venues``: real REST
paths, exchangeInfo / currency_pairs for ``symbol_info``, WebSocket subscribe / ack / ping),
with one change: the REST depth snapshot is frozen at the state after step 0, so the engine's
real ``BookActor`` sync (buffer, snapshot, venue rule) works unchanged every time the stream
is replayed from frame 0. Step 0's frame is inside that snapshot, step 1's continues it: the
first ``2 * venues * symbols`` frames are the sync phase.

Control (JSON over HTTP on its own port): ``POST /segment {"start", "count", "rate",
"arrivals", "trace"}`` waits until every venue/symbol has a subscribed socket, then writes
frames ``start..start+count`` in stream order at ``rate`` frames/s, each at its own time:
``arrivals`` ``poisson`` (default: exponential gaps, the writer sleeping or spinning until the
next frame is due; frames due together are written together) or ``tick`` (the frames due are
written once per 1 ms tick, so every tick is a burst). It answers ``{"sent", "t0_ns", "t1_ns",
"late_p99_us"}`` (``time.monotonic_ns``: CLOCK_MONOTONIC is one clock for every process on a
Linux machine, the same as the engine's ``recv_ns``; ``late_p99_us`` is how far behind its
schedule the writer fell), plus with ``trace`` ``{"venue", "symbol", "seq", "written_ns"}``,
one flat list each (per frame: venue and symbol index, last sequence number, when it was
written), so the engine side can time an Opportunity from the moment its frame was handed to
the kernel. On start it prints one JSON line on stdout: the venues'
``rest_url``/``ws_url``, the symbols, ``frames``, ``sync_frames``, ``control_url``. It exits
when stdin closes (its parent died or is done) or on SIGTERM.

Failure modes: a segment whose sockets are not all subscribed within 10 s answers 409; a
segment past the end of the stream answers 416. A client that stops reading makes the
transports buffer (the engine's lag then shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import signal
import struct
import sys
import time
import types
from bisect import bisect_right
from typing import Any, cast

from aiohttp import web

from protocols.mexc.codec import depth_channel
from protocols.venue import venue_symbol
from simulator import market as _market
from simulator.config import SimConfig
from simulator.market import Market
from simulator.venues.base import VenueServer
from simulator.venues.binance import BinanceServer
from simulator.venues.gateio import GateServer
from simulator.venues.mexc import MexcServer

VENUES = ("binance", "gateio", "mexc")
_SERVERS: dict[str, type[VenueServer]] = {"binance": BinanceServer, "gateio": GateServer, "mexc": MexcServer}
_HEAD_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "DOGE/USDT")
UPDATES_PER_S = 100.0  # level updates per second per book in market time: ~10 per frame + the touch
LEVELS = 300  # levels per side in the snapshot
TICK_S = 0.001  # ``tick`` arrivals: the frames due are written together once per tick
SPIN_NS = 200_000  # the writer spins (yielding to its loop this often) when the next frame is nearer
SUBSCRIBED_TIMEOUT_S = 10.0
# The market is replayed ~10x faster than market time and the detector's cooldown is in real
# time, so venues must diverge more often than in the simulator's default for a latency
# percentile to rest on hundreds of opportunities, not a dozen: wider, faster venue noise
# (the simulator reads these module constants when it builds each symbol's mid model; the
# replayer sets them for that moment only).
NOISE_STD = 1.0e-3
NOISE_TAU_S = 0.5


def symbols(n: int) -> tuple[str, ...]:
    """``n`` internal symbols: the well-known ones first, then ``C00/USDT``... (price 100)."""
    extra = tuple(f"C{i:02d}/USDT" for i in range(max(0, n - len(_HEAD_SYMBOLS))))
    return (_HEAD_SYMBOLS + extra)[:n]


def ws_frame(payload: str | bytes) -> bytes:
    """One unmasked, unfragmented, uncompressed server->client WebSocket frame (RFC 6455 5.2)."""
    if isinstance(payload, str):
        data, opcode = payload.encode(), 0x1
    else:
        data, opcode = payload, 0x2
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + data


def arrival_schedule(start: int, count: int, rate: float, arrivals: str) -> list[int]:
    """Each frame's write time in ns after the segment's start, ascending.

    ``poisson``: exponential gaps at ``rate`` (seeded by ``start``, so a segment replays the
    same way every run): the superposition of many independent streams, which is what 3 venues
    x 50 symbols of depth updates look like to the engine. ``tick``: the frames due are
    written together once per ``TICK_S`` (bursts of ``rate * TICK_S`` frames)."""
    if arrivals == "poisson":
        rng, t, out = random.Random(start), 0.0, []
        for _ in range(count):
            t += rng.expovariate(rate)
            out.append(int(t * 1e9))
        return out
    if arrivals == "tick":
        tick_ns = int(TICK_S * 1e9)
        return [int(k * 1e9 / rate) // tick_ns * tick_ns for k in range(count)]
    raise ValueError(f"arrivals: expected 'poisson' or 'tick', got {arrivals!r}")


class _ReplayServer(VenueServer):
    """What ``_replay_class`` adds to a venue's server: a frozen snapshot per symbol and each
    socket's transport (declarations only; the class is made per venue)."""

    frozen: dict[str, tuple[int, dict[int, int], dict[int, int]]]
    transports: dict[Any, asyncio.Transport]


def _replay_class(base: type[VenueServer]) -> type[_ReplayServer]:
    class Replay(base, _ReplayServer):  # type: ignore[misc, valid-type]
        """The simulator's server with a frozen snapshot and each socket's transport kept."""

        def snapshot(self, symbol: str) -> tuple[int, dict[int, int], dict[int, int]]:
            return self.frozen[symbol]

        def on_connect(self, conn: Any, request: web.Request) -> None:
            super().on_connect(conn, request)
            transport = cast(asyncio.Transport, request.transport)
            # uvloop queues a small write until its loop's next iteration (asyncio's own loop
            # sends it at once), and the writer yields to its loop only every SPIN_NS while it
            # spins between frames: a frame would leave up to SPIN_NS after its ``written``
            # stamp. With no high-water mark uvloop sends inside ``transport.write`` instead.
            transport.set_write_buffer_limits(high=0)
            self.transports[conn] = transport

    Replay.__name__ = f"Replay{base.__name__}"
    return Replay


class Replayer:
    """The generated stream and the three servers; see the module docstring."""

    def __init__(self, n_symbols: int, steps: int, seed: int) -> None:
        self.symbols = symbols(n_symbols)
        cfg = SimConfig(seed=seed, symbols=self.symbols, venues=VENUES, updates_per_s=UPDATES_PER_S,
                        levels=LEVELS, gate_full_every=0, rate_limits=False)
        saved = _market.NOISE_STD, _market.NOISE_TAU_S
        _market.NOISE_STD, _market.NOISE_TAU_S = NOISE_STD, NOISE_TAU_S
        try:
            market = Market(cfg)
        finally:  # read once, by the mid models just built: leave the module as found (in-process use)
            _market.NOISE_STD, _market.NOISE_TAU_S = saved
        self.servers: dict[str, _ReplayServer] = {}
        for name in VENUES:
            server = _replay_class(_SERVERS[name])(cfg, market.books[name], pause=lambda: None,
                                                   resume=lambda: None, new_order_id=lambda: "0")
            server.frozen, server.transports = {}, {}
            self.servers[name] = server
        # (venue index, symbol index, last seq, framed bytes) in stream order, as four flat lists
        self.venue_of: list[int] = []
        self.symbol_of: list[int] = []
        self.seq_of: list[int] = []  # what a BookView built on the frame carries as its seq
        self.frames: list[bytes] = []
        fake = {name: self._fake_conn(name) for name in VENUES}
        for step in range(steps):
            market.step()
            for si, symbol in enumerate(self.symbols):
                for vi, name in enumerate(VENUES):
                    book = market.books[name][symbol]
                    delta = book.drain()
                    if delta is None:
                        if step < 2:  # the sync phase needs one frame per book in each of its steps
                            raise RuntimeError(f"{name} {symbol}: no change in step {step}")
                        continue
                    self.venue_of.append(vi)
                    self.symbol_of.append(si)
                    self.seq_of.append(delta.last)
                    frame = self.servers[name].encode(symbol, delta, fake[name])
                    if frame is None:  # a full depth stream has a frame for every change
                        raise RuntimeError(f"{name} {symbol}: no frame for the change in step {step}")
                    self.frames.append(ws_frame(frame))
                    if step == 0:
                        self.servers[name].frozen[symbol] = (book.seq, dict(book.bids), dict(book.asks))
        self.sync_frames = 2 * len(VENUES) * len(self.symbols)

    def _fake_conn(self, name: str) -> Any:
        """What an encoder reads of a connection: its style and the stream name per symbol."""
        if name == "binance":
            names = {s: f"{venue_symbol(s).lower()}@depth@100ms" for s in self.symbols}
            return types.SimpleNamespace(style="combined", names=names)
        if name == "mexc":
            return types.SimpleNamespace(style="", names={s: depth_channel(venue_symbol(s)) for s in self.symbols})
        return types.SimpleNamespace(style="", names={})

    def _routes(self) -> list[list[asyncio.Transport]] | None:
        """Per venue, per symbol index: the transport of the socket subscribed to it."""
        out = []
        for name in VENUES:
            server = self.servers[name]
            by_symbol: dict[str, asyncio.Transport] = {}
            for conn in server.conns:
                transport = server.transports.get(conn)
                if transport is not None and not transport.is_closing():
                    for symbol in conn.subs:
                        by_symbol[symbol] = transport
            if len(by_symbol) < len(self.symbols):
                return None
            out.append([by_symbol[s] for s in self.symbols])
        return out

    async def play(self, start: int, count: int, rate: float, arrivals: str = "poisson",
                   trace: bool = False) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIBED_TIMEOUT_S
        while (routes := self._routes()) is None:
            if loop.time() > deadline:
                raise web.HTTPConflict(text="not every venue/symbol has a subscribed socket")
            await asyncio.sleep(0.01)
        if start < 0 or start + count > len(self.frames):
            raise web.HTTPRequestRangeNotSatisfiable(text=f"frames {start}..{start + count} of {len(self.frames)}")
        try:
            due_ns = arrival_schedule(start, count, rate, arrivals)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        frames, venue_of, symbol_of = self.frames, self.venue_of, self.symbol_of
        written = [0] * count  # when each frame was handed to its socket (monotonic ns)
        monotonic_ns = time.monotonic_ns
        t0 = monotonic_ns()
        yielded = t0
        i = 0
        while i < count:
            now = monotonic_ns()
            due = bisect_right(due_ns, now - t0, i)
            if due == i:  # nothing due yet: sleep when the next frame is far, spin when near
                wait = due_ns[i] - (now - t0)
                if wait > SPIN_NS:
                    await asyncio.sleep((wait - SPIN_NS) / 1e9)
                    yielded = monotonic_ns()
                elif now - yielded > SPIN_NS:  # let the loop flush transports and serve REST
                    await asyncio.sleep(0)
                    yielded = monotonic_ns()
                continue
            batches: dict[asyncio.Transport, list[bytes]] = {}
            for k in range(start + i, start + due):
                transport = routes[venue_of[k]][symbol_of[k]]
                batch = batches.get(transport)
                if batch is None:
                    batches[transport] = [frames[k]]
                else:
                    batch.append(frames[k])
            for k in range(i, due):
                written[k] = now
            for transport, batch in batches.items():
                transport.write(b"".join(batch))
            i = due
        t1 = monotonic_ns()
        late = sorted(w - t0 - d for w, d in zip(written, due_ns))
        out: dict[str, Any] = {"sent": count, "t0_ns": t0, "t1_ns": t1,
                               "late_p99_us": late[int(len(late) * 0.99)] / 1000 if late else 0.0}
        if trace:  # per frame, as flat lists (no object per frame for the engine's collector)
            end = start + count
            out["trace"] = {"venue": venue_of[start:end], "symbol": symbol_of[start:end],
                            "seq": self.seq_of[start:end], "written_ns": written}
        return out

    async def _segment(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(await self.play(int(body["start"]), int(body["count"]), float(body["rate"]),
                                                  str(body.get("arrivals", "poisson")), bool(body.get("trace", False))))

    async def serve(self) -> None:
        for server in self.servers.values():
            await server.start()
        app = web.Application()
        app.add_routes([web.post("/segment", self._segment)])
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        # stdin closing means the parent is gone or finished: stop with it
        stdin = cast(io.BufferedReader, sys.stdin.buffer)  # typed BinaryIO, which lacks read1
        loop.add_reader(stdin.fileno(), lambda: done.set() if not stdin.read1(4096) else None)
        try:
            info = {
                "venues": {name: {"rest_url": s.rest_url, "ws_url": s.ws_url} for name, s in self.servers.items()},
                "symbols": list(self.symbols), "frames": len(self.frames), "sync_frames": self.sync_frames,
                "control_url": f"http://127.0.0.1:{runner.addresses[0][1]}",
            }
            sys.stdout.write(json.dumps(info) + "\n")
            sys.stdout.flush()
            await done.wait()
        finally:
            loop.remove_reader(sys.stdin.fileno())
            for server in self.servers.values():
                await server.stop()
            await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replay")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--steps", type=int, default=1000, help="market steps: one frame per venue x symbol each")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    replayer = Replayer(args.symbols, args.steps, args.seed)
    import uvloop

    uvloop.run(replayer.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
