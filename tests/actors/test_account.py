"""AccountActor against the simulator: the live view is usable only once rebuilt, follows the
venue's pushes (orders and changes made outside Arbor), and is unusable the moment the private
stream is lost; a refused subscription is an AuthError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from actors import spawn
from actors.account import AccountActor, AccountBoard
from protocols.binance import BinanceVenue
from protocols.errors import AuthError, ExchangeError
from protocols.gateio import GateVenue
from protocols.messages import OrderIntent
from protocols.mexc import MexcVenue
from protocols.venue import Credentials
from simulator import SimConfig, Simulator
from testkit import eventually

ADAPTERS = {"binance": BinanceVenue, "gateio": GateVenue, "mexc": MexcVenue}


@asynccontextmanager
async def account(venue: str, *, credentials: Credentials | None = None) -> AsyncIterator[tuple]:
    async with Simulator(SimConfig(seed=3, symbols=("BTC/USDT",), venues=(venue,))) as sim:
        server = sim.venues[venue]
        adapter = ADAPTERS[venue](rest_url=server.rest_url, ws_url=server.ws_url, symbols=("BTC/USDT",),
                                  credentials=credentials or server.credentials)
        board = AccountBoard()
        try:
            ref = await spawn(lambda: AccountActor(venue=adapter, codec=adapter.private_stream(), board=board),
                              name=f"{venue}/account")
            yield server, adapter, board, ref
            if ref.alive:
                await ref.stop()
        finally:
            await adapter.close()


def matches(board: AccountBoard, server, venue: str) -> bool:
    view = board.usable(venue)
    return view is not None and all(view.balances.get(a) == pytest.approx(fl) for a, fl in server.balances.items())


@pytest.mark.parametrize("venue", ["binance", "gateio"])
async def test_the_view_is_usable_once_rebuilt_and_equals_the_venue(venue: str) -> None:
    async with account(venue) as (server, _, board, _):
        assert matches(board, server, venue)  # spawn returned: on_start subscribed and rebuilt
        rest = [w for _, k, w in server.requests if k == "REST"]
        assert rest[-1] in ("GET /api/v3/account", "GET /api/v4/spot/accounts")


@pytest.mark.parametrize("venue", ["binance", "gateio"])
async def test_a_change_made_outside_arbor_reaches_the_view_through_the_stream(venue: str) -> None:
    async with account(venue) as (server, _, board, _):
        rest_before = sum(k == "REST" for _, k, _ in server.requests)
        server.set_balance("USDT", 1234.5)
        await eventually(lambda: (v := board.usable(venue)) is not None and v.balances["USDT"][0] == 1234.5,
                         timeout=5, what="the deposit in the view")
        assert sum(k == "REST" for _, k, _ in server.requests) == rest_before  # pushed, not polled


@pytest.mark.parametrize("venue", ["binance", "gateio", "mexc"])
async def test_an_order_reaches_the_view_with_its_cumulative_fill_and_the_new_balances(venue: str) -> None:
    async with account(venue) as (server, adapter, board, _):
        _, asks = server.book("BTC/USDT")
        intent = OrderIntent(client_order_id="acct-1", opportunity_id="o", venue=venue, symbol="BTC/USDT",
                             side="buy", order_type="ioc", qty=0.001, price=asks[0][0])
        placed = await adapter.place_order(intent)
        if not placed.final:  # MEXC's reply carries no state: the venue's answer to a query
            placed = await adapter.order_by_client_id("BTC/USDT", "acct-1")
        await eventually(lambda: "acct-1" in board.get(venue).orders and matches(board, server, venue),
                         timeout=5, what="the order and its balances pushed")
        pushed = board.get(venue).orders["acct-1"]
        assert pushed.final and pushed.status == placed.status
        assert pushed.filled_qty == pytest.approx(placed.filled_qty)
        assert pushed.filled_quote == pytest.approx(placed.filled_quote)
        assert (pushed.fee, pushed.fee_asset) == (pytest.approx(placed.fee), placed.fee_asset)


async def test_the_view_is_unusable_the_moment_the_private_stream_drops() -> None:
    async with account("binance") as (server, _, board, ref):
        server.faults.inject("private_drop")
        server.set_balance("USDT", 1.0)  # the change that would have been pushed is lost with the stream
        await eventually(lambda: not ref.alive, timeout=5, what="the account actor crashed (NetworkError)")
        view = board.get("binance")
        assert board.usable("binance") is None and view is not None and view.balances["USDT"][0] != 1.0


async def test_a_refused_subscription_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="refused"):
        async with account("binance", credentials=Credentials("wrong", "wrong")):
            pass


async def test_mexc_takes_a_listen_key_subscribes_and_follows_protobuf_account_pushes() -> None:
    async with Simulator(SimConfig(seed=3, symbols=("BTC/USDT",), venues=("mexc",))) as sim:
        server = sim.venues["mexc"]
        adapter = MexcVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=("BTC/USDT",),
                            credentials=server.credentials)
        board = AccountBoard()
        try:
            codec = adapter.private_stream()
            ref = await spawn(lambda: AccountActor(venue=adapter, codec=codec, board=board), name="mexc/account")
            assert codec.listen_key in server.listen_keys and matches(board, server, "mexc")
            server.set_balance("USDT", 42.0)
            await eventually(lambda: (v := board.usable("mexc")) is not None and v.balances["USDT"][0] == 42.0,
                             timeout=5, what="the protobuf account push in the view")
            before = server.listen_keys[codec.listen_key]
            await codec.keepalive()  # what the actor does every 30 min
            assert server.listen_keys[codec.listen_key] > before
            await ref.stop()
        finally:
            await adapter.close()


async def test_mexc_private_stream_with_a_lapsed_listen_key_is_refused() -> None:
    async with Simulator(SimConfig(seed=3, symbols=("BTC/USDT",), venues=("mexc",))) as sim:
        server = sim.venues["mexc"]
        adapter = MexcVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=("BTC/USDT",),
                            credentials=server.credentials)
        try:
            codec = adapter.private_stream()
            await codec.prepare()
            server.listen_keys[codec.listen_key] = 0.0  # lapsed: no keepalive for 60 min
            with pytest.raises(ExchangeError):
                await codec.keepalive()
        finally:
            await adapter.close()


async def test_a_push_the_venue_never_sent_is_found_and_corrected_by_the_audit() -> None:
    async with Simulator(SimConfig(seed=3, symbols=("BTC/USDT",), venues=("binance",))) as sim:
        server = sim.venues["binance"]
        adapter = BinanceVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=("BTC/USDT",),
                               credentials=server.credentials)
        board = AccountBoard()
        actor = AccountActor(venue=adapter, codec=adapter.private_stream(), board=board, audit_s=0.05)
        try:
            ref = await spawn(actor, name="binance/account")
            server.faults.inject("private_miss")
            server.set_balance("USDT", 7.0)  # the push is lost: the stream alone would never know
            await eventually(lambda: server.faults.counts["private_miss"] == 1, timeout=5, what="the lost push")
            await eventually(lambda: matches(board, server, "binance"), timeout=5, what="the audit's correction")
            assert actor.mismatches == 1
            await ref.stop()
        finally:
            await adapter.close()
