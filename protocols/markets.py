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

Activity floor (optional, ``Selection.min_quote_volume_24h``): each venue's 24 h tickers give
every market's traded volume in its quote asset (``{venue symbol: volume}``):

- Binance ``GET /api/v3/ticker/24hr`` (no symbol: every market, weight 80): ``[{"symbol":
  "BTCUSDT", "quoteVolume": "123.45", ...}]``.
- MEXC ``GET /api/v3/ticker/24hr`` (no symbol: every market, weight 40): the same keys;
  ``quoteVolume`` may be null on a market without trades.
- Gate ``GET /api/v4/spot/tickers`` (no pair: every pair): ``[{"currency_pair": "BTC_USDT",
  "quote_volume": "123.45", ...}]``.

A venue counts toward ``min_venues`` for a market only where that market traded at least the
floor there (both legs of an arbitrage need a live market); a market a venue's tickers omit
traded nothing.
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


class _Ticker(msgspec.Struct):
    symbol: str
    quoteVolume: float | None = None  # a decimal string on the wire (strict=False converts it)


class _GateTicker(msgspec.Struct):
    currency_pair: str
    quote_volume: float | None = None


_TICKERS = msgspec.json.Decoder(list[_Ticker], strict=False)
_GATE_TICKERS = msgspec.json.Decoder(list[_GateTicker], strict=False)


def _volume(value: float | None) -> float:
    return value if value is not None and value >= 0 else 0.0  # null, NaN, negative: no trading seen


def volumes_binance(body: bytes) -> dict[str, float]:
    """``{venue symbol: 24 h quote volume}`` of a Binance (or MEXC) ``/api/v3/ticker/24hr``
    body. Raises ``msgspec.DecodeError`` on a body of another shape (the adapter translates it)."""
    return {t.symbol: _volume(t.quoteVolume) for t in _TICKERS.decode(body)}


volumes_mexc = volumes_binance  # MEXC's /api/v3/ticker/24hr copies Binance's shape


def volumes_gateio(body: bytes) -> dict[str, float]:
    """``{venue symbol: 24 h quote volume}`` of a Gate ``/api/v4/spot/tickers`` body."""
    return {t.currency_pair: _volume(t.quote_volume) for t in _GATE_TICKERS.decode(body)}


def volumes_by_symbol(listing: Iterable[Listing], volumes: Mapping[str, float]) -> dict[str, float]:
    """A venue's ``{venue symbol: volume}`` re-keyed by internal symbol through its listing."""
    return {row.symbol: volumes.get(row.venue_symbol, 0.0) for row in listing}


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """Which shared markets to run: quotes, how many venues must list a market, globs."""

    quotes: tuple[str, ...] = ("USDT",)
    min_venues: int = 2
    include: tuple[str, ...] = ()  # "BASE/QUOTE" globs; empty = every market
    exclude: tuple[str, ...] = ()
    min_quote_volume_24h: float | None = None  # per venue, in the market's quote asset


def below_floor(selection: Selection, volumes: Mapping[str, Mapping[str, float]] | None, venue: str,
                symbol: str) -> bool:
    """Did ``symbol`` trade less than the selection's 24 h floor on ``venue``?"""
    floor = selection.min_quote_volume_24h
    if floor is None:
        return False
    return (volumes or {}).get(venue, {}).get(symbol, 0.0) < floor


def shared_markets(listings: Mapping[str, Iterable[Listing]], selection: Selection,
                   volumes: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, tuple[str, ...]]:
    """``{symbol: venues}`` of every market open on at least ``min_venues`` of the venues in
    ``listings`` (keys: the engine's venue names), quoted in one of ``quotes``, matching an
    ``include`` glob (when any) and no ``exclude`` glob, and, with a ``min_quote_volume_24h``
    floor, traded at least that much on each venue counted (``volumes``: ``{venue: {symbol:
    quote volume}}``). Sorted by symbol; venues in the order of ``listings``."""
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
            if below_floor(selection, volumes, venue, row.symbol):
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
