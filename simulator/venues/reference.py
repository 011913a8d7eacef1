"""The read-only endpoints a client calls around trading, per venue: currency/wallet lists
(ccxt's ``load_markets`` fetches them by default), 24 h tickers, trading fees and (Binance,
Gate) the account's trades. Faithful minimal versions: the venue's field names and types
(shapes from shared/venues/*.md, the venues' docs and the real listings in shared/data/markets),
values from the simulated book and account; 24 h statistics the simulator does not keep
(open/high/low) are the current price. The 24 h volume is the market's (``market_volume``:
shaped by its ``activity``, the quiet tail trading a fraction of the busy few) plus the account's
own trades.

Each ``*_routes(server)`` returns the routes its venue server adds; signed ones go through the
server's own authentication wrapper, so they answer its error bodies.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from aiohttp import web

from protocols.venue import venue_symbol
from simulator.market import VenueBook
from simulator.venues.base import now_ms, pad8

if TYPE_CHECKING:
    from simulator.venues.base import VenueServer
    from simulator.venues.binance import BinanceServer
    from simulator.venues.gateio import GateServer
    from simulator.venues.mexc import MexcServer

NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "USDT": "Tether USD", "BNB": "BNB", "XRP": "XRP",
         "DOGE": "Dogecoin"}


def _assets(server: VenueServer) -> list[str]:
    assets = set(server.exchange.balances)
    for book in server.books.values():
        assets.update((book.spec.base, book.spec.quote))
    return sorted(assets)


def _top(book: VenueBook) -> tuple[int, int, int, int]:
    """(best bid ticks, its steps, best ask ticks, its steps); 0 for an empty side."""
    bid, bq = book.bids.peekitem(-1) if book.bids else (0, 0)
    ask, aq = book.asks.peekitem(0) if book.asks else (0, 0)
    return bid, bq, ask, aq


def _plain(book: VenueBook) -> tuple[str, str, str, str, str]:
    """(bid, bid qty, ask, ask qty, last) as plain decimal strings (MEXC, Gate); last = the bid."""
    bid, bq, ask, aq = _top(book)
    fp, fq = book.spec.fmt_price, book.spec.fmt_qty
    return fp(bid), fq(bq), fp(ask), fq(aq), fp(bid)


QUOTE_VOLUME_PER_ACTIVITY = 400_000.0  # 24 h quote volume of a market of activity 1.0


def market_volume(seed: int, venue: str, symbol: str, activity: float) -> float:
    """The simulated market's 24 h quote volume on ``venue``: proportional to its ``activity``
    (the universe's Pareto tail: most markets a fraction of the majors'), times a per-venue
    factor in [0.5, 1.5) (the same market trades more on one venue than another).
    Deterministic from the seed."""
    factor = random.Random(f"{seed}:volume:{venue}:{symbol}").uniform(0.5, 1.5)
    return QUOTE_VOLUME_PER_ACTIVITY * activity * factor


def _volume(server: VenueServer, symbol: str) -> tuple[float, float]:
    """(base, quote) traded on ``symbol`` over 24 h: the market's, plus this account's."""
    orders = [o for o in server.exchange.by_id.values() if o.symbol == symbol]
    book = server.books[symbol]
    spec = book.spec
    market = market_volume(server.cfg.seed, server.name, symbol, server.cfg.activity.get(symbol, 1.0))
    bid, _, ask, _ = _top(book)
    mid = (bid + ask) / 2 * spec.tick if bid and ask else 0.0
    base = market / mid if mid > 0 else 0.0
    return base + sum(o.filled for o in orders) * spec.step, market + sum(o.filled_quote for o in orders)


def _wanted(server: VenueServer, name: str | None, find: Any) -> list[str]:
    return [find(name)] if name else list(server.books)


# --- MEXC ---------------------------------------------------------------------------------------


def mexc_routes(server: MexcServer) -> list[web.RouteDef]:
    a = "/api/v3"

    async def ticker_24hr(request: web.Request) -> web.Response:
        t = now_ms()
        out = []
        for s in _wanted(server, request.query.get("symbol"), server._symbol):
            bid, bq, ask, aq, last = _plain(server.books[s])
            base, quote = _volume(server, s)
            out.append({"symbol": venue_symbol(s), "priceChange": "0", "priceChangePercent": "0",
                        "prevClosePrice": last, "lastPrice": last, "bidPrice": bid, "bidQty": bq, "askPrice": ask,
                        "askQty": aq, "openPrice": last, "highPrice": last, "lowPrice": last,
                        "volume": f"{base:.8f}", "quoteVolume": f"{quote:.8f}", "openTime": t - 86_400_000,
                        "closeTime": t, "count": None})
        return web.json_response(out[0] if "symbol" in request.query else out)

    async def book_ticker(request: web.Request) -> web.Response:
        out = []
        for s in _wanted(server, request.query.get("symbol"), server._symbol):
            bid, bq, ask, aq, _ = _plain(server.books[s])
            out.append({"symbol": venue_symbol(s), "bidPrice": bid, "bidQty": bq, "askPrice": ask, "askQty": aq})
        return web.json_response(out[0] if "symbol" in request.query else out)

    async def price(request: web.Request) -> web.Response:
        out = [{"symbol": venue_symbol(s), "price": _plain(server.books[s])[4]}
               for s in _wanted(server, request.query.get("symbol"), server._symbol)]
        return web.json_response(out[0] if "symbol" in request.query else out)

    async def coins(request: web.Request, params: dict[str, str]) -> web.Response:
        # shape of shared/data/markets/mexc.capital.config.getall.*.json, one network per coin
        return web.json_response([{
            "coin": c, "name": NAMES.get(c, c), "networkList": [{
                "coin": c, "depositDesc": None, "depositEnable": True, "minConfirm": 12, "name": NAMES.get(c, c),
                "network": f"{c}(SIM)", "withdrawEnable": True, "withdrawFee": "0", "withdrawIntegerMultiple": None,
                "withdrawMax": "1000000", "withdrawMin": "0.0001", "sameAddress": False, "contract": "",
                "withdrawTips": None, "depositTips": None, "netWork": "SIM"}],
        } for c in _assets(server)])

    async def contracts(request: web.Request) -> web.Response:
        # ccxt's mexc.fetch_markets always asks for the futures list too; the simulator lists none
        return web.json_response({"success": True, "code": 0, "data": []})

    return [
        web.get("/api/v1/contract/detail", contracts),
        web.get(f"{a}/ticker/24hr", server._public(ticker_24hr)),
        web.get(f"{a}/ticker/bookTicker", server._public(book_ticker)),
        web.get(f"{a}/ticker/price", server._public(price)),
        web.get(f"{a}/capital/config/getall", server._signed(coins)),
    ]


def _fills(server: VenueServer, symbol: str) -> list[tuple[Any, int, int, int, float]]:
    """The account's trades on ``symbol``, oldest first: (order, index, ticks, steps, fee), the
    fee pro rata of the order's. Trade ids are derived from the order id and the fill's index."""
    out = []
    for o in server.exchange.by_id.values():
        if o.symbol != symbol:
            continue
        for i, (ticks, steps) in enumerate(o.fills):
            out.append((o, i, ticks, steps, o.fee * steps / o.filled if o.filled else 0.0))
    out.sort(key=lambda f: (f[0].updated_ms, f[0].order_id, f[1]))
    return out


def gate_fee_fields(order: Any, fee: float, received: str) -> dict[str, str]:
    """Gate's fee fields for ``fee`` of ``order`` (the order's, or one trade's share): in the
    asset received (``fee``/``fee_currency``), or, with GT deduction on (``fee_asset`` "GT"),
    ``fee`` "0" and the GT spent in ``gt_fee`` (the Order model [GATE-SDK]: "GT used to deduct
    fee"). Assumed: ``fee_currency`` then still names the asset the fee would have been taken
    from (the docs do not say). Points are never charged here (``point_fee`` "0")."""
    if order.fee_rate is not None and order.fee_asset == "GT":
        return {"fee": "0", "fee_currency": received, "point_fee": "0", "gt_fee": f"{fee:.8f}"}
    return {"fee": f"{fee:.8f}", "fee_currency": order.fee_asset, "point_fee": "0", "gt_fee": "0"}


# --- Binance ------------------------------------------------------------------------------------


def binance_routes(server: BinanceServer) -> list[web.RouteDef]:
    from simulator.venues.binance import BinanceError  # binance.py imports this module

    a = "/api/v3"

    def public(handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except BinanceError as err:
                return server._fail(err)

        return wrapped

    def symbols(request: web.Request) -> tuple[list[str], bool]:
        if "symbol" in request.query:
            return [server._symbol(request)], True  # type: ignore[list-item]
        return list(server.books), False

    async def ticker_24hr(request: web.Request) -> web.Response:
        t = now_ms()
        out = []
        wanted, one = symbols(request)
        for s in wanted:
            spec = server.books[s].spec
            pd, qd = spec.price_decimals, spec.qty_decimals
            b_, bq_, a_, aq_ = _top(server.books[s])
            bid, bq, ask, aq, last = pad8(b_, pd), pad8(bq_, qd), pad8(a_, pd), pad8(aq_, qd), pad8(b_, pd)
            base, quote = _volume(server, s)
            out.append({"symbol": venue_symbol(s), "priceChange": "0.00000000", "priceChangePercent": "0.000",
                        "weightedAvgPrice": last, "prevClosePrice": last, "lastPrice": last, "lastQty": "0.00000000",
                        "bidPrice": bid, "bidQty": bq, "askPrice": ask, "askQty": aq, "openPrice": last,
                        "highPrice": last, "lowPrice": last, "volume": f"{base:.8f}", "quoteVolume": f"{quote:.8f}",
                        "openTime": t - 86_400_000, "closeTime": t, "firstId": -1, "lastId": -1, "count": 0})
        return web.json_response(out[0] if one else out)

    async def book_ticker(request: web.Request) -> web.Response:
        wanted, one = symbols(request)
        out = []
        for s in wanted:
            spec = server.books[s].spec
            bid, bq, ask, aq = _top(server.books[s])
            pd, qd = spec.price_decimals, spec.qty_decimals
            out.append({"symbol": venue_symbol(s), "bidPrice": pad8(bid, pd), "bidQty": pad8(bq, qd),
                        "askPrice": pad8(ask, pd), "askQty": pad8(aq, qd)})
        return web.json_response(out[0] if one else out)

    async def coins(request: web.Request, params: dict[str, str]) -> web.Response:
        # shape of shared/data/markets/binance.capital.config.getall.*.json (its account fields restored)
        balances = server.balances
        return web.json_response([{
            "coin": c, "depositAllEnable": True, "withdrawAllEnable": True, "name": NAMES.get(c, c),
            "free": f"{balances.get(c, (0.0, 0.0))[0]:.8f}", "locked": f"{balances.get(c, (0.0, 0.0))[1]:.8f}",
            "freeze": "0", "withdrawing": "0", "ipoing": "0", "ipoable": "0", "storage": "0",
            "isLegalMoney": False, "trading": True,
            "networkList": [{
                "network": "SIM", "coin": c, "withdrawIntegerMultiple": "0.00000001", "isDefault": True,
                "depositEnable": True, "withdrawEnable": True, "depositDesc": "", "withdrawDesc": "",
                "specialTips": "", "specialWithdrawTips": "", "name": f"{NAMES.get(c, c)} (simulated)",
                "resetAddressStatus": False, "addressRegex": "", "memoRegex": "", "withdrawFee": "0",
                "withdrawMin": "0.0001", "withdrawMax": "10000000000", "depositDust": "0.00000001",
                "minConfirm": 1, "unLockConfirm": 0, "sameAddress": False, "estimatedArrivalTime": 1,
                "busy": False, "contractAddressUrl": "", "contractAddress": ""}],
        } for c in _assets(server)])

    async def trade_fee(request: web.Request, params: dict[str, str]) -> web.Response:
        fee = f"{server.exchange.fee:g}"
        wanted = [server._symbol(params) or ""] if params.get("symbol") else list(server.books)
        return web.json_response([{"symbol": venue_symbol(s), "makerCommission": fee, "takerCommission": fee}
                                  for s in wanted])

    async def my_trades(request: web.Request, params: dict[str, str]) -> web.Response:
        """``GET /api/v3/myTrades?symbol=[&orderId=][&limit=]``: the account's trades on the
        symbol (only that order's with ``orderId``), oldest first, the last ``limit`` (500)."""
        symbol = server._symbol(params)
        spec = server.books[symbol].spec  # type: ignore[index]
        pd, qd = spec.price_decimals, spec.qty_decimals
        order_id = params.get("orderId")
        out = [{
            "symbol": venue_symbol(symbol), "id": int(o.order_id) * 1000 + i, "orderId": int(o.order_id),  # type: ignore[arg-type]
            "orderListId": -1, "price": pad8(ticks, pd), "qty": pad8(steps, qd),
            "quoteQty": f"{ticks * spec.tick * steps * spec.step:.8f}", "commission": f"{fee:.8f}",
            "commissionAsset": o.fee_asset, "time": o.updated_ms, "isBuyer": o.side == "buy", "isMaker": False,
            "isBestMatch": True,
        } for o, i, ticks, steps, fee in _fills(server, symbol)  # type: ignore[arg-type]
            if order_id is None or o.order_id == order_id]
        limit = int(params.get("limit", "500"))
        return web.json_response(out[-limit:])

    async def no_margin(request: web.Request, params: dict[str, str]) -> web.Response:
        return web.json_response([])  # ccxt lists margin pairs by default; the simulator trades spot only

    return [
        web.get("/sapi/v1/margin/allPairs", server._signed(no_margin)),
        web.get("/sapi/v1/margin/isolated/allPairs", server._signed(no_margin)),
        web.get(f"{a}/ticker/24hr", public(ticker_24hr)),
        web.get(f"{a}/ticker/bookTicker", public(book_ticker)),
        web.get(f"{a}/myTrades", server._signed(my_trades)),
        web.get("/sapi/v1/capital/config/getall", server._signed(coins)),
        web.get("/sapi/v1/asset/tradeFee", server._signed(trade_fee)),
    ]


# --- Gate.io ------------------------------------------------------------------------------------


def gate_routes(server: GateServer) -> list[web.RouteDef]:
    from simulator.venues.gateio import GateError  # gateio.py imports this module

    a = "/api/v4"

    def fail(err: GateError) -> web.Response:
        return web.json_response({"label": err.label, "message": err.message}, status=err.status)

    async def currencies(request: web.Request) -> web.Response:
        # GET /spot/currencies (Currency model of Gate's API v4 docs), one simulated chain each
        return web.json_response([{
            "currency": c, "name": NAMES.get(c, c), "delisted": False, "withdraw_disabled": False,
            "withdraw_delayed": False, "deposit_disabled": False, "trade_disabled": False, "fixed_rate": "",
            "chain": c, "chains": [{"name": c, "addr": "", "withdraw_disabled": False, "withdraw_delayed": False,
                                    "deposit_disabled": False}],
        } for c in _assets(server)])

    async def no_margin(request: web.Request) -> web.Response:
        return web.json_response([])  # ccxt's load_markets lists margin pairs; the simulator trades spot only

    async def tickers(request: web.Request) -> web.Response:
        try:
            wanted = _wanted(server, request.query.get("currency_pair"), server._pair)
        except GateError as err:
            return fail(err)
        out = []
        for s in wanted:
            bid, bq, ask, aq, last = _plain(server.books[s])
            base, quote = _volume(server, s)
            out.append({"currency_pair": venue_symbol(s, "_"), "last": last, "lowest_ask": ask, "lowest_size": aq,
                        "highest_bid": bid, "highest_size": bq, "change_percentage": "0", "change_utc0": "0",
                        "change_utc8": "0", "base_volume": f"{base:.8f}", "quote_volume": f"{quote:.8f}",
                        "high_24h": last, "low_24h": last})
        return web.json_response(out)

    async def my_trades(request: web.Request, body: str) -> web.Response:
        symbol = server._pair(request.query.get("currency_pair"))
        spec = server.books[symbol].spec
        out = [{
            "id": f"{o.order_id}{i:03d}", "create_time": str(o.updated_ms // 1000),
            "create_time_ms": f"{o.updated_ms}.000", "currency_pair": venue_symbol(symbol, "_"), "side": o.side,
            "role": "taker", "amount": spec.fmt_qty(steps), "price": spec.fmt_price(ticks), "order_id": o.order_id,
            **gate_fee_fields(o, fee, spec.base if o.side == "buy" else spec.quote), "amend_text": "-",
            "sequence_id": str(i + 1), "text": o.client_id or "apiv4",
        } for o, i, ticks, steps, fee in reversed(_fills(server, symbol))]  # newest first, as Gate lists
        return web.json_response(out[: int(request.query.get("limit", "100"))])

    return [
        web.get(f"{a}/spot/currencies", currencies),
        web.get(f"{a}/margin/currency_pairs", no_margin),
        web.get(f"{a}/spot/tickers", tickers),
        web.get(f"{a}/spot/my_trades", server._signed(my_trades)),
    ]
