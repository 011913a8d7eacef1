"""Gate.io spot private channels (shared/venues/private.md §2.1, §2.4): ``spot.balances``
subscribed on the public WebSocket endpoint with a per-request ``auth`` (HMAC-SHA512 of
``channel=..&event=..&time=..``). Every push's ``result`` is an array; ``available`` and
``freeze`` are absolute.
"""

from __future__ import annotations

from typing import Any

import msgspec

from protocols.errors import DecodeError
from protocols.messages import Balance
from protocols.private import StreamEvent, StreamReply, json_object
from protocols.signing import gate_ws_channel_sign
from protocols.venue import Credentials

VENUE = "gateio"
CHANNELS = ("spot.balances",)


class GatePrivate:
    """``PrivateCodec`` for Gate.io (private channels share the market-data endpoint)."""

    venue = VENUE

    def __init__(self, *, ws_url: str, credentials: Credentials) -> None:
        self.url, self.credentials = ws_url, credentials

    def subscribe_frames(self, now_ms: int) -> list[str]:
        t = now_ms // 1000
        out = []
        for i, channel in enumerate(CHANNELS):
            sign = gate_ws_channel_sign(self.credentials.secret, channel, "subscribe", t)
            out.append(msgspec.json.encode({
                "time": t, "id": i + 1, "channel": channel, "event": "subscribe",
                "auth": {"method": "api_key", "KEY": self.credentials.api_key, "SIGN": sign}}).decode())
        return out

    def decode(self, frame: str | bytes) -> StreamReply | list[StreamEvent] | None:
        msg = json_object(VENUE, frame)
        channel, event = msg.get("channel"), msg.get("event")
        if channel not in CHANNELS:
            return None  # spot.pong, market data on a shared socket
        if event in ("subscribe", "unsubscribe"):
            err = msg.get("error")
            return StreamReply(ok=True) if err is None else StreamReply(
                ok=False, message=f"{err.get('code')}: {err.get('message')}")
        if event != "update":
            return None
        try:
            return [self._balance(row) for row in msg["result"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(VENUE, f"bad spot.balances push: {exc!r}", frame) from None

    @staticmethod
    def _balance(row: dict[str, Any]) -> Balance:
        return Balance(venue=VENUE, asset=row["currency"], free=float(row["available"]), locked=float(row["freeze"]))
