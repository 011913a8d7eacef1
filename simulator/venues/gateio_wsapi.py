"""Simulated Gate.io WebSocket API on ``/ws/v4/`` (shared/venues/private.md §2.5): requests
``{"time","channel","event":"api","payload":{"req_id","req_param",...}}``; ``spot.login``
(HMAC-SHA512 of ``api\\nspot.login\\n\\n<timestamp>``) once per connection, then
``spot.order_place`` (an ``ack`` first, then the result), ``spot.order_status`` and
``spot.order_cancel`` (``order_id`` = the order id or its ``t-`` text). Replies
``{"request_id","header":{"status":"200",...},"data":{"result"|"errs"}}``. Order placement
shares the REST order window (10/s). Faults: ``ws_api_drop`` executes the order, sends the ack,
and closes the connection before the result; ``order_latency``/``order_unknown`` hold or
replace the result as they do a REST answer.

Assumption (undocumented): a request before ``spot.login`` is answered ``status "401"`` with
``INVALID_KEY``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec

from protocols.signing import gate_ws_api_sign
from simulator.venues.base import Conn, now_ms

if TYPE_CHECKING:
    from simulator.venues.gateio import GateServer

_enc = msgspec.json.Encoder()
ORDERS = ("spot.order_place", "spot.order_status", "spot.order_cancel")


def _header(conn: Conn, channel: str, status: str, arrival_ns: int) -> dict:
    return {"response_time": str(now_ms()), "status": status, "channel": channel, "event": "api",
            "client_id": "127.0.0.1", "x_in_time": arrival_ns // 1000, "x_out_time": time.time_ns() // 1000,
            "conn_id": f"{id(conn):x}", "conn_trace_id": "sim", "trace_id": "sim"}


def _send(conn: Conn, rid: object, channel: str, arrival_ns: int, *, result: object = None,
          errs: dict | None = None, status: str = "200", ack: bool = False) -> None:
    out: dict = {"request_id": rid}
    if ack:
        out["ack"] = True
    out["header"] = _header(conn, channel, status, arrival_ns)
    out["data"] = {"errs": errs} if errs is not None else {"result": result}
    conn.send(_enc.encode(out).decode())


async def request(self: GateServer, conn: Conn, req: dict) -> None:
    """One WebSocket API request (``event == "api"``)."""
    from simulator.venues.gateio import GateError

    channel = str(req.get("channel", ""))
    payload = req.get("payload")
    arrival_ns = await self.arrived("WS", channel, conn.rx_ns)  # when its bytes were read
    rid = payload.get("req_id") if isinstance(payload, dict) else None
    try:
        if not isinstance(payload, dict) or not isinstance(rid, str):
            raise GateError("INVALID_REQUEST_BODY", "payload.req_id (a string) is required")
        ts = req.get("time")
        if not isinstance(ts, int) or abs(ts - time.time()) > 60:
            raise GateError("REQUEST_EXPIRED", "gap between request time and server time exceeds 60", 401)
        if channel == "spot.login":
            _login(self, conn, payload)
            _send(conn, rid, channel, arrival_ns, result={"api_key": self.credentials.api_key, "uid": "1000001"})
            return
        if channel not in ORDERS:
            raise GateError("INVALID_PARAM_VALUE", f"unknown channel {channel}")
        if conn not in self.ws_api_logins:
            raise GateError("INVALID_KEY", "not logged in: spot.login first", 401)
        param = payload.get("req_param")
        if not isinstance(param, dict):
            raise GateError("INVALID_REQUEST_BODY", "req_param must be an object")
        if channel == "spot.order_place":
            if self.cfg.rate_limits:
                used, _ = self.order_window.hit("POST /api/v4/spot/orders", 1)
                if used > self.order_window.limit:
                    self.rate_limited += 1
                    raise GateError("TOO_MANY_REQUESTS", "Request Rate limit Exceeded (211)", 429)
            order = self.place(param, arrival_ns)
            _send(conn, rid, channel, arrival_ns, ack=True, result={
                "req_id": rid, "req_header": None, "req_param": param, "api_key": "", "timestamp": "",
                "signature": ""})
            if self.faults.take("ws_api_drop"):
                self.drop(conn)  # executed and acknowledged; the result is lost with the connection
                return
            if await self.after_execution() is not None:  # order_unknown: executed, answered 5xx
                raise GateError("SERVER_ERROR", "Internal server error", 503)
        else:
            order = self.find(param.get("currency_pair"), str(param.get("order_id", "")))
            if channel == "spot.order_cancel":
                self.cancel(order)
        _send(conn, rid, channel, arrival_ns, result=self._order_json(order))
    except GateError as err:
        _send(conn, rid, channel, arrival_ns, status=str(err.status),
              errs={"label": err.label, "message": err.message})


def _login(self: GateServer, conn: Conn, payload: dict) -> None:
    from simulator.venues.gateio import GateError

    ts = str(payload.get("timestamp", ""))
    if payload.get("api_key") != self.credentials.api_key:
        raise GateError("INVALID_KEY", "Invalid key provided", 401)
    if str(payload.get("signature", "")).lower() != gate_ws_api_sign(self.credentials.secret, "spot.login", "", ts):
        raise GateError("INVALID_SIGNATURE", "Signature mismatch", 401)
    if not ts.isdigit() or abs(int(ts) - time.time()) > 60:
        raise GateError("REQUEST_EXPIRED", "gap between request timestamp and server time exceeds 60", 401)
    self.ws_api_logins.add(conn)
