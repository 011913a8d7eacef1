"""ConnectionActor: sockets, subscriptions, routing, and every way it crashes — first against a
tiny loopback WebSocket edge speaking Gate's / MEXC's frames, then under a rest_for_one tree
against the simulator."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from actors import Actor, ActorRef, MailboxSpec, spawn
from actors.book import BookActor
from actors.connection import ConnectionActor, ConnectionCounters, ConnectionStatus
from protocols.binance import BinanceVenue
from protocols.errors import DecodeError, NetworkError, SubscriptionFailed
from protocols.gateio import GateVenue
from protocols.messages import BookDelta, GetView, Subscribe, Unsubscribe
from protocols.mexc import MexcVenue
from simulator import SimConfig, Simulator
from supervisor import ChildSpec, Supervisor, Tree, run
from testkit import eventually, until


class Edge:
    """A loopback WebSocket server: records what clients send, pushes what a test tells it."""

    def __init__(self, *, answer_pings: bool = True) -> None:
        self.answer_pings = answer_pings
        self.sockets: list[web.WebSocketResponse] = []
        self.received: list[tuple[int, str]] = []  # (socket index, text frame)
        self.changed = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Edge:
        app = web.Application()
        app.router.add_get("/ws", self._handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/ws"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self.sockets:
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        index = len(self.sockets)
        self.sockets.append(ws)
        self.changed.set()
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                self.received.append((index, msg.data))
                self.changed.set()
                if self.answer_pings and "spot.ping" in msg.data:
                    await ws.send_str(json.dumps({"time": 1, "channel": "spot.pong", "event": "", "result": None}))
        self.changed.set()  # the client went away
        return ws

    def texts(self, needle: str) -> list[tuple[int, str]]:
        return [(i, t) for i, t in self.received if needle in t]


def gate_update(pair: str, first: int, last: int, bids=(), asks=()) -> str:
    return json.dumps({"time": 1, "time_ms": 1000, "channel": "spot.order_book_update", "event": "update",
                       "result": {"t": 1000 + last, "e": "depthUpdate", "E": 1, "s": pair, "U": first, "u": last,
                                  "b": [[str(p), str(q)] for p, q in bids],
                                  "a": [[str(p), str(q)] for p, q in asks]}})


class Sink(Actor[BookDelta]):
    """Stands in for a book: keeps every delta routed to it."""

    def __init__(self) -> None:
        self.deltas: list[BookDelta] = []
        self.changed = asyncio.Event()

    async def receive(self, msg: BookDelta) -> None:
        self.deltas.append(msg)
        self.changed.set()


async def crash_of(ref: ActorRef) -> BaseException:
    """Wait for a standalone actor's incarnation to end; return why it ended."""
    await asyncio.wait([ref._cell.task])
    reason = ref._cell._exit_reason
    assert reason is not None, "the actor stopped normally"
    return reason


async def start_connection(venue, symbols, routes: dict[str, ActorRef], **kw) -> ActorRef:
    return await spawn(lambda: ConnectionActor(venue=venue, symbols=symbols, route=routes.get, **kw),
                       name="connection")


@pytest.fixture
async def edge():
    async with Edge() as e:
        yield e


def gate(edge: Edge, symbols=("BTC/USDT",)) -> GateVenue:
    return GateVenue(rest_url="http://127.0.0.1:9", ws_url=edge.url, symbols=symbols,
                     book_channel="spot.order_book_update")  # the frames gate_update() writes


# --- against a loopback edge ---------------------------------------------------------------------


