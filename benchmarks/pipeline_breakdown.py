"""Per-stage cost of the pipeline's hot path, each stage timed alone on the replayer's real frames.

Role: ``python -m benchmarks.pipeline_breakdown [--symbols N] [--steps K]`` builds the
replayer's stream in this process (``benchmarks.replay.Replayer``: the same seeded Binance /
Gate / MEXC frames the pipeline case serves), serves its REST from this process so that every
``BookActor`` syncs from the real frozen snapshot, then times, without a profiler, per frame:

- ``ws-callback``: picows's ``on_ws_frame`` taking each frame's payload, on the pre-framed
  frames written over a loopback socket in bursts (what the connection pays before ``decode``,
  ``actors.connection._Reader``); ``ws-receive``: aiohttp's client ``ws.receive()`` on the same
  writes (the reader task it replaced, kept as the comparison);
- ``decode``: ``venue.decode(payload, recv_ns)``;
- ``sync+apply``: ``venue.sync.check`` + ``L2Book.apply`` (the book actor's in-sync path,
  without the view);
- ``view``: ``L2Book.top(depth)`` + the ``BookView`` struct;
- ``detector``: ``DetectorActor.on_view`` in stream order (executor None);
- ``hop-burst``/``hop-single``: the runtime's ``await ref.send`` -> ``receive`` on a no-op
  actor, amortised over a burst, and one message at a time (including the task switch);
- ``tell-conflate``: ``ref.tell`` into a conflating mailbox (what the book does to publish).

The sum is what one frame costs the engine's single core; compare it with the pipeline case's
figures. Absolute values depend on the (shared) machine: read them as proportions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from actors import Actor, MailboxSpec, spawn
from actors.book import BookActor
from actors.detector import DetectorActor, DetectorParams
from benchmarks.replay import VENUES, Replayer
from protocols.binance import BinanceVenue
from protocols.gateio import GateVenue
from protocols.messages import BookDelta, BookSnapshot, BookView
from protocols.mexc import MexcVenue
from protocols.venue import SyncAction

_ADAPTERS: dict[str, Any] = {"binance": BinanceVenue, "gateio": GateVenue, "mexc": MexcVenue}


def payload(frame: bytes) -> str | bytes:
    """The data of one pre-framed (unmasked server) WebSocket frame, as aiohttp hands it over."""
    opcode, n = frame[0] & 0x0F, frame[1] & 0x7F
    off = 2 if n < 126 else (4 if n == 126 else 10)
    data = frame[off:]
    return data.decode() if opcode == 0x1 else data


def per_item_us(fn: Callable[[], int], repeat: int = 3) -> float:
    """Best of ``repeat`` runs of ``fn``, which returns how many items it did and records the
    ns of its timed section with ``_since``/``_ns_as_items``: µs per item."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        _ITEMS_NS.clear()
        n = fn()
        best = min(best, _ITEMS_NS[-1] / 1000 / max(1, n))
    return best


class _Sink(Actor):
    def __init__(self, done: asyncio.Event | None = None, target: int = 0) -> None:
        self.n, self.done, self.target = 0, done, target

    async def receive(self, msg: Any) -> None:
        self.n += 1
        if self.done is not None and self.n >= self.target:
            self.done.set()


