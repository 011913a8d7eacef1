"""The connection actor stays within the venues' WebSocket rules, enforced by the simulator:
MEXC's 30 subscriptions per socket and its idle disconnects, Binance's 5 incoming messages/s
and its protocol-level pings.
A socket closed for a rule would crash the connection (NetworkError) and count a reconnect."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from actors import ActorRef, spawn
from actors.connection import ConnectionActor, ConnectionCounters
from protocols.binance import BinanceVenue
from protocols.messages import Subscribe
from protocols.mexc import MexcVenue
from simulator import SimConfig, Simulator

BASES = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", *(f"T{i:02d}" for i in range(30)))
CFG = SimConfig(seed=5, levels=30, push_interval_s=0.05, gate_full_every=0)


async def until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def test_binance_run_time_subscriptions_are_paced_under_five_messages_a_second() -> None:
    symbols = tuple(f"{b}/USDT" for b in BASES[:12])
    cfg = msgspec.structs.replace(CFG, symbols=symbols, venues=("binance",))
    async with Simulator(cfg) as sim:
        server = sim.venues["binance"]
        venue = BinanceVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=symbols[:1])
        counters = ConnectionCounters()
        conn = await spawn(lambda: ConnectionActor(venue=venue, symbols=symbols[:1], route=lambda s: None,
                                                   counters=counters), name="connection")
        for symbol in symbols[1:]:  # 11 SUBSCRIBE frames asked for at once
            conn.tell(Subscribe(symbol=symbol))
        await until(lambda: any(len(c.subs) == len(symbols) for c in server.conns))
        assert server.rule_closes == {} and server.ws_accepted == 1 and counters.reconnects == 0
        await conn.stop()
        await venue.close()


async def test_mexc_symbols_beyond_thirty_open_a_second_socket_and_every_one_is_subscribed() -> None:
    symbols = tuple(f"{b}/USDT" for b in BASES[:31])
    cfg = msgspec.structs.replace(CFG, symbols=symbols, venues=("mexc",))
    async with Simulator(cfg) as sim:
        server = sim.venues["mexc"]
        venue = MexcVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=symbols)
        conn = await spawn(lambda: ConnectionActor(venue=venue, symbols=symbols, route=lambda s: None),
                           name="connection")
        await until(lambda: sorted(len(c.subs) for c in server.conns) == [1, 30])
        assert server.ws_accepted == 2 and server.rule_closes == {}
        await conn.stop()
        await venue.close()


@contextlib.asynccontextmanager
async def _silent(sim: Simulator, server: Any, venue: Any) -> AsyncIterator[tuple[ActorRef, ConnectionCounters]]:
    """A connection subscribed to BTC/USDT on ``server``, then the market paused: only pings
    (and their answers) flow while the block runs."""
    counters = ConnectionCounters()
    conn = await spawn(lambda: ConnectionActor(venue=venue, symbols=["BTC/USDT"], route=lambda s: None,
                                               counters=counters), name="connection")
    await until(lambda: any(c.subs for c in server.conns))
    sim.pause()
    try:
        yield conn, counters
    finally:
        await conn.stop()
        await venue.close()


async def test_mexc_pings_keep_a_subscribed_socket_open_while_the_market_is_silent() -> None:
    """The live rule is 60 s without data against Arbor's 20 s ping; here both are scaled by
    1/100 (0.6 s and 0.2 s) and the market is paused, so only the pings can keep it open."""
    cfg = msgspec.structs.replace(CFG, symbols=("BTC/USDT",), venues=("mexc",), mexc_idle_no_data_s=0.6)
    async with Simulator(cfg) as sim:
        server = sim.venues["mexc"]
        venue = MexcVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=["BTC/USDT"])
        venue.ping_interval_s = MexcVenue.ping_interval_s / 100
        async with _silent(sim, server, venue) as (_conn, counters):
            await asyncio.sleep(3 * 0.6)  # the silence is what is tested: three idle timeouts
            assert server.rule_closes == {} and server.ws_accepted == 1 and counters.reconnects == 0


async def test_binance_protocol_pings_are_answered_so_a_silent_market_keeps_its_socket() -> None:
    """Binance (and Gate) ping at the WebSocket level and drop a socket whose pong is late (the
    simulator: after half its ping interval). Scaled to a ping every 0.5 s, market paused: only
    the client's automatic pongs can keep the socket through three intervals."""
    cfg = msgspec.structs.replace(CFG, symbols=("BTC/USDT",), venues=("binance",), ws_ping_interval_s=0.5)
    async with Simulator(cfg) as sim:
        server = sim.venues["binance"]
        venue = BinanceVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=["BTC/USDT"])
        async with _silent(sim, server, venue) as (conn, counters):
            await asyncio.sleep(3 * 0.5)  # the silence is what is tested: three ping intervals
            assert server.ws_accepted == 1 and counters.reconnects == 0 and conn.alive
