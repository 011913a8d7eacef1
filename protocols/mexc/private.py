"""MEXC spot private stream (shared/venues/private.md §3): a listenKey from
``POST /api/v3/userDataStream`` (kept alive with ``PUT`` every 30 min: it lapses 60 min after the
last one), ``wss://wbs-api.mexc.com/ws?listenKey=<key>``, one ``SUBSCRIPTION`` per channel
(``spot@private.orders.v3.api.pb``, ``spot@private.deals.v3.api.pb``,
``spot@private.account.v3.api.pb``, each acked with its name); pushes are protobuf
``PushDataV3ApiWrapper`` frames:

- ``privateAccount`` (307): one asset's ABSOLUTE available/frozen balance -> ``Balance``.
- ``privateOrders`` (304): one order's state, fills CUMULATIVE (``cumulativeQuantity``,
  ``cumulativeAmount``), ``status`` 1 new, 2 filled, 3 partially filled, 4 canceled, 5 partially
  filled then canceled -> ``OrderUpdate``. It carries no fee.
- ``privateDeals`` (306): one own fill with ITS fee (``feeAmount``/``feeCurrency``), deduplicated
  by ``tradeId``.

``OrderUpdate.fee`` is the order's so far: the deals seen on this connection summed as the REST
read-back does (``protocols.fees.fee_of``), and only while they add up to the order's cumulative
fill; otherwise it is unreported (fee 0, ``fee_asset`` ""), which the executor estimates and
says so (a reconnect, a lost push). The two channels are not ordered against each other (the
doc's sample has an order's push 51 ms BEFORE its deal's), so an order's state is told again,
with its fee, by the deal that completes it; and a FINAL state whose fee is not known yet is
held until then (``_charged``): a leg settled by the push carries the exact fee. A final state
whose deals never come (a lost push, a reconnect between them) is not told by the stream:
the leg's REST reply and query settle it (with the fee from ``myTrades``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from google.protobuf.message import DecodeError as ProtobufError

from protocols.errors import DecodeError
from protocols.fees import Charge, fee_of
from protocols.messages import Balance, OrderStatus, OrderType, OrderUpdate
from protocols.mexc import push_pb2
from protocols.numbers import MAX_FLOAT, unusable_update_field
from protocols.private import StreamEvent, StreamReply
from protocols.venue import split_symbol

VENUE = "mexc"
ORDERS = "spot@private.orders.v3.api.pb"
DEALS = "spot@private.deals.v3.api.pb"
ACCOUNT = "spot@private.account.v3.api.pb"
CHANNELS = (ORDERS, DEALS, ACCOUNT)
KEEPALIVE_S = 30 * 60.0  # the doc's advice; the key lapses after 60 min without one
TRACKED = 4096  # orders whose deals/state are kept for the fee; the oldest go first beyond it
_pb: Any = push_pb2  # generated at run time: no static attributes
_parse = _pb.PushDataV3ApiWrapper.FromString
# private.md §3.3; 4 and 5 are both final, 5 with something filled
_STATUS: dict[int, OrderStatus] = {1: "new", 2: "filled", 3: "partially_filled", 4: "canceled", 5: "canceled"}
# 1 LIMIT, 2 POST_ONLY, 3 IMMEDIATE_OR_CANCEL, 4 FILL_OR_KILL, 5 MARKET (100, stop orders: not ours)
_TYPE: dict[int, OrderType] = {1: "limit", 2: "limit", 3: "ioc", 4: "ioc", 5: "market"}


class MexcPrivate:
    """``PrivateCodec`` for MEXC; ``prepare``/``keepalive`` manage the listenKey over REST.
    ``symbols``: venue symbol -> ours (``BTCUSDT`` -> ``BTC/USDT``; the adapter's, live)."""

    venue = VENUE
    keepalive_s = KEEPALIVE_S

    def __init__(self, *, venue: Any, ws_url: str, symbols: dict[str, str] | None = None) -> None:
        self._venue, self._ws_url = venue, ws_url.split("?")[0]
        self.symbols = symbols if symbols is not None else {}
        self.listen_key = ""
        self.url = ""
        self._deals: dict[str, dict[str, Charge]] = {}  # order id -> trade id -> fill, this connection
        self._pushed: dict[str, OrderUpdate] = {}  # order id -> its last state whose fee was unreported

    async def prepare(self) -> None:
        """A fresh listenKey for this connection (a reconnect never reuses a lapsed one)."""
        self.listen_key = await self._venue.listen_key()
        self.url = f"{self._ws_url}?listenKey={self.listen_key}"

    async def keepalive(self) -> None:
        await self._venue.listen_key(keepalive=self.listen_key)

    def subscribe_frames(self, now_ms: int) -> list[str]:
        self._deals, self._pushed = {}, {}  # a new connection: the last one's deals say nothing of what it missed
        return [msgspec.json.encode({"method": "SUBSCRIPTION", "params": [c]}).decode() for c in CHANNELS]

    def decode(self, frame: str | bytes) -> StreamReply | list[StreamEvent] | None:
        if isinstance(frame, str):
            try:
                msg = msgspec.json.decode(frame)
            except msgspec.DecodeError as exc:
                raise DecodeError(VENUE, f"invalid JSON: {exc}", frame) from None
            text = str(msg.get("msg", "")) if isinstance(msg, dict) else ""
            if text in CHANNELS:
                return StreamReply(ok=True)
            if "Not Subscribed" in text or text == "wrong format":
                return StreamReply(ok=False, message=text)
            return None  # PONG
        try:
            wrapper = _parse(frame)
        except ProtobufError as exc:
            raise DecodeError(VENUE, f"invalid protobuf: {exc}", frame) from None
        body = wrapper.WhichOneof("body")
        try:
            if body == "privateAccount":
                a = wrapper.privateAccount
                return [Balance(venue=VENUE, asset=a.vcoinName, free=float(a.balanceAmount or 0),
                                locked=float(a.frozenAmount or 0))]
            if body == "privateOrders":
                return self._order(wrapper)
            if body == "privateDeals":
                return self._deal(wrapper)
        except ValueError as exc:
            raise DecodeError(VENUE, f"bad {body} push: {exc}", frame) from None
        return []

    def _order(self, wrapper: Any) -> list[StreamEvent]:
        o = wrapper.privateOrders
        symbol = self.symbols.get(wrapper.symbol)
        status, order_type = _STATUS.get(o.status), _TYPE.get(o.orderType)
        if symbol is None or status is None or order_type is None:
            return []  # a symbol we do not trade, or a state/type we do not model
        pushed = OrderUpdate(
            venue=VENUE, symbol=symbol, client_order_id=o.clientId, order_id=o.id,
            side="buy" if o.tradeType == 1 else "sell", order_type=order_type, status=status,
            price=float(o.price or 0) or None, qty=float(o.quantity or 0),
            filled_qty=float(o.cumulativeQuantity or 0), filled_quote=float(o.cumulativeAmount or 0),
            ts_ms=wrapper.createTime or wrapper.sendTime or o.createTime)
        if (bad := unusable_update_field(pushed)) is not None:
            raise ValueError(f"it gives {bad}")
        update = self._charged(pushed)
        return [update] if update is not None else []

    def _deal(self, wrapper: Any) -> list[StreamEvent]:
        d = wrapper.privateDeals
        fill = Charge(price=float(d.price), qty=float(d.quantity), commission=float(d.feeAmount or 0),
                     commission_asset=d.feeCurrency)
        if not (0 < fill.price <= MAX_FLOAT and 0 < fill.qty <= MAX_FLOAT and abs(fill.commission) <= MAX_FLOAT):
            raise ValueError(f"price/quantity/feeAmount {d.price!r}/{d.quantity!r}/{d.feeAmount!r}")
        _room(self._deals, d.orderId).setdefault(d.orderId, {})[d.tradeId] = fill
        held = self._pushed.get(d.orderId)
        update = self._charged(held) if held is not None else None
        return [update] if update is not None and update.fee_asset else []  # told again once its fee is known

    def _charged(self, update: OrderUpdate) -> OrderUpdate | None:
        """``update`` with the order's fee from its deals seen. One whose fee is not known yet is
        remembered, to be told again by the deal that completes it; until then a non-final one
        is told fee unreported and a FINAL one not at all (None): a leg settled by it would be
        charged an estimate when the exact fee is a deal push away (its REST reply settles it if
        the deals never come). A final one whose fee is known: its deals are forgotten."""
        oid = update.order_id
        if update.filled_qty:
            fee, asset = fee_of(_upto(self._deals.get(oid, {}).values(), update.filled_qty), update.filled_qty,
                                *split_symbol(update.symbol))
            update = msgspec.structs.replace(update, fee=fee, fee_asset=asset)
            if not asset:
                _room(self._pushed, oid)[oid] = update
                return None if update.final else update
        self._pushed.pop(oid, None)
        if update.final:
            self._deals.pop(oid, None)
        return update


def _upto(fills: Iterable[Charge], filled: float) -> list[Charge]:
    """The deals, in arrival order, that make up a state's cumulative ``filled``: a deal pushed
    ahead of the order's next state is not charged to this one."""
    out: list[Charge] = []
    total = 0.0
    for f in fills:
        if total >= filled * (1 - 1e-9):
            break
        out.append(f)
        total += f.qty
    return out


def _room(table: dict[str, Any], key: str) -> dict[str, Any]:
    """``table`` with room for ``key``: beyond ``TRACKED`` orders the oldest is forgotten (its
    fee, if it ever completes, is then unreported: estimated, never wrong)."""
    while key not in table and len(table) >= TRACKED:
        del table[next(iter(table))]
    return table
