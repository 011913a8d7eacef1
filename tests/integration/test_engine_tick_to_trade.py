"""Tick to trade on the real engine against the simulator: the executor decides on the live
account views from the private streams (Binance user data stream on the WebSocket API, Gate.io
spot.balances), so no REST call stands between a detection and its orders; a change made
outside Arbor reaches it through the stream; a private stream dropped mid-trade is rebuilt
without a duplicate order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import aiohttp
import pytest

import simulator.config
from engine_harness import Harness, assert_journal_matches_venues, engine_running, quiesce, venue_client_id, wait_until
from protocols.messages import KillSwitch

TWO = {"binance": {}, "gateio": {}}
MARKET_DATA = ("GET /api/v3/depth", "GET /api/v4/spot/order_book")  # book snapshots, not the executor's
ORDER_POSTS = ("POST /api/v3/order", "POST /api/v4/spot/orders")


@pytest.fixture(autouse=True)
def fee_free_pair() -> Iterator[None]:
    """Binance and Gate.io charge 10 bp each in the simulator: between just these two the
    seeded market rarely beats both fees. Fee-free accounts there trade within seconds."""
    with mock.patch.dict(simulator.config.DEFAULT_FEES, {"binance": 0.0, "gateio": 0.0}):
        yield


def views_usable(h: Harness) -> bool:
    return all(h.engine.accounts.usable(v) is not None for v in TWO)


def views_equal_venues(h: Harness) -> bool:
    for venue in TWO:
        view = h.engine.accounts.usable(venue)
        truth = h.sim.venues[venue].balances
        if view is None or any(abs(view.balances.get(a, (0.0, 0.0))[0] - f) > 1e-9 for a, (f, _) in truth.items()):
            return False
    return True


async def test_an_opportunity_executes_with_no_rest_call_between_detection_and_its_orders(state_dir: Path) -> None:
    # The account actors' periodic REST audit is the one REST call no decision makes; a run
    # slowed past its 30 s could put one inside a detection -> orders window.
    async with engine_running(state_dir, venues=TWO, extra="[account]\naudit_s = 3600\n") as h:
        await wait_until(lambda: views_usable(h) and h.all_in_sync(TWO), timeout=10,
                         what="both account views live and every book in sync")
        await wait_until(lambda: h.rows("SELECT 1 FROM opportunities WHERE status = 'executed'"), timeout=12,
                         what="an opportunity executed")
        await quiesce(h)
        executed = h.rows("SELECT id, created_ns FROM opportunities WHERE status = 'executed'")
        checked = 0
        for opp_id, created_ns in executed:
            legs = h.rows("SELECT venue, client_order_id FROM orders WHERE opportunity_id = ?"
                          " AND side IN ('buy','sell') ORDER BY rowid LIMIT 2", (opp_id,))
            arrivals = [h.sim.venues[v].orders[venue_client_id(v, cid)].arrival_ns for v, cid in legs]
            assert all(created_ns < a for a in arrivals), f"{opp_id}: an order arrived before its detection"
            between = [(v, what) for v in TWO for at, kind, what in h.sim.venues[v].requests
                       if created_ns <= at <= max(arrivals) and kind == "REST"
                       and what not in MARKET_DATA and what not in ORDER_POSTS]
            assert between == [], f"{opp_id}: REST calls between detection and its orders: {between}"
            checked += 1
        assert checked
        status = h.tree.describe("execution/executor")
        assert status.balances_from_stream > 0
        assert_journal_matches_venues(h.journal, h.sim)


async def test_a_balance_changed_outside_arbor_is_seen_by_the_executor_before_its_next_decision(
        state_dir: Path) -> None:
    async with engine_running(state_dir, venues=TWO) as h:
        await wait_until(lambda: views_usable(h) and h.all_in_sync(TWO), timeout=10,
                         what="both account views live and every book in sync")
        binance = h.sim.venues["binance"]
        executor = h.tree.lookup("execution/executor")
        # Held between two decisions (the ask returns once every earlier one finished), so no
        # decision straddles the change: each one after the release is a "next decision".
        await executor.ask(KillSwitch(on=True, reason="test: hold"), timeout=15)
        async with aiohttp.ClientSession() as s:  # a withdrawal of everything, made outside Arbor
            for asset in list(binance.balances):
                async with s.post(f"{binance.admin_url}/balance", json={"asset": asset, "free": 0},
                                  headers={"Authorization": f"Bearer {h.sim.admin_token}"}) as r:
                    assert r.status == 200
        await wait_until(lambda: (v := h.engine.accounts.usable("binance")) is not None
                         and all(f == 0 for f, _ in v.balances.values()), timeout=5,
                         what="the binance view shows the withdrawal")
        await executor.ask(KillSwitch(on=False, reason="test: release"), timeout=15)
        before = {i for (i,) in h.rows("SELECT id FROM opportunities")}
        await wait_until(lambda: len(h.rows("SELECT 1 FROM opportunities")) > len(before) + 2, timeout=12,
                         what="three more decisions")
        await quiesce(h)
        later = [(i, st, d) for i, st, d in h.rows("SELECT id, status, detail FROM opportunities") if i not in before]
        assert later and all(st == "rejected_by_risk" and "balances allow" in d for _, st, d in later), later
        later_ids = {i for i, _, _ in later}
        sent = [c for (c, o) in h.rows("SELECT client_order_id, opportunity_id FROM orders") if o in later_ids]
        assert sent == [], f"orders sent after the withdrawal was pushed: {sent}"


async def test_a_private_stream_dropped_mid_trade_is_rebuilt_and_reconciled_without_a_duplicate_order(
        state_dir: Path) -> None:
    async with engine_running(state_dir, venues=TWO) as h:
        await wait_until(lambda: views_usable(h) and h.all_in_sync(TWO), timeout=10,
                         what="both account views live and every book in sync")
        h.sim.venues["binance"].faults.inject("private_drop")  # at the next order's account push
        await wait_until(lambda: h.sim.venues["binance"].faults.counts["private_drop"] == 1, timeout=12,
                         what="the binance private stream dropped by an order's push")
        await wait_until(lambda: h.restarts("venues/binance/account") >= 1 and views_usable(h), timeout=10,
                         what="the binance account view rebuilt after the drop")
        await wait_until(lambda: len(h.rows("SELECT 1 FROM opportunities WHERE status = 'executed'")) >= 2,
                         timeout=12, what="trading goes on")
        await quiesce(h)
        await wait_until(lambda: views_equal_venues(h), timeout=5, what="the views equal the venues' balances")
        assert_journal_matches_venues(h.journal, h.sim)  # every order once, as journaled


def gateways_up(h: Harness) -> bool:
    return all(h.engine.gateways.channel(v).connected for v in TWO)


async def test_both_legs_go_over_the_websocket_apis_and_reach_each_venue_once(state_dir: Path) -> None:
    async with engine_running(state_dir, venues=TWO) as h:
        await wait_until(lambda: views_usable(h) and h.all_in_sync(TWO) and gateways_up(h), timeout=10,
                         what="account views, books and both order gateways up")
        # Orders taken before a gateway was up went over REST (the fallback): count from here.
        t0 = time.monotonic_ns()  # the simulator stamps arrivals with the same clock

        def placed_since(venue: str) -> int:
            return sum(o.arrival_ns >= t0 for o in h.sim.venues[venue].orders.values())

        await wait_until(lambda: all(placed_since(v) for v in TWO), timeout=12, what="new orders on both venues")
        await quiesce(h)
        for venue, place in (("binance", "order.place"), ("gateio", "spot.order_place")):
            since = [w for at, _, w in h.sim.venues[venue].requests if at >= t0]
            assert [w for w in since if w in ORDER_POSTS] == []
            assert sum(w == place for w in since) == placed_since(venue) > 0
            assert h.restarts(f"venues/{venue}/orders") == 0  # every reply read (none resolved by a query)
        assert_journal_matches_venues(h.journal, h.sim)


@pytest.mark.parametrize("venue", ["binance", "gateio"])
async def test_a_websocket_api_lost_mid_order_is_resolved_by_client_id_without_a_second_order(
        state_dir: Path, venue: str) -> None:
    async with engine_running(state_dir, venues=TWO) as h:
        await wait_until(lambda: views_usable(h) and h.all_in_sync(TWO) and gateways_up(h), timeout=10,
                         what="account views, books and both order gateways up")
        server = h.sim.venues[venue]
        server.faults.inject("ws_api_drop")  # the next order executes, its reply never comes
        await wait_until(lambda: server.faults.counts["ws_api_drop"] == 1, timeout=12,
                         what=f"a {venue} order whose WebSocket API reply was lost")
        await wait_until(lambda: h.restarts(f"venues/{venue}/orders") >= 1
                         and h.engine.gateways.channel(venue).connected, timeout=10,
                         what="the order gateway reconnected")
        await quiesce(h)
        assert_journal_matches_venues(h.journal, h.sim)  # the lost-reply order: journaled once, as on the venue


@pytest.mark.parametrize(("venue", "queries"), [("binance", ("GET /api/v3/order", "order.status")),
                                                ("gateio", ("GET /api/v4/spot/orders/", "spot.order_status"))])
async def test_a_leg_whose_reply_is_lost_is_settled_from_the_private_stream_without_a_query(
        state_dir: Path, venue: str, queries: tuple[str, str]) -> None:
    async with engine_running(state_dir, venues=TWO) as h:
        await wait_until(lambda: views_usable(h) and h.all_in_sync(TWO) and gateways_up(h), timeout=10,
                         what="account views, books and both order gateways up")
        server = h.sim.venues[venue]
        server.faults.inject("order_unknown")  # executed and pushed, then answered 5xx (outcome unknown)
        await wait_until(lambda: server.faults.counts["order_unknown"] == 1, timeout=12,
                         what=f"a {venue} order whose answer was lost")
        await quiesce(h)
        assert [w for _, _, w in server.requests if w.startswith(queries)] == []  # no query by client id
        status = h.tree.describe("execution/executor")
        # the push settled it: before the lost reply (the race) or as the query's answer
        assert status.legs_from_stream + status.first_answers_from_stream >= 1
        assert_journal_matches_venues(h.journal, h.sim)
