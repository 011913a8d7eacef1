"""Binance spot user data stream on the WebSocket API (shared/venues/private.md §1.1, §1.3).

Subscribed with ``userDataStream.subscribe.signature`` (works with HMAC keys; no logon, no
keepalive: the subscription lives as long as its connection, 24 h at most). Events arrive as
``{"subscriptionId":N,"event":{...}}``; a frame with ``id``/``status`` is a response.
``outboundAccountPosition`` -> ``Balance`` per asset (absolute); ``executionReport`` ->
``OrderUpdate`` (cumulative ``z``/``Z``); ``balanceUpdate`` is a delta and is followed by an
``outboundAccountPosition`` holding the result, so it is not applied on its own.

A report's commission ``n`` is its own fill's (private.md: "commission amount (this fill)"),
while ``OrderUpdate.fee`` is the order's so far: the codec keeps an order's ``x:"TRADE"``
reports (one per fill; a repeated one, ``z`` not above the fills seen, is not kept twice) and
sums them as the REST read-back does (``protocols.fees.fee_of``). The sum is the order's fee
only while the fills seen add up to ``z``: after a missed report (a reconnect, a lost push)
the fee is left unreported (``fee_asset`` empty), and the executor estimates it and says so,
as it does for any order whose fee the venue did not give.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec

from protocols.binance.rest import _STATUS
from protocols.errors import DecodeError
from protocols.fees import Charge, fee_of
from protocols.messages import FINAL_STATUSES, Balance, OrderUpdate
from protocols.private import StreamEvent, StreamReply, json_object
from protocols.signing import binance_ws_payload, hmac_sha256_hex
from protocols.venue import Credentials, split_symbol

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
        self._fills: dict[int, list[Charge]] = {}  # order id -> its fills seen on this connection

    def subscribe_frames(self, now_ms: int) -> list[str]:
        self._fills = {}  # a new connection: what the last one saw says nothing of what it missed
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
            filled = float(e["z"])
            fee, fee_asset = self._fee(e, filled, status, symbol)
            return [OrderUpdate(
                venue=VENUE, symbol=symbol, client_order_id=e["C"] or e["c"], order_id=str(e["i"]),
                side="buy" if e["S"] == "BUY" else "sell",
                order_type="market" if e["o"] == "MARKET" else "ioc" if e["f"] == "IOC" else "limit",
                status=status, price=float(e["p"]) or None, qty=float(e["q"]), filled_qty=filled,
                filled_quote=float(e["Z"]), fee=fee, fee_asset=fee_asset, ts_ms=int(e["T"]))]
        return []  # balanceUpdate (a delta, followed by outboundAccountPosition), listStatus, ...

    def _fee(self, e: dict[str, Any], filled: float, status: str, symbol: str) -> tuple[float, str]:
        """The order's commission so far and its asset (``fees.fee_of`` over the fills seen on
        this connection): unreported, (0, ""), when they do not add up to ``filled``."""
        order_id = int(e["i"])
        seen = self._fills.setdefault(order_id, [])
        if e["x"] == "TRADE" and filled > sum(f.qty for f in seen) * (1 + 1e-9):
            seen.append(Charge(price=float(e["L"]), qty=float(e["l"]), commission=float(e["n"]),
                              commission_asset=e["N"] or ""))
        if status in FINAL_STATUSES:
            del self._fills[order_id]
        if not filled:
            return 0.0, ""
        return fee_of(seen, filled, *split_symbol(symbol))
