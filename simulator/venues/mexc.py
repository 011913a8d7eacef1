"""Simulated MEXC spot v3 (shared/venues/mexc.md): WebSocket ``/ws`` with JSON text control
frames (SUBSCRIPTION / UNSUBSCRIPTION / PING, max 30 subscriptions a connection) and binary
protobuf ``PushDataV3ApiWrapper`` pushes on ``spot@public.aggre.depth.v3.api.pb@(100ms|10ms)@SYM``
(fromVersion/toVersion as strings); REST ``/api/v3`` depth, exchangeInfo (precision fields, no
filters), account, tradeFee, order (POST/GET/DELETE; LIMIT, IMMEDIATE_OR_CANCEL, MARKET with
quantity or quoteOrderQty, LIMIT_MAKER, FILL_OR_KILL; string orderId; no client id -> null),
openOrders (GET/DELETE), myTrades (an order's fills with the commission the matching engine
charged: the only place MEXC reports fees); tickers and the coin list (reference.py).

Signed requests: X-MEXC-APIKEY, lowercase hex HMAC-SHA256 over query + body, timestamp rule
``ts < server + 1000 and server - ts <= recvWindow``; errors ``{"code": 700002, "msg": ...}``.
Rate limit: 500 requests / 10 s per endpoint, 429 with Retry-After.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from protocols.mexc import push_pb2
from protocols.signing import hmac_sha256_hex
from protocols.venue import venue_symbol
from simulator.market import Delta
from simulator.matching import Order, Reject
from simulator.venues import mexc_private
from simulator.venues.base import (
    ARRIVAL_NS,
    Conn,
    FixedWindow,
    Frame,
    VenueServer,
    now_ms,
    signed_params,
    to_float,
    to_units,
)
from simulator.venues.reference import mexc_routes
from simulator.venues.rules import mexc_idle

_enc = msgspec.json.Encoder()
MAX_SUBS = 30
DEPTH = "spot@public.aggre.depth.v3.api.pb"


# wire order type <-> the matching engine's kind (mexc.md §2.5: IOC/FOK are types, no timeInForce)
KINDS = {"LIMIT": "limit", "IMMEDIATE_OR_CANCEL": "ioc", "FILL_OR_KILL": "fok", "LIMIT_MAKER": "post_only",
         "MARKET": "market"}
ORDER_TYPES = {kind: otype for otype, kind in KINDS.items()}


class MexcError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


class MexcServer(VenueServer):
    name = "mexc"
    ws_path = "/ws"
    order_path = "/api/v3/order"
    trades_path = "/api/v3/myTrades"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.window = FixedWindow(500, 10.0)
        self.listen_keys: dict[str, float] = {}  # listenKey -> monotonic expiry (mexc_private.py)

    def venue_symbol(self, symbol: str) -> str:
        return venue_symbol(symbol)

    def routes(self) -> list[web.RouteDef]:
        a = "/api/v3"
        return [
            web.get("/ws", self.ws_handler),
            web.get(f"{a}/ping", self._ping),
            web.get(f"{a}/time", self._time),
            web.get(f"{a}/exchangeInfo", self._exchange_info),
            web.get(f"{a}/depth", self._depth),
            web.get(f"{a}/account", self._signed(self._account)),
            web.get(f"{a}/tradeFee", self._signed(self._trade_fee)),
            web.post(f"{a}/order", self._signed(self._new_order)),
            web.get(f"{a}/order", self._signed(self._get_order)),
            web.delete(f"{a}/order", self._signed(self._cancel_order)),
            web.get(f"{a}/openOrders", self._signed(self._open_orders)),
            web.delete(f"{a}/openOrders", self._signed(self._cancel_all)),
            web.get(f"{a}/myTrades", self._signed(self._my_trades)),
            *mexc_private.routes(self),
            *mexc_routes(self),
        ]

    # --- WebSocket ------------------------------------------------------------------------
    async def watchdog(self, conn: Conn) -> None:
        if conn.style == "private":  # the idle rules of private connections are undocumented (private.md §5)
            return await super().watchdog(conn)
        await mexc_idle(conn, self.cfg.mexc_idle_unsubscribed_s, self.cfg.mexc_idle_no_data_s,
                        lambda rule: self.close_for(conn, rule))

    def _channel_symbol(self, channel: str) -> str | None:
        prefix, _, rest = channel.rpartition("@")
        if prefix not in (f"{DEPTH}@100ms", f"{DEPTH}@10ms"):
            return None
        return self.by_venue_symbol.get(rest)  # uppercase only, as MEXC requires

    async def on_text(self, conn: Conn, text: str) -> None:
        try:
            req = msgspec.json.decode(text)
        except msgspec.DecodeError:
            conn.send(_enc.encode({"id": 0, "code": 0, "msg": "wrong format"}).decode())
            return
        if not isinstance(req, dict):
            req = {}
        rid = req.get("id", 0) if isinstance(req.get("id", 0), int) else 0
        method, params = req.get("method"), req.get("params") or []
        if isinstance(method, str) and method.upper() == "PING":  # ccxt.pro sends "ping": PONG all the same
            conn.send(_enc.encode({"id": rid, "code": 0, "msg": "PONG"}).decode())
            return
        if method == "SUBSCRIPTION" and isinstance(params, list) and mexc_private.subscribe(self, conn, rid, params):
            self.log_request("WS", f"SUBSCRIPTION {params[0]}")
            return
        if method not in ("SUBSCRIPTION", "UNSUBSCRIPTION") or not isinstance(params, list):
            conn.send(_enc.encode({"id": rid, "code": 0, "msg": "wrong format"}).decode())
            return
        done, failed = [], []
        for channel in map(str, params):
            symbol = self._channel_symbol(channel)
            if method == "UNSUBSCRIPTION":
                if symbol is not None:
                    conn.subs.discard(symbol)
                    conn.names.pop(symbol, None)
                done.append(channel)
            elif symbol is None or (symbol not in conn.subs and len(conn.subs) >= MAX_SUBS):
                failed.append(channel)
            else:
                conn.subs.add(symbol)
                conn.names[symbol] = channel
                done.append(channel)
        if done:
            conn.send(_enc.encode({"id": rid, "code": 0, "msg": ",".join(done)}).decode())
        if failed:
            msg = f"Not Subscribed successfully! [{','.join(failed)}].  Reason\uff1a Blocked!"
            conn.send(_enc.encode({"id": rid, "code": 0, "msg": msg}).decode())

    def on_connect(self, conn: Conn, request: web.Request) -> None:
        mexc_private.connect(self, conn, request)

    def account_frames(self, conn: Conn, assets: list[str], order: Order | None) -> list[Frame]:
        return mexc_private.account_frames(self, conn, assets, order)

    def encode(self, symbol: str, delta: Delta, conn: Conn) -> Frame:
        spec = self.books[symbol].spec
        fp, fq = spec.fmt_price, spec.fmt_qty
        channel = conn.names.get(symbol) or f"{DEPTH}@100ms@{venue_symbol(symbol)}"
        item = push_pb2.PublicAggreDepthV3ApiItem
        body = push_pb2.PublicAggreDepthsV3Api(
            asks=[item(price=fp(p), quantity=fq(q)) for p, q in sorted(delta.asks.items())],
            bids=[item(price=fp(p), quantity=fq(q)) for p, q in sorted(delta.bids.items(), reverse=True)],
            eventType=channel.rpartition("@")[0],
            fromVersion=str(delta.first),
            toVersion=str(delta.last),
        )
        t = now_ms()
        wrapper = push_pb2.PushDataV3ApiWrapper(
            channel=channel, publicAggreDepths=body, symbol=venue_symbol(symbol), sendTime=t
        )
        return wrapper.SerializeToString()

    def malformed(self, conn: Conn) -> Frame:
        # field 1 (channel) claims 0x30 bytes but the frame ends first: not parseable protobuf
        return b"\x0a\x30spot@public.aggre.depth"

    # --- REST plumbing ----------------------------------------------------------------------
    def rate(self, request: web.Request) -> tuple[dict[str, str], float | None]:
        used, reset = self.window.hit(f"{request.method} {request.path}", 1)
        return {}, (reset if used > self.window.limit else None)

    def error(self, status: int, kind: str, headers: dict[str, str] | None = None) -> web.Response:
        code, msg = {"rate": (429, "Too Many Requests"), "server": (500, "Internal Server Error"),
                     "timeout": (504, "Gateway Timeout")}[kind]
        return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)

    def _public(self, handler):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except MexcError as err:
                return web.json_response({"code": err.code, "msg": err.msg}, status=err.status)

        return wrapped

    def _signed(self, handler):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                params = await self._authenticate(request)
                return await handler(request, params)
            except MexcError as err:
                return web.json_response({"code": err.code, "msg": err.msg}, status=err.status)

        return wrapped

    async def _authenticate(self, request: web.Request) -> dict[str, str]:
        params, payload, signature = await signed_params(request)
        key = request.headers.get("X-MEXC-APIKEY")
        if not key:
            raise MexcError(400, "api key required")
        if key != self.credentials.api_key:
            raise MexcError(10072, "Api key info invalid")
        if not signature:
            raise MexcError(700004, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        # MEXC: "The signature is support lowercase only" -- no case folding here
        if signature != hmac_sha256_hex(self.credentials.secret, payload):
            raise MexcError(700002, "Signature for this request is not valid.")
        ts, window = to_float(params.get("timestamp")), to_float(params.get("recvWindow", "5000"))
        if ts is None or window is None:
            raise MexcError(700003, "Timestamp for this request is outside of the recvWindow.")
        if window > 60000:
            raise MexcError(700005, "recvWindow must less than 60000")
        server = now_ms()
        if not (ts < server + 1000 and server - ts <= window):
            raise MexcError(700003, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _symbol(self, sym: str | None) -> str:
        if not sym:
            raise MexcError(44444, "param cannot be null")
        symbol = self.by_venue_symbol.get(sym)
        if symbol is None:
            raise MexcError(30014, "Invalid symbol.")
        return symbol

    # --- public REST ----------------------------------------------------------------------
    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": now_ms()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        q = request.query
        names = q["symbols"].split(",") if "symbols" in q else [q["symbol"]] if "symbol" in q else None
        try:
            wanted = [self._symbol(n) for n in names] if names else list(self.books)
        except MexcError as err:
            return web.json_response({"code": err.code, "msg": err.msg}, status=400)
        fee = str(self.exchange.fee)
        symbols = []
        for s in wanted:
            spec = self.books[s].spec
            symbols.append({
                "symbol": venue_symbol(s), "status": "2" if s in self.halted else "1", "baseAsset": spec.base,
                "baseAssetPrecision": spec.qty_decimals, "quoteAsset": spec.quote,
                "quotePrecision": spec.price_decimals, "quoteAssetPrecision": spec.price_decimals,
                "baseCommissionPrecision": spec.qty_decimals, "quoteCommissionPrecision": spec.price_decimals,
                "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],  # as the live listing; IOC/FOK are accepted too
                "isSpotTradingAllowed": s not in self.api_closed, "isMarginTradingAllowed": False,
                "quoteAmountPrecision": f"{self.exchange.min_notional:g}",
                "baseSizePrecision": spec.fmt_qty(1), "permissions": ["SPOT"], "filters": [],
                "maxQuoteAmount": "2000000", "makerCommission": "0", "takerCommission": fee,
                "quoteAmountPrecisionMarket": f"{self.exchange.min_notional:g}",
                "maxQuoteAmountMarket": "100000", "fullName": spec.base, "tradeSideType": 1,
            })
        return web.json_response({"timezone": "CST", "serverTime": now_ms(), "rateLimits": [],
                                  "exchangeFilters": [], "symbols": symbols})

    async def _depth(self, request: web.Request) -> web.Response:
        try:
            symbol = self._symbol(request.query.get("symbol"))
            limit = min(int(request.query.get("limit", "100")), 5000)
        except MexcError as err:
            return web.json_response({"code": err.code, "msg": err.msg}, status=400)
        except ValueError:
            return web.json_response({"code": 33333, "msg": "param is error"}, status=400)
        spec = self.books[symbol].spec
        seq, bids, asks = self.snapshot(symbol)
        fp, fq = spec.fmt_price, spec.fmt_qty
        return web.json_response({
            "lastUpdateId": seq,
            "bids": [[fp(p), fq(q)] for p, q in sorted(bids.items(), reverse=True)[:limit]],
            "asks": [[fp(p), fq(q)] for p, q in sorted(asks.items())[:limit]],
            "timestamp": now_ms(),  # the live venue adds it (shared/data/captures/MEXC.rest.json)
        })

    # --- private REST ---------------------------------------------------------------------
    async def _account(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return web.json_response({
            "makerCommission": None, "takerCommission": None, "buyerCommission": None, "sellerCommission": None,
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "updateTime": None, "accountType": "SPOT",
            "balances": [{"asset": a, "free": f"{f:.8f}", "locked": f"{lk:.8f}"}
                         for a, (f, lk) in self.balances.items()],
            "permissions": ["SPOT"],
        })

    async def _trade_fee(self, request: web.Request, params: dict[str, str]) -> web.Response:
        self._symbol(params.get("symbol"))
        return web.json_response({"data": {"makerCommission": 0.0, "takerCommission": self.exchange.fee},
                                  "code": 0, "msg": "success", "timestamp": now_ms()})

    def _status(self, o: Order) -> str:
        if o.status == "expired":
            return "PARTIALLY_CANCELED" if o.filled else "CANCELED"
        if o.status == "canceled" and o.filled:
            return "PARTIALLY_CANCELED"
        return o.status.upper()

    def _order_json(self, o: Order) -> dict:
        spec = self.books[o.symbol].spec
        otype = ORDER_TYPES[o.kind]
        return {
            "symbol": venue_symbol(o.symbol), "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id,
            "price": spec.fmt_price(o.price or 0), "origQty": spec.fmt_qty(o.qty or 0),
            "executedQty": spec.fmt_qty(o.filled), "cummulativeQuoteQty": f"{o.filled_quote:.8f}",
            "status": self._status(o), "timeInForce": None, "type": otype, "side": o.side.upper(),
            "stopPrice": None, "icebergQty": None, "time": o.created_ms, "updateTime": o.updated_ms,
            "isWorking": True, "origQuoteOrderQty": f"{o.quote_qty or 0:.8f}",
        }

    async def _new_order(self, request: web.Request, params: dict[str, str]) -> web.Response:
        symbol = self._symbol(params.get("symbol"))
        spec = self.books[symbol].spec
        side, otype = params.get("side"), params.get("type")
        if side not in ("BUY", "SELL") or otype not in KINDS:
            raise MexcError(33333, "param is error")
        price = qty = None
        quote = None
        if otype == "MARKET":
            if params.get("quoteOrderQty"):
                quote = to_float(params["quoteOrderQty"])
                if quote is None or quote <= 0:
                    raise MexcError(33333, "param is error")
            elif params.get("quantity"):
                qty = to_units(params["quantity"], spec.qty_decimals)
            else:
                raise MexcError(44444, "param cannot be null")
        else:
            if not params.get("price") or not params.get("quantity"):
                raise MexcError(44444, "param cannot be null")
            price = to_units(params["price"], spec.price_decimals)
            qty = to_units(params["quantity"], spec.qty_decimals)
            if price is None or price <= 0:
                raise MexcError(33333, "param is error")
        if quote is None and (qty is None or qty <= 0):
            raise MexcError(33333, "param is error")
        kind = KINDS[otype]
        client_id = params.get("newClientOrderId") or None  # the venue reports null, invents none
        try:
            order = self.exchange.place(
                symbol=symbol, side="buy" if side == "BUY" else "sell", kind=kind,  # type: ignore[arg-type]
                client_id=client_id, now_ms=now_ms(), price=price, qty=qty, quote_qty=quote,
            )
        except Reject as rej:
            raise MexcError(*{
                # Assumption: MEXC documents no code for a reused newClientOrderId; 33333 is its
                # documented generic "param is error".
                "duplicate_client_id": (33333, "Duplicate newClientOrderId"),
                "insufficient_balance": (10101, "Insufficient balance"),
                "min_notional": (30002, f"The minimum transaction volume cannot be less than:"
                                        f"{self.exchange.min_notional:g}{spec.quote}"),
                # Assumption: MEXC documents no code for a LIMIT_MAKER that would take; its v3
                # API follows Binance's codes (-2011, -2013), so Binance's -2010 and text.
                "would_take": (-2010, "Order would immediately match and take."),
            }.get(rej.reason, (33333, rej.reason))) from None
        order.arrival_ns = request[ARRIVAL_NS]
        self.account_changed(self.order_assets(order), order)
        lost = await self.after_execution()
        if lost is not None:
            return lost
        return web.json_response({
            "symbol": venue_symbol(symbol), "orderId": order.order_id, "orderListId": -1,
            "price": params.get("price", "0"), "origQty": params.get("quantity", "0"),
            "type": otype, "side": side, "transactTime": order.created_ms,
        })

    async def _my_trades(self, request: web.Request, params: dict[str, str]) -> web.Response:
        """``GET /api/v3/myTrades?symbol=&orderId=&limit=``: fills, oldest first, at most
        ``limit`` (default 100, max 100); per fill the fee the matching engine charged
        (``Exchange._fill``: the fee rate on what was received, in the received asset)."""
        symbol = self._symbol(params.get("symbol"))
        try:
            limit = min(int(params.get("limit", "100")), 100)
        except ValueError:
            raise MexcError(33333, "param is error") from None
        spec = self.books[symbol].spec
        order_id = params.get("orderId")
        rows = []
        for o in self.exchange.by_id.values():
            if o.symbol != symbol or (order_id and o.order_id != order_id):
                continue
            for i, (p, q) in enumerate(o.fills):
                base_qty, value = q * spec.step, p * spec.tick * q * spec.step
                rows.append({
                    "symbol": venue_symbol(symbol), "id": f"{o.order_id}{i:04d}", "orderId": o.order_id,
                    "orderListId": -1, "price": spec.fmt_price(p), "qty": spec.fmt_qty(q), "quoteQty": f"{value:.8f}",
                    "commission": f"{(base_qty if o.side == 'buy' else value) * self.exchange.fee:.12f}",
                    "commissionAsset": o.fee_asset, "time": o.updated_ms, "isBuyer": o.side == "buy",
                    "isMaker": False, "isBestMatch": True, "isSelfTrade": False, "clientOrderId": o.client_id,
                })
        return web.json_response(rows[-limit:])

    def _find(self, params: dict[str, str]) -> Order:
        symbol = self._symbol(params.get("symbol"))
        if params.get("origClientOrderId"):
            order = self.exchange.orders.get(params["origClientOrderId"])
        elif params.get("orderId"):
            order = self.exchange.by_id.get(params["orderId"])
        else:
            raise MexcError(700004, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null")
        if order is None or order.symbol != symbol:  # the live venue's answer, shared/data/captures/MEXC.rest.json
            raise MexcError(-2013, "Order does not exist.")
        return order

    async def _get_order(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return web.json_response(self._order_json(self._find(params)))

    async def _cancel_order(self, request: web.Request, params: dict[str, str]) -> web.Response:
        order = self._find(params)
        try:
            self.exchange.cancel(order, now_ms())
        except Reject:
            raise MexcError(-2011, "Unknown order sent.") from None
        self.account_changed(self.order_assets(order), order)
        body = self._order_json(order)
        body["origClientOrderId"] = order.client_id
        return web.json_response(body)

    async def _open_orders(self, request: web.Request, params: dict[str, str]) -> web.Response:
        symbol = self._symbol(params.get("symbol"))
        return web.json_response([self._order_json(o) for o in self.exchange.open_orders(symbol)])

    async def _cancel_all(self, request: web.Request, params: dict[str, str]) -> web.Response:
        symbol = self._symbol(params.get("symbol"))
        out = []
        for o in self.exchange.open_orders(symbol):
            self.exchange.cancel(o, now_ms())
            body = self._order_json(o)
            body["origClientOrderId"] = o.client_id
            out.append(body)
        return web.json_response(out)
