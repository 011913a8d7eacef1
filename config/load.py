"""TOML text → a validated ``EngineConfig``; every problem becomes one ``ConfigError``.

This module is the one boundary where tomllib's and msgspec's errors are translated: a
``TOMLDecodeError`` keeps its line and column, a ``msgspec.ValidationError``'s
"at `$.venues[...].symbols[2]`" becomes the dotted field path (``venues.mexc.symbols[2]``)
with what was expected and the value found. A NaN or infinity anywhere is refused before
decoding. Semantics msgspec cannot check (symbols in capitals, URLs, loopback-only control, the
control socket's path length) are checked by ``_validate`` after decoding.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from config.schema import UNIX_PATH_MAX, EngineConfig, VenueConfig
from protocols.errors import ConfigError
from protocols.venue import split_symbol

DEFAULT_SOURCE = "config/default.toml"

_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_TOML_POS = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$", re.S)
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_SYMBOL = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")
_BACKTICKS = re.compile(r"`([^`]*)`")


class _Shown:
    """A value as it appears in an error message: JSON-like, so strings get double quotes."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        try:
            return msgspec.json.encode(self.value).decode()
        except (TypeError, msgspec.EncodeError):
            return repr(self.value)


def load(path: str | Path | None = None) -> EngineConfig:
    """Read and validate a config file; ``None`` → the bundled ``default.toml``."""
    if path is None:
        text = resources.files("config").joinpath("default.toml").read_text(encoding="utf-8")
        return loads(text, source=DEFAULT_SOURCE)
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(str(file), "a readable UTF-8 TOML file", _Shown(str(exc)), str(file)) from exc
    return loads(text, source=str(file))