async def test_deltas_are_routed_to_their_book_and_unrouted_symbols_are_dropped_and_counted(edge):
    sink = Sink()
    sink_ref = await spawn(sink, name="sink")
    counters = ConnectionCounters()
    conn = await start_connection(gate(edge), ["BTC/USDT"], {"BTC/USDT": sink_ref}, counters=counters)
    await until(lambda: len(edge.texts('"subscribe"')) == 1, edge.changed)
    assert '"BTC_USDT"' in edge.received[0][1]
    ws = edge.sockets[0]
    await ws.send_str(gate_update("XRP_USDT", 1, 1, bids=[(1.0, 1.0)]))  # never subscribed
    await ws.send_str(gate_update("BTC_USDT", 5, 6, bids=[(100.0, 2.0)]))
    await until(lambda: len(sink.deltas) == 1, sink.changed)
    d = sink.deltas[0]
    assert (d.venue, d.symbol, d.first_seq, d.last_seq, d.bids) == ("gateio", "BTC/USDT", 5, 6, ((100.0, 2.0),))
    status = conn._cell.describe()
    assert isinstance(status, ConnectionStatus)
    assert (status.sockets, status.frames, status.deltas, status.dropped_unrouted) == (1, 2, 1, 1)
    assert status.subscriptions == ("BTC/USDT",) and status.connected_since is not None
    assert counters.frames == 2 and counters.connects == 1 and counters.reconnects == 0
    await conn.stop()
    await sink_ref.stop()


async def test_a_socket_closed_by_the_venue_crashes_the_connection_with_network_error(edge):
    conn = await start_connection(gate(edge), ["BTC/USDT"], {})
    await until(lambda: len(edge.sockets) == 1, edge.changed)
    await edge.sockets[0].close()
    reason = await crash_of(conn)
    assert isinstance(reason, NetworkError) and "socket closed" in str(reason)


async def test_a_malformed_frame_crashes_the_connection_and_counts_a_decode_error(edge):
    counters = ConnectionCounters()
    conn = await start_connection(gate(edge), ["BTC/USDT"], {}, counters=counters)
    await until(lambda: len(edge.sockets) == 1, edge.changed)
    await edge.sockets[0].send_str('{"channel": "spot.order_book_update", "event": "update", "result": {"s": ')
    reason = await crash_of(conn)
    assert isinstance(reason, DecodeError)
    assert counters.decode_errors == 1


async def test_a_refused_subscription_crashes_the_connection_with_subscription_failed(edge):
    conn = await start_connection(gate(edge), ["BTC/USDT"], {})
    await until(lambda: len(edge.sockets) == 1, edge.changed)
    await edge.sockets[0].send_str(json.dumps({
        "time": 1, "channel": "spot.order_book_update", "event": "subscribe",
        "error": {"code": 2, "message": "unknown currency pair BTC_USDT"}, "result": None}))
    reason = await crash_of(conn)
    assert isinstance(reason, SubscriptionFailed) and "unknown currency pair" in str(reason)


async def test_a_silent_socket_crashes_the_connection_after_the_idle_timeout(edge):
    conn = await start_connection(gate(edge), ["BTC/USDT"], {}, idle_timeout_s=0.2, pong_timeout_s=60.0)
    reason = await crash_of(conn)
    assert isinstance(reason, NetworkError) and "no frame" in str(reason)


async def test_a_venue_that_stops_answering_pings_crashes_the_connection_after_the_pong_timeout():
    async with Edge(answer_pings=False) as quiet:
        venue = gate(quiet)
        venue.ping_interval_s = 0.05  # instance attribute: this test's venue pings fast
        conn = await start_connection(venue, ["BTC/USDT"], {}, pong_timeout_s=0.3, idle_timeout_s=60.0)
        await until(lambda: len(quiet.texts("spot.ping")) >= 1, quiet.changed)
        reason = await crash_of(conn)
        assert isinstance(reason, NetworkError) and "no pong" in str(reason)


async def test_pongs_keep_a_pinging_connection_alive(edge):
    venue = gate(edge)
    venue.ping_interval_s = 0.02
    conn = await start_connection(venue, ["BTC/USDT"], {}, pong_timeout_s=0.2, idle_timeout_s=60.0)
    # Twenty pings spread over ~2x the pong timeout, each answered: the connection must survive.
    await until(lambda: len(edge.texts("spot.ping")) >= 20, edge.changed)
    assert conn.alive
    await conn.stop()


