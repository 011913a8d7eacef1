"""The simulated MEXC user data stream's order pushes, read raw with protocols/mexc/push_pb2 as
shared/venues/private.md §3.3 describes them: on an order's change its state (privateOrders,
fills cumulative) then one privateDeals per new fill with that fill's fee, each channel only to
the connections subscribed to it."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec
import pytest

from protocols.messages import OrderIntent
from protocols.mexc import MexcVenue, push_pb2
from simulator import SimConfig, Simulator

pb: Any = push_pb2
ORDERS, DEALS, ACCOUNT = (f"spot@private.{c}.v3.api.pb" for c in ("orders", "deals", "account"))


async def subscribed(http: aiohttp.ClientSession, server: Any, key: str, channels: list[str]) -> Any:
    ws = await http.ws_connect(f"{server.ws_url}?listenKey={key}")
    await ws.send_str(msgspec.json.encode({"method": "SUBSCRIPTION", "params": channels}).decode())
    reply = await ws.receive_json(timeout=5)
    assert reply == {"id": 0, "code": 0, "msg": ",".join(channels)}
    return ws


async def pushes(ws: Any, until: str) -> list[Any]:
    """Binary pushes up to and including the first on channel ``until``."""
    out = []
    while not out or out[-1].channel != until:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY, msg
        out.append(pb.PushDataV3ApiWrapper.FromString(msg.data))
    return out


async def test_an_order_walking_three_levels_is_pushed_as_its_state_then_one_deal_per_fill_with_its_fee() -> None:
    async with Simulator(SimConfig(seed=3, symbols=("BTC/USDT",), venues=("mexc",))) as sim:
        server = sim.venues["mexc"]
        adapter = MexcVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=("BTC/USDT",),
                            credentials=server.credentials)
        try:
            async with aiohttp.ClientSession() as http:
                key = await adapter.listen_key()
                ws = await subscribed(http, server, key, [ORDERS, DEALS, ACCOUNT])
                balances_only = await subscribed(http, server, key, [ACCOUNT])
                _, asks = server.book("BTC/USDT")
                qty = round(asks[0][1] + asks[1][1] + asks[2][1] / 2, 6)
                await adapter.place_order(OrderIntent(
                    client_order_id="sim-1", opportunity_id="o", venue="mexc", symbol="BTC/USDT", side="buy",
                    order_type="ioc", qty=qty, price=asks[2][0]))
                [order] = server.orders.values()
                got = await pushes(ws, ACCOUNT)
                assert [p.channel for p in got] == [ORDERS, DEALS, DEALS, DEALS, ACCOUNT]
                assert all(p.symbol == "BTCUSDT" and p.sendTime for p in got[:4])
                o = got[0].privateOrders
                assert (o.id, o.clientId, o.orderType, o.tradeType, o.status) == (order.order_id, "sim-1", 3, 1, 2)
                spec = server.books["BTC/USDT"].spec
                assert o.cumulativeQuantity == spec.fmt_qty(order.filled) and order.filled == order.qty
                assert float(o.remainQuantity) == 0 and o.HasField("lastDealQuantity")
                deals = [p.privateDeals for p in got[1:4]]
                assert [(float(d.price), float(d.quantity)) for d in deals] == [
                    asks[0], asks[1], (asks[2][0], pytest.approx(order.filled * spec.step - asks[0][1] - asks[1][1]))]
                assert len({d.tradeId for d in deals}) == 3
                assert {(d.orderId, d.clientOrderId, d.feeCurrency, d.tradeType) for d in deals} == {
                    (order.order_id, "sim-1", order.fee_asset, 1)}
                assert sum(float(d.feeAmount) for d in deals) == pytest.approx(order.fee, rel=1e-9)
                assert sum(float(d.amount) for d in deals) == pytest.approx(float(o.cumulativeAmount))
                assert [p.channel for p in await pushes(balances_only, ACCOUNT)] == [ACCOUNT]
                await ws.close()
                await balances_only.close()
        finally:
            await adapter.close()
