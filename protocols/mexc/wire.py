"""MEXC spot v3 wire shapes: msgspec view structs of the REST replies and WebSocket control
replies, and the decoders for them, made once at module level.

Each struct names MEXC's own fields and holds only what Arbor reads. The decoders run with
``strict=False`` so MEXC's price/quantity strings become floats (or Decimals, for filters)
inside the decoder; numbers carry the constraints of ``protocols.numbers`` (no NaN, no
infinity, no negative quantity). Market data is not here: it is protobuf (``push_pb2``, see codec.py).
Facts: shared/venues/mexc.md §1.2 (control replies), §2.3 (errors), §2.5 (endpoints).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from protocols.numbers import Decimals, FeeRate, Finite, Level, Price, Qty, SeqId, TsMs, finite_decimal


class ControlReply(msgspec.Struct, frozen=True):
    """A text frame: ``{"id":0,"code":0,"msg":"<channel>"}`` (ack) or ``"msg":"PONG"``."""

    msg: str
    code: int = 0
    id: int = 0


class ErrorReply(msgspec.Struct, frozen=True):
    """REST error body ``{"code":700002,"msg":"Signature for this request is not valid."}``."""

    code: int | None = None
    msg: str = ""


class DepthReply(msgspec.Struct, frozen=True):
    """``GET /api/v3/depth``: ``{"lastUpdateId":1112416,"bids":[["15.00000","49999.00000"]],...}``.
    The live venue adds ``"timestamp"`` (ms; recorded in shared/data/captures/MEXC.rest.json),
    which the doc's example lacks: None when absent."""

    lastUpdateId: SeqId
    bids: list[Level]
    asks: list[Level]
    timestamp: TsMs | None = None


class SymbolRule(msgspec.Struct, frozen=True):
    """One entry of ``exchangeInfo.symbols``. MEXC has no Binance-style ``filters``: precision
    and minimums are plain fields (§2.5)."""

    symbol: str
    baseAsset: str
    quoteAsset: str
    baseAssetPrecision: Decimals  # qty decimals -> step 10^-n
    quotePrecision: Decimals  # price decimals -> tick 10^-n
    status: str | int = "1"  # doc: "1" online / "2" pause / "3" offline; example shows "ENABLED"
    isSpotTradingAllowed: bool = True
    baseSizePrecision: Decimal = Decimal(0)  # doc: "min order quantity"
    quoteAmountPrecision: Decimal = Decimal(0)  # doc: "min order amount" (min notional)
    makerCommission: FeeRate = 0.0
    takerCommission: FeeRate = 0.0

    def __post_init__(self) -> None:  # msgspec turns the ValueError into a ValidationError
        finite_decimal(self.baseSizePrecision, "baseSizePrecision")
        finite_decimal(self.quoteAmountPrecision, "quoteAmountPrecision")


class ExchangeInfo(msgspec.Struct, frozen=True):
    symbols: list[SymbolRule]


class BalanceRow(msgspec.Struct, frozen=True):
    asset: str
    free: Qty
    locked: Qty


class AccountReply(msgspec.Struct, frozen=True):
    """``GET /api/v3/account``; only the balances are read."""

    balances: list[BalanceRow]


class OrderReply(msgspec.Struct, frozen=True):
    """Every order-shaped reply: POST (which has no status, no clientOrderId and no executed
    fields), DELETE, GET /order and the items of /openOrders. ``orderId`` is a string at MEXC.

    Null on the live venue (shared/data/captures/MEXC.rest.json, allOrders): ``clientOrderId`` of
    an order placed without one (by hand, another bot), ``timeInForce``, ``stopPrice``,
    ``icebergQty``; so every field not needed to identify an order is optional here."""

    symbol: str
    orderId: str
    side: str
    type: str
    price: str | float | None = None  # "" or "0" for a market order
    origQty: Qty = 0.0
    executedQty: Qty = 0.0
    cummulativeQuoteQty: Qty = 0.0  # sic: MEXC (like Binance) spells it with two m's
    status: str = "NEW"  # POST /order returns no status: the order was accepted
    clientOrderId: str | None = None  # null for an order placed without a client id
    origClientOrderId: str | None = None
    transactTime: TsMs | None = None
    updateTime: TsMs | None = None
    time: TsMs | None = None


class Trade(msgspec.Struct, frozen=True):
    """One fill of ``GET /api/v3/myTrades`` (the only place MEXC reports an order's fee):
    ``{"symbol":"BTCUSDT","id":"fad2af9e...","orderId":"bb41e566...","orderListId":-1,
    "price":"60000.01","qty":"0.0166","quoteQty":"996.000166","commission":"0.000008",
    "commissionAsset":"BTC","time":1499865549590,"isBuyer":true,"isMaker":false,
    "isBestMatch":true,"isSelfTrade":false,"clientOrderId":null}``."""

    orderId: str
    price: Price
    qty: Qty
    commission: Finite = 0.0  # a rebate may be negative
    commission_asset: str = msgspec.field(default="", name="commissionAsset")


control_decoder = msgspec.json.Decoder(ControlReply)
error_decoder = msgspec.json.Decoder(ErrorReply, strict=False)
depth_decoder = msgspec.json.Decoder(DepthReply, strict=False)
exchange_info_decoder = msgspec.json.Decoder(ExchangeInfo, strict=False)
account_decoder = msgspec.json.Decoder(AccountReply, strict=False)
order_decoder = msgspec.json.Decoder(OrderReply, strict=False)
trades_decoder = msgspec.json.Decoder(list[Trade], strict=False)
orders_decoder = msgspec.json.Decoder(list[OrderReply], strict=False)
