"""One venue's account and matching engine: orders take liquidity from that venue's simulated
book (price-time: best level first, each level consumed in full before the next), fills pay the
venue's fee in the asset received (or, if so configured, in a third asset the account holds:
Binance's BNB), and consumed levels are recorded in the book's pending delta, so the depth
stream shows them.

Venue modules parse and validate the wire request into integer ticks/steps and map ``Reject``
reasons to the venue's own error bodies; nothing here knows a wire format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from simulator.market import VenueBook

RejectReason = Literal[
    "min_notional", "insufficient_balance", "duplicate_client_id", "unknown_order", "order_closed", "no_liquidity",
    "would_take",  # a post-only order that would match at once
]
# limit: rests (GTC); ioc: takes what it can, the rest expires; fok: fills whole at once or
# expires untouched; post_only: rests, refused if it would take; market: takes, never rests.
Kind = Literal["limit", "ioc", "fok", "post_only", "market"]
OPEN = ("new", "partially_filled")


class Reject(Exception):
    """An order request the venue refuses; ``reason`` is mapped to the venue's error."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Order:
    """The venue's record of one order. Prices in ticks, sizes in steps, values in quote."""

    order_id: str
    client_id: str | None  # None: placed without one (the venue reports null / its own marker)
    symbol: str
    side: Literal["buy", "sell"]
    kind: Kind
    price: int | None  # ticks; None for market
    qty: int | None  # steps; None for a market buy by quote amount
    quote_qty: float | None
    created_ms: int
    updated_ms: int
    fee_asset: str
    filled: int = 0
    filled_quote: float = 0.0
    fee: float = 0.0
    fee_rate: float | None = None  # a third fee asset's price in quote, fixed when placed (BNB)
    status: Literal["new", "partially_filled", "filled", "canceled", "expired"] = "new"
    locked: float = 0.0  # still reserved: quote for a buy, base for a sell
    fills: list[tuple[int, int]] = field(default_factory=list)  # (ticks, steps)
    fills_pushed: int = 0  # of ``fills``, those already told on the private stream
    arrival_ns: int = 0  # time.monotonic_ns() when its request reached the venue (tick-to-trade)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


