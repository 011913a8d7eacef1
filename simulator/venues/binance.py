"""Simulated Binance spot (shared/venues/binance.md): WebSocket raw ``/ws/<stream>``, combined
``/stream?streams=a/b`` and SUBSCRIBE/UNSUBSCRIBE; ``<sym>@depth@100ms`` depthUpdate with U/u;
server ping frames; REST ``/api/v3`` depth (weight by limit), exchangeInfo with PRICE_FILTER /
LOT_SIZE / NOTIONAL, account, account/commission, order (POST/GET/DELETE), openOrders.

Signed requests: X-MBX-APIKEY, HMAC-SHA256 hex over query + body (case-insensitive), timestamp
within recvWindow. Every response carries X-MBX-USED-WEIGHT-1M; over the limit -> 429 -1003.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from protocols.signing import hmac_sha256_hex
from protocols.venue import venue_symbol
from simulator.market import Delta
from simulator.matching import Order, Reject
from simulator.venues import binance_wsapi
from simulator.venues.base import (
    ARRIVAL_NS,
    Conn,
    FixedWindow,
    Frame,
    VenueServer,
    now_ms,
    pad8,
    signed_params,
    to_float,
    to_units,
)
from simulator.venues.reference import binance_routes
from simulator.venues.rules import IpBan, too_many_messages

_enc = msgspec.json.Encoder()
STATUS = {"new": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED", "canceled": "CANCELED",
          "expired": "EXPIRED"}
WEIGHTS = {
    "/api/v3/exchangeInfo": 20,
    "/api/v3/account": 20,
    "/api/v3/account/commission": 20,
    ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/openOrders"): 6,
    "/api/v3/myTrades": 20,
    "/api/v3/ticker/24hr": 2,
    "/sapi/v1/capital/config/getall": 10,
}


def depth_weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


class BinanceServer(VenueServer):
    name = "binance"
    ws_path = ""  # clients append /ws/<stream> or /stream?streams=...
    order_path = "/api/v3/order"
    trades_path = "/api/v3/myTrades"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat_s = self.cfg.ws_ping_interval_s
        self.weight = FixedWindow(self.cfg.binance_weight_per_min, 60.0)
        self.ban = IpBan(self.cfg.binance_requests_after_429, self.cfg.binance_ban_s)

    def venue_symbol(self, symbol: str) -> str:
        return venue_symbol(symbol)

    # --- WebSocket ------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        a = "/api/v3"
        return [
            web.get("/ws", self._ws_raw),
            web.get("/ws/{streams:.*}", self._ws_raw),
            web.get("/stream", self._ws_combined),
            web.get("/ws-api/v3", self._ws_api),
            web.get(f"{a}/ping", self._ping),
            web.get(f"{a}/time", self._time),
            web.get(f"{a}/exchangeInfo", self._exchange_info),
            web.get(f"{a}/depth", self._depth),
            web.get(f"{a}/account", self._signed(self._account)),
            web.get(f"{a}/account/commission", self._signed(self._commission)),
            web.post(f"{a}/order", self._signed(self._new_order)),
            web.get(f"{a}/order", self._signed(self._get_order)),
            web.delete(f"{a}/order", self._signed(self._cancel_order)),
            web.get(f"{a}/openOrders", self._signed(self._open_orders)),
            web.delete(f"{a}/openOrders", self._signed(self._cancel_all)),
            *binance_routes(self),
        ]

    async def _ws_raw(self, request: web.Request) -> web.StreamResponse:
        return await self.ws_handler(request, "raw")

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        return await self.ws_handler(request, "combined")

    async def _ws_api(self, request: web.Request) -> web.StreamResponse:
        return await self.ws_handler(request, "wsapi")

    def on_connect(self, conn: Conn, request: web.Request) -> None:
        if conn.style == "wsapi":
            return
        streams = request.match_info.get("streams") or request.query.get("streams", "")
        self._subscribe(conn, [s for s in streams.split("/") if s])

    def _subscribe(self, conn: Conn, streams: list[str], on: bool = True) -> None:
        for stream in streams:
            sym, _, kind = stream.partition("@")
            symbol = self.by_venue_symbol.get(sym.upper())
            if symbol is None or kind not in ("depth", "depth@100ms") or sym != sym.lower():
                continue  # Binance accepts any name; unknown streams simply carry nothing
            if on:
                conn.subs.add(symbol)
                conn.names[symbol] = stream
            else:
                conn.subs.discard(symbol)
                conn.names.pop(symbol, None)

    async def on_text(self, conn: Conn, text: str) -> None:
        if conn.style == "wsapi":
            return await self._ws_api_request(conn, text)
        if too_many_messages(conn, self.cfg.binance_ws_msgs_per_s):
            return self.close_for(conn, "ws_messages_per_s")
        try:
            req = msgspec.json.decode(text)
        except msgspec.DecodeError:
            conn.send(_enc.encode({"code": 3, "msg": "Invalid JSON: expected value", "id": None}).decode())
            return
        rid = req.get("id") if isinstance(req, dict) else None
        method = req.get("method") if isinstance(req, dict) else None
        params = req.get("params", []) if isinstance(req, dict) else []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and isinstance(params, list):
            self._subscribe(conn, [str(p) for p in params], on=method == "SUBSCRIBE")
            reply = {"result": None, "id": rid}
        elif method == "LIST_SUBSCRIPTIONS":
            reply = {"result": sorted(conn.names.values()), "id": rid}
        elif method == "SET_PROPERTY":
            reply = {"result": None, "id": rid}
        else:
            reply = {"code": 2, "msg": "Invalid request: unknown method", "id": rid}
        conn.send(_enc.encode(reply).decode())

    # --- WebSocket API (private.md §1.1, §1.4): binance_wsapi.py ------------------------------
    async def _ws_api_request(self, conn: Conn, text: str) -> None:
        await binance_wsapi.request(self, conn, text)

    def account_frames(self, conn: Conn, assets: list[str], order: Order | None) -> list[Frame]:
        return binance_wsapi.account_frames(self, conn, assets, order)

    def encode(self, symbol: str, delta: Delta, conn: Conn) -> Frame:
        spec = self.books[symbol].spec
        pd, qd = spec.price_decimals, spec.qty_decimals
        data = {
            "e": "depthUpdate",
            "E": now_ms(),
            "s": venue_symbol(symbol),
            "U": delta.first,
            "u": delta.last,
            "b": [[pad8(p, pd), pad8(q, qd)] for p, q in sorted(delta.bids.items(), reverse=True)],
            "a": [[pad8(p, pd), pad8(q, qd)] for p, q in sorted(delta.asks.items())],
        }
        if conn.style == "combined":
            data = {"stream": conn.names.get(symbol, ""), "data": data}
        return _enc.encode(data).decode()

    def malformed(self, conn: Conn) -> Frame:
        symbol = next(iter(conn.subs), "")
        body = f'{{"e":"depthUpdate","E":{now_ms()},"s":"{venue_symbol(symbol) if symbol else ""}","U":'
        if conn.style == "combined":
            return f'{{"stream":"{conn.names.get(symbol, "")}","data":{body}'
        return body  # truncated JSON

    # --- REST plumbing ----------------------------------------------------------------------
    def rate(self, request: web.Request) -> tuple[dict[str, str], float | None]:
        path = request.path
        if path == "/api/v3/depth":
            try:
                w = depth_weight(int(request.query.get("limit", "100")))
            except ValueError:
                w = 5
        elif path == "/api/v3/openOrders" and request.method == "GET" and "symbol" not in request.query:
            w = 80
        elif path == "/api/v3/myTrades" and "orderId" in request.query:
            w = 5  # private.md §1.4: 20, or 5 with orderId
        elif path == "/api/v3/ticker/24hr" and "symbol" not in request.query:
            w = 80  # every market
        else:
            w = WEIGHTS.get((request.method, path), WEIGHTS.get(path, 1))
        banned = self.ban.banned_for()
        if banned is not None:
            return {}, banned
        used, reset = self.weight.hit("ip", w)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        if used <= self.weight.limit:
            self.ban.while_limited = 0
            return headers, None
        return headers, self.ban.over_limit(reset)  # binance.md §3.3: 418 after more requests

    def limited_status(self) -> int:
        return 418 if self.ban.banned_for() is not None else 429

    def error(self, status: int, kind: str, headers: dict[str, str] | None = None) -> web.Response:
        code, msg = {
            "rate": (-1003, f"Too much request weight used; current limit is {self.weight.limit} request weight "
                            "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."),
            "server": (-1001, "Internal error; unable to process your request. Please try again."),
            "timeout": (-1007, "Timeout waiting for response from backend server. Send status unknown; "
                               "execution status unknown."),
        }[kind]
        if status == 418:  # private.md: the WS API's wording of the same ban
            msg = (f"Way too much request weight used; IP banned until {int(self.ban.until * 1000)}. "
                   "Please use WebSocket Streams for live updates to avoid bans.")
        return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)

    @staticmethod
    def _fail(err: BinanceError) -> web.Response:
        return web.json_response({"code": err.code, "msg": err.msg}, status=err.status)

    def _signed(self, handler):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                params = await self._authenticate(request)
                return await handler(request, params)
            except BinanceError as err:
                return self._fail(err)

        return wrapped

    async def _authenticate(self, request: web.Request) -> dict[str, str]:
        params, payload, signature = await signed_params(request)
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        if key != self.credentials.api_key:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if "timestamp" not in params:
            raise BinanceError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        if not signature:
            raise BinanceError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        if signature.lower() != hmac_sha256_hex(self.credentials.secret, payload):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        ts, window = to_float(params["timestamp"]), to_float(params.get("recvWindow", "5000"))
        if ts is None or window is None:
            raise BinanceError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        if window > 60000:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        server = now_ms()
        if ts >= server + 1000:
            raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server - ts > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _symbol(self, params: dict[str, str] | web.Request, required: bool = True) -> str | None:
        sym = params.get("symbol") if isinstance(params, dict) else params.query.get("symbol")
        if not sym:
            if required:
                raise BinanceError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
            return None
        symbol = self.by_venue_symbol.get(sym)
        if symbol is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return symbol

    # --- public REST ----------------------------------------------------------------------
    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": now_ms()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        wanted = list(self.books)
        try:
            if "symbol" in request.query:
                wanted = [self._symbol(request)]  # type: ignore[list-item]
            elif "symbols" in request.query:
                names = msgspec.json.decode(request.query["symbols"])
                wanted = [self._symbol({"symbol": n}) for n in names]  # type: ignore[misc]
        except BinanceError as err:
            return self._fail(err)
        except msgspec.DecodeError:
            return self._fail(BinanceError(-1100, "Illegal characters found in parameter 'symbols'."))
        symbols = []
        for s in wanted:
            spec = self.books[s].spec
            symbols.append({
                "symbol": venue_symbol(s), "status": "BREAK" if s in self.halted else "TRADING",
                "baseAsset": spec.base, "baseAssetPrecision": 8, "quoteAsset": spec.quote,
                "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": False, "cancelReplaceAllowed": True,
                "isSpotTradingAllowed": s not in self.api_closed, "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": pad8(1, spec.price_decimals),
                     "maxPrice": "1000000.00000000", "tickSize": pad8(1, spec.price_decimals)},
                    {"filterType": "LOT_SIZE", "minQty": pad8(1, spec.qty_decimals),
                     "maxQty": "9000.00000000", "stepSize": pad8(1, spec.qty_decimals)},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
                     "maxQty": "9000.00000000", "stepSize": "0.00000000"},
                    {"filterType": "NOTIONAL", "minNotional": f"{self.exchange.min_notional:.8f}",
                     "applyMinToMarket": True, "maxNotional": "9000000.00000000",
                     "applyMaxToMarket": False, "avgPriceMins": 5},
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
            })
        return web.json_response({
            "timezone": "UTC", "serverTime": now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": self.weight.limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            ],
            "exchangeFilters": [], "symbols": symbols,
        })

    async def _depth(self, request: web.Request) -> web.Response:
        try:
            symbol = self._symbol(request)
            limit = min(int(request.query.get("limit", "100")), 5000)
        except BinanceError as err:
            return self._fail(err)
        except ValueError:
            return self._fail(BinanceError(-1100, "Illegal characters found in parameter 'limit'."))
        spec = self.books[symbol].spec  # type: ignore[index]
        seq, bids, asks = self.snapshot(symbol)  # type: ignore[arg-type]
        pd, qd = spec.price_decimals, spec.qty_decimals
        return web.json_response({
            "lastUpdateId": seq,
            "bids": [[pad8(p, pd), pad8(q, qd)] for p, q in sorted(bids.items(), reverse=True)[:limit]],
            "asks": [[pad8(p, pd), pad8(q, qd)] for p, q in sorted(asks.items())[:limit]],
        })

    # --- private REST ---------------------------------------------------------------------
    def _rates(self) -> dict[str, str]:
        fee = f"{self.exchange.fee:.8f}"
        return {"maker": fee, "taker": fee, "buyer": "0.00000000", "seller": "0.00000000"}

    async def _account(self, request: web.Request, params: dict[str, str]) -> web.Response:
        bps = round(self.exchange.fee * 10_000)
        return web.json_response({
            "makerCommission": bps, "takerCommission": bps, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": self._rates(), "canTrade": True, "canWithdraw": True, "canDeposit": True,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": now_ms(), "accountType": "SPOT",
            "balances": [{"asset": a, "free": f"{f:.8f}", "locked": f"{lk:.8f}"}
                         for a, (f, lk) in self.balances.items()],
            "permissions": ["SPOT"], "uid": 354937868,
        })

    async def _commission(self, request: web.Request, params: dict[str, str]) -> web.Response:
        symbol = self._symbol(params)
        zero = {"maker": "0.00000000", "taker": "0.00000000", "buyer": "0.00000000", "seller": "0.00000000"}
        return web.json_response({
            "symbol": venue_symbol(symbol),  # type: ignore[arg-type]
            "standardCommission": self._rates(), "specialCommission": zero, "taxCommission": zero,
            "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB",
                         "discount": "0.75000000"},
        })

    def _order_json(self, o: Order, *, full: bool = False) -> dict:
        spec = self.books[o.symbol].spec
        pd, qd = spec.price_decimals, spec.qty_decimals
        tif = {"ioc": "IOC", "fok": "FOK"}.get(o.kind, "GTC")
        out = {
            "symbol": venue_symbol(o.symbol), "orderId": int(o.order_id), "orderListId": -1,
            "clientOrderId": o.client_id,
            "price": pad8(o.price or 0, pd), "origQty": pad8(o.qty or 0, qd), "executedQty": pad8(o.filled, qd),
            "cummulativeQuoteQty": f"{o.filled_quote:.8f}", "status": STATUS[o.status], "timeInForce": tif,
            "type": {"market": "MARKET", "post_only": "LIMIT_MAKER"}.get(o.kind, "LIMIT"), "side": o.side.upper(),
            "origQuoteOrderQty": f"{o.quote_qty or 0:.8f}", "workingTime": o.created_ms,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if full:
            out["transactTime"] = o.updated_ms
            per = o.fee / o.filled if o.filled else 0.0
            out["fills"] = [
                {"price": pad8(p, pd), "qty": pad8(q, qd), "commission": f"{per * q:.8f}",
                 "commissionAsset": o.fee_asset, "tradeId": i + 1}
                for i, (p, q) in enumerate(o.fills)
            ]
        else:
            out.update({"stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": o.created_ms,
                        "updateTime": o.updated_ms, "isWorking": o.kind in ("limit", "post_only")})
        return out

    async def _new_order(self, request: web.Request, params: dict[str, str]) -> web.Response:
        symbol = self._symbol(params)
        spec = self.books[symbol].spec  # type: ignore[index]
        side, otype, tif = params.get("side", ""), params.get("type", ""), params.get("timeInForce")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        price = qty = None
        quote = None
        if otype in ("LIMIT", "LIMIT_MAKER"):
            if otype == "LIMIT" and tif not in ("GTC", "IOC", "FOK"):
                raise BinanceError(
                    -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")
            if otype == "LIMIT_MAKER" and tif is not None:
                raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
            kind = "post_only" if otype == "LIMIT_MAKER" else {"GTC": "limit", "IOC": "ioc", "FOK": "fok"}[tif or ""]
            price = to_units(params.get("price"), spec.price_decimals)
            qty = to_units(params.get("quantity"), spec.qty_decimals)
            if params.get("price") is None or params.get("quantity") is None:
                raise BinanceError(-1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
            if price is None or price <= 0:
                raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
        elif otype == "MARKET":
            if tif is not None:
                raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
            kind = "market"
            if params.get("quoteOrderQty") is not None:
                quote = to_float(params["quoteOrderQty"])
                if quote is None or quote <= 0:
                    raise BinanceError(-1100, "Illegal characters found in parameter 'quoteOrderQty'.")
            elif params.get("quantity") is not None:
                qty = to_units(params["quantity"], spec.qty_decimals)
            else:
                raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
        else:
            raise BinanceError(-1116, "Invalid orderType.")
        if quote is None and (qty is None or qty <= 0):
            raise BinanceError(-1013, "Filter failure: LOT_SIZE")
        client_id = params.get("newClientOrderId") or f"sim{now_ms()}{len(self.orders)}"
        try:
            order = self.exchange.place(
                symbol=symbol, side="buy" if side == "BUY" else "sell", kind=kind,  # type: ignore[arg-type]
                client_id=client_id, now_ms=now_ms(), price=price, qty=qty, quote_qty=quote,
            )
        except Reject as rej:
            raise BinanceError(*{
                "duplicate_client_id": (-2010, "Duplicate order sent."),
                "insufficient_balance": (-2010, "Account has insufficient balance for requested action."),
                "min_notional": (-1013, "Filter failure: NOTIONAL"),
                "would_take": (-2010, "Order would immediately match and take."),
            }.get(rej.reason, (-2010, rej.reason))) from None
        order.arrival_ns = request[ARRIVAL_NS]
        self.account_changed(self.order_assets(order), order)
        lost = await self.after_execution()
        if lost is not None:
            return lost
        body = self._order_json(order, full=params.get("newOrderRespType", "FULL") != "ACK")
        return web.json_response(body, headers={"X-MBX-ORDER-COUNT-10S": "1", "X-MBX-ORDER-COUNT-1D": "1"})

    def _find(self, params: dict[str, str]) -> Order:
        symbol = self._symbol(params)
        if "origClientOrderId" in params:
            order = self.exchange.orders.get(params["origClientOrderId"])
        elif "orderId" in params:
            order = self.exchange.by_id.get(params["orderId"])
        else:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order is None or order.symbol != symbol:
            raise BinanceError(-2013, "Order does not exist.")
        return order

    async def _get_order(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return web.json_response(self._order_json(self._find(params)))

    async def _cancel_order(self, request: web.Request, params: dict[str, str]) -> web.Response:
        try:
            order = self._find(params)
            self.exchange.cancel(order, now_ms())
        except (BinanceError, Reject):
            raise BinanceError(-2011, "Unknown order sent.") from None
        self.account_changed(self.order_assets(order), order)
        body = self._order_json(order)
        body["origClientOrderId"] = order.client_id
        body["clientOrderId"] = params.get("newClientOrderId") or f"cancel{order.order_id}"
        body["transactTime"] = now_ms()
        return web.json_response(body)

    async def _open_orders(self, request: web.Request, params: dict[str, str]) -> web.Response:
        symbol = self._symbol(params, required=False)
        return web.json_response([self._order_json(o) for o in self.exchange.open_orders(symbol)])

    async def _cancel_all(self, request: web.Request, params: dict[str, str]) -> web.Response:
        symbol = self._symbol(params)
        orders = self.exchange.open_orders(symbol)
        if not orders:
            raise BinanceError(-2011, "Unknown order sent.")
        out = []
        for o in orders:
            self.exchange.cancel(o, now_ms())
            body = self._order_json(o)
            body["origClientOrderId"] = o.client_id
            out.append(body)
        return web.json_response(out)