def loads(text: str, *, source: str = "<string>") -> EngineConfig:
    """Parse and validate TOML text. ``source`` names it in error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_POS.match(str(exc))
        where = f"line {m['line']}, column {m['col']}" if m else "TOML"
        reason = m["msg"] if m else str(exc)
        raise _error(where, f"valid TOML ({reason})", None, source) from None
    _check_finite(raw, "", source)
    venues = raw.get("venues")
    if not isinstance(venues, dict):
        shown = _Shown(venues) if venues is not None else None
        raise _error("venues", "a table of venues ([venues.NAME])", shown, source)
    # Venues are decoded one by one: msgspec shows dict keys as "[...]", we want their names.
    for name, table in venues.items():
        _convert(table, VenueConfig, raw, f"venues.{name}", source)
    config = _convert(raw, EngineConfig, raw, "", source)
    given = config.control
    config = _fill_paths(config)
    _validate(config, source, unix_path_given=given.unix_path is not None,
              state_dir_given=given.state_dir is not None)
    return config


def _check_finite(node: Any, path: str, source: str) -> None:
    """TOML has ``inf`` and ``nan``: no knob of ours means either (an infinite loss limit is a
    typo, not a setting), so any of them anywhere in the file is an error naming its path."""
    if isinstance(node, float) and not math.isfinite(node):
        raise _error(path or "(top level)", "a finite number", node, source)
    if isinstance(node, dict):
        for key, value in node.items():
            _check_finite(value, f"{path}.{key}" if path else str(key), source)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_finite(value, f"{path}[{i}]", source)


def _convert(value: Any, type_: type, raw: dict[str, Any], prefix: str, source: str) -> Any:
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        raise _translate(exc, raw, prefix, source) from None


def _translate(exc: msgspec.ValidationError, raw: dict[str, Any], prefix: str, source: str) -> ConfigError:
    """The one place a msgspec ValidationError becomes a ConfigError with a dotted path."""
    m = _AT.match(str(exc))
    what, at = (m["what"], m["path"] or "") if m else (str(exc), "")
    path = _join(prefix, at)
    field = _BACKTICKS.search(what)
    if what.startswith("Object contains unknown field") and field:
        return _error(_join(prefix, f"{at}.{field[1]}"), "no such field (a typo?)", None, source)
    if what.startswith("Object missing required field") and field:
        return _error(_join(prefix, f"{at}.{field[1]}"), "a value (required)", None, source)
    if what.startswith("Invalid enum value"):
        return _error(path, "one of " + _choices(path), _Shown(_lookup(raw, path)), source)
    # "Expected `str`, got `int`" / "Expected `float` > 0.0"
    expected = what.removeprefix("Expected ").split(", got ")[0]
    expected = _BACKTICKS.sub(lambda t: _TYPE_WORDS.get(t[1], t[1]), expected)
    return _error(path, expected, _Shown(_lookup(raw, path)), source)


_TYPE_WORDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
               "array": "an array", "object": "a table", "null": "nothing"}


def _choices(path: str) -> str:
    if path.endswith(".kind"):
        return '"mexc", "binance", "gateio"'
    if path.endswith(".transport"):
        return '"unix", "tcp"'
    return "the allowed values"


def _join(prefix: str, at: str) -> str:
    return (prefix + at).lstrip(".") or "(top level)"


def _lookup(raw: Any, path: str) -> Any:
    """The raw TOML value at a dotted path, or None if the path does not lead anywhere."""
    node = raw
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("[") and isinstance(node, list):
            index = int(part[1:-1])
            node = node[index] if index < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def _error(path: str, expected: str, got: object, source: str) -> ConfigError:
    err = ConfigError(path, expected, got)
    err.source = source  # type: ignore[attr-defined]  # which file, for the CLI's message
    return err


def _fill_paths(config: EngineConfig) -> EngineConfig:
    """Expand ``~`` and put the control socket/token files next to the journal by default."""
    journal = str(Path(config.journal.path).expanduser())
    state_dir = Path(config.control.state_dir).expanduser() if config.control.state_dir else Path(journal).parent
    unix_path = config.control.unix_path or str(state_dir / "control.sock")
    control = msgspec.structs.replace(config.control, state_dir=str(state_dir),
                                      unix_path=str(Path(unix_path).expanduser()))
    kill = config.risk.kill_switch_path
    risk = msgspec.structs.replace(config.risk, kill_switch_path=str(Path(kill).expanduser()) if kill else None)
    return msgspec.structs.replace(config, journal=msgspec.structs.replace(config.journal, path=journal),
                                   control=control, risk=risk)


def _validate(config: EngineConfig, source: str, *, unix_path_given: bool, state_dir_given: bool) -> None:
    if not config.venues:
        raise _error("venues", "at least one venue", None, source)
    for name, venue in config.venues.items():
        at = f"venues.{name}"
        if not _NAME.match(name):
            raise _error(at, "a venue name of letters, digits, '_' or '-'", _Shown(name), source)
        if not venue.symbols and config.markets.symbols == "configured":
            raise _error(f"{at}.symbols", 'at least one symbol (or [markets] symbols = "shared")', None, source)
        for i, symbol in enumerate(venue.symbols):
            if not _SYMBOL.match(symbol):
                try:
                    split_symbol(symbol)
                except ValueError:
                    raise _error(f"{at}.symbols[{i}]", '"BASE/QUOTE"', _Shown(symbol), source) from None
                raise _error(f"{at}.symbols[{i}]", f'"BASE/QUOTE" in capitals ("{symbol.upper()}")',
                             _Shown(symbol), source)
            if symbol in venue.symbols[:i]:
                raise _error(f"{at}.symbols[{i}]", "a symbol not listed twice", _Shown(symbol), source)
        _check_url(venue.rest_url, ("http", "https"), f"{at}.rest_url", source, bare=True)
        _check_url(venue.ws_url, ("ws", "wss"), f"{at}.ws_url", source, bare=False)
        if venue.book_channel is not None and venue.kind != "gateio":
            raise _error(f"{at}.book_channel", "no book_channel (only a gateio venue has one)",
                         _Shown(venue.book_channel), source)
        if bool(venue.api_key_env) != bool(venue.api_secret_env):
            missing = "api_secret_env" if venue.api_key_env else "api_key_env"
            raise _error(f"{at}.{missing}", "both api_key_env and api_secret_env, or neither", None, source)
    if config.restart.backoff_max_s < config.restart.backoff_initial_s:
        raise _error("restart.backoff_max_s", f">= restart.backoff_initial_s ({config.restart.backoff_initial_s})",
                     _Shown(config.restart.backoff_max_s), source)
    if config.book.max_levels < config.book.depth:
        raise _error("book.max_levels", f">= book.depth ({config.book.depth})", _Shown(config.book.max_levels), source)
    _validate_markets(config, source)
    control = config.control
    if control.transport == "tcp" and not control.allow_non_loopback and not is_loopback(control.host):
        raise _error("control.host", "a loopback address (set control.allow_non_loopback = true to expose it)",
                     _Shown(control.host), source)
    if control.transport == "unix" and control.unix_path is not None:
        size = len(os.fsencode(control.unix_path))
        if size > UNIX_PATH_MAX:
            # the socket's path was given, or made from state_dir (or the journal's directory)
            field = ("control.unix_path" if unix_path_given else
                     "control.state_dir" if state_dir_given else "journal.path")
            raise _error(field, f"a control socket path of at most {UNIX_PATH_MAX} bytes (the AF_UNIX limit); "
                         f"{control.unix_path!r} is {size}", None, source)


def _validate_markets(config: EngineConfig, source: str) -> None:
    markets = config.markets
    for i, quote in enumerate(markets.quotes):
        if not (quote.isalnum() and quote.isascii()):
            raise _error(f"markets.quotes[{i}]", "an asset name of letters and digits", _Shown(quote), source)
    if markets.min_quote_volume_24h is not None and markets.symbols != "shared":
        raise _error("markets.min_quote_volume_24h", 'no floor unless [markets] symbols = "shared" (discovery)',
                     _Shown(markets.min_quote_volume_24h), source)
    if markets.symbols == "shared" and len(config.enabled_venues) < markets.min_venues:
        raise _error("markets.min_venues", f"<= the enabled venues ({len(config.enabled_venues)})",
                     _Shown(markets.min_venues), source)


def _check_url(url: str | None, schemes: tuple[str, ...], at: str, source: str, *, bare: bool) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    ok = parts.scheme in schemes and bool(parts.hostname)
    if bare:  # the adapter adds /api/v3 or /api/v4 itself
        ok = ok and parts.path in ("", "/") and not parts.query
    if not ok:
        shape = f"{schemes[0]}[s]://host[:port]" if bare else f"a {'/'.join(schemes)}:// URL"
        raise _error(at, shape, _Shown(url), source)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
