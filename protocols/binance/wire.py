"""Binance spot wire structs: views of the venue's JSON holding only the fields Arbor uses,
and the decoders for them, made once at module level.

Field names are Binance's own (``msgspec.field(name="U")``). Decoders are ``strict=False`` so
the venue's price/quantity strings ("0.0024") become floats inside the decoder (market data)
or ``Decimal`` where a field is typed so (symbol filters, which round order fields). Numbers
carry the constraints of ``protocols.numbers``: a NaN, an infinity, a price <= 0 or a
negative quantity fails the decode.
Facts: shared/venues/binance.md §3.1 (streams), §3.3 (REST), §3.5 (filters).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from protocols.numbers import (
    FeeRate,
    Finite,
    Level,
    Price,
    Qty,
    SeqId,
    TsMs,
    finite_decimal,
)

# --- WebSocket ---------------------------------------------------------------------------------


class DepthUpdate(msgspec.Struct, frozen=True):
    """``<symbol>@depth[@100ms]`` payload. U/u: first/final update ID in the event."""

    event: str = msgspec.field(name="e")
    event_ms: TsMs = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    first: SeqId = msgspec.field(name="U")
    last: SeqId = msgspec.field(name="u")
    bids: tuple[Level, ...] = msgspec.field(name="b")
    asks: tuple[Level, ...] = msgspec.field(name="a")


class DepthEnvelope(msgspec.Struct, frozen=True):
    """The combined-stream wrapper ``{"stream":"bnbbtc@depth@100ms","data":{...}}``, typed for the
    hot path: every other frame fails this decode and takes the slow path in the codec."""

    stream: str
    data: DepthUpdate


class AnyFrame(msgspec.Struct, frozen=True):
    """Every top-level key the codec's slow path looks at; all optional.

    ``data``/``result`` are UNSET when absent, so a ``{"result":null,"id":1}`` ack (result present, null)
    is told apart from a frame without it.
    """

    stream: str | None = None
    data: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    id: int | str | None = None
    code: int | None = None
    msg: str | None = None
    event: str | None = msgspec.field(default=None, name="e")


class EventType(msgspec.Struct, frozen=True):
    event: str | None = msgspec.field(default=None, name="e")


DEPTH_ENVELOPE = msgspec.json.Decoder(DepthEnvelope, strict=False)
DEPTH_UPDATE = msgspec.json.Decoder(DepthUpdate, strict=False)
ANY_FRAME = msgspec.json.Decoder(AnyFrame)
EVENT_TYPE = msgspec.json.Decoder(EventType)

# --- REST --------------------------------------------------------------------------------------


class ApiError(msgspec.Struct, frozen=True):
    """Error body ``{"code": -1121, "msg": "Invalid symbol."}``."""

    code: int | None = None
    msg: str = ""


class DepthSnapshot(msgspec.Struct, frozen=True):
    """``GET /api/v3/depth``."""

    last_update_id: SeqId = msgspec.field(name="lastUpdateId")
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()


class Filter(msgspec.Struct, frozen=True):
    """One entry of a symbol's ``filters``; only the fields of the filters we use."""

    filter_type: str = msgspec.field(name="filterType")
    tick_size: Decimal | None = msgspec.field(default=None, name="tickSize")
    step_size: Decimal | None = msgspec.field(default=None, name="stepSize")
    min_qty: Decimal | None = msgspec.field(default=None, name="minQty")
    min_notional: Decimal | None = msgspec.field(default=None, name="minNotional")

    def __post_init__(self) -> None:  # msgspec turns the ValueError into a ValidationError
        for name in ("tick_size", "step_size", "min_qty", "min_notional"):
            finite_decimal(getattr(self, name), name)


class SymbolRules(msgspec.Struct, frozen=True):
    symbol: str
    status: str = "TRADING"
    base_asset: str = msgspec.field(default="", name="baseAsset")
    quote_asset: str = msgspec.field(default="", name="quoteAsset")
    filters: tuple[Filter, ...] = ()


