"""Binance WebSocket API order entry (shared/venues/private.md §1.4): ``order.place`` as a
signed JSON text frame (HMAC over the sorted, unencoded params), and its reply. The reply's
``result`` is the REST order body (FULL by default), so it decodes with the REST wire types;
an ``error`` maps through the REST adapter's one mapping (5XX: outcome UNKNOWN)."""

from __future__ import annotations

from typing import Any

import msgspec

from protocols.binance import codec, wire
from protocols.binance.private import ws_api_url
from protocols.binance.rest import map_error, to_update
from protocols.errors import DecodeError, ExchangeError
from protocols.messages import OrderUpdate
from protocols.signing import binance_ws_payload, hmac_sha256_hex
from protocols.venue import Credentials

VENUE = "binance"


class _Reply(msgspec.Struct, frozen=True):
    id: str | int | None = None
    status: int = 0
    result: msgspec.Raw = msgspec.Raw(b"")  # empty: absent
    error: msgspec.Raw = msgspec.Raw(b"")


_reply = msgspec.json.Decoder(_Reply)


class BinanceWsOrders:
    """Order entry codec for the Binance WebSocket API."""

    venue = VENUE

    def __init__(self, *, ws_url: str, credentials: Credentials) -> None:
        self.url = ws_api_url(ws_url)
        self.credentials = credentials

    def place_frame(self, rid: str, params: dict[str, str], now_ms: int) -> str:
        signed: dict[str, Any] = {**params, "apiKey": self.credentials.api_key, "timestamp": now_ms}
        signed["signature"] = hmac_sha256_hex(self.credentials.secret, binance_ws_payload(signed))
        return msgspec.json.encode({"id": rid, "method": "order.place", "params": signed}).decode()

    def reply(self, frame: str | bytes, symbol_of: dict[str, str]) -> tuple[str, OrderUpdate | ExchangeError] | None:
        """(request id, its update or the mapped error); None for a frame that answers no
        request of ours (an event, a reply without an id)."""
        try:
            r = _reply.decode(frame)
        except msgspec.DecodeError as exc:
            raise DecodeError(VENUE, f"WS API reply: {exc}", frame) from None
        if r.id is None or not isinstance(r.id, str) or r.id not in symbol_of:
            return None
        if r.status == 200 and len(r.result):
            raw = bytes(r.result)
            return r.id, to_update(codec.parse(wire.ORDER, raw, raw), symbol_of[r.id])
        return r.id, map_error(r.status, bytes(r.error), {})
