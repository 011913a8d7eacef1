"""Request frames compiled once per market, filled per order.

A venue's order frame is mostly constant for one (market, side, order type): the symbol, the
type, the time in force, the API key, the envelope. ``compile_slots`` takes a frame (or a
signed payload) built by the venue codec's own builder with PLACEHOLDER values (``slot(name)``)
for the fields that vary per order, and returns a ``%``-format template: the constant text is
kept byte for byte, each placeholder becomes ``%(name)s``. Filling it (``template % values``,
a dict by slot name) is one C call (a third of ``str.format``'s cost with keywords), so a frame
built from the template equals the one the builder makes from the same values, byte for byte,
as long as each slot's value is given in the builder's own encoding (a JSON slot: the value's
JSON text, quotes included; a raw slot, e.g. inside a signed query: the value itself).
"""

from __future__ import annotations

import re

import msgspec

_MARK = "\x1a"  # never in a venue symbol, key or enum value; checked when compiling
_JSON_SLOT = re.compile(f'"{_MARK}(\\w+){_MARK}"')  # a placeholder as a JSON string: quotes are the value's
_RAW_SLOT = re.compile(f"{_MARK}(\\w+){_MARK}")
_json = msgspec.json.Encoder()


def slot(name: str) -> str:
    """The placeholder to build a frame with where ``name`` varies per order."""
    return f"{_MARK}{name}{_MARK}"


def compile_slots(text: str, *, json: bool) -> str:
    """``text`` (built with ``slot`` placeholders) as a ``%``-format template. ``json``: the
    placeholders sit in JSON strings (the escaped control character, as a JSON encoder writes
    it, is matched too), and each slot's value must be its JSON text."""
    if json:
        text = text.replace("\\u001a", _MARK).replace("\\u001A", _MARK)
        pattern = _JSON_SLOT
    else:
        pattern = _RAW_SLOT
    out = pattern.sub(lambda m: "%(" + m.group(1) + ")s", text.replace("%", "%%"))
    if _MARK in out:
        raise ValueError(f"a placeholder outside a slot (or {_MARK!r} in the constant text): {text!r}")
    return out


def constant_head(text: str) -> str:
    """The text before the first placeholder (e.g. to feed a MAC once)."""
    return text.split(_MARK, 1)[0]


def json_str(value: str) -> str:
    """A string slot's value in a JSON frame: its JSON text (quotes included), as the encoder writes it."""
    return _json.encode(value).decode()
