"""Fresh prices for money that is not a trade: open positions marked to live books, and
third-asset fees converted at them. Every figure is asked of a running book actor NOW (never
cached); a book that does not answer, is out of sync or is older than ``max_age_ms`` gives no
price, and the caller counts that conservatively (an unmarkable position is over any limit; an
unconvertible fee is flagged)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from actors import ActorRef
from actors.positions import (
    Executed,
    Position,
    mark_price,
    position_value,
    third_fee_assets,
)
from protocols.errors import ActorStopped, AskTimeout
from protocols.messages import BookView, GetView

BookLookup = Callable[[str, str], ActorRef | None]  # (venue, symbol) -> its book actor, if running
VIEW_ASK_S = 0.5  # a book that cannot answer this fast cannot mark anything


class Marks:
    def __init__(self, books: BookLookup, *, clock: Callable[[], int], max_age_ms: int) -> None:
        self.books, self.clock, self.max_age_ns = books, clock, max_age_ms * 1_000_000

    async def view(self, venue: str, symbol: str) -> BookView | None:
        ref = self.books(venue, symbol)
        if ref is None:
            return None
        try:
            view = await ref.ask(GetView(), timeout=VIEW_ASK_S)
        except (AskTimeout, ActorStopped):  # no answer: no price (the caller is conservative)
            return None
        if not view.in_sync or self.clock() - view.recv_ns > self.max_age_ns:
            return None
        return view

    async def positions(self, positions: Iterable[Position]) -> dict[str, float]:
        """Quote at risk per venue (inf where a position cannot be marked)."""
        out: dict[str, float] = {}
        for pos in positions:
            view = await self.view(pos.venue, pos.symbol)
            mark = mark_price(pos.qty, view.bids[0][0] if view is not None and view.bids else None,
                              view.asks[0][0] if view is not None and view.asks else None)
            out[pos.venue] = out.get(pos.venue, 0.0) + position_value(pos.qty, mark)
        return out

    async def fee_rates(self, venues: Iterable[str], orders: Iterable[Executed], base: str,
                        quote: str) -> Mapping[str, float]:
        """Quote per unit of every third fee asset (BNB, MX, GT): a fresh mid on any venue."""
        rates: dict[str, float] = {}
        names = list(venues)
        for asset in third_fee_assets(orders, base, quote):
            for venue in names:
                view = await self.view(venue, f"{asset}/{quote}")
                if view is not None and view.bids and view.asks:
                    rates[asset] = (view.bids[0][0] + view.asks[0][0]) / 2
                    break
        return rates
