"""Numeric types of the venues' wire structs: what a number must be to reach a decision.

msgspec checks these constraints inside the decoder, in C, so a frame carrying ``"nan"``,
``"inf"``, a price <= 0 or a negative quantity fails its decode (the codec turns that into
``DecodeError`` with an excerpt) instead of becoming a ``BookDelta`` or an ``OrderUpdate``.
NaN fails every ordered comparison, so ``gt``/``ge`` reject it; ``le=MAX_FLOAT`` rejects
``+inf``. The cost is a comparison or two per number (``python -m benchmarks decode``).

Decimals (symbol filters) cannot carry msgspec constraints: ``finite_decimal`` checks them.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Annotated

import msgspec

from protocols.messages import OrderUpdate

MAX_FLOAT = sys.float_info.max
# 10^15 ms is the year 33658: any later "timestamp" is garbage, and the bound keeps every
# timestamp inside SQLite's 64-bit INTEGER and float's exact-integer range.
MAX_TS_MS = 10**15

Price = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_FLOAT)]  # finite, > 0
Qty = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_FLOAT)]  # finite, >= 0 (0 removes a level)
Finite = Annotated[float, msgspec.Meta(ge=-MAX_FLOAT, le=MAX_FLOAT)]  # finite, any sign (a fee rebate)
SeqId = Annotated[int, msgspec.Meta(ge=0)]  # a book sequence / update id
TsMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_TS_MS)]  # a venue timestamp, ms
TsMsFloat = Annotated[float, msgspec.Meta(ge=0.0, le=float(MAX_TS_MS))]  # Gate sends "1690000000123.456"
Decimals = Annotated[int, msgspec.Meta(ge=0, le=30)]  # a precision: tick/step = 10^-n
# A fee rate as a fraction (0.001 = 10 bps). A maker rebate may be slightly negative; a "fee"
# outside this range is a garbled reply, and a hugely negative one would fake every edge.
FeeRate = Annotated[float, msgspec.Meta(ge=-0.01, le=0.1)]

Level = tuple[Price, Qty]  # one book level (price, quantity)


def finite_decimal(value: Decimal | None, field: str) -> Decimal | None:
    """``value`` if it is a finite, non-negative Decimal (or None); else ``ValueError`` naming
    ``field``, which the caller turns into ``DecodeError`` with the reply's excerpt."""
    if value is not None and not (value.is_finite() and value >= 0):
        raise ValueError(f"{field} must be a finite number >= 0, got {value}")
    return value


def unusable_update_field(update: OrderUpdate) -> str | None:
    """The first field of an order update built from a venue reply that is not a usable
    number (quantities finite and >= 0, a price finite and > 0 or None, a finite fee), or None.

    The wire constraints hold for each field as sent; this catches what arithmetic on them
    made (Gate's filled = filled_total / avg_deal_price can overflow, amount - left can go
    negative)."""
    for name in ("qty", "filled_qty", "filled_quote"):
        value = getattr(update, name)
        if not 0.0 <= value <= MAX_FLOAT:
            return f"{name}={value}"
    if update.price is not None and not 0.0 < update.price <= MAX_FLOAT:
        return f"price={update.price}"
    if not -MAX_FLOAT <= update.fee <= MAX_FLOAT:
        return f"fee={update.fee}"
    if not 0 <= update.ts_ms <= MAX_TS_MS:
        return f"ts_ms={update.ts_ms}"
    return None
