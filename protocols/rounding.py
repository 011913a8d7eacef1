"""The order boundary: float prices and sizes become exact decimal strings that satisfy the
venue's tick, step, minimum quantity and minimum notional.

Rounding never makes an order worse than the caller meant: a buy's limit rounds down to the
tick, a sell's up, and quantities always round down to the step.
"""

from __future__ import annotations

import math
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


def _decimals(grid: Decimal) -> int | None:
    """k when ``grid`` is 10^-k (k may be negative), else None."""
    unit = _unit(grid) if grid > 0 else None
    return None if unit is None else -unit.as_tuple().exponent  # type: ignore[operator]


def _units(text: str, k: int, up: bool) -> int | None:
    """A positive float's ``repr`` as whole units of 10^-k, rounded down (``up``: up); None when
    the repr has an exponent (left to the Decimal path)."""
    if "e" in text:
        return None
    whole, _, frac = text.partition(".")
    if k <= 0:
        scale = 10 ** -k
        units, rest = divmod(int(whole), scale)
        dropped = rest != 0 or frac.strip("0") != ""
    else:
        units = int(whole + frac[:k].ljust(k, "0"))
        dropped = frac[k:].strip("0") != ""
    return units + 1 if up and dropped else units


def _text(units: int, k: int) -> str:
    """``decimal_str`` of ``units`` * 10^-k."""
    if k <= 0:
        return str(units * 10 ** -k)
    whole, frac = divmod(units, 10 ** k)
    text = f"{whole}.{frac:0{k}d}".rstrip("0")
    return text[:-1] if text.endswith(".") else text


class MarketGrid:
    """``order_fields`` for one market's rules, resolved once: for a limit or IOC order on
    power-of-ten grids (what the venues publish) the price and quantity are rounded as whole
    units of the tick and step from the float's shortest repr, and the minimums compared as
    precomputed whole-unit thresholds -- the same strings, and the same decisions, as the
    Decimal path, which takes every other case (a market order, another grid, an exponent in
    the repr) and every refusal (so its message is the same too)."""

    __slots__ = ("info", "_price_k", "_qty_k", "_min_qty", "_min_notional")

    def __init__(self, info: SymbolInfo) -> None:
        self.info = info
        self._price_k, self._qty_k = _decimals(info.tick_size), _decimals(info.step_size)
        self._min_qty = self._min_notional = 0
        if self._price_k is not None and self._qty_k is not None:
            with localcontext(_EXACT):  # n < x  <=>  n < ceil(x), for a whole n
                self._min_qty = int((info.min_qty / info.step_size).to_integral_value(ROUND_CEILING))
                self._min_notional = int((info.min_notional / (info.tick_size * info.step_size))
                                         .to_integral_value(ROUND_CEILING))

    def fields(self, intent: OrderIntent, venue: str) -> tuple[str | None, str | None]:
        """``order_fields(self.info, intent, venue)``."""
        pk, qk, qty, price = self._price_k, self._qty_k, intent.qty, intent.price
        if (pk is None or qk is None or intent.order_type == "market" or qty is None or price is None
                or not 0 < qty < math.inf or not 0 < price < math.inf):
            return order_fields(self.info, intent, venue)
        q = _units(repr(qty), qk, False)
        p = _units(repr(price), pk, intent.side != "buy")
        if q is None or p is None or q <= 0 or q < self._min_qty or p * q < self._min_notional:
            return order_fields(self.info, intent, venue)  # its refusal, worded as always
        return _text(p, pk), _text(q, qk)
