"""Simulated Gate.io spot v4 (shared/venues/gateio.md): WebSocket ``/ws/v4/`` with
``{"time","channel","event","payload"}`` requests, ``spot.ping`` -> ``spot.pong``,
``spot.order_book_update`` pushes with U/u and, every ``gate_full_every`` pushes, a
``full: true`` push holding the whole book; ``spot.obu`` ``ob.PAIR.50|400`` (gate_obu.py); REST
``/api/v4/spot`` order_book (``with_id``), currency_pairs, fee, accounts, orders (POST/GET/DELETE, by
id or ``t-`` text), open_orders; the WebSocket API (``event: "api"``, gateio_wsapi.py).

Signed requests: KEY / Timestamp (seconds, within 60 s) / SIGN = HMAC-SHA512 per §4.5 (path with
/api/v4, raw query, SHA-512 of the body). Errors ``{"label": ..., "message": ...}``.
Rate limits: 200 requests / 10 s per endpoint, order placement 10 / s; X-Gate-RateLimit-* headers.
Assumption: a reused ``text`` is rejected with INVALID_PARAM_VALUE (Gate documents no
duplicate-text error; Arbor relies on client ids being unique per venue).
"""

from __future__ import annotations

import re
import time

import msgspec
from aiohttp import web

from protocols.signing import gate_sign, gate_ws_channel_sign
from protocols.venue import venue_symbol
from simulator.market import Delta
from simulator.matching import Kind, Order, Reject
from simulator.venues import gateio_wsapi
from simulator.venues.base import ARRIVAL_NS, Conn, FixedWindow, Frame, VenueServer, now_ms, to_float, to_units
from simulator.venues.gate_obu import CHANNEL as OBU
from simulator.venues.gate_obu import ObuViews, parse_stream
from simulator.venues.reference import gate_fee_fields, gate_routes

_enc = msgspec.json.Encoder()
TEXT_RE = re.compile(r"^t-[0-9A-Za-z_.\-]{1,28}$")
CHANNEL = "spot.order_book_update"
PRIVATE = ("spot.balances", "spot.orders", "spot.usertrades")  # private.md §2.1-2.4; balances pushed here
TIME_IN_FORCE: dict[str, Kind] = {"gtc": "limit", "ioc": "ioc", "fok": "fok", "poc": "post_only"}  # -> engine kind
ORDER_TIF = {**{kind: tif for tif, kind in TIME_IN_FORCE.items()}, "market": "ioc"}


