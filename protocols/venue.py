"""The one interface every venue adapter satisfies, so the engine never branches on a name.

Public side (pure, no I/O): the WebSocket URL and the subscribe/unsubscribe/ping frames for a
set of symbols, frame decoding, and the venue's book sync rule. REST side (async, one pooled
aiohttp session per adapter): symbol rules and fees, depth snapshots, balances, orders.

Nothing real-time is cached behind this interface: every call to ``depth_snapshot``,
``balances`` or an order query goes to the venue. Static data (symbol rules, fees) may be.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from protocols.markets import Listing
from protocols.messages import (
    Balances,
    BookDelta,
    BookSnapshot,
    OrderIntent,
    OrderUpdate,
    SymbolInfo,
)


class Control(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded WebSocket frame that is not market data: a subscription ack, a pong, a venue
    error reply, or something informational (e.g. Binance ``serverShutdown``)."""

    kind: Literal["ack", "pong", "error", "info"]
    detail: str = ""


class SyncAction(enum.Enum):
    APPLY = "apply"  # continues the book: apply it, local seq becomes delta.last_seq
    IGNORE = "ignore"  # already covered by the book (old or duplicate)
    GAP = "gap"  # updates were missed: the book must resync from a fresh snapshot
    REPLACE = "replace"  # the delta is a full book (Gate ``full: true``): replace, seq = last_seq


# The members as module constants, for the per-delta path (``SyncRule.check`` and the book
# actor): on CPython 3.11 ``SyncAction.APPLY`` goes through the enum metaclass's
# ``__getattr__`` hook and costs ~130 ns, a plain global read ~7 ns.
APPLY, IGNORE, GAP, REPLACE = SyncAction.APPLY, SyncAction.IGNORE, SyncAction.GAP, SyncAction.REPLACE


class SyncRule(Protocol):
    """A venue's documented local-order-book procedure, as two pure functions. A rule whose
    books start only from a subscription's first (full) push, not from a REST snapshot, sets
    ``resubscribe_to_resync = True``: its books fetch no snapshot (``start`` is asked with
    ``snapshot_seq`` 0 about one delta at a time, until it takes one), and a (re)started book
    has its connection resubscribe."""

    def start(self, snapshot_seq: int, buffered: Sequence[BookDelta]) -> int | None:
        """After fetching a snapshot while deltas were buffered: the index of the first buffered
        delta to apply after loading the snapshot (``len(buffered)`` when all are older), or
        ``None`` when the snapshot cannot be used (too old, or the buffer does not continue
        it) and must be fetched again."""
        ...

    def check(self, last_seq: int, delta: BookDelta) -> SyncAction:
        """Given the book's last applied sequence number, what to do with a new delta."""
        ...


class Credentials(msgspec.Struct, frozen=True):
    """An API key pair. Only ever built from environment variables; never printed."""

    api_key: str
    secret: str

    def __repr__(self) -> str:  # secrets never reach a log line, even by accident
        return f"Credentials(api_key={self.api_key[:4]}…, secret=<hidden>)"

    __str__ = __repr__

    @classmethod
    def from_env(cls, key_var: str, secret_var: str) -> Credentials | None:
        key, secret = os.environ.get(key_var), os.environ.get(secret_var)
        return cls(key, secret) if key and secret else None


class Venue(Protocol):
    """What the engine needs from an exchange. Symbols are internal ``BASE/QUOTE`` strings."""

    name: str
    max_streams_per_connection: int  # MEXC 30, Binance 1024, Gate: no documented limit
    ping_interval_s: float  # how often the connection sends ping_frame()
    # optional: max_messages_per_s, frames the connection may send per socket per second
    sync: SyncRule

    # --- public, pure -------------------------------------------------------------------------
    def ws_url(self, symbols: Sequence[str]) -> str: ...
    def subscribe_frames(self, symbols: Sequence[str]) -> list[str]: ...
    def unsubscribe_frames(self, symbols: Sequence[str]) -> list[str]: ...
    def ping_frame(self) -> str | None: ...

    def decode(self, frame: bytes | str, recv_ns: int) -> BookDelta | Control | None:
        """One WebSocket frame → a delta, a control reply, or None (a channel we ignore).
        Raises ``DecodeError`` (with an excerpt) on anything malformed."""
        ...

    # --- REST ---------------------------------------------------------------------------------
    async def symbol_info(self, symbols: Sequence[str]) -> dict[str, SymbolInfo]: ...
    async def markets(self) -> list[Listing]:
        """Every market the venue lists, open or not (``protocols.markets``)."""
        ...
    async def quote_volumes_24h(self) -> dict[str, float]:
        """``{venue symbol: traded volume over 24 h in its quote asset}`` from the venue's 24 h
        tickers (``protocols.markets``: the activity floor)."""
        ...
    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> BookSnapshot: ...
    async def balances(self) -> Balances: ...
    async def place_order(self, intent: OrderIntent) -> OrderUpdate:
        """Rounds price/qty to the symbol's tick/step, checks min qty/notional (raising
        ``OrderRejected`` locally), then sends with ``intent.client_order_id``."""
        ...
    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate: ...
    async def cancel_all(self, symbol: str) -> list[OrderUpdate]: ...
    async def order_by_client_id(self, symbol: str, client_order_id: str) -> OrderUpdate:
        """Raises ``OrderNotFound`` when the venue has no such order."""
        ...
    async def open_orders(self, symbol: str) -> list[OrderUpdate]: ...
    async def close(self) -> None: ...


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTC/USDT"`` → ``("BTC", "USDT")``; raises ValueError on anything else."""
    base, sep, quote = symbol.partition("/")
    if not (sep and base and quote and base.isalnum() and quote.isalnum()):
        raise ValueError(f'expected "BASE/QUOTE", got {symbol!r}')
    return base, quote


def venue_symbol(symbol: str, separator: str = "") -> str:
    """Internal ``BTC/USDT`` → the venue's form: ``BTCUSDT`` (MEXC/Binance), ``BTC_USDT`` (Gate)."""
    base, quote = split_symbol(symbol)
    return f"{base}{separator}{quote}"