class ExchangeInfo(msgspec.Struct, frozen=True):
    """``GET /api/v3/exchangeInfo``."""

    symbols: tuple[SymbolRules, ...] = ()


class CommissionRates(msgspec.Struct, frozen=True):
    maker: FeeRate = 0.0
    taker: FeeRate = 0.0


class Commission(msgspec.Struct, frozen=True):
    """``GET /api/v3/account/commission``: standard plus tax commission are both charged."""

    standard: CommissionRates = msgspec.field(default_factory=CommissionRates, name="standardCommission")
    tax: CommissionRates = msgspec.field(default_factory=CommissionRates, name="taxCommission")


class AssetBalance(msgspec.Struct, frozen=True):
    asset: str
    free: Qty
    locked: Qty


class Account(msgspec.Struct, frozen=True):
    """``GET /api/v3/account``."""

    balances: tuple[AssetBalance, ...] = ()


class OrderFill(msgspec.Struct, frozen=True):
    price: Price
    qty: Qty
    commission: Finite = 0.0
    commission_asset: str = msgspec.field(default="", name="commissionAsset")


class Order(msgspec.Struct, frozen=True):
    """An order as POST/GET/DELETE ``/api/v3/order`` and the openOrders endpoints return it.

    In a cancel reply ``clientOrderId`` is the cancel request's own id and the order's is
    ``origClientOrderId``.
    """

    symbol: str
    order_id: SeqId = msgspec.field(name="orderId")
    client_order_id: str = msgspec.field(name="clientOrderId")
    status: str
    type: str
    side: str
    price: Qty = 0.0  # 0 for a market order
    orig_qty: Qty = msgspec.field(default=0.0, name="origQty")
    executed_qty: Qty = msgspec.field(default=0.0, name="executedQty")
    quote_qty: Qty = msgspec.field(default=0.0, name="cummulativeQuoteQty")  # sic, Binance's spelling
    time_in_force: str = msgspec.field(default="GTC", name="timeInForce")
    orig_client_order_id: str | None = msgspec.field(default=None, name="origClientOrderId")
    transact_time: TsMs = msgspec.field(default=0, name="transactTime")
    update_time: TsMs = msgspec.field(default=0, name="updateTime")
    fills: tuple[OrderFill, ...] = ()


class Trade(msgspec.Struct, frozen=True):
    """One fill of ``GET /api/v3/myTrades`` (an order's commission, when its reply had no
    ``fills``): ``{"symbol":"BNBBTC","id":28457,"orderId":100234,"orderListId":-1,
    "price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","commission":"10.10000000",
    "commissionAsset":"BNB","time":1499865549590,"isBuyer":true,"isMaker":false,"isBestMatch":true}``."""

    order_id: SeqId = msgspec.field(name="orderId")
    price: Price
    qty: Qty
    commission: Finite = 0.0
    commission_asset: str = msgspec.field(default="", name="commissionAsset")


class CancelAllEntry(msgspec.Struct, frozen=True):
    """``DELETE /api/v3/openOrders`` returns orders and OCO lists mixed; lists have no orderId
    and are skipped (their legs are reported by their own entries)."""

    order_id: SeqId | None = msgspec.field(default=None, name="orderId")


API_ERROR = msgspec.json.Decoder(ApiError, strict=False)
DEPTH_SNAPSHOT = msgspec.json.Decoder(DepthSnapshot, strict=False)
EXCHANGE_INFO = msgspec.json.Decoder(ExchangeInfo, strict=False)
COMMISSION = msgspec.json.Decoder(Commission, strict=False)
ACCOUNT = msgspec.json.Decoder(Account, strict=False)
ORDER = msgspec.json.Decoder(Order, strict=False)
ORDERS = msgspec.json.Decoder(tuple[Order, ...], strict=False)
TRADES = msgspec.json.Decoder(tuple[Trade, ...], strict=False)
RAW_LIST = msgspec.json.Decoder(tuple[msgspec.Raw, ...])
CANCEL_ALL_ENTRY = msgspec.json.Decoder(CancelAllEntry, strict=False)
