"""The simulated Gate.io WebSocket API, driven by a raw client written from private.md §2.5:
spot.login first, spot.order_place answered by an ack then the result, errors as
``header.status`` + ``data.errs``, order placement sharing the 10/s order window."""

from __future__ import annotations

import json
import time

import msgspec

from protocols.signing import gate_ws_api_sign


def request(channel: str, req_id: str, **payload) -> str:
    return json.dumps({"time": int(time.time()), "channel": channel, "event": "api",
                       "payload": {"req_id": req_id, **payload}})


def login(venue, *, secret: str | None = None) -> str:
    ts = str(int(time.time()))
    sign = gate_ws_api_sign(secret or venue.credentials.secret, "spot.login", "", ts)
    return request("spot.login", "login-1", api_key=venue.credentials.api_key, timestamp=ts, signature=sign)


async def answer(ws) -> dict:
    return msgspec.json.decode((await ws.receive(timeout=5)).data)


def order(sim, text: str) -> dict:
    _, asks = sim.venues["gateio"].book("BTC/USDT")
    return {"text": text, "currency_pair": "BTC_USDT", "type": "limit", "account": "spot", "side": "buy",
            "amount": "0.001", "price": f"{asks[0][0]:.2f}", "time_in_force": "ioc"}


async def test_an_order_before_login_is_refused_and_a_bad_login_signature_too(sim, http):
    gate = sim.venues["gateio"]
    async with http.ws_connect(gate.ws_url) as ws:
        await ws.send_str(request("spot.order_place", "r1", req_param=order(sim, "t-early")))
        early = await answer(ws)
        assert early["request_id"] == "r1" and early["header"]["status"] == "401"
        assert early["data"]["errs"]["label"] == "INVALID_KEY" and "t-early" not in gate.orders
        await ws.send_str(login(gate, secret="not-the-secret"))
        bad = await answer(ws)
        assert bad["header"]["status"] == "401" and bad["data"]["errs"]["label"] == "INVALID_SIGNATURE"


async def test_a_logged_in_order_is_acked_then_answered_with_the_order_then_found_by_its_text(sim, http):
    gate = sim.venues["gateio"]
    async with http.ws_connect(gate.ws_url) as ws:
        await ws.send_str(login(gate))
        ok = await answer(ws)
        assert ok["request_id"] == "login-1" and ok["header"]["status"] == "200"
        assert ok["data"]["result"]["api_key"] == gate.credentials.api_key
        await ws.send_str(request("spot.order_place", "r2", req_param=order(sim, "t-ws1")))
        ack, result = await answer(ws), await answer(ws)
        assert ack["ack"] is True and ack["data"]["result"]["req_param"]["text"] == "t-ws1"
        assert "ack" not in result and result["header"]["channel"] == "spot.order_place"
        assert result["data"]["result"]["text"] == "t-ws1" and result["data"]["result"]["finish_as"] == "filled"
        await ws.send_str(request("spot.order_status", "r3", req_param={"order_id": "t-ws1",
                                                                       "currency_pair": "BTC_USDT"}))
        status = await answer(ws)
        assert status["data"]["result"]["id"] == result["data"]["result"]["id"]
        await ws.send_str(request("spot.order_cancel", "r4", req_param={"order_id": "t-ws1",
                                                                       "currency_pair": "BTC_USDT"}))
        closed = await answer(ws)
        assert closed["header"]["status"] == "400" and closed["data"]["errs"]["label"] == "ORDER_CLOSED"
        await ws.send_str(request("spot.order_status", "r5", req_param={"order_id": "t-none",
                                                                       "currency_pair": "BTC_USDT"}))
        assert (await answer(ws))["data"]["errs"]["label"] == "ORDER_NOT_FOUND"


async def test_order_placement_over_the_websocket_shares_the_ten_per_second_window_with_rest(sim, http):
    gate = sim.venues["gateio"]
    async with http.ws_connect(gate.ws_url) as ws:
        await ws.send_str(login(gate))
        await answer(ws)
        for attempt in range(5):  # a one-second window may roll between filling it and the order: again
            second = int(time.time())
            gate.order_window.hit("POST /api/v4/spot/orders", 10)  # ten REST orders this second
            await ws.send_str(request("spot.order_place", f"p{attempt}", req_param=order(sim, f"t-rl{attempt}")))
            reply = await answer(ws)
            if int(time.time()) == second:
                break
        assert reply["header"]["status"] == "429" and reply["data"]["errs"]["label"] == "TOO_MANY_REQUESTS"
        assert f"t-rl{attempt}" not in gate.orders


async def test_requests_read_together_are_stamped_as_arriving_when_read_not_when_each_is_handled(sim, http):
    """Tick to trade measures to ``Order.arrival_ns``: when the loop read the request's bytes,
    not when its handler got the loop (here, after the order read with it was matched)."""
    gate = sim.venues["gateio"]
    async with http.ws_connect(gate.ws_url) as ws:
        await ws.send_str(login(gate))
        await answer(ws)
        before = time.monotonic_ns()
        # no loop turn between the two writes: the simulator reads both frames at once
        await ws.send_str(request("spot.order_place", "r1", req_param=order(sim, "t-rx1")))
        await ws.send_str(request("spot.order_place", "r2", req_param=order(sim, "t-rx2")))
        replies = [await answer(ws) for _ in range(4)]  # an ack and a result each
        assert {r["request_id"] for r in replies} == {"r1", "r2"}
        first, second = gate.orders["t-rx1"], gate.orders["t-rx2"]
        assert before < first.arrival_ns == second.arrival_ns