class GateError(Exception):
    def __init__(self, label: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.label, self.message, self.status = label, message, status


class GateServer(VenueServer):
    name = "gateio"
    ws_path = "/ws/v4/"
    order_path = "/api/v4/spot/orders"
    trades_path = "/api/v4/spot/my_trades"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat_s = self.cfg.ws_ping_interval_s
        self.window = FixedWindow(200, 10.0)
        self.order_window = FixedWindow(10, 1.0)
        self._pushes: dict[str, int] = {}
        self.obu = ObuViews(self.books)
        self.ws_api_logins: set[Conn] = set()  # connections logged in to the WebSocket API (spot.login)
        # "pay fees with GT" (SimConfig.fee_assets {"gateio": "GT"}): an order whose whole fee the
        # account's GT covers, at the GT/<quote> book, is charged in GT and reported in gt_fee
        if self.exchange.fee_asset not in (None, "GT"):
            raise ValueError(f"gateio fee asset {self.exchange.fee_asset!r}: Gate deducts fees only in GT")
        self.gt_discount = self.exchange.fee_asset == "GT"

    def venue_symbol(self, symbol: str) -> str:
        return venue_symbol(symbol, "_")

    def routes(self) -> list[web.RouteDef]:
        a = "/api/v4/spot"
        return [
            web.get("/ws/v4/", self.ws_handler),
            web.get(f"{a}/time", self._time),
            web.get(f"{a}/order_book", self._order_book),
            web.get(f"{a}/currency_pairs", self._pairs),
            web.get(f"{a}/currency_pairs/{{pair}}", self._pairs),
            web.get(f"{a}/fee", self._signed(self._fee)),
            web.get("/api/v4/wallet/fee", self._signed(self._fee)),  # the same TradeFee model
            web.get(f"{a}/accounts", self._signed(self._accounts)),
            web.post(f"{a}/orders", self._signed(self._new_order)),
            web.get(f"{a}/orders", self._signed(self._list_orders)),
            web.get(f"{a}/orders/{{order_id}}", self._signed(self._get_order)),
            web.delete(f"{a}/orders/{{order_id}}", self._signed(self._cancel_order)),
            web.delete(f"{a}/orders", self._signed(self._cancel_all)),
            web.get(f"{a}/open_orders", self._signed(self._open_orders)),
            *gate_routes(self),
        ]

    # --- WebSocket ------------------------------------------------------------------------
    def _reply(self, conn: Conn, req: dict, *, channel: str, event: str, error: dict | None, result) -> None:
        t = now_ms()
        out = {"time": t // 1000, "time_ms": t, "channel": channel, "event": event, "error": error, "result": result}
        if "id" in req:
            out["id"] = req["id"]
        conn.send(_enc.encode(out).decode())

    async def on_text(self, conn: Conn, text: str) -> None:
        try:
            req = msgspec.json.decode(text)
            if not isinstance(req, dict):
                raise msgspec.DecodeError("not an object")
        except msgspec.DecodeError:
            self._reply(conn, {}, channel="", event="", error={"code": 1, "message": "Invalid request body format"},
                        result=None)
            return
        channel, event, payload = req.get("channel", ""), req.get("event", ""), req.get("payload")
        if event == "api":  # the WebSocket API (order entry): gateio_wsapi.py
            await gateio_wsapi.request(self, conn, req)
            return
        if channel == "spot.ping":
            self._reply(conn, req, channel="spot.pong", event="", error=None, result=None)
            return
        ts = req.get("time")
        if not isinstance(ts, int) or abs(ts - time.time()) > 60:
            self._reply(conn, req, channel=channel, event=event,
                        error={"code": 2, "message": "Invalid argument provided: time"}, result=None)
            return
        if channel in PRIVATE and event in ("subscribe", "unsubscribe"):
            self.log_request("WS", f"{event} {channel}")
            return self._private_subscribe(conn, req, channel, event, ts)
        if channel not in (CHANNEL, OBU) or event not in ("subscribe", "unsubscribe"):
            self._reply(conn, req, channel=channel, event=event,
                        error={"code": 2, "message": f"unknown channel {channel}"}, result=None)
            return
        if channel == OBU:
            error, result, first = self.obu.request(conn, event, payload, self.by_venue_symbol)
            self._reply(conn, req, channel=OBU, event=event, error=error, result=result)
            if first is not None:
                conn.send(first)
            return
        if not isinstance(payload, list) or len(payload) != 2 or payload[1] != "100ms":
            self._reply(conn, req, channel=channel, event=event,
                        error={"code": 2, "message": "Invalid argument provided: payload"}, result=None)
            return
        symbol = self.by_venue_symbol.get(str(payload[0]))
        if symbol is None:
            self._reply(conn, req, channel=channel, event=event,
                        error={"code": 2, "message": f"unknown currency pair {payload[0]}"}, result=None)
            return
        if event == "subscribe":
            conn.subs.add(symbol)
            conn.names[symbol] = CHANNEL
        else:
            conn.subs.discard(symbol)
            conn.names.pop(symbol, None)
        self._reply(conn, req, channel=channel, event=event, error=None, result={"status": "success"})

    def _private_subscribe(self, conn: Conn, req: dict, channel: str, event: str, ts: int) -> None:
        auth = req.get("auth")
        sign = gate_ws_channel_sign(self.credentials.secret, channel, event, ts)
        if (not isinstance(auth, dict) or auth.get("method") != "api_key" or auth.get("KEY") != self.credentials.api_key
                or str(auth.get("SIGN", "")).lower() != sign):
            self._reply(conn, req, channel=channel, event=event,
                        error={"code": 4, "message": "Authentication failed"}, result=None)
            return
        channels: set[str] = self.private.setdefault(conn, set())  # type: ignore[assignment]
        if event == "subscribe":
            channels.add(channel)
        else:
            channels.discard(channel)
        self._reply(conn, req, channel=channel, event=event, error=None, result={"status": "success"})

    def account_frames(self, conn: Conn, assets: list[str], order: Order | None) -> list[Frame]:
        """``spot.orders`` (the order's state, private.md §2.2: no ``status``; ``event`` put /
        update / finish with ``finish_as``; times as strings) then ``spot.balances``, for the
        channels ``conn`` subscribed."""
        channels = self.private.get(conn, ())
        t = now_ms()
        out: list[Frame] = []
        if order is not None and "spot.orders" in channels:  # type: ignore[operator]
            row = self._order_json(order)
            row.pop("status")
            row["event"] = "finish" if not order.is_open else "update" if order.filled else "put"
            row["create_time_ms"], row["update_time_ms"] = str(order.created_ms), str(order.updated_ms)
            row.update({"user": 1000001, "stp_id": 0, "stp_act": "-", "biz_info": "-"})
            out.append(_enc.encode({"time": t // 1000, "time_ms": t, "channel": "spot.orders", "event": "update",
                                    "result": [row]}).decode())
        if "spot.balances" in channels:  # type: ignore[operator]
            bal = self.exchange.balances
            rows = [{"timestamp": str(t // 1000), "timestamp_ms": str(t), "user": "1000001", "currency": a,
                     "change": "0", "total": f"{bal[a][0] + bal[a][1]:.8f}", "available": f"{bal[a][0]:.8f}",
                     "freeze": f"{bal[a][1]:.8f}", "freeze_change": "0",
                     "change_type": "other" if order is None else "order-match"} for a in assets if a in bal]
            out.append(_enc.encode({"time": t // 1000, "time_ms": t, "channel": "spot.balances", "event": "update",
                                    "result": rows}).decode())
        return out

    def prepare_delta(self, symbol: str, delta: Delta) -> Delta:
        n = self._pushes[symbol] = self._pushes.get(symbol, 0) + 1
        every = self.cfg.gate_full_every
        if every and n % every == 0:
            return self.books[symbol].full_delta(delta)
        return delta

    def frame_key(self, symbol: str, conn: Conn) -> tuple[object, ...]:
        if conn.names.get(symbol, "").startswith("ob."):
            return symbol, conn  # each spot.obu subscription follows its own view
        return super().frame_key(symbol, conn)

    def on_disconnect(self, conn: Conn) -> None:
        self.obu.drop(conn)
        self.ws_api_logins.discard(conn)

    def encode(self, symbol: str, delta: Delta, conn: Conn) -> Frame | None:
        stream = conn.names.get(symbol, "")
        if stream.startswith("ob."):
            return self.obu.push(conn, symbol, parse_stream(stream)[1], stream, delta)  # type: ignore[index]
        spec = self.books[symbol].spec
        fp, fq = spec.fmt_price, spec.fmt_qty
        t = now_ms()
        result = {
            "t": t, "e": "depthUpdate", "E": t // 1000, "s": venue_symbol(symbol, "_"),
            "U": delta.first, "u": delta.last,
            "b": [[fp(p), fq(q)] for p, q in sorted(delta.bids.items(), reverse=True) if q or not delta.full],
            "a": [[fp(p), fq(q)] for p, q in sorted(delta.asks.items()) if q or not delta.full],
        }
        if delta.full:
            result["full"] = True
        msg = {"time": t // 1000, "time_ms": t, "channel": CHANNEL, "event": "update", "result": result}
        return _enc.encode(msg).decode()

    def malformed(self, conn: Conn) -> Frame:
        symbol = next(iter(conn.subs), "")
        t = now_ms()
        # wrong field types: U is not an int, b is not a list of levels
        return _enc.encode({"time": t // 1000, "time_ms": t, "channel": CHANNEL, "event": "update",
                            "result": {"t": t, "s": venue_symbol(symbol, "_") if symbol else "", "U": "oops",
                                       "u": None, "b": "x", "a": [["1"]]}}).decode()

    # --- REST plumbing ----------------------------------------------------------------------
    def rate(self, request: web.Request) -> tuple[dict[str, str], float | None]:
        placing = request.method == "POST" and request.path == "/api/v4/spot/orders"
        win = self.order_window if placing else self.window
        used, reset = win.hit(f"{request.method} {request.path}", 1)
        headers = {
            "X-Gate-RateLimit-Requests-Remain": str(max(0, win.limit - used)),
            "X-Gate-RateLimit-Limit": str(win.limit),
            "X-Gate-RateLimit-Reset-Timestamp": str(int((time.time() + reset) * 1000)),
        }
        return headers, (reset if used > win.limit else None)

    def error(self, status: int, kind: str, headers: dict[str, str] | None = None) -> web.Response:
        label, message = {"rate": ("TOO_MANY_REQUESTS", "Request Rate limit Exceeded"),
                          "server": ("SERVER_ERROR", "Internal server error"),
                          "timeout": ("SERVER_ERROR", "Request timed out")}[kind]
        return web.json_response({"label": label, "message": message}, status=status, headers=headers)

    def _signed(self, handler):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                body = await request.text() if request.can_read_body else ""
                self._authenticate(request, body)
                return await handler(request, body)
            except GateError as err:
                return web.json_response({"label": err.label, "message": err.message}, status=err.status)

        return wrapped

    def _authenticate(self, request: web.Request, body: str) -> None:
        h = request.headers
        for name in ("KEY", "Timestamp", "SIGN"):
            if not h.get(name):
                raise GateError("MISSING_REQUIRED_HEADER", f"Missing required header: {name}", 401)
        if h["KEY"] != self.credentials.api_key:
            raise GateError("INVALID_KEY", "Invalid key provided", 401)
        expected = gate_sign(self.credentials.secret, request.method, request.path,
                             request.rel_url.raw_query_string, body, h["Timestamp"])
        if h["SIGN"].lower() != expected:
            raise GateError("INVALID_SIGNATURE", "Signature mismatch", 401)
        ts = to_float(h["Timestamp"])
        if ts is None or abs(time.time() - ts) > 60:
            raise GateError("REQUEST_EXPIRED", "gap between request Timestamp and server time exceeds 60", 401)

    def _pair(self, pair: str | None) -> str:
        if not pair:
            raise GateError("MISSING_REQUIRED_PARAM", "Missing required parameter: currency_pair")
        symbol = self.by_venue_symbol.get(pair)
        if symbol is None:
            raise GateError("INVALID_CURRENCY_PAIR", f"Invalid currency pair: {pair}")
        return symbol

    # --- public REST ----------------------------------------------------------------------
    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"server_time": now_ms()})

    async def _order_book(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            symbol = self._pair(q.get("currency_pair"))
            limit = int(q.get("limit", "10"))
        except GateError as err:
            return web.json_response({"label": err.label, "message": err.message}, status=err.status)
        except ValueError:
            return web.json_response({"label": "INVALID_PARAM_VALUE", "message": "Invalid parameter `limit`"},
                                     status=400)
        spec = self.books[symbol].spec
        seq, bids, asks = self.snapshot(symbol)
        fp, fq = spec.fmt_price, spec.fmt_qty
        t = now_ms()
        out: dict = {"current": t, "update": t}
        if q.get("with_id", "false").lower() == "true":
            out = {"id": seq, **out}
        out["asks"] = [[fp(p), fq(qq)] for p, qq in sorted(asks.items())[:limit]]
        out["bids"] = [[fp(p), fq(qq)] for p, qq in sorted(bids.items(), reverse=True)[:limit]]
        return web.json_response(out)

    def _pair_json(self, symbol: str) -> dict:
        spec = self.books[symbol].spec
        return {
            "id": venue_symbol(symbol, "_"), "base": spec.base, "base_name": spec.base, "quote": spec.quote,
            "quote_name": spec.quote, "fee": f"{self.exchange.fee * 100:g}",
            "min_base_amount": spec.fmt_qty(1), "min_quote_amount": f"{self.exchange.min_notional:g}",
            "max_base_amount": "", "max_quote_amount": "5000000",
            "amount_precision": spec.qty_decimals, "precision": spec.price_decimals,
            "trade_status": "tradable" if self.open_to_api(symbol) else "untradable",
            "sell_start": 0, "buy_start": 0, "delisting_time": 0,
            "type": "normal", "trade_url": "", "st_tag": False,
        }

    async def _pairs(self, request: web.Request) -> web.Response:
        pair = request.match_info.get("pair")
        if pair is None:
            return web.json_response([self._pair_json(s) for s in self.books])
        try:
            return web.json_response(self._pair_json(self._pair(pair)))
        except GateError as err:
            return web.json_response({"label": err.label, "message": err.message}, status=err.status)

    # --- private REST ---------------------------------------------------------------------
    async def _fee(self, request: web.Request, body: str) -> web.Response:
        fee = f"{self.exchange.fee:g}"
        gt = fee if self.gt_discount else "0"  # the GT discount itself is not modelled
        return web.json_response({
            "user_id": 10001, "taker_fee": fee, "maker_fee": fee, "gt_discount": self.gt_discount,
            "gt_taker_fee": gt, "gt_maker_fee": gt, "loan_fee": "0.18", "point_type": "1",
            "currency_pair": request.query.get("currency_pair", ""), "debit_fee": 3,
        })

    async def _accounts(self, request: web.Request, body: str) -> web.Response:
        cur = request.query.get("currency")
        return web.json_response([
            {"currency": a, "available": f"{f:.8f}", "locked": f"{lk:.8f}", "update_id": 1}
            for a, (f, lk) in self.balances.items() if cur is None or cur == a
        ])

    def _order_json(self, o: Order) -> dict:
        spec = self.books[o.symbol].spec
        if o.status in ("new", "partially_filled"):
            status, finish = "open", "open"
        elif o.status == "filled":
            status, finish = "closed", "filled"
        else:
            expired_as = "fok" if o.kind == "fok" else "ioc"
            status, finish = "cancelled", expired_as if o.status == "expired" else "cancelled"
        amount = spec.fmt_qty(o.qty) if o.qty is not None else f"{o.quote_qty:g}"
        left = (spec.fmt_qty(o.qty - o.filled) if o.qty is not None
                else f"{max(0.0, (o.quote_qty or 0) - o.filled_quote):.8f}")
        avg = o.filled_quote / (o.filled * spec.step) if o.filled else 0.0
        return {
            "id": o.order_id, "text": o.client_id or "apiv4", "amend_text": "-",
            "create_time": str(o.created_ms // 1000), "update_time": str(o.updated_ms // 1000),
            "create_time_ms": o.created_ms, "update_time_ms": o.updated_ms, "status": status,
            "currency_pair": venue_symbol(o.symbol, "_"), "type": "market" if o.kind == "market" else "limit",
            "account": "spot", "side": o.side, "amount": amount,
            "price": spec.fmt_price(o.price) if o.price is not None else "0",
            "time_in_force": ORDER_TIF[o.kind], "iceberg": "0", "left": left,
            "filled_amount": spec.fmt_qty(o.filled), "fill_price": f"{o.filled_quote:.8f}",
            "filled_total": f"{o.filled_quote:.8f}", "avg_deal_price": f"{avg:.8f}",
            **gate_fee_fields(o, o.fee, spec.base if o.side == "buy" else spec.quote),
            "gt_maker_fee": "0", "gt_taker_fee": "0", "gt_discount": o.fee_rate is not None, "rebated_fee": "0",
            "rebated_fee_currency": spec.quote, "finish_as": finish,
        }

    async def _new_order(self, request: web.Request, body: str) -> web.Response:
        try:
            req = msgspec.json.decode(body or "{}")
            if not isinstance(req, dict):
                raise msgspec.DecodeError("not an object")
        except msgspec.DecodeError:
            raise GateError("INVALID_REQUEST_BODY", "Invalid request body") from None
        order = self.place(req, request[ARRIVAL_NS])
        lost = await self.after_execution()
        if lost is not None:
            return lost
        return web.json_response(self._order_json(order), status=201)

    def place(self, req: dict, arrival_ns: int) -> Order:
        """One new order (REST ``POST /spot/orders`` body or WS API ``req_param``): checked,
        executed and pushed; raises ``GateError``."""
        symbol = self._pair(req.get("currency_pair"))
        spec = self.books[symbol].spec
        side, otype, tif = req.get("side"), req.get("type", "limit"), req.get("time_in_force", "gtc")
        text = req.get("text") or None  # none given: the venue reports "apiv4" (GATEIO.rest.ccxt.json)
        if text is not None and (not isinstance(text, str) or not TEXT_RE.match(text)):
            raise GateError("INVALID_PARAM_VALUE", f"Invalid parameter `text` with value: {text}")
        if side not in ("buy", "sell"):
            raise GateError("INVALID_PARAM_VALUE", f"Invalid parameter `side` with value: {side}")
        if otype not in ("limit", "market") or tif not in TIME_IN_FORCE:
            raise GateError("INVALID_PARAM_VALUE", f"Invalid parameter `time_in_force` with value: {tif}")
        price = qty = None
        quote = None
        amount = str(req.get("amount", ""))
        kind: Kind
        if otype == "market":
            if tif != "ioc":
                raise GateError("INVALID_PARAM_VALUE", "Invalid parameter `time_in_force` with value: gtc")
            if side == "buy":  # a market buy's amount is in quote currency
                quote = to_float(amount)
                if quote is None or quote <= 0:
                    raise GateError("INVALID_PARAM_VALUE", f"Invalid parameter `amount` with value: {amount}")
            else:
                qty = to_units(amount, spec.qty_decimals)
            kind = "market"
        else:
            price = to_units(str(req.get("price", "")), spec.price_decimals)
            qty = to_units(amount, spec.qty_decimals)
            if price is None or price <= 0:
                raise GateError("INVALID_PRECISION", f"Invalid price precision: {req.get('price')}")
            kind = TIME_IN_FORCE[tif]
        if quote is None and (qty is None or qty <= 0):
            raise GateError("INVALID_PRECISION", f"Invalid amount precision: {amount}")
        try:
            order = self.exchange.place(symbol=symbol, side=side, kind=kind, client_id=text, now_ms=now_ms(),
                                        price=price, qty=qty, quote_qty=quote)
        except Reject as rej:
            raise GateError(*{
                "duplicate_client_id": ("INVALID_PARAM_VALUE",
                                        f"Invalid parameter `text` with value: {text} (duplicate)"),
                "insufficient_balance": ("BALANCE_NOT_ENOUGH", "Not enough balance"),
                # the label is gateio.md §4.4's; the message text is an assumption
                "would_take": ("POC_FILL_IMMEDIATELY", "Order would match and take immediately so it's cancelled"),
                "min_notional": ("INVALID_PARAM_VALUE", "Your order size is too small. The minimum is "
                                 f"{self.exchange.min_notional:g} {spec.quote}"),
            }.get(rej.reason, ("INVALID_PARAM_VALUE", rej.reason))) from None
        order.arrival_ns = arrival_ns
        self.account_changed(self.order_assets(order), order)
        return order

    def find(self, pair: str | None, oid: str) -> Order:
        """An order by id or ``t-`` text on ``pair``; raises ``GateError`` ORDER_NOT_FOUND."""
        symbol = self._pair(pair)
        order = self.exchange.orders.get(oid) if oid.startswith("t-") else self.exchange.by_id.get(oid)
        if order is None or order.symbol != symbol:
            raise GateError("ORDER_NOT_FOUND", "Order not found", 404)
        return order

    def cancel(self, order: Order) -> None:
        """Cancel an open order (pushed); raises ``GateError`` for a finished one."""
        if not order.is_open:
            label = "ORDER_CLOSED" if order.status == "filled" else "ORDER_CANCELLED"
            raise GateError(label, "Order closed" if label == "ORDER_CLOSED" else "Order cancelled")
        self.exchange.cancel(order, now_ms())
        self.account_changed(self.order_assets(order), order)

    def _find(self, request: web.Request) -> Order:
        return self.find(request.query.get("currency_pair"), request.match_info["order_id"])

    async def _get_order(self, request: web.Request, body: str) -> web.Response:
        return web.json_response(self._order_json(self._find(request)))

    async def _cancel_order(self, request: web.Request, body: str) -> web.Response:
        order = self._find(request)
        self.cancel(order)
        return web.json_response(self._order_json(order))

    async def _list_orders(self, request: web.Request, body: str) -> web.Response:
        symbol = self._pair(request.query.get("currency_pair"))
        status = request.query.get("status", "open")
        orders = [o for o in self.exchange.by_id.values() if o.symbol == symbol and (o.is_open == (status == "open"))]
        return web.json_response([self._order_json(o) for o in orders])

    async def _cancel_all(self, request: web.Request, body: str) -> web.Response:
        symbol = self._pair(request.query.get("currency_pair"))
        out = []
        for o in self.exchange.open_orders(symbol):
            self.exchange.cancel(o, now_ms())
            out.append(self._order_json(o))
        return web.json_response(out)

    async def _open_orders(self, request: web.Request, body: str) -> web.Response:
        out = []
        for symbol in self.books:
            orders = self.exchange.open_orders(symbol)
            if orders:
                out.append({"currency_pair": venue_symbol(symbol, "_"), "total": len(orders),
                            "orders": [self._order_json(o) for o in orders]})
        return web.json_response(out)
