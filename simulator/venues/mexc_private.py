"""Simulated MEXC user data stream (shared/venues/private.md §3): signed
``POST/PUT/DELETE /api/v3/userDataStream`` (a listenKey lives 60 min after its creation or last
``PUT``), ``/ws?listenKey=<key>`` (an unknown or lapsed key: the socket is closed), ``SUBSCRIPTION``
to ``spot@private.orders.v3.api.pb``, ``spot@private.deals.v3.api.pb`` and
``spot@private.account.v3.api.pb`` acked like public channels, and binary
``PushDataV3ApiWrapper`` pushes, each channel's to the connections subscribed to it: on an
order's change its state (``privateOrders``, 304: fills cumulative, no fee), then one
``privateDeals`` (306) per fill since its last push with that fill's fee (the order's fee pro
rata, what ``myTrades`` charges each fill at one fee rate), as the doc's sample pair has them
(the order's push 51 ms before its deal's); then ``privateAccount`` (307), one per changed asset.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from protocols.mexc import push_pb2
from protocols.venue import venue_symbol
from simulator.matching import Order
from simulator.venues.base import Conn, Frame, now_ms

if TYPE_CHECKING:
    from simulator.venues.mexc import MexcServer

ORDERS = "spot@private.orders.v3.api.pb"
DEALS = "spot@private.deals.v3.api.pb"
ACCOUNT = "spot@private.account.v3.api.pb"
CHANNELS = (ORDERS, DEALS, ACCOUNT)
KEY = "listenKey"  # in ``Conn.names``: the connection's key; a channel there is subscribed
# private.md §3.3 orderType: 1 LIMIT_ORDER, 2 POST_ONLY, 3 IMMEDIATE_OR_CANCEL, 4 FILL_OR_KILL, 5 MARKET_ORDER
ORDER_TYPES = {"limit": 1, "post_only": 2, "ioc": 3, "fok": 4, "market": 5}
LIFETIME_S = 3600.0
_enc = msgspec.json.Encoder()
_pb: Any = push_pb2  # generated at run time: no static attributes


def routes(server: MexcServer) -> list[web.RouteDef]:
    keys = server.listen_keys

    async def create(request: web.Request, params: dict[str, str]) -> web.Response:
        key = secrets.token_hex(32)
        keys[key] = time.monotonic() + LIFETIME_S
        return web.json_response({"listenKey": key})

    async def extend(request: web.Request, params: dict[str, str]) -> web.Response:
        key = params.get("listenKey", "")
        if keys.get(key, 0.0) < time.monotonic():
            return web.json_response({"code": 730100, "msg": "listenKey does not exist"}, status=400)
        keys[key] = time.monotonic() + LIFETIME_S
        return web.json_response({"listenKey": key})

    async def delete(request: web.Request, params: dict[str, str]) -> web.Response:
        key = params.get("listenKey", "")
        keys.pop(key, None)
        for conn, channels in list(server.private.items()):
            if channels == key:
                server.drop(conn)
        return web.json_response({"listenKey": key})

    path = "/api/v3/userDataStream"
    return [web.post(path, server._signed(create)), web.put(path, server._signed(extend)),
            web.delete(path, server._signed(delete))]


def connect(server: MexcServer, conn: Conn, request: web.Request) -> None:
    key = request.query.get("listenKey")
    if key is None:
        return
    if server.listen_keys.get(key, 0.0) < time.monotonic():
        server.drop(conn)
        return
    conn.style = "private"
    conn.names[KEY] = key  # its channels are subscribed once the client asks (below)


def subscribe(server: MexcServer, conn: Conn, rid: int, params: list[str]) -> bool:
    """A private connection's SUBSCRIPTION of private channels; False when it is not one
    (public handling)."""
    if conn.style != "private" or not params or not all(p in CHANNELS for p in params):
        return False
    server.private[conn] = conn.names[KEY]
    for channel in params:
        conn.names[channel] = conn.names[KEY]
    conn.send(_enc.encode({"id": rid, "code": 0, "msg": ",".join(params)}).decode())
    return True


def account_frames(server: MexcServer, conn: Conn, assets: list[str], order: Order | None) -> list[Frame]:
    t = now_ms()
    out: list[Frame] = []
    if order is not None:
        if ORDERS in conn.names:
            out.append(_order_frame(server, order, t))
        if DEALS in conn.names:
            out.extend(_deal_frames(server, order, t))
    if ACCOUNT not in conn.names:
        return out
    bal = server.exchange.balances
    for asset in assets:
        if asset not in bal:
            continue
        free, frozen = bal[asset]
        body = _pb.PrivateAccountV3Api(vcoinName=asset, coinId=asset.lower(), balanceAmount=f"{free:.8f}",
                                            balanceAmountChange="0", frozenAmount=f"{frozen:.8f}",
                                            frozenAmountChange="0", type="ENTRUST", time=t)
        out.append(_pb.PushDataV3ApiWrapper(channel=ACCOUNT, privateAccount=body, createTime=t,
                                                 sendTime=t).SerializeToString())
    return out


def _status(o: Order) -> int:
    """private.md §3.3: 1 new, 2 filled, 3 partially filled, 4 canceled, 5 partially filled then canceled."""
    if o.status in ("canceled", "expired"):  # an IOC's killed remainder too (REST: CANCELED / PARTIALLY_CANCELED)
        return 5 if o.filled else 4
    return {"new": 1, "filled": 2, "partially_filled": 3}[o.status]


def _order_frame(server: MexcServer, o: Order, t: int) -> Frame:
    spec = server.books[o.symbol].spec
    qty, price = o.qty or 0, o.price or 0
    left = max(qty - o.filled, 0) if o.is_open else 0
    body = _pb.PrivateOrdersV3Api(
        id=o.order_id, clientId=o.client_id or "", price=spec.fmt_price(price), quantity=spec.fmt_qty(qty),
        amount=f"{o.quote_qty or price * spec.tick * qty * spec.step:.8f}",
        avgPrice=f"{o.filled_quote / (o.filled * spec.step) if o.filled else 0:.8f}",
        orderType=ORDER_TYPES[o.kind], tradeType=1 if o.side == "buy" else 2,
        remainAmount=f"{price * spec.tick * left * spec.step:.8f}", remainQuantity=spec.fmt_qty(left),
        lastDealQuantity=spec.fmt_qty(o.fills[-1][1]) if o.fills else "0",
        cumulativeQuantity=spec.fmt_qty(o.filled), cumulativeAmount=f"{o.filled_quote:.8f}",
        status=_status(o), createTime=o.created_ms)
    return _pb.PushDataV3ApiWrapper(channel=ORDERS, privateOrders=body, symbol=venue_symbol(o.symbol),
                                    sendTime=t).SerializeToString()


def _deal_frames(server: MexcServer, o: Order, t: int) -> list[Frame]:
    """One ``privateDeals`` per fill since the order's last push (``Order.fills_pushed``)."""
    spec = server.books[o.symbol].spec
    per = o.fee / o.filled if o.filled else 0.0  # the fee pro rata per step, as myTrades charges it
    out: list[Frame] = []
    for i, (p, q) in list(enumerate(o.fills))[o.fills_pushed:]:
        body = _pb.PrivateDealsV3Api(
            price=spec.fmt_price(p), quantity=spec.fmt_qty(q), amount=f"{p * spec.tick * q * spec.step:.8f}",
            tradeType=1 if o.side == "buy" else 2, tradeId=f"{o.order_id}X{i + 1}", clientOrderId=o.client_id or "",
            orderId=o.order_id, feeAmount=f"{per * q:.12f}", feeCurrency=o.fee_asset, time=o.updated_ms)
        out.append(_pb.PushDataV3ApiWrapper(channel=DEALS, privateDeals=body, symbol=venue_symbol(o.symbol),
                                            sendTime=t).SerializeToString())
    return out
