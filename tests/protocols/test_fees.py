"""An order's fee from its fills (``protocols.fees.fee_of``), the rule MEXC and Binance share."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from protocols.fees import fee_of


class Fill(NamedTuple):
    price: float
    qty: float
    commission: float
    commission_asset: str


def _fill(qty: float, commission: float, asset: str, price: float = 100.0) -> Fill:
    return Fill(price=price, qty=qty, commission=commission, commission_asset=asset)


@pytest.mark.parametrize(("fills", "filled", "expected"), [
    ([_fill(0.3, 0.015, "USDT"), _fill(0.2, 0.01, "USDT")], 0.5, (pytest.approx(0.025), "USDT")),
    ([_fill(0.5, 0.0005, "BTC")], 0.5, (0.0005, "BTC")),
    ([_fill(0.5, 0.02, "MX")], 0.5, (0.02, "MX")),
    ([_fill(0.3, 0.0004, "BNB"), _fill(0.2, 0.0002, "BNB")], 0.5, (pytest.approx(0.0006), "BNB")),
    # base and quote together: all in quote, the base part at its fill's price
    ([_fill(0.3, 0.0003, "BTC", 110.0), _fill(0.2, 0.01, "USDT")], 0.5, (pytest.approx(0.043), "USDT")),
    # a third asset mixed with another cannot be one figure: flagged, never taken as a quote amount
    ([_fill(0.3, 0.01, "MX"), _fill(0.2, 0.01, "USDT")], 0.5, (pytest.approx(0.02), "MIXED:MX,USDT")),
    ([_fill(0.3, 0.0004, "BNB"), _fill(0.2, 0.01, "USDT")], 0.5, (pytest.approx(0.0104), "MIXED:BNB,USDT")),
    # fills not all visible yet: the fee is unreported (the executor estimates it), never zero
    ([_fill(0.3, 0.015, "USDT")], 0.5, (0.0, "")),
    ([], 0.5, (0.0, "")),
    ([_fill(0.5, 0.0, "USDT")], 0.5, (0.0, "USDT")),
])
def test_fee_of_an_orders_fills(fills: list[Any], filled: float, expected: tuple[Any, str]) -> None:
    assert fee_of(fills, filled, "BTC", "USDT") == expected
