"""Market discovery, pure: each venue's listing body -> ``Listing`` rows, and the set of markets
the configured venues share.

A market is *open* on a venue when the venue trades it now and accepts API orders on it:

- MEXC ``GET /api/v3/exchangeInfo``: ``status`` ``"1"`` (or ``"ENABLED"`` in older bodies) and
  ``isSpotTradingAllowed`` (false on hundreds of symbols, BTCUSDT and ETHUSDT among them in
  the 2025-09 listing: the web site trades them, the API does not).
- Binance ``GET /api/v3/exchangeInfo``: ``status == "TRADING"`` (``BREAK`` is halted or
  delisted) and ``isSpotTradingAllowed``.
- Gate ``GET /api/v4/spot/currency_pairs``: ``trade_status == "tradable"`` (``sellable`` only
  lets holders sell, ``untradable`` nothing).

Markets are matched by (base, quote) after each venue's naming: MEXC/Binance ``BTCUSDT`` carry
``baseAsset``/``quoteAsset``, Gate ``BTC_USDT`` carries ``base``/``quote``. An asset name that
is not alphanumeric cannot be an internal ``BASE/QUOTE`` symbol and is skipped. The same ticker
may still name different tokens on two venues: that is caught by prices, not names
(``price_mismatch``; the detector quarantines such a market).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase

import msgspec


class Listing(msgspec.Struct, frozen=True, kw_only=True):
    """One market as one venue lists it."""

    venue: str
    symbol: str  # internal "BASE/QUOTE"
    venue_symbol: str
    trading: bool  # the venue trades it now (not halted, not delisted)
    api_orders: bool  # the venue accepts API orders on it

    @property
    def open(self) -> bool:
        return self.trading and self.api_orders


class _MexcSymbol(msgspec.Struct):
    symbol: str
    baseAsset: str
    quoteAsset: str
    status: str | int = "1"
    isSpotTradingAllowed: bool = False


class _BinanceSymbol(msgspec.Struct):
    symbol: str
    baseAsset: str
    quoteAsset: str
    status: str
    isSpotTradingAllowed: bool = False


class _GatePair(msgspec.Struct):
    id: str
    base: str
    quote: str
    trade_status: str


class _Info(msgspec.Struct):
    symbols: list[msgspec.Raw]


def _symbols(body: bytes) -> list[msgspec.Raw]:
    """The ``symbols`` array of an exchangeInfo body, or the body itself when it is that array."""
    stripped = body.lstrip()
    if stripped[:1] == b"[":
        return msgspec.json.decode(stripped, type=list[msgspec.Raw])
    return msgspec.json.decode(stripped, type=_Info).symbols


def _internal(base: str, quote: str) -> str | None:
    return f"{base}/{quote}" if base.isalnum() and quote.isalnum() and base.isascii() and quote.isascii() else None


def parse_mexc(body: bytes) -> list[Listing]:
    out = []
    for raw in _symbols(body):
        s = msgspec.json.decode(raw, type=_MexcSymbol)
        if (symbol := _internal(s.baseAsset, s.quoteAsset)) is not None:
            out.append(Listing(venue="mexc", symbol=symbol, venue_symbol=s.symbol,
                               trading=str(s.status) in ("1", "ENABLED"), api_orders=s.isSpotTradingAllowed))
    return out


def parse_binance(body: bytes) -> list[Listing]:
    out = []
    for raw in _symbols(body):
        s = msgspec.json.decode(raw, type=_BinanceSymbol)
        if (symbol := _internal(s.baseAsset, s.quoteAsset)) is not None:
            out.append(Listing(venue="binance", symbol=symbol, venue_symbol=s.symbol,
                               trading=s.status == "TRADING", api_orders=s.isSpotTradingAllowed))
    return out


def parse_gateio(body: bytes) -> list[Listing]:
    out = []
    for p in msgspec.json.decode(body, type=list[_GatePair]):
        if (symbol := _internal(p.base, p.quote)) is not None:
            out.append(Listing(venue="gateio", symbol=symbol, venue_symbol=p.id,
                               trading=p.trade_status == "tradable", api_orders=True))
    return out


PARSERS = {"mexc": parse_mexc, "binance": parse_binance, "gateio": parse_gateio}


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """Which shared markets to run: quotes, how many venues must list a market, globs."""

    quotes: tuple[str, ...] = ("USDT",)
    min_venues: int = 2
    include: tuple[str, ...] = ()  # "BASE/QUOTE" globs; empty = every market
    exclude: tuple[str, ...] = ()


def shared_markets(listings: Mapping[str, Iterable[Listing]], selection: Selection) -> dict[str, tuple[str, ...]]:
    """``{symbol: venues}`` of every market open on at least ``min_venues`` of the venues in
    ``listings`` (keys: the engine's venue names), quoted in one of ``quotes``, matching an
    ``include`` glob (when any) and no ``exclude`` glob. Sorted by symbol; venues in the
    order of ``listings``."""
    venues_of: dict[str, list[str]] = {}
    quotes = set(selection.quotes)
    for venue, rows in listings.items():
        for row in rows:
            if not row.open or row.symbol.partition("/")[2] not in quotes:
                continue
            if selection.include and not any(fnmatchcase(row.symbol, g) for g in selection.include):
                continue
            if any(fnmatchcase(row.symbol, g) for g in selection.exclude):
                continue
            on = venues_of.setdefault(row.symbol, [])
            if venue not in on:
                on.append(venue)
    return {s: tuple(v) for s, v in sorted(venues_of.items()) if len(v) >= selection.min_venues}


def per_venue(shared: Mapping[str, Sequence[str]], venues: Iterable[str]) -> dict[str, list[str]]:
    """``{venue: [symbols]}``: what each venue subscribes to for ``shared``."""
    out: dict[str, list[str]] = {v: [] for v in venues}
    for symbol, on in shared.items():
        for venue in on:
            out.setdefault(venue, []).append(symbol)
    return out


def price_mismatch(mids: Mapping[str, float], bound: float) -> str | None:
    """Why the venues' mid prices of one market cannot be the same token (the highest over the
    lowest exceeds ``1 + bound``), or None. ``bound`` is a fraction (0.05 = 5 %)."""
    priced = {v: m for v, m in mids.items() if m > 0}
    if len(priced) < 2:
        return None
    lo, hi = min(priced, key=priced.__getitem__), max(priced, key=priced.__getitem__)
    ratio = priced[hi] / priced[lo] - 1
    if ratio <= bound:
        return None
    return (f"{hi} mid {priced[hi]:.8g} is {ratio:.1%} above {lo} mid {priced[lo]:.8g} "
            f"(bound {bound:.1%}): not the same token")
