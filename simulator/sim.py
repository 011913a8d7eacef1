"""The Simulator: the market, three venue servers on loopback, and the clock that drives them.

Role: ``async with Simulator(cfg) as sim`` starts every venue on 127.0.0.1:0 and one named clock
task; leaving the block stops the clock, closes every WebSocket and the servers. The clock
steps the market once per ``push_interval_s`` (unless paused) and then makes every venue push;
pushes go on while paused, so changes made by orders still reach the clients.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import secrets
from types import TracebackType

import msgspec

from simulator.config import SimConfig
from simulator.market import Market
from simulator.venues.base import VenueServer, now_ms
from simulator.venues.binance import BinanceServer
from simulator.venues.gateio import GateServer
from simulator.venues.mexc import MexcServer

SERVERS: dict[str, type[VenueServer]] = {"mexc": MexcServer, "binance": BinanceServer, "gateio": GateServer}


class Simulator:
    """Three simulated venues sharing one market. See ``simulator/__init__.py`` for the API."""

    def __init__(self, cfg: SimConfig | None = None) -> None:
        cfg = cfg or SimConfig()
        if cfg.admin_token is None:
            cfg = msgspec.structs.replace(cfg, admin_token=secrets.token_urlsafe(32))
        self.cfg = cfg
        unknown = [v for v in self.cfg.venues if v not in SERVERS]
        if unknown:
            raise ValueError(f"unknown venues {unknown}; expected some of {sorted(SERVERS)}")
        self.market = Market(self.cfg)
        self._running = asyncio.Event()
        self._running.set()
        self._clock: asyncio.Task[None] | None = None
        self.venues: dict[str, VenueServer] = {}
        for name in self.cfg.venues:
            self.venues[name] = SERVERS[name](
                self.cfg,
                self.market.books[name],
                pause=self.pause,
                resume=self.resume,
                new_order_id=_id_factory(name, self.cfg.seed),
            )
            self.venues[name].list_market = functools.partial(self.list_market, venues=(name,))
            self.venues[name].delist_market = functools.partial(self.delist_market, venues=(name,))

    def list_market(self, symbol: str, venues: tuple[str, ...] | None = None) -> None:
        """List ``symbol`` on ``venues`` (default: all) at run time: it trades from the next step."""
        self.market.list(symbol, list(venues or self.cfg.venues))
        for name in venues or self.cfg.venues:
            self.venues[name].listing_changed()

    def delist_market(self, symbol: str, venues: tuple[str, ...] | None = None) -> None:
        for name in venues or self.cfg.venues:
            self.market.delist(symbol, name)
            self.venues[name].listing_changed()

    @property
    def admin_token(self) -> str:
        """The bearer token every venue's ``/_sim`` admin API requires."""
        assert self.cfg.admin_token is not None
        return self.cfg.admin_token

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        """Stop the market clock: books change only through orders until ``resume``."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    async def __aenter__(self) -> Simulator:
        try:
            for venue in self.venues.values():
                await venue.start()
        except BaseException:
            await self._stop_venues()
            raise
        self._clock = asyncio.create_task(self._tick(), name="sim-clock")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._clock is not None:
            self._clock.cancel()
            await asyncio.wait([self._clock])
        await self._stop_venues()

    async def _stop_venues(self) -> None:
        for venue in self.venues.values():
            await venue.stop()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.cfg.push_interval_s
        deadline = loop.time()
        while True:
            deadline += interval
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                deadline = loop.time()  # fell behind: skip, never burst to catch up
                # ... and still yield: a market too big to step within the interval must not
                # starve the venues' REST and WebSocket handlers of the loop
                await asyncio.sleep(0)
            if self._running.is_set():
                self.market.step()
                t = now_ms()
                for venue in self.venues.values():
                    venue.exchange.sweep(t)
            for venue in self.venues.values():
                venue.push()


def _id_factory(venue: str, seed: int):
    """Order ids in each venue's style: Binance int64, MEXC hex string, Gate numeric string."""
    counter = itertools.count(1)
    rng = random.Random(f"{seed}:orders:{venue}")
    if venue == "mexc":
        return lambda: "C02__" + "".join(rng.choice("0123456789abcdef") for _ in range(27))
    if venue == "binance":
        return lambda: str(28_000_000 + next(counter))
    return lambda: str(700_000_000_000 + next(counter))