class Exchange:
    """Balances, orders (``by_id``: all; ``orders``: those with a client id, by it) and matching
    for one venue."""

    def __init__(
        self,
        *,
        books: dict[str, VenueBook],
        fee: float,
        min_notional: float,
        balances: dict[str, float],
        new_order_id: Callable[[], str],
        fee_asset: str | None = None,
    ) -> None:
        self.books = books
        self.fee = fee
        # Binance's "pay fees with BNB": an order whose whole fee the account's ``fee_asset``
        # covers is charged in it (valued at the ``<asset>/<quote>`` book's mid); any other, or
        # without such a book, in the asset received. The 25% BNB discount is not modelled.
        self.fee_asset = fee_asset
        self.min_notional = min_notional
        self.balances: dict[str, list[float]] = {a: [float(v), 0.0] for a, v in balances.items()}
        self.orders: dict[str, Order] = {}
        self.by_id: dict[str, Order] = {}
        self._new_id = new_order_id

    def free(self, asset: str) -> float:
        return self.balances.get(asset, [0.0, 0.0])[0]

    def _move(self, asset: str, free: float = 0.0, locked: float = 0.0) -> None:
        row = self.balances.setdefault(asset, [0.0, 0.0])
        row[0] += free
        row[1] += locked

    def place(
        self,
        *,
        symbol: str,
        side: Literal["buy", "sell"],
        kind: Kind,
        client_id: str | None,
        now_ms: int,
        price: int | None = None,
        qty: int | None = None,
        quote_qty: float | None = None,
    ) -> Order:
        """Validate, reserve, match. Raises ``Reject``; the order is recorded only if accepted."""
        if client_id is not None and client_id in self.orders:
            raise Reject("duplicate_client_id", client_id)
        book = self.books[symbol]
        spec = book.spec
        if kind == "post_only" and self._crosses(book, side, price or 0):
            raise Reject("would_take", f"{side} at {price} crosses the book")
        base, quote = spec.base, spec.quote
        if side == "buy":
            if kind == "market" and qty is None:
                need = float(quote_qty or 0.0)
            elif kind == "market":
                need = self._cost(book, qty or 0)
            else:
                need = (price or 0) * spec.tick * (qty or 0) * spec.step
            notional = need
            if notional < self.min_notional:
                raise Reject("min_notional", f"{notional:.8f} < {self.min_notional}")
            if self.free(quote) + 1e-12 < need:
                raise Reject("insufficient_balance", f"{quote} {self.free(quote)} < {need}")
            self._move(quote, -need, need)
        else:
            q = (qty or 0) * spec.step
            ref = price if price is not None else (book.bids.peekitem(-1)[0] if book.bids else 0)
            notional = q * ref * spec.tick
            if notional < self.min_notional:
                raise Reject("min_notional", f"{notional:.8f} < {self.min_notional}")
            if self.free(base) + 1e-12 < q:
                raise Reject("insufficient_balance", f"{base} {self.free(base)} < {q}")
            need = q
            self._move(base, -need, need)
        third = self._third_fee(quote, notional)
        order = Order(
            order_id=self._new_id(),
            client_id=client_id,
            symbol=symbol,
            side=side,
            kind=kind,
            price=price,
            qty=qty,
            quote_qty=quote_qty,
            created_ms=now_ms,
            updated_ms=now_ms,
            fee_asset=third[0] if third else base if side == "buy" else quote,
            fee_rate=third[1] if third else None,
            locked=need,
        )
        if client_id is not None:
            self.orders[client_id] = order
        self.by_id[order.order_id] = order
        if kind != "fok" or self._available(book, order) >= (qty or 0):
            self._take(book, order, now_ms)
        if kind not in ("limit", "post_only") and order.is_open:
            order.status = "expired"  # IOC / FOK / market remainder is killed, never rests
        if not order.is_open:
            self._release(order)
        return order

    @staticmethod
    def _crosses(book: VenueBook, side: str, price: int) -> bool:
        if side == "buy":
            return bool(book.asks) and book.asks.peekitem(0)[0] <= price
        return bool(book.bids) and book.bids.peekitem(-1)[0] >= price

    @staticmethod
    def _available(book: VenueBook, order: Order) -> int:
        """Steps the book offers at ``order.price`` or better (FOK's all-or-nothing test)."""
        if order.side == "buy":
            return sum(book.asks[p] for p in book.asks.irange(maximum=order.price))
        return sum(book.bids[p] for p in book.bids.irange(minimum=order.price))

    @staticmethod
    def _cost(book: VenueBook, steps: int) -> float:
        """Quote needed to buy ``steps`` at market, walking the asks."""
        cost, left = 0.0, steps
        for price, avail in book.asks.items():
            q = min(avail, left)
            cost += price * book.spec.tick * q * book.spec.step
            left -= q
            if not left:
                break
        return cost

    def _take(self, book: VenueBook, order: Order, now_ms: int) -> None:
        spec = book.spec
        is_buy = order.side == "buy"
        levels = book.asks if is_buy else book.bids
        spent = False  # a quote-amount order whose remainder buys less than one step is done
        while levels:
            price, avail = levels.peekitem(0) if is_buy else levels.peekitem(-1)
            if order.price is not None and (price > order.price if is_buy else price < order.price):
                break
            px = price * spec.tick
            if order.qty is None:  # market buy spending a quote amount
                left_quote = (order.quote_qty or 0.0) - order.filled_quote
                q = min(avail, int(left_quote / px / spec.step + 1e-9))
            else:
                q = min(avail, order.qty - order.filled)
            if q <= 0:
                spent = order.qty is None
                break
            book.set_level(not is_buy, price, avail - q)
            self._fill(order, price, q, px * q * spec.step, q * spec.step)
        if order.filled:
            order.updated_ms = now_ms
            full = spent or (order.qty is not None and order.filled >= order.qty)
            order.status = "filled" if full else "partially_filled"

    def _fee_rate(self, asset: str, quote: str) -> float | None:
        """Quote per unit of a third fee asset: its ``<asset>/<quote>`` book's mid, or None."""
        book = self.books.get(f"{asset}/{quote}")
        if book is None or not book.bids or not book.asks:
            return None
        return (book.bids.peekitem(-1)[0] + book.asks.peekitem(0)[0]) / 2 * book.spec.tick

    def _third_fee(self, quote: str, notional: float) -> tuple[str, float] | None:
        """(``fee_asset``, its rate now) when it has a rate and the account holds the order's
        whole fee in it, else None. The order's fills are charged at that one rate."""
        if self.fee_asset is None:
            return None
        rate = self._fee_rate(self.fee_asset, quote)
        if rate is None or self.free(self.fee_asset) < notional * self.fee / rate:
            return None
        return self.fee_asset, rate

    def _fill(self, order: Order, price: int, q: int, value: float, base_qty: float) -> None:
        spec = self.books[order.symbol].spec
        order.fills.append((price, q))
        order.filled += q
        order.filled_quote += value
        rate = order.fee_rate  # quote per unit of a third fee asset (None: charged in what is received)
        if order.side == "buy":
            fee = value * self.fee / rate if rate else base_qty * self.fee
            self._move(spec.quote, 0.0, -value)
            order.locked -= value
            self._move(spec.base, base_qty - (0.0 if rate else fee))
        else:
            fee = value * self.fee / rate if rate else value * self.fee
            self._move(spec.base, 0.0, -base_qty)
            order.locked -= base_qty
            self._move(spec.quote, value - (0.0 if rate else fee))
        if rate:
            self._move(order.fee_asset, -fee)
        order.fee += fee

    def _release(self, order: Order) -> None:
        asset = self.books[order.symbol].spec.quote if order.side == "buy" else self.books[order.symbol].spec.base
        if order.locked:
            self._move(asset, order.locked, -order.locked)
            order.locked = 0.0

    def cancel(self, order: Order, now_ms: int) -> Order:
        if not order.is_open:
            raise Reject("order_closed", order.client_id or order.order_id)
        order.status = "canceled"
        order.updated_ms = now_ms
        self._release(order)
        return order

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.by_id.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    def sweep(self, now_ms: int) -> None:
        """Resting limit orders the moving book now crosses are filled against it."""
        for order in self.open_orders():
            self._take(self.books[order.symbol], order, now_ms)
            if not order.is_open:
                self._release(order)
