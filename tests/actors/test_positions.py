"""Pure money arithmetic: settlement of an opportunity's fills (realised PnL from matched
quantity only, net of fees; the rest an open position), positions, marks. Table tests on
hand-computed figures, and properties against a naive lot-by-lot model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.positions import (
    Position,
    add_position,
    fee_in_quote,
    mark_price,
    position_value,
    settle,
)
from protocols.messages import OrderUpdate


def order(side: str, qty: float, price: float, fee: float = 0.0, fee_asset: str = "USDT") -> OrderUpdate:
    return OrderUpdate(venue="v", symbol="BTC/USDT", client_order_id="c", order_id="1", side=side,  # type: ignore[arg-type]
                       order_type="ioc", status="filled" if qty else "canceled", price=price, qty=qty,
                       filled_qty=qty, filled_quote=qty * price, fee=fee, fee_asset=fee_asset)


def run(*orders: OrderUpdate, rates=None):
    return settle(orders, base="BTC", quote="USDT", buy_venue="mexc", sell_venue="gateio", rates=rates)


def test_matched_legs_realise_the_price_difference_net_of_fees_in_quote_and_base():
    s = run(order("buy", 1.0, 100.0, fee=0.001, fee_asset="BTC"), order("sell", 1.0, 101.0, fee=0.101))
    assert s.realised_pnl == pytest.approx(1.0 - 0.1 - 0.101)
    assert s.fees_quote == pytest.approx(0.201)
    assert (s.matched, s.open_qty, s.open_venue) == (1.0, 0.0, "")


def test_a_one_sided_buy_is_an_open_long_on_the_buy_venue_and_realises_only_its_fee():
    s = run(order("buy", 0.0166, 60_000.0, fee=0.5), order("sell", 0.0, 60_100.0))
    assert s.realised_pnl == pytest.approx(-0.5)  # never the expected edge, never -996 of "loss"
    assert (s.open_qty, s.open_venue, s.open_price) == (pytest.approx(0.0166), "mexc", pytest.approx(60_000.0))


def test_a_one_sided_sell_is_an_open_short_on_the_sell_venue_and_no_fictitious_profit():
    s = run(order("buy", 0.0, 100.0), order("sell", 2.0, 101.0, fee=0.2))
    assert s.realised_pnl == pytest.approx(-0.2)
    assert (s.open_qty, s.open_venue, s.open_price) == (-2.0, "gateio", 101.0)


def test_a_partial_hedge_realises_the_matched_part_and_leaves_the_rest_open():
    s = run(order("buy", 1.0, 100.0), order("sell", 0.6, 101.0), order("sell", 0.3, 100.8))
    avg_sell = (0.6 * 101.0 + 0.3 * 100.8) / 0.9
    assert s.realised_pnl == pytest.approx(0.9 * (avg_sell - 100.0))
    assert s.open_qty == pytest.approx(0.1)


def test_a_third_asset_fee_is_converted_at_the_rate_given_or_flagged_without_one():
    legs = (order("buy", 1.0, 100.0, fee=0.01, fee_asset="BNB"), order("sell", 1.0, 101.0))
    assert run(*legs, rates={"BNB": 300.0}).realised_pnl == pytest.approx(1.0 - 3.0)
    unconverted = run(*legs)
    assert unconverted.fee_unconverted == ("BNB",)
    assert unconverted.realised_pnl == pytest.approx(1.0)


def test_fee_in_quote_values_a_base_fee_at_the_orders_average_price():
    assert fee_in_quote(order("buy", 2.0, 50.0, fee=0.002, fee_asset="BTC"), "BTC", "USDT", {}) == pytest.approx(0.1)
    assert fee_in_quote(order("sell", 2.0, 50.0, fee=0.1, fee_asset=""), "BTC", "USDT", {}) == 0.1
    assert fee_in_quote(order("sell", 2.0, 50.0, fee=0.1, fee_asset="MX"), "BTC", "USDT", {}) is None


@pytest.mark.parametrize(
    ("qty", "bid", "ask", "expected"),
    [(1.0, 99.0, 101.0, 99.0), (-1.0, 99.0, 101.0, 101.0), (1.0, None, 101.0, None), (-1.0, 99.0, None, None)],
)
def test_a_long_is_marked_at_the_bid_and_a_short_at_the_ask(qty, bid, ask, expected):
    assert mark_price(qty, bid, ask) == expected


def test_an_unmarkable_position_is_worth_infinity_against_a_limit():
    assert position_value(-2.0, 100.0) == 200.0
    assert position_value(0.5, None) == float("inf")


def test_positions_add_per_venue_and_symbol_and_a_flat_one_disappears():
    p = add_position({}, "mexc", "BTC/USDT", 0.5, 100.0)
    p = add_position(p, "mexc", "BTC/USDT", 0.25, 104.0)
    assert p[("mexc", "BTC/USDT")] == Position(venue="mexc", symbol="BTC/USDT", qty=0.75, cost=76.0)
    assert p[("mexc", "BTC/USDT")].entry_price == pytest.approx(76.0 / 0.75)
    assert add_position(p, "mexc", "BTC/USDT", -0.75, 110.0) == {}


# --- properties against a naive model ---------------------------------------------------------

lots = st.integers(min_value=0, max_value=20)
prices = st.integers(min_value=90, max_value=110)
fees = st.integers(min_value=0, max_value=5)
orders_ = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), lots, prices, fees), max_size=6)


@given(orders_)
def test_settlement_equals_a_naive_lot_by_lot_model(rows):
    """The naive model expands every order into unit lots: matched lots realise the mean sell
    lot price less the mean buy lot price; every fee is a cost; unmatched lots are open."""
    buys = [p for side, n, p, _ in rows if side == "buy" for _ in range(n)]
    sells = [p for side, n, p, _ in rows if side == "sell" for _ in range(n)]
    fee_total = sum(f / 100 for *_, f in rows)
    m = min(len(buys), len(sells))
    naive = (m * (sum(sells) / len(sells) - sum(buys) / len(buys)) if m else 0.0) - fee_total
    s = run(*(order(side, float(n), float(p), fee=f / 100) for side, n, p, f in rows))
    assert s.realised_pnl == pytest.approx(naive, abs=1e-9)
    assert s.matched == m
    assert s.open_qty == len(buys) - len(sells)
    # Cash identity: what left and came in = realised + the open position at its entry price.
    cash = sum(sells) - sum(buys) - fee_total
    assert s.realised_pnl - s.open_qty * s.open_price == pytest.approx(cash, abs=1e-6)


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["BTC/USDT", "ETH/USDT"]),
                          st.integers(-5, 5), prices), max_size=12))
def test_positions_equal_a_naive_sum_per_venue_and_symbol(rows):
    p: dict = {}
    naive: dict = {}
    for venue, symbol, qty, price in rows:
        p = add_position(p, venue, symbol, float(qty), float(price))
        naive[(venue, symbol)] = naive.get((venue, symbol), 0) + qty
    assert {k: v.qty for k, v in p.items()} == {k: float(v) for k, v in naive.items() if v}
