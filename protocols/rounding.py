"""The order boundary: float prices and sizes become exact decimal strings that satisfy the
venue's tick, step, minimum quantity and minimum notional.

Rounding never makes an order worse than the caller meant: a buy's limit rounds down to the
tick, a sell's up, and quantities always round down to the step.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext

from protocols.errors import OrderRejected
from protocols.messages import OrderIntent, Side, SymbolInfo

# Enough digits for any finite float over any positive grid a venue could publish (a float has
# at most 17 significant digits and exponents within +-324): the division and quantize are
# exact, never decimal.InvalidOperation (the default 28 digits fail on a tick of 1e-157).
_EXACT = Context(prec=1000)


_UNITS: dict[Decimal, Decimal | None] = {}  # grid -> 1E<k> when it is a power of ten, else None


def _unit(grid: Decimal) -> Decimal | None:
    unit = _UNITS.get(grid, grid)
    if unit is grid:  # not seen yet (venues publish few distinct grids)
        normal = grid.normalize(_EXACT)
        unit = _UNITS[grid] = normal if normal.as_tuple().digits == (1,) else None
    return unit


def _to_grid(value: float, grid: Decimal, rounding: str) -> Decimal:
    # repr(float) is the shortest string that round-trips, so Decimal(repr) is the value the
    # caller meant (0.1 stays 0.1, not 0.1000000000000000055...).
    exact = Decimal(repr(value))
    if grid <= 0:  # no filter published: send what was asked
        return exact
    unit = _unit(grid)
    if unit is not None:  # a power of ten (the usual tick or step): one rounding to its exponent, same result
        return exact.quantize(unit, rounding=rounding, context=_EXACT).quantize(grid, context=_EXACT)
    with localcontext(_EXACT):
        return ((exact / grid).to_integral_value(rounding=rounding) * grid).quantize(grid)


def round_price(price: float, tick: Decimal, side: Side) -> Decimal:
    """A buy limit rounds down to the tick and a sell limit up: never a worse price."""
    return _to_grid(price, tick, ROUND_FLOOR if side == "buy" else ROUND_CEILING)


def round_qty(qty: float, step: Decimal) -> Decimal:
    """Quantities round down to the step: never more than asked for."""
    return _to_grid(qty, step, ROUND_FLOOR)


def decimal_str(value: Decimal) -> str:
    """A plain decimal string (no exponent, no trailing zeros beyond the integer part)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def order_fields(info: SymbolInfo, intent: OrderIntent, venue: str) -> tuple[str | None, str | None]:
    """The exact (price, qty) strings to send for ``intent``; raises ``OrderRejected`` (code
    ``"local"``) before anything leaves the process when the order cannot satisfy the filters.

    A quote-sized market order (``quote_qty``) returns its quote amount as the qty string,
    rounded down to the quote's tick; the caller knows which parameter name carries it.
    """
    def reject(reason: str) -> OrderRejected:
        return OrderRejected(venue, "local", f"{intent.client_order_id} {info.symbol}: {reason}")

    if intent.order_type == "market" and intent.quote_qty is not None:
        amount = round_qty(intent.quote_qty, info.tick_size)
        if amount <= 0 or amount < info.min_notional:
            raise reject(f"quote amount {decimal_str(amount)} below min notional {info.min_notional}")
        return None, decimal_str(amount)
    if intent.qty is None or intent.qty <= 0:
        raise reject("no quantity")
    qty = round_qty(intent.qty, info.step_size)
    if qty <= 0 or qty < info.min_qty:
        raise reject(f"quantity {decimal_str(qty)} below min quantity {info.min_qty} (step {info.step_size})")
    if intent.order_type == "market":
        return None, decimal_str(qty)
    if intent.price is None or intent.price <= 0:
        raise reject("limit order without a positive price")
    price = round_price(intent.price, info.tick_size, intent.side)
    if price * qty < info.min_notional:
        raise reject(f"notional {decimal_str(price * qty)} below min notional {info.min_notional}")
    return decimal_str(price), decimal_str(qty)
