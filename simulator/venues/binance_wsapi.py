"""Simulated Binance WebSocket API on ``/ws-api/v3`` (shared/venues/private.md §1.1-1.4): the
user data stream subscribed with ``userDataStream.subscribe.signature`` (HMAC over the sorted,
unencoded params; events wrapped as ``{"subscriptionId":N,"event":{...}}``), ``order.place``,
``order.status`` and ``order.cancel`` (the REST order handlers' checks and bodies, as
``{"id","status","result"|"error"}``). Faults:
``ws_api_drop`` executes the order and closes the connection before its reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from protocols.signing import binance_ws_payload, hmac_sha256_hex
from protocols.venue import venue_symbol
from simulator.matching import Order
from simulator.venues import binance  # partly initialised when binance.py imports us: used at call time
from simulator.venues.base import ARRIVAL_NS, Conn, Frame, now_ms, pad8, to_float

if TYPE_CHECKING:
    from simulator.venues.binance import BinanceServer

_enc = msgspec.json.Encoder()


async def request(self: BinanceServer, conn: Conn, text: str) -> None:
    """One WebSocket API request: ``userDataStream.subscribe.signature`` or ``order.place``."""
    try:
        req = msgspec.json.decode(text)
        if not isinstance(req, dict) or not isinstance(req.get("params", {}), dict):
            raise msgspec.DecodeError("not an object")
    except msgspec.DecodeError:
        conn.send(_enc.encode({"id": None, "status": 400, "error": {
            "code": -1102, "msg": "Mandatory parameter was not sent, was empty/null, or malformed."}}).decode())
        return
    rid, method, params = req.get("id"), str(req.get("method", "")), req.get("params", {})
    arrival_ns = await self.arrived("WS", method, conn.rx_ns)  # when its bytes were read
    params = {k: v if isinstance(v, str) else _enc.encode(v).decode() for k, v in params.items()}
    try:
        if method == "userDataStream.subscribe.signature":
            _authenticate(self, params)
            if conn in self.private:
                raise binance.BinanceError(-2035, "User Data Stream subscription already active.")
            self.private[conn] = 0
            result: object = {"subscriptionId": 0}
        elif method == "order.place":
            _authenticate(self, params)
            response = await self._new_order({ARRIVAL_NS: arrival_ns}, params)  # type: ignore[arg-type]
            if self.faults.take("ws_api_drop"):
                self.drop(conn)  # executed; the reply is lost with the connection
                return
            body = msgspec.json.decode(response.body)  # type: ignore[arg-type]
            if response.status != 200:
                conn.send(_enc.encode({"id": rid, "status": response.status, "error": body}).decode())
                return
            result = body
        elif method in ("order.status", "order.cancel"):  # by origClientOrderId or orderId
            _authenticate(self, params)
            handler = self._get_order if method == "order.status" else self._cancel_order
            result = msgspec.json.decode((await handler(None, params)).body)  # type: ignore[arg-type]
        else:
            raise binance.BinanceError(-1020, "This operation is not supported.")
    except binance.BinanceError as err:
        conn.send(_enc.encode({"id": rid, "status": err.status, "error": {"code": err.code, "msg": err.msg}}).decode())
        return
    conn.send(_enc.encode({"id": rid, "status": 200, "result": result}).decode())

def _authenticate(self: BinanceServer, params: dict[str, str]) -> None:
    """A SIGNED WS API request: apiKey + HMAC over the sorted, unencoded params."""
    if params.get("apiKey") != self.credentials.api_key:
        raise binance.BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    signature = params.pop("signature", "")
    if signature.lower() != hmac_sha256_hex(self.credentials.secret, binance_ws_payload(params)):
        raise binance.BinanceError(-1022, "Signature for this request is not valid.")
    ts, window = to_float(params.get("timestamp")), to_float(params.get("recvWindow", "5000"))
    if ts is None or window is None or not 0 <= now_ms() - ts <= window:
        raise binance.BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")

def account_frames(self: BinanceServer, conn: Conn, assets: list[str], order: Order | None) -> list[Frame]:
    """``executionReport`` (if ``order``) and ``outboundAccountPosition``, each wrapped as
    ``{"subscriptionId":N,"event":...}``. As the venue does, one ``x:"TRADE"`` report per fill
    since the order's last push (``l``/``L``/``n`` that fill's, ``z``/``Z`` cumulative), and a
    report of the order's state when no fill carries it (new, canceled, expired)."""
    t = now_ms()
    events: list[dict] = []
    if order is not None:
        events.extend(execution_reports(self, order, t))
    bal = self.exchange.balances
    bal = self.exchange.balances
    events.append({"e": "outboundAccountPosition", "E": t, "u": t, "B": [
        {"a": a, "f": f"{bal[a][0]:.8f}", "l": f"{bal[a][1]:.8f}"} for a in assets if a in bal]})
    sid = self.private.get(conn, 0)
    return [_enc.encode({"subscriptionId": sid, "event": e}).decode() for e in events]


def execution_reports(self: BinanceServer, order: Order, t: int) -> list[dict]:
    spec = self.books[order.symbol].spec
    qd, pd = spec.qty_decimals, spec.price_decimals
    per = order.fee / order.filled if order.filled else 0.0  # the fee pro rata, as myTrades reports it
    base = {
        "e": "executionReport", "E": t, "s": venue_symbol(order.symbol), "c": order.client_id,
        "S": order.side.upper(), "o": "LIMIT", "f": {"ioc": "IOC", "fok": "FOK"}.get(order.kind, "GTC"),
        "q": pad8(order.qty or 0, qd), "p": pad8(order.price or 0, pd), "C": "", "r": "NONE",
        "i": int(order.order_id), "T": order.updated_ms, "w": order.is_open, "m": False, "O": order.created_ms,
    }
    out = []
    filled = sum(q for _, q in order.fills[:order.fills_pushed])
    quote = sum(p * spec.tick * q * spec.step for p, q in order.fills[:order.fills_pushed])
    new = list(enumerate(order.fills))[order.fills_pushed:]
    for i, (price, q) in new:
        filled += q
        quote += price * spec.tick * q * spec.step
        last = i == len(order.fills) - 1
        status = binance.STATUS[order.status] if last and order.status in ("filled", "partially_filled") \
            else "PARTIALLY_FILLED"
        out.append({**base, "x": "TRADE", "X": status, "l": pad8(q, qd), "z": pad8(filled, qd),
                    "L": pad8(price, pd), "n": f"{per * q:.8f}", "N": order.fee_asset,
                    "t": int(order.order_id) * 1000 + i, "Z": f"{quote:.8f}"})
    if not new or order.status not in ("filled", "partially_filled"):
        out.append({**base, "x": binance.STATUS[order.status], "X": binance.STATUS[order.status],
                    "l": pad8(0, qd), "z": pad8(order.filled, qd), "L": pad8(0, pd), "n": "0", "N": None,
                    "t": -1, "Z": f"{order.filled_quote:.8f}"})
    return out