async def test_subscribe_and_unsubscribe_at_run_time_change_the_venue_subscription_and_routing(edge):
    sink = Sink()
    sink_ref = await spawn(sink, name="sink")
    venue = gate(edge, symbols=("BTC/USDT", "ETH/USDT"))
    conn = await start_connection(venue, ["BTC/USDT"], {"BTC/USDT": sink_ref, "ETH/USDT": sink_ref})
    await until(lambda: len(edge.texts('"subscribe"')) == 1, edge.changed)
    conn.tell(Subscribe(symbol="ETH/USDT"))
    await until(lambda: len(edge.texts('"subscribe"')) == 2, edge.changed)
    assert '"ETH_USDT"' in edge.texts('"subscribe"')[1][1]
    await edge.sockets[0].send_str(gate_update("ETH_USDT", 1, 1, asks=[(2000.0, 1.0)]))
    await until(lambda: len(sink.deltas) == 1, sink.changed)
    conn.tell(Unsubscribe(symbol="ETH/USDT"))
    await until(lambda: len(edge.texts('"unsubscribe"')) == 1, edge.changed)
    await edge.sockets[0].send_str(gate_update("ETH_USDT", 2, 2, asks=[(2001.0, 1.0)]))
    await edge.sockets[0].send_str(gate_update("BTC_USDT", 7, 7, asks=[(101.0, 1.0)]))
    await until(lambda: len(sink.deltas) == 2, sink.changed)
    assert sink.deltas[1].symbol == "BTC/USDT"  # the late ETH frame was dropped, not routed
    status = conn._cell.describe()
    assert status.subscriptions == ("BTC/USDT",) and status.dropped_unrouted == 1 and len(edge.sockets) == 1
    await conn.stop()
    await sink_ref.stop()


async def test_mexc_subscription_over_thirty_symbols_uses_two_sockets(edge):
    symbols = [f"C{i}/USDT" for i in range(31)]
    venue = MexcVenue(rest_url="http://127.0.0.1:9", ws_url=edge.url, symbols=symbols)
    conn = await start_connection(venue, symbols, {})
    await until(lambda: len(edge.received) == 2, edge.changed)
    by_socket = {i: json.loads(t)["params"] for i, t in edge.received}
    assert sorted(len(p) for p in by_socket.values()) == [1, 30]
    assert conn._cell.describe().sockets == 2
    await conn.stop()


async def test_stopping_the_connection_closes_its_sockets(edge):
    conn = await start_connection(gate(edge), ["BTC/USDT"], {})
    await until(lambda: len(edge.sockets) == 1, edge.changed)
    await conn.stop()
    await until(lambda: edge.sockets[0].closed, edge.changed)
    assert not conn.alive


