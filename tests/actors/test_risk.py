"""Pure risk checks: client ids, limits, balance caps, residual hedges."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.risk import (
    RiskParams,
    cap_by_balances,
    client_order_id,
    reject_reason,
    residual_hedge,
)
from protocols.messages import Opportunity

NOW = 10**12


def opp(size=0.5, expires_ns=NOW + 1) -> Opportunity:
    return Opportunity(id="BTCUSDT-mexc-gateio-1-2", symbol="BTC/USDT", buy_venue="mexc", sell_venue="gateio",
                       size=size, buy_price=100.0, sell_price=101.0, edge_bps=80.0, expected_pnl=0.4, created_ns=NOW,
                       expires_ns=expires_ns, buy_seq=1, sell_seq=2, buy_recv_ns=NOW, sell_recv_ns=NOW)


@given(st.text(min_size=1, max_size=200), st.sampled_from(["b", "s", "u"]))
def test_client_ids_are_deterministic_short_and_use_only_safe_characters(opportunity_id, leg):
    cid = client_order_id(opportunity_id, leg)
    assert cid == client_order_id(opportunity_id, leg)
    assert len(cid) <= 28 and re.fullmatch(r"[A-Za-z0-9_-]+", cid)


def test_the_legs_of_one_opportunity_get_distinct_ids():
    ids = {client_order_id("BTCUSDT-mexc-gateio-1-2", leg) for leg in ("b", "s", "u")}
    assert len(ids) == 3
    assert client_order_id("BTCUSDT-mexc-gateio-1-2", "b") != client_order_id("BTCUSDT-mexc-gateio-1-3", "b")


@pytest.mark.parametrize(
    ("opportunity", "kwargs", "params", "expected"),
    [
        (opp(), {}, RiskParams(), None),
        (opp(expires_ns=NOW), {}, RiskParams(), "expired"),
        (opp(), {"kill_switch": True}, RiskParams(), "kill_switch"),
        (opp(), {"open_legs": 3}, RiskParams(max_open_legs=4), "max_open_legs"),
        (opp(), {"daily_pnl": -100.0}, RiskParams(daily_loss_limit=100.0), "daily_loss_limit"),
        (opp(), {"daily_pnl": -99.9}, RiskParams(daily_loss_limit=100.0), None),
        (opp(), {"exposure": {"gateio": 960.0}}, RiskParams(max_notional_per_venue=1000.0), "max_notional_per_venue"),
        (opp(), {"exposure": {"mexc": 950.0}}, RiskParams(max_notional_per_venue=1000.0), None),
        (opp(), {"open_position_quote": 1000.01}, RiskParams(max_open_position_quote=1000.0),
         "max_open_position_quote"),
        (opp(), {"open_position_quote": float("inf")}, RiskParams(), "max_open_position_quote"),
        (opp(), {"open_position_quote": 999.0}, RiskParams(max_open_position_quote=1000.0), None),
    ],
)
def test_reject_reason_names_the_first_limit_an_opportunity_breaks(opportunity, kwargs, params, expected):
    args = {"kill_switch": False, "open_legs": 0, "exposure": {}, "daily_pnl": 0.0, **kwargs}
    assert reject_reason(opportunity, params, now_ns=NOW, **args) == expected


def test_a_kill_switch_file_blocks_while_it_exists(tmp_path):
    path = tmp_path / "KILL"
    params = RiskParams(kill_switch_path=str(path))
    args = {"now_ns": NOW, "kill_switch": False, "open_legs": 0, "exposure": {}, "daily_pnl": 0.0}
    assert reject_reason(opp(), params, **args) is None
    path.touch()
    assert reject_reason(opp(), params, **args) == "kill_switch"


def test_size_is_capped_by_quote_on_the_buy_venue_and_base_on_the_sell_venue():
    assert cap_by_balances(opp(size=1.0), quote_free_on_buy=50.05, base_free_on_sell=5.0, fee_buy=0.001) == \
        pytest.approx(0.5)
    assert cap_by_balances(opp(size=1.0), quote_free_on_buy=1e6, base_free_on_sell=0.25, fee_buy=0.001) == 0.25
    assert cap_by_balances(opp(size=1.0), quote_free_on_buy=0.0, base_free_on_sell=1.0, fee_buy=0.0) == 0.0


def test_residual_hedge_completes_the_short_leg_at_a_bounded_price():
    assert residual_hedge(opp(), 0.5, 0.3, 20.0, 0.0001) == ("gateio", "sell", pytest.approx(0.2),
                                                             pytest.approx(101.0 * 0.998))
    assert residual_hedge(opp(), 0.1, 0.5, 20.0, 0.0001) == ("mexc", "buy", pytest.approx(0.4),
                                                             pytest.approx(100.0 * 1.002))
    assert residual_hedge(opp(), 0.5, 0.5, 20.0, 0.0001) is None
    assert residual_hedge(opp(), 0.50001, 0.5, 20.0, 0.0001) is None  # below one lot: dust


@pytest.mark.parametrize("field", ["size", "buy_price", "sell_price", "expected_pnl", "edge_bps"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_risk_refuses_an_opportunity_holding_a_non_finite_number(field, bad):
    reason = reject_reason(msgspec.structs.replace(opp(), **{field: bad}), RiskParams(), now_ns=NOW,
                           kill_switch=False, open_legs=0, exposure={}, daily_pnl=0.0)
    assert reason == "non_finite"


@pytest.mark.parametrize("field", ["size", "buy_price", "sell_price"])
def test_risk_refuses_an_opportunity_with_a_zero_size_or_price(field):
    reason = reject_reason(msgspec.structs.replace(opp(), **{field: 0.0}), RiskParams(), now_ns=NOW,
                           kill_switch=False, open_legs=0, exposure={}, daily_pnl=0.0)
    assert reason == "non_finite"
