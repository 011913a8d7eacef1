"""Simulated MEXC user data stream (shared/venues/private.md §3): signed
``POST/PUT/DELETE /api/v3/userDataStream`` (a listenKey lives 60 min after its creation or last
``PUT``), ``/ws?listenKey=<key>`` (an unknown or lapsed key: the socket is closed), ``SUBSCRIPTION``
to ``spot@private.account.v3.api.pb`` acked like public channels, and binary
``PushDataV3ApiWrapper`` pushes with ``privateAccount`` (307), one per changed asset.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from protocols.mexc import push_pb2
from simulator.venues.base import Conn, Frame, now_ms

if TYPE_CHECKING:
    from simulator.venues.mexc import MexcServer

ACCOUNT = "spot@private.account.v3.api.pb"
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
    conn.names[ACCOUNT] = key  # subscribed once the client asks (below)


def subscribe(server: MexcServer, conn: Conn, rid: int, params: list[str]) -> bool:
    """A private connection's SUBSCRIPTION; False when it is not one (public handling)."""
    if conn.style != "private" or params != [ACCOUNT]:
        return False
    server.private[conn] = conn.names[ACCOUNT]
    conn.send(_enc.encode({"id": rid, "code": 0, "msg": ACCOUNT}).decode())
    return True


def account_frames(server: MexcServer, conn: Conn, assets: list[str]) -> list[Frame]:
    t = now_ms()
    bal = server.exchange.balances
    out: list[Frame] = []
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
