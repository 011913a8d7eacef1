"""A market universe shaped like the venues' real listings (../shared/data/markets), for the
simulator's whole-market mode: ``universe(n)`` -> the ``SimConfig`` fields that list it.

Shape (the 2023-25 listings of MEXC, Gate and Binance: 849 USDT markets shared by two or
more venues, 250 of them by all three; hundreds of venue-only markets; MEXC closes about one
market in six to API orders, BTCUSDT and ETHUSDT among them):

- ``n`` markets shared by at least two venues: about 30 % by all three, the rest by a pair;
- about ``n / 5`` venue-only markets per venue (never shared: discovery must skip them);
- on MEXC, about one shared market in six closed to API orders;
- about 1 % (at least one when ``n >= 10``) name a different token on one venue: that venue's
  price is 2-10x the others' (discovery cannot tell, the detector's sanity bound must);
- activity: a long tail of quiet markets and a few busy ones (Pareto), the market's update
  rate scaled by it; quiet markets' prices wander further from the other venues'
  (``noise``: thin markets dislocate more often and for longer).

Deterministic from ``seed``; BTC/ETH/SOL come first, shared by every venue.
"""

from __future__ import annotations

import random
import string
from typing import Any

from simulator.config import DEFAULT_BALANCES

MAJORS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


def _ticker(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.choice((3, 4, 4, 5))))
        if name not in taken and name not in ("BTC", "ETH", "SOL", "USDT"):
            taken.add(name)
            return name


def universe(n: int, venues: tuple[str, ...] = ("mexc", "binance", "gateio"), *, seed: int = 1) -> dict[str, Any]:
    """``SimConfig`` keyword arguments (symbols, listings, api_closed, price_factor, activity,
    noise, balances) for ``n`` shared markets (``n >= 3``) over ``venues``."""
    rng = random.Random(f"{seed}:universe")
    taken: set[str] = set()
    listings: dict[str, list[str]] = {v: [] for v in venues}
    shared = list(MAJORS[:n]) + [f"{_ticker(rng, taken)}/USDT" for _ in range(max(0, n - len(MAJORS)))]
    for i, symbol in enumerate(shared):
        on = venues if i < len(MAJORS) or len(venues) < 3 or rng.random() < 0.3 else tuple(rng.sample(venues, 2))
        for v in on:
            listings[v].append(symbol)
    for v in venues:
        listings[v].extend(f"{_ticker(rng, taken)}/USDT" for _ in range(n // 5))
    api_closed = {"mexc": tuple(s for s in listings.get("mexc", ()) if s in MAJORS[:2] or rng.random() < 1 / 6)} \
        if "mexc" in venues else {}
    price_factor: dict[str, dict[str, float]] = {}
    tail = shared[len(MAJORS):]
    for symbol in rng.sample(tail, min(len(tail), max(1 if n >= 10 else 0, n // 100))):
        tradable = [v for v in venues if symbol in listings[v] and symbol not in api_closed.get(v, ())]
        price_factor[symbol] = {tradable[-1]: rng.uniform(2.0, 10.0)} if len(tradable) >= 2 else {}
    everything = [s for v in venues for s in listings[v]]
    activity = {s: min(20.0, rng.paretovariate(1.2)) / 4 for s in dict.fromkeys(everything)}
    for s in MAJORS:
        activity[s] = 5.0
    noise = {s: min(3.0, max(1.0, (1 / a) ** 0.5)) for s, a in activity.items()}
    # the paper account holds some of every base (unknown bases start near 100 USDT), so both
    # legs of an opportunity can fill, not only those of the majors
    balances = {s.partition("/")[0]: 1000.0 for s in activity} | dict(DEFAULT_BALANCES)
    return {"symbols": tuple(dict.fromkeys(everything)), "listings": {v: tuple(s) for v, s in listings.items()},
            "api_closed": api_closed, "price_factor": {s: f for s, f in price_factor.items() if f},
            "activity": activity, "noise": noise, "balances": balances}
