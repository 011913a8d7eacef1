"""The engine's config schema: frozen msgspec Structs, one per TOML table.

Every Struct forbids unknown fields, so a typo in a key is an error naming the field, not a
silently ignored setting. Types are checked by msgspec while decoding (``config.load``);
what msgspec cannot say (symbol format, positive numbers, loopback hosts) is checked by
``validate`` below. Secrets are never here: a venue names the *environment variables* that
hold its key pair, and ``VenueConfig.credentials()`` reads them when the engine starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from protocols.params import DetectorParams, Positive, RiskParams
from protocols.venue import Credentials

VenueKind = Literal["mexc", "binance", "gateio"]

# The venues' real endpoints, used when a venue's rest_url / ws_url is not given.
DEFAULT_REST_URL: dict[str, str] = {
    "mexc": "https://api.mexc.com",
    "binance": "https://api.binance.com",
    "gateio": "https://api.gateio.ws",
}
DEFAULT_WS_URL: dict[str, str] = {
    "mexc": "wss://wbs-api.mexc.com/ws",
    "binance": "wss://stream.binance.com:9443",
    "gateio": "wss://api.gateio.ws/ws/v4/",
}

DEFAULT_JOURNAL = "~/.arbor/journal.sqlite"

# Numeric constraints are declared here and checked by msgspec while decoding (a NaN or an
# infinity anywhere in the file is refused by the loader before that). Integer knobs have sane
# upper bounds: a mailbox of 10^18 slots, or a 10^9-level book, is a typo, not a setting.
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]  # mailbox slots
UNIX_PATH_MAX = 107  # AF_UNIX sun_path is 108 bytes on Linux, with the terminating NUL


class _Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config table."""


class VenueConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One exchange. ``simulated`` venues get their URLs from the embedded simulator."""

    kind: VenueKind
    symbols: tuple[str, ...] = ()  # internal "BASE/QUOTE" form; with [markets] symbols = "shared": pinned extras
    simulated: bool = False
    rest_url: str | None = None  # scheme://host[:port]; None → the venue's real endpoint
    ws_url: str | None = None
    api_key_env: str | None = None  # the NAME of an environment variable, never the key
    api_secret_env: str | None = None
    enabled: bool = True
    # gateio only: the depth channel. "spot.obu" (default: 50 levels every 20 ms, in-band full
    # books, gateio.md §4.2) or "spot.order_book_update" (diffs every 100 ms + REST snapshots).
    book_channel: Literal["spot.obu", "spot.order_book_update"] | None = None
    # Orders over the venue's WebSocket API where it has one (Binance, Gate.io), REST as the fallback;
    # false: REST only.
    ws_order_entry: bool = True

    def adapter_options(self) -> dict[str, str]:
        """Venue-specific keyword arguments of the adapter."""
        return {"book_channel": self.book_channel} if self.book_channel is not None else {}

    @property
    def effective_rest_url(self) -> str:
        return self.rest_url or DEFAULT_REST_URL[self.kind]

    @property
    def effective_ws_url(self) -> str:
        return self.ws_url or DEFAULT_WS_URL[self.kind]

    def credentials(self) -> Credentials | None:
        """The key pair from the environment, or None when either variable is unset."""
        if not (self.api_key_env and self.api_secret_env):
            return None
        return Credentials.from_env(self.api_key_env, self.api_secret_env)


# [detector] and [risk] are the actors' own parameter Structs: one definition, one set of
# defaults (protocols/params.py says why each default is what it is).
DetectorConfig = DetectorParams
RiskConfig = RiskParams


class MailboxConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Mailbox capacities per actor kind."""

    book: Capacity = 4096
    detector: Capacity = 64  # conflating: one slot per venue is what matters
    executor: Capacity = 256
    journal: Capacity = 8192
    connection: Capacity = 256


class RestartConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Restart intensity and backoff for every supervisor of the engine."""

    max_restarts: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 5
    within_s: Positive = 10.0
    backoff_initial_s: Positive = 0.05
    backoff_max_s: Positive = 5.0


class BookConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    depth: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20  # K levels per side in a BookView
    max_levels: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000  # levels kept per side
    snapshot_limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 1000  # the venues' largest
    # Snapshot fetches in flight per venue; books beyond it wait, the ones with a recent edge
    # first, then the busiest (actors.snapshots). The REST weight bucket still paces them.
    snapshots_in_flight: Annotated[int, msgspec.Meta(ge=1, le=256)] = 8


class JournalConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str = DEFAULT_JOURNAL  # "~" is expanded by the loader

    @property
    def directory(self) -> Path:
        return Path(self.path).parent


class AccountConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The account actors (``actors.account``). No venue numbers its private events, so every
    ``audit_s`` the live view is compared with REST balances and a push the venue never sent is
    corrected: the longest a missed push can leave the view wrong."""

    audit_s: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 30.0


class ControlConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The control endpoint. ``unix``: a socket file; ``tcp``: host:port with a bearer token.

    The loader fills ``unix_path`` (``control.sock``) and ``state_dir`` (where ``control.token``
    and ``control.json`` are written) next to the journal when they are not given.
    """

    transport: Literal["unix", "tcp"] = "unix"
    unix_path: str | None = None
    host: str = "127.0.0.1"
    port: Port = 0  # 0: the OS picks one; the chosen port is written to control.json
    allow_non_loopback: bool = False
    state_dir: str | None = None


class SimulatorConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The embedded simulator, started in-process for ``simulated`` venues."""

    seed: int = 1
    updates_per_s: Positive = 50.0
    # 0: list the venues' symbols; N: a universe of N shared markets shaped like the real
    # listings (simulator.universe), for whole-market mode ([markets] symbols = "shared").
    markets: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 0


class MarketsConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which markets run. ``"configured"``: each venue's own ``symbols``. ``"shared"`` (whole-
    market mode): every market open on at least ``min_venues`` enabled venues (trading, API
    orders accepted), quoted in ``quotes``, matching ``include`` globs (if any) and no
    ``exclude`` glob, re-read from the venues every ``refresh_s``; books then keep
    ``book_levels`` levels per side (snapshots of that many), not ``[book]``'s."""

    symbols: Literal["configured", "shared"] = "configured"
    quotes: tuple[str, ...] = ("USDT",)
    min_venues: Annotated[int, msgspec.Meta(ge=2, le=10)] = 2
    include: tuple[str, ...] = ()  # "BASE/QUOTE" globs, e.g. "*/USDT" or "DOGE/*"
    exclude: tuple[str, ...] = ()
    refresh_s: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 300.0
    book_levels: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 100
    # Markets per WebSocket connection (each its own actor), at most the venue's own limit
    # (MEXC 30): a dropped connection resyncs only its share of the books.
    per_connection: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 50
    # Activity floor: a venue counts toward min_venues for a market only where the market
    # traded at least this much over 24 h (in its quote asset), from the venues' 24 h tickers.
    min_quote_volume_24h: Annotated[float, msgspec.Meta(ge=0)] | None = None


class CaptureConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Recording of raw market data for replay (``protocols.capture``); off while ``dir`` is None."""

    dir: str | None = None  # "~" is expanded; ``--capture DIR`` sets it
    block_kib: Annotated[int, msgspec.Meta(ge=1, le=65_536)] = 256  # a block is written once this much is pending ...
    # ... or this long after its first record: what a kill -9 can lose
    block_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 200
    segment_mib: Annotated[int, msgspec.Meta(ge=1, le=65_536)] = 64  # a new segment file after this many MiB ...
    segment_s: Annotated[int, msgspec.Meta(ge=1, le=86_400 * 7)] = 3600  # ... or this many seconds
    max_queued: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 200_000  # beyond it records are dropped (counted)


class EngineConfig(_Config, frozen=True, kw_only=True, forbid_unknown_fields=True):
    venues: dict[str, VenueConfig]
    detector: DetectorConfig = msgspec.field(default_factory=DetectorConfig)
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    mailboxes: MailboxConfig = msgspec.field(default_factory=MailboxConfig)
    restart: RestartConfig = msgspec.field(default_factory=RestartConfig)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
    account: AccountConfig = msgspec.field(default_factory=AccountConfig)
    control: ControlConfig = msgspec.field(default_factory=ControlConfig)
    book: BookConfig = msgspec.field(default_factory=BookConfig)
    simulator: SimulatorConfig = msgspec.field(default_factory=SimulatorConfig)
    markets: MarketsConfig = msgspec.field(default_factory=MarketsConfig)
    capture: CaptureConfig = msgspec.field(default_factory=CaptureConfig)

    @property
    def enabled_venues(self) -> dict[str, VenueConfig]:
        return {name: v for name, v in self.venues.items() if v.enabled}

    @property
    def symbols(self) -> list[str]:
        """Every symbol of an enabled venue, in first-seen order."""
        seen: dict[str, None] = {}
        for venue in self.enabled_venues.values():
            seen.update(dict.fromkeys(venue.symbols))
        return list(seen)
