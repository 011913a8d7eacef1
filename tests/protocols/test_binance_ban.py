"""Arbor's Binance adapter never earns the 418 ban: after a 429 its REST client holds every
request until Retry-After has passed (binance.md §3.3: requests sent while rate limited are
what the venue bans, from 2 minutes to 3 days). The simulator enforces the ban."""

from __future__ import annotations

import asyncio

import pytest

from protocols.binance import BinanceVenue
from protocols.errors import RateLimited
from simulator import SimConfig, Simulator


async def test_after_a_429_the_adapter_sends_nothing_more_until_retry_after_and_is_never_banned() -> None:
    cfg = SimConfig(seed=2, symbols=("BTC/USDT",), venues=("binance",), levels=30, binance_weight_per_min=8,
                    binance_requests_after_429=1)
    async with Simulator(cfg) as sim:
        server = sim.venues["binance"]
        venue = BinanceVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=["BTC/USDT"])
        try:
            await venue.depth_snapshot("BTC/USDT", limit=100)  # weight 5 of 8
            server.weight.hit("ip", 8)  # the window is used up, whenever it started
            with pytest.raises(RateLimited) as limited:
                await venue.depth_snapshot("BTC/USDT", limit=100)
            assert limited.value.status == 429 and limited.value.retry_after_s >= 1  # Retry-After >= 1 s
            # one more request inside the window is banned (binance_requests_after_429=1); it waits
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(venue.depth_snapshot("BTC/USDT", limit=100), timeout=0.5)
            assert server.ban.while_limited == 1 and server.ban.until == 0.0  # nothing more was sent
        finally:
            await venue.close()
