"""Fixtures for the simulator tests: a running simulator on loopback (fast pushes) and a
deadline-bounded wait for socket-side state."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest

from simulator import SimConfig, Simulator
from testkit import eventually

sys.path.insert(0, str(Path(__file__).parent))  # `import ccxt_support` (no __init__.py here)

FAST = SimConfig(seed=7, symbols=("BTC/USDT", "ETH/USDT"), push_interval_s=0.02, gate_full_every=0)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(FAST) as s:
        yield s


@pytest.fixture
async def slow_venue() -> AsyncIterator[Simulator]:
    """A simulator whose ``order_latency`` fault holds an order's answer for 1 s (long enough
    to query the order meanwhile, short enough for a test) and whose ``timeout`` faults hold a
    request for 0.3 s."""
    async with Simulator(msgspec.structs.replace(FAST, fault_order_latency_s=1.0, fault_timeout_s=0.3)) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session




@pytest.fixture
def wait_until():
    return eventually
