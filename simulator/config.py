"""Simulator configuration and the static trading rules of the simulated symbols.

``SimConfig`` is what tests and ``python -m simulator`` build; ``SymbolSpec`` is derived from it
(tick, lot step and minimums per symbol, in integer units so the book never rounds).
"""

from __future__ import annotations

import msgspec

from protocols.venue import split_symbol

DEFAULT_FEES = {"mexc": 0.0005, "binance": 0.001, "gateio": 0.001}
DEFAULT_BALANCES = {"BTC": 10.0, "ETH": 100.0, "SOL": 1000.0, "USDT": 1_000_000.0}
# Minimum order value in quote currency, per venue (Binance NOTIONAL 5, Gate min_quote_amount 3,
# MEXC quoteAmountPrecision 1): only the order of magnitude matters to a client.
MIN_NOTIONAL = {"mexc": 1.0, "binance": 5.0, "gateio": 3.0}


class SimConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a simulator run depends on. Same config + same seed = same market."""

    seed: int = 1
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    venues: tuple[str, ...] = ("mexc", "binance", "gateio")
    updates_per_s: float = 300.0  # level updates per second per symbol per venue
    push_interval_s: float = 0.1
    fees: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_FEES))
    balances: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_BALANCES))
    # venue -> a third asset its fees are paid in when the account holds enough of it and the
    # simulator runs its <asset>/<quote> book (Binance's "pay fees with BNB", Gate's GT deduction),
    # e.g. {"binance": "BNB", "gateio": "GT"}
    fee_assets: dict[str, str] = msgspec.field(default_factory=dict)
    levels: int = 1000  # levels per side, roughly
    gate_full_every: int = 200  # a Gate `full: true` push every N pushes per symbol (0: never)
    ws_ping_interval_s: float = 20.0  # Binance/Gate server ping frames
    fault_latency_s: float = 0.25  # delay added to each push under the "latency" fault
    fault_timeout_s: float = 30.0  # how long a "timeout" fault holds a REST response
    fault_order_latency_s: float | None = None  # "order_latency" answer delay (None: fault_latency_s)
    rate_limits: bool = True  # enforce the venues' request weights (429 when exceeded)
    binance_weight_per_min: int = 6000
    # Venue rules a client must live with (None: not enforced); tests shorten them.
    # MEXC (mexc.md §1.1): no valid subscription for 30 s, or subscribed with nothing flowing
    # (no push, no PING) for 60 s -> the server closes the socket.
    mexc_idle_unsubscribed_s: float | None = 30.0
    mexc_idle_no_data_s: float | None = 60.0
    # Binance (binance.md §3.1): at most 5 incoming messages/s per WebSocket, else disconnected;
    # (§3.3) requests sent while rate limited (429) end in a 418 IP ban for binance_ban_s.
    binance_ws_msgs_per_s: int | None = 5
    binance_requests_after_429: int | None = 5  # requests within a 429 window before the ban
    binance_ban_s: float = 120.0  # "from 2 minutes to 3 days"
    host: str = "127.0.0.1"
    # The listed universe (simulator.universe builds a realistic one). A venue missing from
    # ``listings`` lists every one of ``symbols``; ``price_factor[symbol][venue]`` scales that
    # venue's prices (the same ticker naming another token); ``api_closed[venue]`` lists
    # markets the venue trades but closes to API orders (MEXC ``isSpotTradingAllowed`` false).
    listings: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    price_factor: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)
    api_closed: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    activity: dict[str, float] = msgspec.field(default_factory=dict)  # updates_per_s multiplier per symbol
    noise: dict[str, float] = msgspec.field(default_factory=dict)  # cross-venue dislocation multiplier

    def listed(self, venue: str) -> tuple[str, ...]:
        return self.listings.get(venue, self.symbols)
    # Bearer token of the /_sim admin API (faults, the true book, the market clock): another
    # local process must not inject faults into someone's run. None: a fresh one per run.
    admin_token: str | None = None


class SymbolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's market: start price and rules. Prices are ints in ticks, sizes in steps."""

    symbol: str
    base: str
    quote: str
    price0: float
    price_decimals: int  # tick = 10^-price_decimals
    qty_decimals: int  # step = 10^-qty_decimals
    grid: int  # ticks between two book levels
    level_notional: float  # typical value of one level, in quote

    @property
    def tick(self) -> float:
        return 10.0**-self.price_decimals

    @property
    def step(self) -> float:
        return 10.0**-self.qty_decimals

    def fmt_price(self, ticks: int) -> str:
        return fmt_units(ticks, self.price_decimals)

    def fmt_qty(self, steps: int) -> str:
        return fmt_units(steps, self.qty_decimals)


def fmt_units(units: int, decimals: int) -> str:
    """Exact decimal string of ``units * 10^-decimals`` (no float rounding)."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


# base -> (start price, price decimals, qty decimals)
_KNOWN = {
    "BTC": (60000.0, 2, 5),
    "ETH": (3000.0, 2, 4),
    "SOL": (150.0, 3, 3),
    "BNB": (600.0, 2, 3),
    "GT": (17.0, 3, 2),
    "XRP": (0.6, 4, 1),
    "DOGE": (0.15, 5, 0),
}


def symbol_spec(symbol: str) -> SymbolSpec:
    base, quote = split_symbol(symbol)
    price0, pd, qd = _KNOWN.get(base, (100.0, 3, 2))
    tick = 10.0**-pd
    # Levels about 0.15 bp apart, so ~1000 levels span ~1.5% around the mid.
    grid = max(1, round(price0 * 1.5e-5 / tick))
    return SymbolSpec(
        symbol=symbol,
        base=base,
        quote=quote,
        price0=price0,
        price_decimals=pd,
        qty_decimals=qd,
        grid=grid,
        level_notional=5000.0,
    )
