"""What a venue's private (user data) stream says, venue-neutral: the codecs in
``protocols/<venue>/private.py`` turn wire frames into these, and ``actors.account`` keeps the
live view from them. Balances are ABSOLUTE (every venue pushes free/locked totals, not deltas),
so applying the newest one per asset is exact; order states carry cumulative fills.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from protocols.errors import DecodeError
from protocols.messages import Balance, OrderUpdate

_json = msgspec.json.Decoder()


class StreamReply(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to one of our subscribe requests: ``ok`` or the venue's refusal."""

    ok: bool
    message: str = ""


StreamEvent = Balance | OrderUpdate


class PrivateCodec(Protocol):
    """One venue's private stream: where, how to subscribe, how to read."""

    venue: str
    url: str

    def subscribe_frames(self, now_ms: int) -> list[str]:
        """The signed requests that start the stream; each gets one ``StreamReply``."""
        ...

    def decode(self, frame: str | bytes) -> StreamReply | list[StreamEvent] | None:
        """One frame: a reply, events (possibly none), or None for a frame we ignore (pong).
        Raises ``protocols.errors.DecodeError`` on a frame that cannot be read."""
        ...


def json_object(venue: str, frame: str | bytes) -> dict[str, Any]:
    """A JSON private-stream frame as an object, or ``DecodeError`` with an excerpt."""
    try:
        msg = _json.decode(frame)
    except msgspec.DecodeError as exc:
        raise DecodeError(venue, f"invalid JSON: {exc}", frame) from exc
    if not isinstance(msg, dict):
        raise DecodeError(venue, "not an object", frame)
    return msg
