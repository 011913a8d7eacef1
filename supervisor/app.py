"""The engine process (``python -m supervisor``): the embedded simulator for ``simulated``
venues, the venue adapters, signals, the status line and the exit code. The tree itself is
``supervisor.engine.Engine``.

Exit codes: 0 clean stop (duration elapsed, SIGINT/SIGTERM, ``stop`` command); 2 config error
(``supervisor.cli``); 1 the root supervisor failed (restart intensity exceeded at the top); 3 a
``PermanentFailure`` (a component that cannot work: an unwritable journal path, a market the
venue does not list, a venue still failing after the start-up retries); 4 a venue refused the
credentials. 3 and 4 log one line with the reason, no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from actors import l2book
from config import EngineConfig
from protocols import levels
from protocols.binance import BinanceVenue
from protocols.binance import codec as binance_codec
from protocols.errors import AuthError, ConfigError, PermanentFailure, RestartIntensityExceeded
from protocols.gateio import GateVenue
from protocols.mexc import MexcVenue
from protocols.mexc import codec as mexc_codec
from protocols.venue import Venue
from supervisor import startup
from supervisor.capture import open_capture
from supervisor.engine import Engine, EngineSummary
from supervisor.logs import configure_logging
from supervisor.private import private_dir, write_private

log = logging.getLogger("arbor.engine")

ADAPTERS: dict[str, type] = {"mexc": MexcVenue, "binance": BinanceVenue, "gateio": GateVenue}
EXIT_OK, EXIT_ROOT_FAILED = 0, 1
EXIT_PERMANENT = 3  # a component cannot work (unwritable journal, unlisted market, venue down past the retries)
EXIT_AUTH = 4  # a venue refused the credentials
SIM_TOKEN_FILE = "sim.token"  # the embedded simulator's admin token, beside control.token


def build_adapters(cfg: EngineConfig, sim: Any, *, live: bool) -> tuple[dict[str, Venue], dict[str, bool]]:
    """One adapter per enabled venue; which ones only journal (paper against a real venue)."""
    venues: dict[str, Venue] = {}
    dry_run: dict[str, bool] = {}
    for name, v in cfg.venues.items():
        if not v.enabled:
            continue
        if v.simulated:
            simv = sim.venues[v.kind]
            rest_url, ws_url, creds = simv.rest_url, simv.ws_url, simv.credentials
        else:
            rest_url, ws_url, creds = v.effective_rest_url, v.effective_ws_url, v.credentials()
            if live and creds is None:
                raise ConfigError(f"venues.{name}.api_key_env",
                                  "environment variables holding the key pair (required by --live)")
        venues[name] = ADAPTERS[v.kind](rest_url=rest_url, ws_url=ws_url, symbols=v.symbols, credentials=creds,
                                        **v.adapter_options())
        # Against the simulator paper trading is real order flow; against a real venue it
        # means journaled and not sent, unless --live.
        dry_run[name] = not (v.simulated or live)
    return venues, dry_run


async def fetch_taker_fees(venues: dict[str, Venue], cfg: EngineConfig) -> dict[str, float]:
    """Static data for the detectors (each venue's taker fee), and a check of every configured
    key pair, retrying transient errors (``supervisor.startup``); PermanentFailure otherwise."""
    return await startup.fetch_taker_fees(
        venues, {name: cfg.venues[name].symbols for name in venues},
        check_credentials={name: cfg.venues[name].simulated or cfg.venues[name].credentials() is not None
                           for name in venues})


@contextlib.asynccontextmanager
async def embedded_simulator(cfg: EngineConfig) -> AsyncIterator[Any]:
    """The in-process simulator for ``simulated`` venues (None when there are none)."""
    simulated = [v for v in cfg.venues.values() if v.enabled and v.simulated]
    if not simulated:
        yield None
        return
    from simulator import SimConfig, Simulator  # only the embedded default needs it

    symbols = tuple(sorted({s for v in simulated for s in v.symbols}))
    kinds = tuple(dict.fromkeys(v.kind for v in simulated))
    listed: dict[str, Any] = {"symbols": symbols}
    if cfg.simulator.markets:  # whole-market mode: a universe shaped like the real listings
        from simulator.universe import universe
        listed = universe(cfg.simulator.markets, kinds, seed=cfg.simulator.seed)
    async with Simulator(SimConfig(seed=cfg.simulator.seed, venues=kinds, **listed,
                                   updates_per_s=cfg.simulator.updates_per_s)) as sim:
        # Its /_sim admin API takes the token the way the CLI takes the control endpoint's.
        token_file = private_dir(Path(cfg.control.state_dir or Path(cfg.journal.path).parent)) / SIM_TOKEN_FILE
        write_private(token_file, sim.admin_token.encode())
        log.info("simulator admin API: %s (bearer token in %s)",
                 " ".join(v.admin_url for v in sim.venues.values()), token_file)
        try:
            yield sim
        finally:
            token_file.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def assembled(cfg: EngineConfig, *, live: bool) -> AsyncIterator[tuple[Any, Engine]]:
    """The embedded simulator (None without ``simulated`` venues) and an ``Engine`` built on
    it, not yet running: what ``main_async`` serves, and what integration tests run in-process
    (``async with assembled(cfg, live=False) as (sim, engine), engine.running() as tree``).
    The venue adapters are closed on exit."""
    async with embedded_simulator(cfg) as sim:
        venues, dry_run = build_adapters(cfg, sim, live=live)
        capture = open_capture(cfg, venues) if cfg.capture.dir else None
        try:
            fees = await fetch_taker_fees(venues, cfg)
            if capture is not None:
                capture.meta(taker_fees=fees)
            yield sim, Engine(cfg, venues, dry_run=dry_run, taker_fees=fees, live=live,
                              capture=capture.ws if capture is not None else None)
        finally:
            for venue in venues.values():
                await venue.close()
            if capture is not None:
                capture.close()
                stats = capture.stats()
                (log.error if stats.error or stats.dropped else log.info)("capture: %s", stats)


async def main_async(cfg: EngineConfig, *, duration_s: float | None, live: bool,
                     status: Callable[[EngineSummary], None] | None) -> int:
    loop = asyncio.get_running_loop()
    try:
        async with assembled(cfg, live=live) as (_, engine):
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, engine.request_stop)
            try:
                await engine.serve(duration_s, status)
            except RestartIntensityExceeded as exc:
                log.critical("root supervisor failed: %s", exc)
                return EXIT_ROOT_FAILED
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
    except PermanentFailure as exc:  # during start-up or later: one line, no traceback
        auth = isinstance(exc.__cause__, AuthError)
        one_line = " ".join(str(exc).split())  # a venue's reply excerpt may hold newlines
        log.critical("%s: %s", "credentials refused" if auth else "cannot run", one_line)
        return EXIT_AUTH if auth else EXIT_PERMANENT
    return EXIT_OK


def print_status(summary: EngineSummary) -> None:
    line = (f"\r{summary.uptime_s:7.1f}s  books {summary.books_in_sync}/{summary.books} in sync  "
            f"{summary.frames_per_s:8.1f} frames/s  opportunities {summary.opportunities}  "
            f"fills {summary.executed}  PnL {summary.realised_pnl:+.4f}  restarts {summary.restarts}")
    sys.stderr.write(line)
    sys.stderr.flush()


def run_engine(cfg: EngineConfig, *, duration_s: float | None = None, log_format: str = "text",
               live: bool = False) -> int:
    """``python -m supervisor``: run the engine on uvloop until stopped; the exit code."""
    configure_logging(log_format)
    log.info("per-frame core: book %s, MEXC decode %s, JSON levels untracked %s, JSON depth decode %s", l2book.CORE,
             mexc_codec.CORE, levels.CORE, binance_codec.CORE)  # the Binance and Gate.io codecs load one reader
    status = print_status if log_format == "text" and sys.stderr.isatty() else None
    code = uvloop.run(main_async(cfg, duration_s=duration_s, live=live, status=status or StatusLog()))
    if status is not None:
        sys.stderr.write("\n")
    return code


class StatusLog:
    """Without a terminal the status line becomes a log record, one every ``every_s``."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._slot = -1.0

    def __call__(self, summary: EngineSummary) -> None:
        slot = summary.uptime_s // self.every_s
        if slot != self._slot:
            self._slot = slot
            log.info("status", extra={"summary": msgspec.structs.asdict(summary)})
