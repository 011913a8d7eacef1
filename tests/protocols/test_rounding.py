from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import OrderRejected
from protocols.messages import OrderIntent, SymbolInfo
from protocols.rounding import MarketGrid, decimal_str, order_fields, round_price, round_qty

INFO = SymbolInfo(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC", quote="USDT",
                  tick_size=Decimal("0.01"), step_size=Decimal("0.00001"), min_qty=Decimal("0.0001"),
                  min_notional=Decimal("5"), maker_fee=0.0, taker_fee=0.001)


def intent(**kw) -> OrderIntent:
    base = dict(client_order_id="c1", opportunity_id="o1", venue="binance", symbol="BTC/USDT",
                side="buy", order_type="ioc", qty=0.01, price=50000.0)
    return OrderIntent(**(base | kw))


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (100.019, "buy", "100.01"),
        (100.011, "sell", "100.02"),
        (100.01, "buy", "100.01"),  # on the grid: unchanged, even though 100.01 is inexact in binary
        (100.01, "sell", "100.01"),
        (0.1, "buy", "0.1"),
    ],
)
def test_price_rounds_toward_the_safer_side_of_the_tick(price, side, expected):
    assert decimal_str(round_price(price, Decimal("0.01"), side)) == expected


def test_quantity_always_rounds_down_to_the_step():
    assert decimal_str(round_qty(1.234567, Decimal("0.001"))) == "1.234"
    assert decimal_str(round_qty(0.3, Decimal("0.1"))) == "0.3"


def test_decimal_strings_never_use_exponents():
    assert decimal_str(Decimal("1E-8")) == "0.00000001"
    assert decimal_str(Decimal("100")) == "100"
    assert decimal_str(Decimal("100.500")) == "100.5"


def test_limit_order_fields_are_exact_strings_on_the_grid():
    assert order_fields(INFO, intent(qty=0.012345, price=50000.129), "binance") == ("50000.12", "0.01234")


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"qty": 0.00005}, "below min quantity"),
        ({"qty": 0.0001, "price": 100.0}, "below min notional"),
        ({"qty": None}, "no quantity"),
        ({"price": None}, "without a positive price"),
        ({"order_type": "market", "qty": None, "quote_qty": 4.0}, "below min notional"),
    ],
)
def test_orders_that_break_the_filters_are_rejected_locally_with_the_reason(kw, fragment):
    with pytest.raises(OrderRejected, match=fragment) as err:
        order_fields(INFO, intent(**kw), "binance")
    assert err.value.code == "local"


def test_quote_sized_market_buy_sends_the_quote_amount():
    market = intent(order_type="market", qty=None, price=None, quote_qty=25.129)
    assert order_fields(INFO, market, "binance") == (None, "25.12")


@given(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), st.sampled_from(["buy", "sell"]))
def test_rounded_price_is_on_the_tick_and_never_worse_than_the_limit(price, side):
    tick = Decimal("0.01")
    rounded = round_price(price, tick, side)
    assert rounded % tick == 0
    exact = Decimal(repr(price))
    assert rounded <= exact if side == "buy" else rounded >= exact
    assert abs(rounded - exact) < tick


@pytest.mark.parametrize(("value", "grid"), [(50_000.0, "5e-157"), (1.7976931348623157e308, "1e-300"),
                                             (5e-324, "1e10")])
def test_any_finite_value_on_any_positive_grid_rounds_exactly_and_never_raises_invalid_operation(value, grid):
    got = round_qty(value, Decimal(grid))
    with localcontext(Context(prec=1000)):  # the check itself needs the digits
        assert got <= Decimal(repr(value)) and got % Decimal(grid) == 0


@given(st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False),
       st.integers(min_value=-12, max_value=4), st.integers(min_value=0, max_value=6),
       st.sampled_from([ROUND_FLOOR, ROUND_CEILING]))
def test_a_power_of_ten_grid_rounds_to_what_dividing_by_it_gives_in_the_same_exponent(value, exponent, zeros,
                                                                                      rounding):
    """The quantize shortcut for ticks and steps like 0.01 (or Binance's "0.01000000") is the
    general rule's result: the same value, written with the grid's exponent."""
    grid = Decimal(1).scaleb(exponent).quantize(Decimal(1).scaleb(exponent - zeros))
    got = round_price(value, grid, "buy" if rounding == ROUND_FLOOR else "sell")
    with localcontext(Context(prec=1000)):
        exact = Decimal(repr(value))
        expected = ((exact / grid).to_integral_value(rounding=rounding) * grid).quantize(grid)
    assert got == expected and got.as_tuple().exponent == expected.as_tuple().exponent


def _grid(draw_k: int, scale: int) -> Decimal:
    """10^-k, written as a venue might (``0.01``, ``0.01000000``, ``1``, ``10``), or a non-power."""
    return Decimal(scale) * Decimal(10) ** -draw_k


@settings(max_examples=1500, deadline=None)
@given(tick_k=st.integers(-2, 10), step_k=st.integers(-1, 10), tick_scale=st.sampled_from([1, 1, 1, 5, 25]),
       padded=st.booleans(), min_qty=st.sampled_from(["0", "0.0001", "0.00015", "1", "3.3"]),
       min_notional=st.sampled_from(["0", "1", "5", "10.5", "0.000001"]),
       side=st.sampled_from(["buy", "sell"]), order_type=st.sampled_from(["ioc", "limit", "market"]),
       qty=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(1e-9, 1e4), st.none()),
       price=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(1e-9, 1e7), st.none()))
def test_a_market_grid_gives_the_same_fields_or_the_same_refusal_as_order_fields(
        tick_k, step_k, tick_scale, padded, min_qty, min_notional, side, order_type, qty, price):
    tick = _grid(tick_k, tick_scale)
    info = msgspec.structs.replace(
        INFO, tick_size=tick.quantize(Decimal("1E-12")) if padded and tick_k <= 10 else tick,
        step_size=_grid(step_k, 1), min_qty=Decimal(min_qty), min_notional=Decimal(min_notional))
    i = intent(side=side, order_type=order_type, qty=qty, price=price)
    try:
        expected = order_fields(info, i, "binance")
    except (OrderRejected, ArithmeticError) as exc:  # a refusal, or (infinite qty) what the Decimal path raises
        with pytest.raises(type(exc)) as got:
            MarketGrid(info).fields(i, "binance")
        assert str(got.value) == str(exc)
        return
    assert MarketGrid(info).fields(i, "binance") == expected
