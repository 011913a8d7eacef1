"""Gate.io spot v4 wire formats: msgspec view structs naming Gate's own fields, holding only
what Arbor reads, and the decoders for them, made once at module level.

Every decoder is ``strict=False`` so Gate's price/amount strings (``"19137.74"``) become floats
(or Decimals, where a struct says so) inside the decoder, with no intermediate dict. Numbers
carry the constraints of ``protocols.numbers``: a NaN, an infinity, a price <= 0 or a
negative amount fails the decode.

WebSocket frames are one tagged union keyed on the envelope's ``channel`` field, so a frame is
decoded in ONE pass into the struct for its channel; a channel that is not in the union is a
``msgspec.ValidationError`` (the codec turns it into ``DecodeError``). Channels Arbor knows but
does not consume are members without a ``result`` field, so their bodies are skipped unread.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from protocols.numbers import (
    MAX_TS_MS,
    Decimals,
    FeeRate,
    Finite,
    Level,
    Qty,
    TsMs,
    TsMsFloat,
    finite_decimal,
)

# --- WebSocket ----------------------------------------------------------------------------------


class WsError(msgspec.Struct, frozen=True):
    """``{"code": 2, "message": "unknown currency pair GIBBERISH_USD"}``."""

    code: int = 0
    message: str = ""


# -1 = absent (the subscribe reply shares the struct); anything below is garbage.
_IdOrAbsent = Annotated[int, msgspec.Meta(ge=-1)]
_TsOrAbsent = Annotated[int, msgspec.Meta(ge=-1, le=MAX_TS_MS)]


# gc=False on the hot-path structs: a decoded frame holds only str/int/float/tuples, so it can
# never be part of a reference cycle, and skipping GC tracking is measurably cheaper.
class BookUpdate(msgspec.Struct, frozen=True, gc=False):
    """``result`` of a ``spot.order_book_update`` push.

    Every field has a default because the same channel's subscribe reply carries
    ``{"status": "success"}`` here; the codec checks ``U``/``u`` on ``event == "update"``.
    """

    s: str = ""
    t: _TsOrAbsent = -1  # update time, ms
    first: _IdOrAbsent = msgspec.field(default=-1, name="U")
    last: _IdOrAbsent = msgspec.field(default=-1, name="u")
    bids: tuple[Level, ...] = msgspec.field(default=(), name="b")
    asks: tuple[Level, ...] = msgspec.field(default=(), name="a")
    full: bool = False  # 2025: a full book that replaces the local one


class ObuUpdate(msgspec.Struct, frozen=True, gc=False):
    """``result`` of a ``spot.obu`` push (order book v2, gateio.md §4.2): ``s`` is the stream
    name ``ob.BTC_USDT.50``; a ``full`` push has no ``U``; an incremental one has ``U``/``u``."""

    s: str = ""
    t: int = -1
    first: int = msgspec.field(default=-1, name="U")
    last: int = msgspec.field(default=-1, name="u")
    bids: tuple[Level, ...] = msgspec.field(default=(), name="b")
    asks: tuple[Level, ...] = msgspec.field(default=(), name="a")
    full: bool = False


class _Frame(msgspec.Struct, frozen=True, gc=False, tag_field="channel"):
    """The envelope ``{"time","time_ms","channel","event","error","result"}``; ``time`` and
    ``time_ms`` are not read (the book uses the result's ``t``)."""

    event: str = ""
    error: WsError | None = None


class BookUpdateFrame(_Frame, frozen=True, tag="spot.order_book_update"):
    result: BookUpdate | None = None


class PongFrame(_Frame, frozen=True, tag="spot.pong"):
    pass


class BookTickerFrame(_Frame, frozen=True, tag="spot.book_ticker"):
    pass


class OrderBookFrame(_Frame, frozen=True, tag="spot.order_book"):
    pass


class ObuFrame(_Frame, frozen=True, tag="spot.obu"):
    result: ObuUpdate | None = None


class TradesFrame(_Frame, frozen=True, tag="spot.trades"):
    pass


Frame = BookUpdateFrame | PongFrame | BookTickerFrame | OrderBookFrame | ObuFrame | TradesFrame
IGNORED_FRAMES = (BookTickerFrame, OrderBookFrame, TradesFrame)


class ErrorOnly(msgspec.Struct, frozen=True):
    """Cold path: a reply without a usable ``channel`` may still carry Gate's error object."""

    error: WsError | None = None


FRAME = msgspec.json.Decoder(Frame, strict=False)
ERROR_ONLY = msgspec.json.Decoder(ErrorOnly, strict=False)


# --- REST ---------------------------------------------------------------------------------------


class OrderBook(msgspec.Struct, frozen=True):
    """``GET /spot/order_book?with_id=true``; ``update``/``current`` are ms timestamps."""

    id: Annotated[int, msgspec.Meta(ge=-1)] = -1  # only present with with_id=true
    current: TsMs = 0
    update: TsMs = 0
    asks: tuple[Level, ...] = ()
    bids: tuple[Level, ...] = ()


class CurrencyPair(msgspec.Struct, frozen=True):
    """One row of ``GET /spot/currency_pairs``. ``fee`` is a percentage (``"0.2"`` = 0.2 %)."""

    id: str
    base: str = ""
    quote: str = ""
    fee: Annotated[float, msgspec.Meta(ge=0.0, le=10.0)] = 0.0  # percent
    min_base_amount: Decimal | None = None
    min_quote_amount: Decimal | None = None
    amount_precision: Decimals = 8
    precision: Decimals = 8
    trade_status: str = "tradable"

    def __post_init__(self) -> None:  # msgspec turns the ValueError into a ValidationError
        finite_decimal(self.min_base_amount, "min_base_amount")
        finite_decimal(self.min_quote_amount, "min_quote_amount")


class Fee(msgspec.Struct, frozen=True):
    """``GET /spot/fee``: fractions (``"0.002"`` = 0.2 %)."""

    taker_fee: FeeRate
    maker_fee: FeeRate


class Account(msgspec.Struct, frozen=True):
    currency: str
    available: Qty = 0.0
    locked: Qty = 0.0


class Order(msgspec.Struct, frozen=True):
    """A spot order as Gate returns it from place / query / cancel / list."""

    id: str
    currency_pair: str
    side: Literal["buy", "sell"]
    status: str  # open | closed | cancelled
    text: str = ""
    type: str = "limit"
    time_in_force: str = "gtc"
    amount: Qty = 0.0  # base; quote currency for a market buy
    price: Qty = 0.0  # 0 for a market order
    left: Qty = 0.0
    filled_amount: Qty | None = None  # base filled (newer API); else amount - left
    filled_total: Qty = 0.0  # quote filled
    avg_deal_price: Qty = 0.0
    fee: Finite = 0.0  # negative: a rebate
    fee_currency: str = ""
    gt_fee: Finite = 0.0  # GT spent on the fee (GT deduction on): then ``fee`` is 0
    point_fee: Finite = 0.0  # points spent on the fee
    finish_as: str = ""
    update_time_ms: TsMsFloat = 0.0
    succeeded: bool = True  # only in cancel-all replies: False when that order was not cancelled


class ApiError(msgspec.Struct, frozen=True):
    """Non-2xx body: ``{"label": "INVALID_PARAM_VALUE", "message": "..."}`` (or ``detail``)."""

    label: str | None = None
    message: str | None = None
    detail: str | None = None


ORDER_BOOK = msgspec.json.Decoder(OrderBook, strict=False)
CURRENCY_PAIRS = msgspec.json.Decoder(list[CurrencyPair], strict=False)
FEE = msgspec.json.Decoder(Fee, strict=False)
ACCOUNTS = msgspec.json.Decoder(list[Account], strict=False)
ORDER = msgspec.json.Decoder(Order, strict=False)
ORDERS = msgspec.json.Decoder(list[Order], strict=False)
API_ERROR = msgspec.json.Decoder(ApiError, strict=False)
