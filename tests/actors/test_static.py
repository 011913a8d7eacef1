"""StaticData: symbol rules fetched once per venue and symbol, transient errors retried a
bounded number of times (against the simulator's own 503s and 429s), then raised."""

from __future__ import annotations

import pytest

from actors.static import StaticData
from protocols.errors import NetworkError, OrderRejected, RateLimited

SYMBOL = "BTC/USDT"


@pytest.fixture
async def sim_mexc():
    from protocols.mexc import MexcVenue
    from simulator import SimConfig, Simulator

    async with Simulator(SimConfig(seed=3, symbols=(SYMBOL,), venues=("mexc",))) as sim:
        server = sim.venues["mexc"]
        adapter = MexcVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=(SYMBOL,),
                            credentials=server.credentials)
        try:
            yield server, adapter
        finally:
            await adapter.close()


async def test_transient_errors_are_retried_and_the_answer_is_kept_for_every_later_asker(sim_mexc):
    server, adapter = sim_mexc
    static = StaticData({"mexc": adapter}, attempts=3, pause_s=0.0)
    server.faults.inject("http_5xx", 2)
    info = await static.info("mexc", SYMBOL)
    assert (info.symbol, static.fetches) == (SYMBOL, 3)
    assert await static.info("mexc", SYMBOL) is info and static.fetches == 3  # no second request


@pytest.mark.parametrize(("fault", "error"), [("http_5xx", NetworkError), ("http_429", RateLimited)])
async def test_a_venue_still_failing_after_the_bounded_attempts_raises_its_error(sim_mexc, fault, error):
    server, adapter = sim_mexc
    static = StaticData({"mexc": adapter}, attempts=2, pause_s=0.0, max_pause_s=0.0)
    server.faults.inject(fault, 2)
    with pytest.raises(error):
        await static.info("mexc", SYMBOL)
    assert static.fetches == 2 and static.cached("mexc", SYMBOL) is None


async def test_a_symbol_the_venue_does_not_list_is_rejected(sim_mexc):
    _, adapter = sim_mexc
    with pytest.raises(OrderRejected):
        await StaticData({"mexc": adapter}).info("mexc", "DOGE/USDT")
