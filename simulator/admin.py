"""The simulator's admin API, served by every venue under ``/_sim``: inject and clear faults,
read the venue's true book, pause and resume the market clock, set a balance as a change made
outside Arbor (pushed on the private stream). JSON in and out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from simulator.venues.base import VenueServer


def admin_routes(server: VenueServer) -> list[web.RouteDef]:
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

    async def balance(request: web.Request) -> web.Response:
        body = await request.json()
        asset, free = body.get("asset"), body.get("free")
        if not isinstance(asset, str) or not isinstance(free, (int, float)) or free < 0:
            return web.json_response({"error": "expected {\"asset\": str, \"free\": number >= 0}"}, status=400)
        server.set_balance(asset, float(free))
        return web.json_response({"asset": asset, "free": float(free)})

    return [
        web.post("/_sim/balance", balance),
        web.get("/_sim/faults", faults),
        web.post("/_sim/faults", inject),
        web.delete("/_sim/faults", clear),
        web.get("/_sim/book", book),
        web.post("/_sim/pause", pause),
        web.post("/_sim/resume", resume),
    ]
