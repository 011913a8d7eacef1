"""The simulator's admin API, served by every venue under ``/_sim``: inject and clear faults,
read the venue's true book, pause and resume the market clock, set a balance as a change made
outside Arbor (pushed on the private stream), list/delist/halt/resume a market on this venue
(``POST /_sim/markets {"action": ..., "symbol": "BASE/QUOTE"}``). JSON in and out.

Every request needs ``Authorization: Bearer <SimConfig.admin_token>`` (the control endpoint's
scheme; ``python -m simulator`` prints the token): on loopback, any local process could
otherwise inject faults into someone's run. A missing or wrong token is a 401."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from simulator.venues.base import VenueServer


Handler = Callable[[web.Request], Awaitable[web.Response]]


def admin_routes(server: VenueServer) -> list[web.RouteDef]:
    expected = f"Bearer {server.cfg.admin_token}".encode()

    def authorized(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.Response:
            given = request.headers.get("Authorization", "").encode()
            if server.cfg.admin_token is None or not hmac.compare_digest(given, expected):
                return web.json_response({"error": "missing or wrong bearer token"}, status=401)
            return await handler(request)
        return checked

    async def faults(request: web.Request) -> web.Response:
        return web.json_response(server.faults.describe())

    async def inject(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            server.faults.inject(str(body.get("kind")), int(body.get("count", 1)))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(server.faults.describe())

    async def clear(request: web.Request) -> web.Response:
        server.faults.clear()
        return web.json_response(server.faults.describe())

    async def book(request: web.Request) -> web.Response:
        sym = request.query.get("symbol", "")
        symbol = server.by_venue_symbol.get(sym, sym)
        if symbol not in server.books:
            return web.json_response({"error": f"unknown symbol {sym!r}"}, status=404)
        bids, asks = server.book(symbol)
        return web.json_response({"symbol": symbol, "seq": server.seq(symbol), "bids": bids, "asks": asks})

    async def pause(request: web.Request) -> web.Response:
        server.pause_market()
        return web.json_response({"paused": True})

    async def resume(request: web.Request) -> web.Response:
        server.resume_market()
        return web.json_response({"paused": False})

    async def markets(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            server.change_listing(str(body.get("action")), str(body.get("symbol")))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"listed": sorted(server.books), "halted": sorted(server.halted)})

    async def balance(request: web.Request) -> web.Response:
        body = await request.json()
        asset, free = body.get("asset"), body.get("free")
        if not isinstance(asset, str) or not isinstance(free, (int, float)) or free < 0:
            return web.json_response({"error": "expected {\"asset\": str, \"free\": number >= 0}"}, status=400)
        server.set_balance(asset, float(free))
        return web.json_response({"asset": asset, "free": float(free)})

    return [
        web.post("/_sim/balance", authorized(balance)),
        web.post("/_sim/markets", authorized(markets)),
        web.get("/_sim/faults", authorized(faults)),
        web.post("/_sim/faults", authorized(inject)),
        web.delete("/_sim/faults", authorized(clear)),
        web.get("/_sim/book", authorized(book)),
        web.post("/_sim/pause", authorized(pause)),
        web.post("/_sim/resume", authorized(resume)),
    ]
