"""Typed engine configuration: TOML files decoded into frozen msgspec Structs.

``config.load(path | None)`` reads a file (None → the bundled ``default.toml``: three
simulated venues × three symbols); ``config.loads(text, source=...)`` parses text. Every
problem raises ``protocols.errors.ConfigError`` naming the field path and what was expected.
"""

from config.load import is_loopback, load, loads
from config.schema import (
    BookConfig,
    ControlConfig,
    DetectorConfig,
    EngineConfig,
    JournalConfig,
    MailboxConfig,
    MarketsConfig,
    RestartConfig,
    RiskConfig,
    SimulatorConfig,
    VenueConfig,
)

__all__ = [
    "BookConfig", "ControlConfig", "DetectorConfig", "EngineConfig", "JournalConfig", "MailboxConfig", "MarketsConfig",
    "RestartConfig", "RiskConfig", "SimulatorConfig", "VenueConfig", "is_loopback", "load", "loads",
]
