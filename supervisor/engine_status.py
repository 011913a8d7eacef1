"""What the engine reports about itself: ``EngineSummary`` (the status line, ``/v1/summary``,
the metrics' engine figures) and ``EngineStatus``, which reads it from the running tree (books
in sync, detectors' opportunities and quarantines, the executor's PnL) and the connections'
counters, and records when every book was first in sync (``all_in_sync_s``, logged once).

Read-only over the engine: nothing here changes the tree or the market set.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import msgspec

from actors.connection import ConnectionCounters
from supervisor.running import Tree

log = logging.getLogger("arbor.engine")


class EngineSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The status line's figures (also served at /v1/summary)."""

    uptime_s: float
    books_in_sync: int
    books: int
    frames: int
    frames_per_s: float
    decode_errors: int
    opportunities: int
    executed: int
    realised_pnl: float  # from matched fills only, net of fees
    open_positions: int  # (venue, symbol) with unhedged base: never counted as PnL
    unhedged_alerts: int  # residuals left open for the operator (ERROR logged)
    restarts: int
    paper: bool
    markets: int = 0  # symbols with a detector (whole-market mode: the shared set)
    quarantined: int = 0  # markets whose detector quarantined them (never traded)
    all_in_sync_s: float | None = None  # from start until every book was first in sync
    markets_shared: int | None = None  # whole-market mode: markets the venues share (as selected)
    markets_active: int = 0  # markets the detector can trade now: >= 2 venues in sync, not quarantined


class Reported(Protocol):
    """The part of ``supervisor.engine.Engine`` the status reads."""

    counters: dict[str, ConnectionCounters]
    live: bool

    @property
    def tree(self) -> Tree: ...
    def book_paths(self) -> list[str]: ...
    def detector_paths(self) -> list[str]: ...


class EngineStatus:
    """The engine's summary, computed on demand; started with the engine (``uptime_s``)."""

    def __init__(self, engine: Reported) -> None:
        self._engine = engine
        self._started = time.monotonic()
        self._last = (self._started, 0)  # (when, frames) of the previous summary: frames_per_s
        self.all_in_sync_s: float | None = None

    def summary(self) -> EngineSummary:
        engine = self._engine
        in_sync = restarts = 0
        opportunities = executed = positions = alerts = 0
        pnl = 0.0
        for row in engine.tree.stats(waits=False):  # the restart counts only: no queue waits to fold
            restarts += row.restarts
        books = engine.book_paths()
        for path in books:
            status = self._describe(path)
            in_sync += bool(status is not None and status.in_sync)
        detectors = engine.detector_paths()
        quarantined = active = 0
        for path in detectors:
            status = self._describe(path)
            opportunities += getattr(status, "opportunities", 0)
            if getattr(status, "quarantined", None) is not None:
                quarantined += 1
            elif len(getattr(status, "venues_in_sync", ())) >= 2:
                active += 1
        shared = getattr(self._describe("markets"), "shared", None)
        ex = self._describe("execution/executor")
        if ex is not None:
            executed, pnl = ex.executed, ex.realised_pnl
            positions, alerts = len(ex.open_positions), ex.unhedged_alerts
        frames = sum(c.frames for c in engine.counters.values())
        now = time.monotonic()
        if self.all_in_sync_s is None and books and in_sync == len(books):
            self._first_all_in_sync(len(books), now)
        then, then_frames = self._last
        self._last = (now, frames)
        return EngineSummary(
            uptime_s=round(now - self._started, 1), books_in_sync=in_sync, books=len(books), frames=frames,
            frames_per_s=round((frames - then_frames) / max(now - then, 1e-9), 1),
            decode_errors=sum(c.decode_errors for c in engine.counters.values()),
            opportunities=opportunities, executed=executed, realised_pnl=round(pnl, 6),
            open_positions=positions, unhedged_alerts=alerts, restarts=restarts,
            paper=not engine.live, markets=len(detectors), quarantined=quarantined,
            all_in_sync_s=self.all_in_sync_s, markets_shared=shared, markets_active=active)

    def note_all_in_sync(self) -> None:
        """Record ``all_in_sync_s`` if every book is in sync now (cheaper than a summary)."""
        books = [self._describe(path) for path in self._engine.book_paths()]
        if books and all(b is not None and b.in_sync for b in books):
            self._first_all_in_sync(len(books), time.monotonic())

    def _first_all_in_sync(self, books: int, now: float) -> None:
        self.all_in_sync_s = round(now - self._started, 2)
        log.info("all %d books in sync %.2fs after start", books, self.all_in_sync_s,
                 extra={"books": books, "all_in_sync_s": self.all_in_sync_s})

    def _describe(self, path: str) -> Any:
        try:
            return self._engine.tree.describe(path)
        except LookupError:
            return None
