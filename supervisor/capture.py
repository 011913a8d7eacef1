"""Live capture: one ``CaptureWriter`` for the engine's venues (``--capture DIR`` / ``[capture]``).

The connection actors hand it every raw frame (``Engine(capture=writer.ws)``); each adapter's
REST client hands it every public GET reply (depth snapshots, exchange info; never a signed
request). The taker fees the engine decided with are recorded once as a ``META`` record, so a
replay charges the same fees. See ``protocols.capture`` for the format and what a full queue
does (records are dropped and counted, the loop never blocks).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from config import EngineConfig
from protocols.capture import CaptureWriter, Market
from protocols.errors import ConfigError
from protocols.rest import RestClient
from protocols.venue import Venue


def rest_client(venue: Venue) -> RestClient:
    """The adapter's pooled REST client (every adapter keeps it as ``_rest``: the one seam a
    capture and a replay need, so the adapters need no capture-specific code)."""
    client = getattr(venue, "_rest", None)
    if not isinstance(client, RestClient):
        raise TypeError(f"{type(venue).__name__} has no RestClient to record or replay")
    return client


def open_capture(cfg: EngineConfig, venues: Mapping[str, Venue]) -> CaptureWriter:
    """The writer for ``cfg.capture.dir``, tapped into every adapter's REST client."""
    c = cfg.capture
    assert c.dir is not None
    directory = Path(c.dir).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("capture.dir", f"a directory the engine can create and write ({exc.strerror})",
                          c.dir) from None
    markets = {name: Market(kind=cfg.venues[name].kind, symbols=tuple(cfg.venues[name].symbols),
                            options=cfg.venues[name].adapter_options()) for name in venues}
    writer = CaptureWriter(directory, markets, block_bytes=c.block_kib * 1024,
                           block_s=c.block_ms / 1000, segment_bytes=c.segment_mib * 1024 * 1024,
                           segment_s=c.segment_s, max_queued=c.max_queued)
    for name, venue in venues.items():
        rest_client(venue).tap = functools.partial(writer.rest, name)
    return writer
