"""Binance WebSocket API order entry (shared/venues/private.md §1.4): ``order.place``,
``order.status`` and ``order.cancel`` (by ``origClientOrderId``) as signed JSON text frames
(HMAC over the sorted, unencoded params; no session logon), and their replies. The reply's
``result`` is the REST order body (FULL by default), so it decodes with the REST wire types;
an ``error`` maps through the REST adapter's one mapping (5XX: outcome UNKNOWN).

``place_template``: one market's ``order.place`` frame and signed payload compiled once
(``protocols.frame_template``) from the same builders, with the HMAC already fed the payload's
constant head (``apiKey=...&newClientOrderId=``): an order is its rounding, one payload
format, the HMAC of the rest, and one frame format."""

from __future__ import annotations

from typing import Any

import msgspec

from protocols.binance import codec, wire
from protocols.binance.private import ws_api_url
from protocols.binance.rest import map_error, new_order_params, to_update
from protocols.errors import DecodeError, ExchangeError
from protocols.frame_template import compile_slots, constant_head, json_str, slot
from protocols.messages import OrderIntent, OrderType, OrderUpdate, Side, SymbolInfo
from protocols.rounding import MarketGrid
from protocols.signing import HmacSha256, binance_ws_payload
from protocols.venue import Credentials, venue_symbol

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
    orders_bucket = (100.0, 10.0)  # ORDERS: 100 per 10 s, counted like REST orders (§1.4)

    def __init__(self, *, ws_url: str, credentials: Credentials) -> None:
        self.url = ws_api_url(ws_url)
        self.credentials = credentials
        self._mac = HmacSha256(credentials.secret)  # keyed once

    def login_frame(self, rid: str, now_ms: int) -> str | None:
        return None  # every request is signed on its own (HMAC keys cannot session.logon)

    def place_frame(self, rid: str, params: dict[str, str], now_ms: int) -> str:
        return self._signed(rid, "order.place", params, now_ms)

    def status_frame(self, rid: str, symbol: str, client_order_id: str, now_ms: int) -> str:
        return self._signed(rid, "order.status", {"symbol": venue_symbol(symbol),
                                                  "origClientOrderId": client_order_id}, now_ms)

    def cancel_frame(self, rid: str, symbol: str, client_order_id: str, now_ms: int) -> str:
        return self._signed(rid, "order.cancel", {"symbol": venue_symbol(symbol),
                                                  "origClientOrderId": client_order_id}, now_ms)

    def place_template(self, info: SymbolInfo, side: Side, order_type: OrderType, quote_sized: bool) -> PlaceTemplate:
        """``place_frame`` for orders of this market, side and type, compiled (see the module doc)."""
        return PlaceTemplate(self, info, side, order_type, quote_sized)

    def _signed(self, rid: str, method: str, params: dict[str, str], now_ms: int) -> str:
        signed = self._params(params, now_ms)
        signed["signature"] = self._mac.hexdigest(binance_ws_payload(signed))  # = hmac_sha256_hex(secret, payload)
        return _frame(rid, method, signed)

    def _params(self, params: dict[str, str], now_ms: int | str) -> dict[str, Any]:
        return {**params, "apiKey": self.credentials.api_key, "timestamp": now_ms}

    def reply(self, frame: str | bytes,
              symbol_of: dict[str, str]) -> tuple[str, OrderUpdate | ExchangeError | None] | None:
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


def _frame(rid: str, method: str, signed: dict[str, Any]) -> str:
    return msgspec.json.encode({"id": rid, "method": method, "params": signed}).decode()


class PlaceTemplate:
    """``order.place`` for one (market, side, order type), compiled from ``BinanceWsOrders``'s
    own builders: ``frame(rid, fields(intent), now_ms)`` equals ``place_frame(rid,
    order_params, now_ms)`` byte for byte. Built for one ``SymbolInfo`` (``info``): new rules,
    a new template."""

    __slots__ = ("info", "_mac", "_payload", "_frame", "_grid")

    def __init__(self, codec: BinanceWsOrders, info: SymbolInfo, side: Side, order_type: OrderType,
                 quote_sized: bool) -> None:
        self.info, self._grid = info, MarketGrid(info)
        params = new_order_params(info, side, order_type, quote_sized, slot("qty"),
                                  None if order_type == "market" else slot("price"), slot("cid"))
        signed = codec._params(params, slot("ts"))
        payload = binance_ws_payload(signed)
        head = constant_head(payload)
        self._mac = codec._mac.fed(head)  # keyed, and fed that head once
        self._payload = compile_slots(payload[len(head):], json=False)
        signed["signature"] = slot("sig")
        self._frame = compile_slots(_frame(slot("rid"), "order.place", signed), json=True)

    def fields(self, intent: OrderIntent) -> tuple[str, str, str]:
        """(price, qty, client id) of ``intent``, rounded to the rules; raises
        ``OrderRejected("local")`` when it cannot be sent (nothing built yet)."""
        price, qty = self._grid.fields(intent, VENUE)
        return price or "", qty or "", intent.client_order_id

    def frame(self, rid: str, fields: tuple[str, str, str], now_ms: int) -> str:
        price, qty, cid = fields
        sig = self._mac.hexdigest(self._payload % {"cid": cid, "price": price, "qty": qty, "ts": now_ms})
        return self._frame % {"rid": json_str(rid), "cid": json_str(cid), "price": json_str(price),
                              "qty": json_str(qty), "ts": now_ms, "sig": f'"{sig}"'}
