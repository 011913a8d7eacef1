"""The order gateway against the simulator's WebSocket APIs (Binance, Gate.io): orders placed,
queried and cancelled by client id over the socket with no REST call; Gate's session login
(refused with a wrong key); a socket lost mid-order is an unknown outcome, and a retry of the
same intent over REST cannot make a second order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import ROUND_FLOOR, Decimal

import msgspec
import pytest

from actors import spawn
from actors.order_gateway import OrderChannel, OrderGatewayActor, WsFirstVenue
from protocols.binance import BinanceVenue
from protocols.errors import AuthError, NetworkError, OrderNotFound, OrderRejected
from protocols.gateio import GateVenue
from protocols.messages import OrderIntent
from protocols.venue import Credentials
from simulator import SimConfig, Simulator
from testkit import eventually

ADAPTERS = {"binance": BinanceVenue, "gateio": GateVenue}
SYMBOL = "BTC/USDT"
PLACE = {"binance": "order.place", "gateio": "spot.order_place"}


@asynccontextmanager
async def gateway(venue: str, *, credentials: Credentials | None = None) -> AsyncIterator[tuple]:
    async with Simulator(SimConfig(seed=3, symbols=(SYMBOL,), venues=(venue,))) as sim:
        server = sim.venues[venue]
        adapter = ADAPTERS[venue](rest_url=server.rest_url, ws_url=server.ws_url, symbols=(SYMBOL,),
                                  credentials=credentials or server.credentials)
        channel = OrderChannel(venue)
        try:
            await adapter.symbol_info([SYMBOL])  # static rules, as the engine pre-fetches them
            ref = await spawn(lambda: OrderGatewayActor(venue=adapter, codec=adapter.ws_orders(), channel=channel),
                              name=f"{venue}/orders")
            yield server, WsFirstVenue(adapter, channel), channel, ref
            if ref.alive:
                await ref.stop()
        finally:
            await adapter.close()


def ioc(server, venue: str, cid: str, side: str = "buy") -> OrderIntent:
    bids, asks = server.book(SYMBOL)
    price = asks[0][0] if side == "buy" else bids[0][0]
    return OrderIntent(client_order_id=cid, opportunity_id="o", venue=venue, symbol=SYMBOL, side=side,
                       order_type="ioc", qty=0.001, price=price)


def rest_calls(server) -> list[str]:
    return [w for _, k, w in server.requests if k == "REST"]


@pytest.mark.parametrize("venue", ["binance", "gateio"])
async def test_an_ioc_is_placed_and_queried_by_client_id_over_the_websocket_api_with_no_rest_call(venue: str) -> None:
    async with gateway(venue) as (server, orders, channel, _):
        rest_before = rest_calls(server)
        placed = await orders.place_order(ioc(server, venue, "gw1"))
        assert placed.client_order_id == "gw1" and placed.final and placed.filled_qty == pytest.approx(0.001)
        queried = await orders.order_by_client_id(SYMBOL, "gw1")
        assert (queried.status, queried.filled_qty) == (placed.status, placed.filled_qty)
        assert rest_calls(server) == rest_before  # the rules were fetched before; nothing since
        assert orders.ws_orders == 1 and orders.rest_orders == 0 and channel.sent == 1
        assert sum(w == PLACE[venue] for _, k, w in server.requests if k == "WS") == 1
        with pytest.raises(OrderNotFound):
            await orders.order_by_client_id(SYMBOL, "never-sent")


@pytest.mark.parametrize("venue", ["binance", "gateio"])
async def test_a_resting_order_is_cancelled_over_the_websocket_api(venue: str) -> None:
    async with gateway(venue) as (server, orders, _, _):
        bids, _ = server.book(SYMBOL)
        resting = OrderIntent(client_order_id="gw-rest", opportunity_id="o", venue=venue, symbol=SYMBOL,
                              side="buy", order_type="limit", qty=0.001, price=round(bids[-1][0] * 0.9, 2))
        assert (await orders.place_order(resting)).status == "new"
        cancelled = await orders.cancel_order(SYMBOL, "gw-rest")
        assert cancelled.status == "canceled" and not server.orders[server_id(venue, "gw-rest")].is_open
        if venue == "gateio":  # Gate answers ORDER_CANCELLED: the adapter's answer is the final state
            assert (await orders.cancel_order(SYMBOL, "gw-rest")).status == "canceled"


def server_id(venue: str, cid: str) -> str:
    return f"t-{cid}" if venue == "gateio" else cid


async def test_gate_login_with_a_wrong_key_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match=r"INVALID_KEY|Invalid key"):
        async with gateway("gateio", credentials=Credentials("wrong", "wrong")):
            pass


@pytest.mark.parametrize("venue", ["binance", "gateio"])
async def test_a_socket_lost_mid_order_then_a_retry_over_rest_leaves_exactly_one_order_at_the_venue(
        venue: str) -> None:
    async with gateway(venue) as (server, orders, channel, ref):
        intent = ioc(server, venue, "gw-lost")
        server.faults.inject("ws_api_drop")  # executed; the reply is lost with the socket
        with pytest.raises(NetworkError, match="unknown"):
            await orders.place_order(intent)
        await eventually(lambda: not channel.connected, timeout=5, what="the channel marked down")
        with pytest.raises(OrderRejected, match=r"(?i)duplicate"):  # the same derived id, now over REST
            await orders.place_order(intent)
        assert orders.rest_orders == 1
        assert [cid for cid in server.orders if cid == server_id(venue, "gw-lost")] == [server_id(venue, "gw-lost")]
        assert len(server.orders) == 1
        found = await orders.order_by_client_id(SYMBOL, "gw-lost")  # over REST while the socket is down
        assert found.final and found.filled_qty == pytest.approx(0.001)
        await eventually(lambda: not ref.alive, timeout=5, what="the gateway crashed (its restart reconnects)")


@pytest.mark.parametrize(("limit", "window_s"), [(10, 1.0), (100, 10.0)])
def test_the_order_bucket_never_spends_more_than_the_venues_limit_in_one_window(limit: float, window_s: float) -> None:
    from actors.order_gateway import order_bucket

    bucket = order_bucket(limit, window_s)
    assert bucket.capacity + bucket.rate * window_s == pytest.approx(limit)
    assert bucket.rate * window_s >= 0.75 * limit  # most of the limit as sustained rate, not burst



async def test_an_order_frame_is_compiled_once_per_market_and_again_when_the_venues_filters_change() -> None:
    async with Simulator(SimConfig(seed=3, symbols=(SYMBOL,), venues=("binance",))) as sim:
        server = sim.venues["binance"]
        adapter = BinanceVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=(SYMBOL,),
                               credentials=server.credentials)
        try:
            await adapter.symbol_info([SYMBOL])
            channel, made = OrderChannel("binance"), []
            ref = await spawn(lambda: made.append(OrderGatewayActor(venue=adapter, codec=adapter.ws_orders(),
                                                                    channel=channel)) or made[-1], name="orders")
            gw = made[-1]
            order = msgspec.structs.replace(ioc(server, "binance", "gw-t1"), qty=0.0123456)
            template = gw.template(order)
            assert template is not None and gw.template(order) is template  # compiled once
            first = json.loads((await channel.prepare(order)).frame)["params"]
            book = server.books[SYMBOL]
            step_before = book.spec.qty_decimals
            book.spec = msgspec.structs.replace(book.spec, qty_decimals=step_before - 2)  # the lot step grows
            await adapter.symbol_info([SYMBOL])  # the rules fetched again
            later = json.loads((await channel.prepare(order)).frame)["params"]
            assert gw.template(order) is not template
            assert Decimal(first["quantity"]) == Decimal("0.0123456").quantize(Decimal(10) ** -step_before, ROUND_FLOOR)
            assert Decimal(later["quantity"]) == Decimal("0.0123456").quantize(Decimal(10) ** (2 - step_before),
                                                                               ROUND_FLOOR)
            assert later["quantity"] != first["quantity"]
            await ref.stop()
        finally:
            await adapter.close()