class Held(Sink):
    """A book that takes one delta and then holds it until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def receive(self, msg: BookDelta) -> None:
        await self.release.wait()
        await super().receive(msg)


async def test_a_full_book_mailbox_pauses_reading_its_socket_until_every_delta_is_delivered_in_order(edge):
    book = Held()
    book_ref = await spawn(book, name="book", mailbox=MailboxSpec(capacity=1))
    counters = ConnectionCounters()
    conn = await start_connection(gate(edge), ["BTC/USDT"], {"BTC/USDT": book_ref}, counters=counters)
    await until(lambda: len(edge.sockets) == 1, edge.changed)
    for seq in range(1, 4):  # the book holds the 1st, its mailbox the 2nd: the 3rd at the latest waits
        await edge.sockets[0].send_str(gate_update("BTC_USDT", seq, seq, bids=[(100.0 + seq, 1.0)]))
    await eventually(lambda: counters.frames == 3, what="three frames read")
    sock = conn._cell.actor._sockets[0]
    assert sock.backlog and not sock.transport.underlying_transport.is_reading()
    for seq in range(4, 7):  # written while the socket is paused: read once the backlog drained
        await edge.sockets[0].send_str(gate_update("BTC_USDT", seq, seq, bids=[(100.0 + seq, 1.0)]))
    book.release.set()
    await until(lambda: len(book.deltas) == 6, book.changed)
    assert [d.first_seq for d in book.deltas] == [1, 2, 3, 4, 5, 6]
    assert not sock.backlog and sock.transport.underlying_transport.is_reading() and conn.alive
    await conn.stop()
    await book_ref.stop()


async def test_an_error_inside_the_read_callback_crashes_the_connection_and_never_reaches_the_loop(edge):
    reported: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))

    def capture(venue: str, socket: int, recv_ns: int, data: bytes | str) -> None:
        raise RuntimeError(f"capture broke on {venue} socket {socket}")

    conn = await start_connection(gate(edge), ["BTC/USDT"], {}, capture=capture)
    await until(lambda: len(edge.sockets) == 1, edge.changed)
    await edge.sockets[0].send_str(gate_update("BTC_USDT", 1, 1, bids=[(100.0, 1.0)]))
    reason = await crash_of(conn)
    assert isinstance(reason, RuntimeError) and str(reason) == "capture broke on gateio socket 0"
    await until(lambda: edge.sockets[0].closed, edge.changed)  # the socket was dropped
    assert reported == []


async def test_a_close_frame_from_the_venue_crashes_the_connection_naming_its_code(edge):
    conn = await start_connection(gate(edge), ["BTC/USDT"], {})
    await until(lambda: len(edge.sockets) == 1, edge.changed)
    await edge.sockets[0].close(code=4001, message=b"maintenance")
    reason = await crash_of(conn)
    assert isinstance(reason, NetworkError) and "socket closed (reader0, code 4001)" in str(reason)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (cryptography comes with ccxt)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_a_wss_venue_is_read_over_verified_tls_and_refused_when_its_certificate_does_not_verify(
        tmp_path, monkeypatch):
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and '"subscribe"' in msg.data:
                await ws.send_str(gate_update("BTC_USDT", 1, 1, bids=[(100.0, 1.0)]))
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls).start()
    venue = GateVenue(rest_url="http://127.0.0.1:9", ws_url=f"wss://127.0.0.1:{runner.addresses[0][1]}/ws",
                      symbols=("BTC/USDT",), book_channel="spot.order_book_update")
    try:
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):  # the default trust store
            await start_connection(venue, ["BTC/USDT"], {})
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what the default context trusts now
        sink = Sink()
        sink_ref = await spawn(sink, name="sink")
        conn = await start_connection(venue, ["BTC/USDT"], {"BTC/USDT": sink_ref})
        await until(lambda: len(sink.deltas) == 1, sink.changed)
        assert sink.deltas[0].bids == ((100.0, 1.0),)
        await conn.stop()
        await sink_ref.stop()
    finally:
        await runner.cleanup()


# --- a venue subtree (rest_for_one: connection, then books) against the simulator ----------------

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
ADAPTERS = {"mexc": MexcVenue, "binance": BinanceVenue, "gateio": GateVenue}




@asynccontextmanager
async def venue_tree(venue: str, symbols=SYMBOLS) -> AsyncIterator[tuple[Simulator, object, Tree, ConnectionCounters]]:
    """The engine's per-venue subtree: ``connection`` then ``books/<SYM>`` under rest_for_one."""
    cfg = SimConfig(seed=5, symbols=tuple(symbols), venues=(venue,), push_interval_s=0.02)
    async with Simulator(cfg) as sim:
        server = sim.venues[venue]
        adapter = ADAPTERS[venue](rest_url=server.rest_url, ws_url=server.ws_url, symbols=symbols)
        counters = ConnectionCounters()
        running: list[Tree] = []

        def route(symbol: str) -> ActorRef | None:
            try:
                return running[0].lookup("books/" + symbol.replace("/", "")) if running else None
            except LookupError:
                return None  # not started yet: the book resyncs from a snapshot anyway

        def books() -> Supervisor:
            return Supervisor([ChildSpec(s.replace("/", ""), partial(BookActor, venue=adapter, symbol=s, publish=None))
                               for s in symbols], strategy="one_for_one", max_restarts=10, within_s=10.0)

        root = Supervisor([
            ChildSpec("connection", lambda: ConnectionActor(venue=adapter, symbols=symbols, route=route,
                                                            counters=counters)),
            ChildSpec("books", books),
        ], strategy="rest_for_one", max_restarts=5, within_s=10.0)
        try:
            async with run(root) as tree:
                running.append(tree)
                yield sim, server, tree, counters
        finally:
            await adapter.close()


