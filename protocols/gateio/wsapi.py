"""Gate.io WebSocket API order entry (shared/venues/private.md §2.5) on the public endpoint
``/ws/v4/``: one ``spot.login`` per connection (HMAC-SHA512 of ``api\\nspot.login\\n\\n<ts>``),
then ``spot.order_place`` / ``spot.order_status`` / ``spot.order_cancel`` carrying only
``req_id`` + ``req_param`` (``order_id`` = our ``t-`` text for status and cancel).

Sample result (``order_place`` answers an ``ack`` first, which carries no outcome and is skipped)::

    {"request_id":"o1","header":{"status":"200","channel":"spot.order_place",
     "x_gate_ratelimit_reset_timestamp":1736408263764,...},"data":{"result":{"id":"1852454420",
     "text":"t-arb…b","status":"closed","finish_as":"filled",...}}}

``data.result`` is the REST order model (decoded with the REST wire type); ``data.errs``
``{"label","message"}`` maps through the REST adapter's one mapping, with ``header.status`` as
the HTTP status (a 5xx: outcome UNKNOWN) and the reset timestamp as ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from protocols.errors import DecodeError, ExchangeError
from protocols.frame_template import compile_slots, json_str, slot
from protocols.gateio import wire
from protocols.gateio.rest import RESET_HEADER, check_market_sizing, client_text, map_error, new_order
from protocols.messages import OrderIntent, OrderType, OrderUpdate, Side, SymbolInfo
from protocols.rounding import MarketGrid
from protocols.signing import gate_ws_api_sign
from protocols.venue import Credentials, venue_symbol

VENUE = "gateio"


class _Header(msgspec.Struct, frozen=True):
    status: str = "200"
    reset: int | None = msgspec.field(default=None, name="x_gate_ratelimit_reset_timestamp")
    reset_typo: int | None = msgspec.field(default=None, name="x_gat_ratelimit_reset_timestamp")  # §2.5: both


class _Data(msgspec.Struct, frozen=True):
    result: msgspec.Raw = msgspec.Raw(b"")  # empty: absent
    errs: msgspec.Raw = msgspec.Raw(b"")


class _Reply(msgspec.Struct, frozen=True):
    request_id: str | None = None
    ack: bool = False
    header: _Header = _Header()
    data: _Data = _Data()


_reply = msgspec.json.Decoder(_Reply)
_enc = msgspec.json.Encoder()


class GateWsOrders:
    """Order entry codec for the Gate.io WebSocket API (``actors.order_gateway``)."""

    venue = VENUE
    orders_bucket = (10.0, 1.0)  # spot placement: 10 r/s per UID and market, shared with REST (gateio.md §4.4)

    def __init__(self, *, ws_url: str, credentials: Credentials, update: Callable[[wire.Order], OrderUpdate],
                 clock: Callable[[], float]) -> None:
        self.url, self.credentials = ws_url, credentials
        self._update = update  # the REST adapter's order -> OrderUpdate (it knows our symbols)
        self._clock = clock

    def login_frame(self, rid: str, now_ms: int) -> str | None:
        ts = str(now_ms // 1000)
        return _enc.encode({"time": now_ms // 1000, "channel": "spot.login", "event": "api", "payload": {
            "api_key": self.credentials.api_key, "req_id": rid, "timestamp": ts,
            "signature": gate_ws_api_sign(self.credentials.secret, "spot.login", "", ts)}}).decode()

    def place_frame(self, rid: str, params: dict[str, str], now_ms: int) -> str:
        return self._request(rid, "spot.order_place", params, now_ms)

    def status_frame(self, rid: str, symbol: str, client_order_id: str, now_ms: int) -> str:
        return self._request(rid, "spot.order_status", {"order_id": client_text(client_order_id),
                                                        "currency_pair": venue_symbol(symbol, "_")}, now_ms)

    def cancel_frame(self, rid: str, symbol: str, client_order_id: str, now_ms: int) -> str:
        return self._request(rid, "spot.order_cancel", {"order_id": client_text(client_order_id),
                                                        "currency_pair": venue_symbol(symbol, "_")}, now_ms)

    def place_template(self, info: SymbolInfo, side: Side, order_type: OrderType, quote_sized: bool) -> PlaceTemplate:
        """``place_frame`` for orders of this market, side and type, compiled (see ``PlaceTemplate``)."""
        return PlaceTemplate(info, side, order_type)

    @staticmethod
    def _request(rid: str, channel: str, param: dict[str, str], now_ms: int) -> str:
        return _envelope(rid, channel, param, now_ms // 1000)

    def reply(self, frame: str | bytes,
              symbol_of: dict[str, str]) -> tuple[str, OrderUpdate | ExchangeError | None] | None:
        """(request id, its order, None for a login, or the mapped error); None for a frame that
        answers no request of ours (an ack, a push on a shared socket)."""
        try:
            r = _reply.decode(frame)
        except msgspec.DecodeError as exc:
            raise DecodeError(VENUE, f"WS API reply: {exc}", frame) from None
        if r.ack or r.request_id is None or r.request_id not in symbol_of:
            return None
        try:
            status = int(r.header.status)
        except ValueError:
            raise DecodeError(VENUE, f"WS API reply: header.status {r.header.status!r}", frame) from None
        if status == 200 and len(r.data.result):
            if symbol_of[r.request_id] == "":  # spot.login: {"api_key","uid"}
                return r.request_id, None
            try:
                order = wire.ORDER.decode(r.data.result)
            except msgspec.DecodeError as exc:
                raise DecodeError(VENUE, f"WS API order: {exc}", frame) from None
            return r.request_id, self._update(order)
        reset = r.header.reset or r.header.reset_typo
        headers = {RESET_HEADER: str(reset)} if reset is not None else {}
        return r.request_id, map_error(status, bytes(r.data.errs), headers, now=self._clock)


def _envelope(rid: str, channel: str, param: dict[str, str], time_s: int | str) -> str:
    return _enc.encode({"time": time_s, "channel": channel, "event": "api",
                        "payload": {"req_id": rid, "req_param": param}}).decode()


class PlaceTemplate:
    """``spot.order_place`` for one (market, side, order type), compiled once from
    ``GateWsOrders``'s own builders (``protocols.frame_template``): ``frame(rid, fields(intent),
    now_ms)`` equals ``place_frame(rid, order_params, now_ms)`` byte for byte (no signature:
    the connection's ``spot.login`` authorises it). Built for one ``SymbolInfo`` (``info``):
    new rules, a new template."""

    __slots__ = ("info", "_frame", "_grid")

    def __init__(self, info: SymbolInfo, side: Side, order_type: OrderType) -> None:
        self.info, self._grid = info, MarketGrid(info)
        order = new_order(info, side, order_type, slot("text"), slot("amount"),
                          None if order_type == "market" else slot("price"))
        self._frame = compile_slots(_envelope(slot("rid"), "spot.order_place", order, slot("time")), json=True)

    def fields(self, intent: OrderIntent) -> tuple[str, str, str]:
        """(price, amount, text) of ``intent``, rounded to the rules; raises
        ``OrderRejected("local")`` when it cannot be sent (nothing built yet)."""
        text = client_text(intent.client_order_id)
        check_market_sizing(intent)
        price, amount = self._grid.fields(intent, VENUE)
        return price or "", amount or "", text

    def frame(self, rid: str, fields: tuple[str, str, str], now_ms: int) -> str:
        price, amount, text = fields
        return self._frame % {"rid": json_str(rid), "text": json_str(text), "amount": json_str(amount),
                              "price": json_str(price), "time": now_ms // 1000}
