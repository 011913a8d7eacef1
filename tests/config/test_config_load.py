"""config.load / config.loads: the bundled files load, and every kind of bad field gives a
ConfigError that names the field path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

import config
from config import EngineConfig
from protocols.errors import ConfigError

MINIMAL = """
[venues.mexc]
kind = "mexc"
symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
"""


def test_default_config_loads_three_simulated_venues_with_three_symbols_each() -> None:
    cfg = config.load()
    assert isinstance(cfg, EngineConfig)
    assert set(cfg.venues) == {"mexc", "gateio", "binance"}
    for venue in cfg.venues.values():
        assert venue.simulated
        assert venue.symbols == ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    assert cfg.symbols == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def test_default_journal_path_is_expanded_and_control_files_sit_next_to_it() -> None:
    cfg = config.load()
    journal = Path(cfg.journal.path)
    assert journal == Path("~/.arbor/journal.sqlite").expanduser()
    assert cfg.control.transport == "unix"
    assert Path(cfg.control.unix_path or "") == journal.parent / "control.sock"
    assert Path(cfg.control.state_dir or "") == journal.parent


def test_live_example_loads_with_real_endpoints_and_no_simulated_venue() -> None:
    cfg = config.load(Path(config.__file__).parent / "live.example.toml")
    assert not any(v.simulated for v in cfg.venues.values())
    assert cfg.venues["mexc"].effective_rest_url == "https://api.mexc.com"
    assert cfg.venues["binance"].effective_ws_url == "wss://stream.binance.com:9443"
    assert cfg.venues["gateio"].effective_rest_url == "https://api.gateio.ws"


def test_a_minimal_file_gets_every_other_table_from_defaults() -> None:
    cfg = config.loads(MINIMAL)
    assert cfg.book.depth == 20 and cfg.book.max_levels == 1000
    assert cfg.control.host == "127.0.0.1" and cfg.control.port == 0
    assert not cfg.control.allow_non_loopback


def test_load_from_a_file_path_and_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    good = tmp_path / "a.toml"
    good.write_text(MINIMAL)
    assert config.load(good).venues["mexc"].kind == "mexc"
    with pytest.raises(ConfigError, match="readable"):
        config.load(tmp_path / "missing.toml")


def test_the_config_is_frozen() -> None:
    cfg = config.loads(MINIMAL)
    with pytest.raises(AttributeError):
        cfg.book = None  # type: ignore[misc]


BAD = [
    # (why, text, message the ConfigError must equal or start with)
    ("bad symbol", MINIMAL.replace('"SOL/USDT"', '"BTCUSDT"'),
     'venues.mexc.symbols[2]: expected "BASE/QUOTE", got "BTCUSDT"'),
    ("wrong type in a list", MINIMAL.replace('"SOL/USDT"', "3"),
     "venues.mexc.symbols[2]: expected a string, got 3"),
    ("wrong type of a table value", MINIMAL + "[book]\ndepth = \"twenty\"\n",
     'book.depth: expected an integer, got "twenty"'),
    ("unknown field in a venue", MINIMAL + "simulate = true\n",
     "venues.mexc.simulate: expected no such field"),
    ("unknown field at top level", MINIMAL + "[detectr]\nmin_edge_bps = 1\n",
     "detectr: expected no such field"),
    ("unknown venue kind", MINIMAL.replace('kind = "mexc"', 'kind = "kraken"'),
     'venues.mexc.kind: expected one of "mexc", "binance", "gateio", got "kraken"'),
    ("missing kind", MINIMAL.replace('kind = "mexc"', ""),
     "venues.mexc.kind: expected a value (required)"),
    ("negative number", MINIMAL + "[risk]\nmax_notional_per_venue = -5.0\n",
     "risk.max_notional_per_venue: expected a number > 0.0, got -5.0"),
    ("zero capacity", MINIMAL + "[mailboxes]\nbook = 0\n",
     "mailboxes.book: expected an integer >= 1, got 0"),
    ("port out of range", MINIMAL + "[control]\nport = 70000\n",
     "control.port: expected an integer <= 65535, got 70000"),
    ("bad TOML", MINIMAL + "[book\n", "line 5, column 6: expected valid TOML"),
    ("no venues", "[book]\ndepth = 5\n", "venues: expected a table of venues"),
    ("empty symbols", MINIMAL.replace('["BTC/USDT", "ETH/USDT", "SOL/USDT"]', "[]"),
     "venues.mexc.symbols: expected at least one symbol"),
    ("duplicate symbol", MINIMAL.replace('"SOL/USDT"', '"BTC/USDT"'),
     'venues.mexc.symbols[2]: expected a symbol not listed twice, got "BTC/USDT"'),
    ("rest url with a path", MINIMAL + 'rest_url = "https://api.mexc.com/api/v3"\n',
     'venues.mexc.rest_url: expected http[s]://host[:port], got "https://api.mexc.com/api/v3"'),
    ("ws url with http scheme", MINIMAL + 'ws_url = "http://x"\n',
     'venues.mexc.ws_url: expected a ws/wss:// URL, got "http://x"'),
    ("key without secret", MINIMAL + 'api_key_env = "K"\n',
     "venues.mexc.api_secret_env: expected both api_key_env and api_secret_env, or neither"),
    ("backoff max below initial", MINIMAL + "[restart]\nbackoff_initial_s = 2.0\nbackoff_max_s = 1.0\n",
     "restart.backoff_max_s: expected >= restart.backoff_initial_s (2.0), got 1.0"),
    ("non-loopback control host", MINIMAL + '[control]\ntransport = "tcp"\nhost = "0.0.0.0"\n',
     'control.host: expected a loopback address'),
    ("unknown transport", MINIMAL + '[control]\ntransport = "pipe"\n',
     'control.transport: expected one of "unix", "tcp", got "pipe"'),
    ("bad venue name", MINIMAL.replace("[venues.mexc]", '[venues."me xc"]'),
     'venues.me xc: expected a venue name'),
]


@pytest.mark.parametrize(("why", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_every_kind_of_bad_field_gives_a_config_error_naming_its_path(why: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.loads(text, source="test.toml")
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.path == message.split(": expected")[0]
    assert info.value.source == "test.toml"  # type: ignore[attr-defined]


def test_non_loopback_control_host_is_accepted_only_when_explicitly_allowed() -> None:
    cfg = config.loads(MINIMAL + '[control]\ntransport = "tcp"\nhost = "0.0.0.0"\nallow_non_loopback = true\n')
    assert cfg.control.host == "0.0.0.0"
    assert config.is_loopback("127.0.0.2") and config.is_loopback("::1") and config.is_loopback("localhost")
    assert not config.is_loopback("10.0.0.1") and not config.is_loopback("example.com")


def test_gateio_book_channel_defaults_to_obu_and_order_book_update_is_a_choice() -> None:
    from supervisor.app import build_adapters

    cfg = config.loads(MINIMAL.replace("mexc", "gateio") + 'rest_url = "http://127.0.0.1:9"\n')
    venues, _ = build_adapters(cfg, None, live=False)
    assert venues["gateio"].book_channel == "spot.obu"
    cfg = config.loads(MINIMAL.replace("mexc", "gateio") + 'book_channel = "spot.order_book_update"\n')
    assert build_adapters(cfg, None, live=False)[0]["gateio"].book_channel == "spot.order_book_update"


@pytest.mark.parametrize("toml, path", [
    (MINIMAL + 'book_channel = "spot.order_book_update"\n', "venues.mexc.book_channel"),
    (MINIMAL.replace("mexc", "gateio") + 'book_channel = "spot.order_book"\n', "venues.gateio.book_channel"),
])
def test_book_channel_is_refused_on_other_venues_and_when_not_a_gate_depth_channel(toml: str, path: str) -> None:
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        config.loads(toml)


def test_the_whole_market_examples_load_in_shared_mode_without_symbol_lists() -> None:
    here = Path(config.__file__).parent
    sim = config.load(here / "markets.toml")
    assert sim.markets.symbols == "shared" and sim.simulator.markets == 300
    assert all(v.simulated and not v.symbols for v in sim.venues.values())
    live = config.load(here / "markets.live.example.toml")
    assert live.markets.symbols == "shared" and not any(v.simulated for v in live.venues.values())


def test_a_venue_without_symbols_is_an_error_naming_the_shared_mode_when_markets_are_configured() -> None:
    with pytest.raises(ConfigError, match=r"venues\.mexc\.symbols.*shared"):
        config.loads('[venues.mexc]\nkind = "mexc"\n', source="t")


def test_shared_mode_needs_at_least_min_venues_enabled_venues() -> None:
    with pytest.raises(ConfigError, match=r"markets\.min_venues"):
        config.loads('[venues.mexc]\nkind = "mexc"\n[venues.gateio]\nkind = "gateio"\n'
                     '[markets]\nsymbols = "shared"\nmin_venues = 3\n', source="t")


@pytest.mark.parametrize(("markets", "expected"), [
    ('symbols = "shared"\nmin_quote_volume_24h = -5', r"markets\.min_quote_volume_24h.*>= 0"),
    ('min_quote_volume_24h = 100000', r'markets\.min_quote_volume_24h.*symbols = "shared"'),
    ('symbols = "shared"\nmin_quote_volume_24h = "lots"', r"markets\.min_quote_volume_24h"),
])
def test_a_bad_activity_floor_is_an_error_naming_its_field(markets: str, expected: str) -> None:
    venues = '[venues.mexc]\nkind = "mexc"\nsymbols = ["BTC/USDT"]\n[venues.gateio]\nkind = "gateio"\n' \
             'symbols = ["BTC/USDT"]\n'
    with pytest.raises(ConfigError, match=expected):
        config.loads(venues + "[markets]\n" + markets + "\n", source="t")


def test_an_activity_floor_loads_in_shared_mode() -> None:
    cfg = config.loads('[venues.mexc]\nkind = "mexc"\n[venues.gateio]\nkind = "gateio"\n'
                       '[markets]\nsymbols = "shared"\nmin_quote_volume_24h = 250000\n', source="t")
    assert cfg.markets.min_quote_volume_24h == 250_000.0