def all_books_equal_truth(tree: Tree, server, symbols=SYMBOLS, depth: int = 20) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        for s in symbols:
            view = await tree.lookup("books/" + s.replace("/", "")).ask(GetView())
            bids, asks = server.book(s)
            if not (view.in_sync and view.bids == bids[:depth] and view.asks == asks[:depth]):
                return False
        return True
    return check


def all_books_in_sync(tree: Tree, symbols=SYMBOLS) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        views = [await tree.lookup("books/" + s.replace("/", "")).ask(GetView()) for s in symbols]
        return all(v.in_sync for v in views)
    return check


@pytest.mark.parametrize("venue", ["mexc", "binance", "gateio"])
async def test_frames_flow_from_the_simulator_and_every_book_syncs_to_the_truth(venue):
    async with venue_tree(venue) as (sim, server, tree, counters):
        await eventually(all_books_in_sync(tree))
        sim.pause()
        await eventually(all_books_equal_truth(tree, server))
        status = tree.describe("connection")
        assert status.sockets == 1 and status.subscriptions == SYMBOLS and status.deltas > 0
        assert counters.reconnects == 0 and counters.decode_errors == 0


@pytest.mark.parametrize("venue", ["mexc", "binance", "gateio"])
async def test_a_disconnect_restarts_the_connection_and_the_books_resync(venue):
    async with venue_tree(venue) as (sim, server, tree, counters):
        await eventually(all_books_in_sync(tree))
        server.faults.inject("disconnect")
        conn = await tree.restarted("connection", after=0)
        assert counters.reconnects == 1
        assert conn.stats().restarts == 1 and conn.stats().last_failure.type == "NetworkError"
        assert tree.lookup("books").stats().restarts == 1  # rest_for_one: the books after it too
        await eventually(all_books_in_sync(tree))
        sim.pause()
        await eventually(all_books_equal_truth(tree, server))
        assert server.faults.counts["disconnect"] == 1 and counters.decode_errors == 0


@pytest.mark.parametrize("venue", ["mexc", "binance", "gateio"])
async def test_a_malformed_frame_restarts_the_connection_counts_a_decode_error_and_the_books_resync(venue):
    async with venue_tree(venue) as (sim, server, tree, counters):
        await eventually(all_books_in_sync(tree))
        server.faults.inject("malformed")
        await tree.restarted("connection", after=0)
        assert counters.reconnects == 1 and counters.decode_errors == 1
        assert tree.lookup("connection").stats().last_failure.type == "DecodeError"
        await eventually(all_books_in_sync(tree))
        sim.pause()
        await eventually(all_books_equal_truth(tree, server))
        assert tree.lookup("books").stats().restarts == 1


async def test_a_mexc_subscription_over_thirty_symbols_uses_two_sockets_and_every_book_syncs():
    symbols = tuple(f"C{i}/USDT" for i in range(31))
    async with venue_tree("mexc", symbols) as (sim, server, tree, _):
        assert tree.describe("connection").sockets == 2
        await eventually(all_books_in_sync(tree, symbols), timeout=20.0)
        sim.pause()
        await eventually(all_books_equal_truth(tree, server, symbols), timeout=20.0)


async def test_a_reconnecting_connection_tells_its_running_books_to_resync_before_any_new_frame(edge):
    from protocols.messages import Resync

    class Recording(Sink):
        async def receive(self, msg):  # type: ignore[override]
            self.deltas.append(msg)
            self.changed.set()

    sink = Recording()
    sink_ref = await spawn(sink, name="sink")
    conn = await start_connection(gate(edge), ["BTC/USDT"], {"BTC/USDT": sink_ref}, resync_books=True)
    await until(lambda: len(edge.texts('"subscribe"')) == 1, edge.changed)
    await edge.sockets[0].send_str(gate_update("BTC_USDT", 5, 6, bids=[(100.0, 2.0)]))
    await until(lambda: len(sink.deltas) == 2, sink.changed)
    assert isinstance(sink.deltas[0], Resync) and sink.deltas[1].first_seq == 5
    await conn.stop()
    await sink_ref.stop()