@contextlib.asynccontextmanager
async def _pushing(frames: list[bytes], burst: int, go: asyncio.Event) -> AsyncIterator[int]:
    """A loopback WebSocket server (its port) that, once ``go`` is set, writes ``frames``
    ``burst`` at a time, one write per loop turn, then waits for the client to close."""
    writes = [b"".join(frames[i:i + burst]) for i in range(0, len(frames), burst)]

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await go.wait()
        transport = request.transport
        assert transport is not None
        for chunk in writes:
            transport.write(chunk)
            await asyncio.sleep(0)
        await ws.receive()  # until the client closes
        return ws

    app = web.Application()
    app.add_routes([web.get("/ws", handler)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def ws_receive_us(frames: list[bytes], burst: int) -> float:
    """aiohttp client receive per frame: the server writes ``burst`` frames per write."""
    go = asyncio.Event()
    async with _pushing(frames, burst, go) as port, aiohttp.ClientSession() as session, \
            session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
        go.set()
        t0 = time.perf_counter_ns()
        for _ in range(len(frames)):
            await ws.receive()
        elapsed = time.perf_counter_ns() - t0
        await ws.close()
    return elapsed / 1000 / len(frames)


async def ws_callback_us(frames: list[bytes], burst: int) -> float:
    """picows client ``on_ws_frame`` per frame, taking the payload as the connection does: the
    server writes ``burst`` frames per write."""
    go, done = asyncio.Event(), asyncio.Event()

    class Listener(WSListener):
        n = 0

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            _ = frame.get_payload_as_utf8_text() if kind == WSMsgType.TEXT else frame.get_payload_as_bytes()
            self.n += 1
            if self.n == len(frames):
                done.set()

    async with _pushing(frames, burst, go) as port:
        transport, _ = await ws_connect(Listener, f"ws://127.0.0.1:{port}/ws", use_aiofastnet=False)
        go.set()
        t0 = time.perf_counter_ns()
        await done.wait()
        elapsed = time.perf_counter_ns() - t0
        transport.disconnect()
        await transport.wait_disconnected()
    return elapsed / 1000 / len(frames)


async def main_async(n_symbols: int, steps: int) -> None:
    rp = Replayer(n_symbols, steps, seed=1)
    for server in rp.servers.values():
        await server.start()
    # the replayer writes Gate's spot.order_book_update frames: sync by that channel's rule
    # (the adapter's default is spot.obu), as benchmarks.pipeline_engine does
    venues = {name: _ADAPTERS[name](rest_url=rp.servers[name].rest_url, ws_url=rp.servers[name].ws_url,
                                     symbols=rp.symbols,
                                     **({"book_channel": "spot.order_book_update"} if name == "gateio" else {}))
              for name in VENUES}
    try:
        await _measure(rp, venues)
    finally:
        for v in venues.values():
            await v.close()
        for server in rp.servers.values():
            await server.stop()


async def _measure(rp: Replayer, venues: dict[str, Any]) -> None:
    names = [VENUES[i] for i in rp.venue_of]
    datas = [payload(f) for f in rp.frames]
    decoders = [venues[n].decode for n in names]
    n = len(datas)
    print(f"{n} frames, {len(rp.symbols)} symbols x {len(VENUES)} venues; sync frames {rp.sync_frames}")

    def decode_all() -> int:
        now = time.monotonic_ns()
        t0 = time.perf_counter_ns()
        for dec, data in zip(decoders, datas):
            dec(data, now)
        return _since(t0, n)

    deltas: list[BookDelta] = [d(data, time.monotonic_ns()) for d, data in zip(decoders, datas)]
    assert all(type(d) is BookDelta for d in deltas)
    levels = sum(len(d.bids) + len(d.asks) for d in deltas) / n

    # books in sync from the real frozen snapshot, through the book actor's own sync path
    def make_books() -> dict[tuple[str, str], BookActor]:
        return {(v, s): BookActor(venue=venues[v], symbol=s, publish=None) for v in VENUES for s in rp.symbols}

    books = make_books()
    for d in deltas[:rp.sync_frames]:
        await books[(d.venue, d.symbol)].receive(d)
    assert all(b.in_sync for b in books.values())
    snapshots = {k: (b.book.seq, b.book.top(10_000)) for k, b in books.items()}
    timed = deltas[rp.sync_frames:]
    m = len(timed)
    order = [books[(d.venue, d.symbol)] for d in timed]

    def reset() -> None:
        for k, b in books.items():
            seq, (bids, asks) = snapshots[k]
            b.book.clear()
            b.book.apply_snapshot(BookSnapshot(venue=k[0], symbol=k[1], seq=seq, bids=bids, asks=asks,
                                               exchange_ts_ms=0, recv_ns=0))

    def apply_all() -> int:
        reset()
        t0 = time.perf_counter_ns()
        for b, d in zip(order, timed):
            book = b.book
            action = b.venue.sync.check(book.seq, d)
            if action is SyncAction.APPLY:
                book.apply(d)
            else:
                raise AssertionError(action)
        return _since(t0, m)

    def view_all() -> int:
        reset()
        views: list[BookView] = []
        t = 0
        for b, d in zip(order, timed):
            b.book.apply(d)
            b._last_exchange_ts_ms, b._last_applied_recv_ns = d.exchange_ts_ms, d.recv_ns
            t0 = time.perf_counter_ns()
            views.append(b.view())
            t += time.perf_counter_ns() - t0
        view_all.views = views  # type: ignore[attr-defined]
        return _ns_as_items(t, m)

    results: dict[str, float] = {}
    results["decode"] = per_item_us(decode_all)
    results["sync+apply"] = per_item_us(apply_all)
    results["view"] = per_item_us(view_all)
    views: list[BookView] = view_all.views  # type: ignore[attr-defined]
    fees = dict.fromkeys(VENUES, 0.001)

    def detect_all() -> int:
        now = [views[0].recv_ns]
        dets = {s: DetectorActor(symbol=s, taker_fees=fees, params=DetectorParams(), executor=None,
                                 clock=lambda: now[0]) for s in rp.symbols}
        fired = 0
        t0 = time.perf_counter_ns()
        for v in views:
            now[0] = v.recv_ns
            fired += len(dets[v.symbol].on_view(v))
        detect_all.fired = fired  # type: ignore[attr-defined]
        return _since(t0, m)

    results["detector"] = per_item_us(detect_all)
    print(f"detector fired {detect_all.fired} opportunities on {m} views")  # type: ignore[attr-defined]

    # the runtime hop: await send -> receive (no-op), in a burst and one at a time
    k = 20_000
    msg = timed[0]
    done = asyncio.Event()
    sink = await spawn(lambda: _Sink(done, k), name="sink")

    async def burst() -> int:
        done.clear()
        sink._cell.actor.n = 0  # type: ignore[union-attr]
        t0 = time.perf_counter_ns()
        for _ in range(k):
            await sink.send(msg)
        await done.wait()
        return _since(t0, k)

    results["hop-burst"] = await _aper(burst)
    await sink.stop()
    one = asyncio.Event()

    class _One(Actor):
        async def receive(self, m: Any) -> None:
            one.set()

    ref = await spawn(_One, name="one")

    async def single() -> int:
        t0 = time.perf_counter_ns()
        for _ in range(5000):
            one.clear()
            await ref.send(msg)
            await one.wait()
        return _since(t0, 5000)

    results["hop-single"] = await _aper(single)
    await ref.stop()
    conflate = await spawn(_Sink, name="conflate", mailbox=MailboxSpec(policy="conflate", key=lambda m: m.venue))
    cviews = views[:k]

    async def tell_conflate() -> int:
        t0 = time.perf_counter_ns()
        for v in cviews:
            conflate.tell(v)
        t = time.perf_counter_ns() - t0
        await asyncio.sleep(0)
        return _ns_as_items(t, len(cviews))

    results["tell-conflate"] = await _aper(tell_conflate)
    await conflate.stop()
    frames = rp.frames[rp.sync_frames:]
    for burst_n in (1, 20):
        results[f"ws-callback(burst {burst_n})"] = await ws_callback_us(frames[:20_000], burst_n)
        results[f"ws-receive(burst {burst_n})"] = await ws_receive_us(frames[:20_000], burst_n)

    print(f"mean level updates per frame: {levels:.1f}")
    print(f"{'stage':28s} {'us/frame':>9s}")
    total = 0.0
    for name, us in results.items():
        print(f"{name:28s} {us:9.2f}")
    total = sum(results[s] for s in ("decode", "sync+apply", "view", "detector", "tell-conflate"))
    total += results["hop-single"] + results["ws-callback(burst 20)"]
    print(f"{'sum (hop-single, ws-callback burst 20)':28s} {total:9.2f}")


_ITEMS_NS: list[int] = []


def _since(t0: int, items: int) -> int:
    _ITEMS_NS.append(time.perf_counter_ns() - t0)
    return items


def _ns_as_items(t: int, items: int) -> int:
    _ITEMS_NS.append(t)
    return items


async def _aper(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        _ITEMS_NS.clear()
        items = await fn()
        best = min(best, _ITEMS_NS[-1] / 1000 / items)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline_breakdown")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    uvloop.run(main_async(args.symbols, args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
