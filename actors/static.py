"""Static venue data (symbol rules and fees), fetched once per venue and symbol and shared.

The engine owns one ``StaticData`` and hands it to every executor it builds, so an executor
restart re-fetches nothing, and a venue is asked only when a decision first needs one of its
symbols: one slow venue delays only the opportunities that involve it. A fetch retries
transient errors (``RateLimited`` after ``retry_after_s``, ``NetworkError`` after a doubling
pause) a bounded number of times, then raises the last one to the caller, whose decision
rejects that opportunity. Only static data lives here (DESIGN: "Static data may be cached").
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from protocols.errors import NetworkError, OrderRejected, RateLimited
from protocols.messages import SymbolInfo
from protocols.venue import Venue


class StaticData:
    def __init__(self, venues: Mapping[str, Venue], *, attempts: int = 3, pause_s: float = 0.1,
                 max_pause_s: float = 2.0) -> None:
        self.venues, self.attempts, self.pause_s, self.max_pause_s = venues, attempts, pause_s, max_pause_s
        self._info: dict[tuple[str, str], SymbolInfo] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0  # requests made: what a test checks to see nothing was fetched twice

    def cached(self, venue: str, symbol: str) -> SymbolInfo | None:
        return self._info.get((venue, symbol))

    async def info(self, venue: str, symbol: str) -> SymbolInfo:
        """``symbol``'s rules on ``venue``. Raises the venue's last transient error after the
        bounded retries, or ``OrderRejected`` when the venue does not list the symbol."""
        found = self._info.get((venue, symbol))
        if found is not None:
            return found
        lock = self._locks.setdefault(venue, asyncio.Lock())
        async with lock:  # one fetch per venue at a time: concurrent askers share its answer
            found = self._info.get((venue, symbol))
            if found is None:
                for symbol_, info in (await self._fetch(venue, symbol)).items():
                    self._info[(venue, symbol_)] = info
                found = self._info.get((venue, symbol))
        if found is None:
            raise OrderRejected(venue, "local", f"{symbol}: not listed")
        return found

    async def _fetch(self, venue: str, symbol: str) -> dict[str, SymbolInfo]:
        pause = self.pause_s
        for attempt in range(1, self.attempts + 1):
            try:
                self.fetches += 1
                return await self.venues[venue].symbol_info([symbol])
            except (RateLimited, NetworkError) as exc:
                if attempt == self.attempts:
                    raise
                wait = exc.retry_after_s if isinstance(exc, RateLimited) else pause
                await asyncio.sleep(min(wait, self.max_pause_s))
                pause *= 2
        raise AssertionError("unreachable")
