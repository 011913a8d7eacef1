"""Binance spot user data stream on the WebSocket API (shared/venues/private.md §1.1, §1.3).

Subscribed with ``userDataStream.subscribe.signature`` (works with HMAC keys; no logon, no
keepalive: the subscription lives as long as its connection, 24 h at most). Events arrive as
``{"subscriptionId":N,"event":{...}}``; a frame with ``id``/``status`` is a response.
``outboundAccountPosition`` -> ``Balance`` per asset (absolute); ``executionReport`` ->
``OrderUpdate`` (cumulative ``z``/``Z``); ``balanceUpdate`` is a delta and is followed by an
``outboundAccountPosition`` holding the result, so it is not applied on its own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec

from protocols.binance.rest import _STATUS
from protocols.errors import DecodeError
from protocols.messages import Balance, OrderUpdate
from protocols.private import StreamEvent, StreamReply, json_object
from protocols.signing import binance_ws_payload, hmac_sha256_hex
from protocols.venue import Credentials

VENUE = "binance"
WS_API_URL = "wss://ws-api.binance.com:443/ws-api/v3"


def ws_api_url(ws_url: str) -> str:
    """The WebSocket API next to a market-data URL: Binance's own host for the real streams,
    ``<ws_url>/ws-api/v3`` otherwise (the simulator serves both on one port)."""
    host = urlsplit(ws_url).hostname or ""
    if host.endswith("binance.com"):
        return WS_API_URL
    return ws_url.rstrip("/") + "/ws-api/v3"


class BinancePrivate:
    """``PrivateCodec`` for Binance. ``symbols``: our symbols (``BTC/USDT``) to decode names."""

    venue = VENUE

    def __init__(self, *, ws_url: str, credentials: Credentials, symbols: dict[str, str]) -> None:
        self.url = ws_api_url(ws_url)
        self.credentials, self.symbols = credentials, symbols  # BTCUSDT -> BTC/USDT

    def subscribe_frames(self, now_ms: int) -> list[str]:
        params: dict[str, Any] = {"apiKey": self.credentials.api_key, "timestamp": now_ms}
        params["signature"] = hmac_sha256_hex(self.credentials.secret, binance_ws_payload(params))
        req = {"id": f"uds-{now_ms}", "method": "userDataStream.subscribe.signature", "params": params}
        return [msgspec.json.encode(req).decode()]

    def decode(self, frame: str | bytes) -> StreamReply | list[StreamEvent] | None:
        msg = json_object(VENUE, frame)
        if "status" in msg:
            if msg["status"] == 200:
                return StreamReply(ok=True)
            err = msg.get("error") or {}
            return StreamReply(ok=False, message=f"{err.get('code')}: {err.get('msg')}")
        event = msg.get("event")
        if not isinstance(event, dict):
            return None
        try:
            return self._event(event)
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(VENUE, f"bad {event.get('e')!r} event: {exc!r}", frame) from None

    def _event(self, e: dict[str, Any]) -> list[StreamEvent]:
        kind = e.get("e")
        if kind == "outboundAccountPosition":
            return [Balance(venue=VENUE, asset=b["a"], free=float(b["f"]), locked=float(b["l"])) for b in e["B"]]
        if kind == "executionReport":
            symbol = self.symbols.get(e["s"])
            status = _STATUS.get(e["X"])
            if symbol is None or status is None:
                return []  # a symbol we do not trade, or a state we do not model
            return [OrderUpdate(
                venue=VENUE, symbol=symbol, client_order_id=e["C"] or e["c"], order_id=str(e["i"]),
                side="buy" if e["S"] == "BUY" else "sell",
                order_type="market" if e["o"] == "MARKET" else "ioc" if e["f"] == "IOC" else "limit",
                status=status, price=float(e["p"]) or None, qty=float(e["q"]), filled_qty=float(e["z"]),
                filled_quote=float(e["Z"]), fee=float(e["n"]), fee_asset=e["N"] or "", ts_ms=int(e["T"]))]
        return []  # balanceUpdate (a delta, followed by outboundAccountPosition), listStatus, ...
