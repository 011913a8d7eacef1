"""Gate.io spot private channels (shared/venues/private.md §2.1, §2.2, §2.4): ``spot.orders``
(all pairs: ``"!all"``) and ``spot.balances`` subscribed on the public WebSocket endpoint with
a per-request ``auth`` (HMAC-SHA512 of ``channel=..&event=..&time=..``). Every push's
``result`` is an array. Balances: ``available`` and ``freeze`` are absolute. Orders: no
``status`` field -- the state is ``event`` (put / update / finish) with ``finish_as``; fills
are cumulative (``filled_amount`` base, else ``amount - left``; ``filled_total`` quote), fees
cumulative, in up to three parts (``fee`` + ``gt_fee`` + ``point_fee``: ``rest.order_fee``);
times are strings. An order on a pair we do not trade is skipped.
"""

from __future__ import annotations

from typing import Any

import msgspec

from protocols.errors import DecodeError
from protocols.gateio.rest import order_fee, order_status
from protocols.messages import Balance, OrderUpdate
from protocols.private import StreamEvent, StreamReply, json_object
from protocols.signing import gate_ws_channel_sign
from protocols.venue import Credentials

VENUE = "gateio"
CHANNELS = ("spot.orders", "spot.balances")
PAYLOAD = {"spot.orders": ["!all"]}  # every pair; spot.balances takes none


class GatePrivate:
    """``PrivateCodec`` for Gate.io (private channels share the market-data endpoint)."""

    venue = VENUE

    def __init__(self, *, ws_url: str, credentials: Credentials, pairs: dict[str, str] | None = None) -> None:
        self.url, self.credentials = ws_url, credentials
        self.pairs = pairs if pairs is not None else {}  # BTC_USDT -> BTC/USDT (the adapter's, live)

    def subscribe_frames(self, now_ms: int) -> list[str]:
        t = now_ms // 1000
        out = []
        for i, channel in enumerate(CHANNELS):
            sign = gate_ws_channel_sign(self.credentials.secret, channel, "subscribe", t)
            req: dict[str, Any] = {"time": t, "id": i + 1, "channel": channel, "event": "subscribe",
                                   "auth": {"method": "api_key", "KEY": self.credentials.api_key, "SIGN": sign}}
            if channel in PAYLOAD:
                req["payload"] = PAYLOAD[channel]
            out.append(msgspec.json.encode(req).decode())
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
            if channel == "spot.orders":
                return [u for row in msg["result"] if (u := self._order(row)) is not None]
            return [self._balance(row) for row in msg["result"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(VENUE, f"bad {channel} push: {exc!r}", frame) from None

    def _order(self, row: dict[str, Any]) -> OrderUpdate | None:
        symbol = self.pairs.get(row["currency_pair"])
        if symbol is None:
            return None
        amount, left = float(row["amount"]), float(row["left"])
        filled = float(row["filled_amount"]) if row.get("filled_amount") not in (None, "") else amount - left
        text = str(row.get("text", ""))
        finished = row["event"] == "finish"
        price = float(row.get("price") or 0)
        filled_quote = float(row["filled_total"])
        fee, fee_asset = order_fee(float(row.get("fee") or 0), str(row.get("fee_currency", "")),
                                   float(row.get("gt_fee") or 0), float(row.get("point_fee") or 0), symbol,
                                   filled_quote / filled if filled else 0.0)
        return OrderUpdate(
            venue=VENUE, symbol=symbol, client_order_id=text[2:] if text.startswith("t-") else text,
            order_id=str(row["id"]), side="buy" if row["side"] == "buy" else "sell",
            order_type="market" if row["type"] == "market" else "ioc" if row.get("time_in_force") == "ioc" else "limit",
            status=order_status("finished" if finished else "open", str(row.get("finish_as", "")), filled),
            price=price or None, qty=amount, filled_qty=filled, filled_quote=filled_quote,
            fee=fee, fee_asset=fee_asset,
            ts_ms=int(float(row["update_time_ms"])))

    @staticmethod
    def _balance(row: dict[str, Any]) -> Balance:
        return Balance(venue=VENUE, asset=row["currency"], free=float(row["available"]), locked=float(row["freeze"]))
