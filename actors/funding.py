"""What the venues' balances allow an opportunity, for the executor.

``Funder.size`` reads each live venue's balances from its LIVE account view (``actors.account``:
the private stream, connected and rebuilt since) synchronously -- no round trip between the
detection and the legs -- and fetches any other venue's over REST NOW (never cached; a
transient error there is raised to the executor, which rejects this opportunity as
``venue_unavailable``). The size is capped by them (``actors.risk.cap_by_balances``). The
balances read are returned for the journal: the executor tells them after the legs are out
(told before, they would sit in the journal's mailbox ahead of the intents and send those the
slow way); a live view's read is returned as the (immutable) view and the decision's time, and
becomes a ``Balances`` record only then (``as_balances``), after the sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from actors.account import AccountBoard, AccountView
from actors.risk import cap_by_balances
from actors.static import StaticData
from protocols.messages import Balances, Opportunity, SymbolInfo
from protocols.venue import Venue, split_symbol

Read = Balances | tuple[AccountView, int]  # fetched over REST, or a live view as read at a time


def as_balances(read: Read) -> Balances:
    """A decision's read as the journal's record."""
    if isinstance(read, Balances):
        return read
    view, ts_ns = read
    return view.snapshot(ts_ns)


def _free(read: Read | None, asset: str) -> float:
    if read is None:  # no real orders on that venue (paper): no cap
        return float("inf")
    if isinstance(read, Balances):
        return read.free(asset)
    return read[0].balances.get(asset, (0.0, 0.0))[0]


class Funder:
    """See the module docstring. Counts where each balance check read from."""

    def __init__(self, *, static: StaticData, accounts: AccountBoard, venues: Mapping[str, Venue],
                 clock: Callable[[], int]) -> None:
        self.static, self.accounts, self.venues, self.clock = static, accounts, venues, clock
        self.from_stream = 0  # venue balance checks read from a live account view
        self.from_rest = 0  # ... fetched over REST (no usable view)
        # (buy rules, sell rules) -> their minimums as floats: a Decimal's float() goes through its
        # string, and the rules are the same objects from one opportunity to the next.
        self._minimums: dict[tuple[int, int], tuple[SymbolInfo, SymbolInfo, float, float]] = {}

    def minimums(self, buy: SymbolInfo, sell: SymbolInfo) -> tuple[float, float]:
        """(least size, least notional) both legs' rules allow: the larger minimum quantity (at
        least the coarser lot step) and the larger minimum notional."""
        key = (id(buy), id(sell))
        got = self._minimums.get(key)
        if got is None or got[0] is not buy or got[1] is not sell:
            step = max(float(buy.step_size), float(sell.step_size))
            got = self._minimums[key] = (buy, sell, max(step, float(buy.min_qty), float(sell.min_qty)),
                                         max(float(buy.min_notional), float(sell.min_notional)))
        return got[2], got[3]

    async def size(self, opp: Opportunity, live: list[str]) -> tuple[float, SymbolInfo, SymbolInfo, list[Read]]:
        """The size both legs can fund (``live``: the venues that get real orders), the symbol
        rules of both, and the balances read."""
        buy_info = await self.static.info(opp.buy_venue, opp.symbol)
        sell_info = await self.static.info(opp.sell_venue, opp.symbol)
        if not live:
            return opp.size, buy_info, sell_info, []
        base, quote = split_symbol(opp.symbol)
        now = self.clock()
        by_venue: dict[str, Read] = {}
        for v in live:
            view = self.accounts.usable(v)
            if view is not None:
                by_venue[v] = (view, now)
        rest = [v for v in live if v not in by_venue]
        self.from_stream += len(by_venue)
        self.from_rest += len(rest)
        if rest:
            got = await asyncio.gather(*(self.venues[v].balances() for v in rest), return_exceptions=True)
            for b in got:
                if isinstance(b, BaseException):
                    raise b
            by_venue.update({b.venue: b for b in got if not isinstance(b, BaseException)})
        size = cap_by_balances(opp, quote_free_on_buy=_free(by_venue.get(opp.buy_venue), quote),
                               base_free_on_sell=_free(by_venue.get(opp.sell_venue), base), fee_buy=buy_info.taker_fee)
        return size, buy_info, sell_info, list(by_venue.values())
