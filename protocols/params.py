"""The detector's and the risk checks' parameters: ONE definition, used as the ``[detector]``
and ``[risk]`` tables of the config (``config.schema``) and by the actors (``actors.detector``,
``actors.risk``). It lives here because both config and actors may import protocols only.

Constraints are checked by msgspec when the config is decoded (a Struct built in Python is not
checked). The defaults are the conservative side of a trade-off, on purpose: a library user and
an engine without a ``[detector]``/``[risk]`` table get the same, safe values.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Bps = Annotated[float, msgspec.Meta(ge=0, le=10_000)]
Millis = Annotated[int, msgspec.Meta(ge=1, le=3_600_000)]  # at most an hour
NonNegativeMillis = Annotated[int, msgspec.Meta(ge=0, le=3_600_000)]


class DetectorParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What makes an opportunity. ``[detector]`` in the config."""

    min_edge_bps: Bps = 5.0  # after both taker fees
    max_notional: Positive = 1000.0  # quote currency per opportunity, before fees
    # A book whose last frame is older than this is never decided on. Crypto prices move in
    # milliseconds; a second is already long, and a stalled (not closed) stream shows up here.
    max_book_age_ms: Millis = 1000
    # After firing, a pair re-arms only once its top edge falls this far below min_edge_bps:
    # 2 bps (40 % of the default edge) keeps a flickering level from firing again and again at
    # liquidity the first opportunity already took.
    hysteresis_bps: Bps = 2.0
    cooldown_ms: NonNegativeMillis = 500
    # An opportunity expires this long after it was created: its legs are IOC at prices seen
    # then, so a late send mostly buys partial fills and hedges.
    ttl_ms: Millis = 500
    # Sanity bound: a top-of-book edge above it means the venues' tickers name different
    # tokens (or one book is broken): the detector quarantines the market (logged, never
    # traded) instead of reporting it. 5 % is far beyond any real cross-venue edge after fees.
    max_edge_bps: Annotated[float, msgspec.Meta(gt=0, le=10_000)] = 500.0


class RiskParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits the executor checks before any order. ``[risk]`` in the config."""

    # Quote committed to open orders on one venue. The smaller of the two values the config and
    # the actor used to disagree on: raising a money limit is the operator's deliberate act.
    max_notional_per_venue: Positive = 5_000.0
    max_open_legs: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 4  # orders sent, not final, across venues
    daily_loss_limit: Positive = 100.0  # quote; no new opportunity once today's PnL <= -limit
    kill_switch_path: str | None = None  # the file existing blocks every new opportunity
    leg_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 5.0  # one leg's send + recovery
    unwind_slippage_bps: Bps = 20.0  # how far past the leg's limit the hedge may go
    hedge_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3  # bounded-price IOCs on a residual, then an alert
    # Unhedged base marked to the live books; no new risk above it (an unmarkable one counts as inf).
    max_open_position_quote: Positive = 1_000.0
    max_mark_age_ms: Millis = 2000  # an older or out-of-sync book cannot mark a position
