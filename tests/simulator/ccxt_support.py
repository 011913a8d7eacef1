"""ccxt / ccxt.pro pointed at the simulator the way a user would: only URLs and keys set.

Every URL in the exchange's ``urls["api"]`` is rewritten to the simulated venue (same path,
host 127.0.0.1), and the client gets an aiohttp session whose resolver refuses every name
and whose trace records every request, so a test can assert nothing but 127.0.0.1 was
contacted: an IP literal needs no resolver, so any host ccxt kept would show up there.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from simulator import SimConfig, Simulator

ccxtpro = pytest.importorskip("ccxt.pro", reason="ccxt is in the test extra")

LOOPBACK = "127.0.0.1"
# load_markets' own options: spot markets only, where a venue's ccxt lists several types
SPOT = {
    "mexc": {"defaultType": "spot", "fetchMarkets": {"types": {"spot": True, "swap": False}}},
    "binance": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
    "gate": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
}
SIM_NAME = {"mexc": "mexc", "binance": "binance", "gate": "gateio"}
# Short venue rules, so a keepalive "longer than the venue's idle timeout" takes a second.
FAST_RULES = SimConfig(seed=11, symbols=("BTC/USDT", "ETH/USDT"), push_interval_s=0.05, gate_full_every=0,
                       ws_ping_interval_s=0.3, mexc_idle_unsubscribed_s=0.6, mexc_idle_no_data_s=0.6)


class LoopbackOnly(aiohttp.abc.AbstractResolver):
    """Refuses (and records) every name lookup: the tests may reach 127.0.0.1 only."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[Any]:
        self.asked.append(host)
        raise OSError(f"test refused to resolve {host!r}: only {LOOPBACK} may be contacted")

    async def close(self) -> None:
        pass


def pointed(urls: Any, rest: str, ws: str) -> Any:
    """``urls`` with every URL's scheme and host replaced by the simulator's (path kept)."""
    if isinstance(urls, dict):
        return {k: pointed(v, rest, ws) for k, v in urls.items()}
    if isinstance(urls, list):
        return [pointed(v, rest, ws) for v in urls]
    if isinstance(urls, str) and "://" in urls:
        parts = urlsplit(urls)
        base = ws if parts.scheme.startswith("ws") else rest
        return base + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls


def all_urls(urls: Any) -> list[str]:
    if isinstance(urls, dict):
        return [u for v in urls.values() for u in all_urls(v)]
    if isinstance(urls, list):
        return [u for v in urls for u in all_urls(v)]
    return [urls] if isinstance(urls, str) and "://" in urls else []


class Client:
    """A ccxt.pro exchange on the simulator, and the hosts it contacted."""

    def __init__(self, exchange: Any, resolver: LoopbackOnly, hosts: list[str]) -> None:
        self.ex, self.resolver, self.hosts = exchange, resolver, hosts

    def assert_loopback_only(self) -> None:
        assert self.resolver.asked == [], f"name lookups attempted: {self.resolver.asked}"
        assert self.hosts and set(self.hosts) == {LOOPBACK}, f"hosts contacted: {sorted(set(self.hosts))}"
        assert all(urlsplit(u).hostname == LOOPBACK for u in all_urls(self.ex.urls["api"]))


@contextlib.asynccontextmanager
async def ccxt_on(sim: Simulator, name: str) -> AsyncIterator[Client]:
    """ccxt.pro's ``name`` client on ``sim``'s venue: URLs, keys and load_markets' spot options."""
    venue = sim.venues[SIM_NAME[name]]
    hosts: list[str] = []
    trace = aiohttp.TraceConfig()

    async def on_start(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        hosts.append(params.url.host or "")

    trace.on_request_start.append(on_start)
    resolver = LoopbackOnly()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver), trace_configs=[trace])
    # enableRateLimit off: ccxt's own client-side pacing (rateLimit ms x endpoint cost) would
    # only make the tests slow; the simulator enforces the venues' limits server-side.
    exchange = getattr(ccxtpro, name)({"apiKey": venue.credentials.api_key, "secret": venue.credentials.secret,
                                        "session": session, "options": SPOT[name], "enableRateLimit": False})
    host = f"{LOOPBACK}:{venue.port}"
    exchange.urls["api"] = pointed(exchange.urls["api"], f"http://{host}", f"ws://{host}")
    try:
        yield Client(exchange, resolver, hosts)
    finally:
        await exchange.close()
        await session.close()


@contextlib.asynccontextmanager
async def simulator(cfg: SimConfig = FAST_RULES) -> AsyncIterator[Simulator]:
    async with Simulator(cfg) as sim:
        yield sim


async def watch_for(client: Client, symbol: str, seconds: float) -> int:
    """Follow ``watch_order_book`` for ``seconds`` from its first update (each wait is an update
    event; the first also loads the markets and the snapshot, which a loaded machine can make
    take most of ``seconds``); the updates seen."""
    loop = asyncio.get_running_loop()
    deadline, updates = None, 0
    while deadline is None or loop.time() < deadline:
        book = await asyncio.wait_for(client.ex.watch_order_book(symbol), timeout=5)
        assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0]
        updates += 1
        if deadline is None:
            deadline = loop.time() + seconds
    return updates
