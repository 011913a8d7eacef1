"""A local exchange simulator: MEXC, Binance and Gate.io on loopback, speaking their real wire
protocols (shared/venues), over one shared, seeded market.

::

    async with Simulator(SimConfig(seed=1)) as sim:
        v = sim.venues["binance"]
        v.rest_url, v.ws_url, v.admin_url, v.credentials
        v.book("BTC/USDT") -> (bids, asks)   # truth, best first, (float price, float qty)
        v.seq("BTC/USDT"); v.orders; v.balances
        v.faults.inject("gap", count=1); v.faults.counts; v.faults.clear()
        sim.pause(); sim.resume()
        sim.admin_token                      # bearer token of every venue's /_sim admin API

Imports ``protocols`` only.
"""

from simulator.config import SimConfig
from simulator.faults import KINDS as FAULT_KINDS
from simulator.sim import Simulator

__all__ = ["FAULT_KINDS", "SimConfig", "Simulator"]
