"""What the venues' balances allow an opportunity, for the executor.

``Funder.size`` reads each live venue's balances from its LIVE account view (``actors.account``:
the private stream, connected and rebuilt since) synchronously -- no round trip between the
detection and the legs -- and fetches any other venue's over REST NOW (never cached; a
transient error there is raised to the executor, which rejects this opportunity as
``venue_unavailable``). The size is capped by them (``actors.risk.cap_by_balances``). The
balances read are returned for the journal: the executor tells them after the legs are out
(told before, they would sit in the journal's mailbox ahead of the intents and send those the
slow way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from actors.account import AccountBoard
from actors.risk import cap_by_balances
from actors.static import StaticData
from protocols.messages import Balances, Opportunity, SymbolInfo
from protocols.venue import Venue, split_symbol


class Funder:
    """See the module docstring. Counts where each balance check read from."""

    def __init__(self, *, static: StaticData, accounts: AccountBoard, venues: Mapping[str, Venue],
                 clock: Callable[[], int]) -> None:
        self.static, self.accounts, self.venues, self.clock = static, accounts, venues, clock
        self.from_stream = 0  # venue balance checks read from a live account view
        self.from_rest = 0  # ... fetched over REST (no usable view)

    async def size(self, opp: Opportunity, live: list[str]) -> tuple[float, SymbolInfo, SymbolInfo, list[Balances]]:
        """The size both legs can fund (``live``: the venues that get real orders), the symbol
        rules of both, and the balances read."""
        buy_info = await self.static.info(opp.buy_venue, opp.symbol)
        sell_info = await self.static.info(opp.sell_venue, opp.symbol)
        if not live:
            return opp.size, buy_info, sell_info, []
        base, quote = split_symbol(opp.symbol)
        now = self.clock()
        by_venue = {}
        for v in live:
            view = self.accounts.usable(v)
            if view is not None:
                by_venue[v] = view.snapshot(now)
        rest = [v for v in live if v not in by_venue]
        self.from_stream += len(by_venue)
        self.from_rest += len(rest)
        if rest:
            got = await asyncio.gather(*(self.venues[v].balances() for v in rest), return_exceptions=True)
            for b in got:
                if isinstance(b, BaseException):
                    raise b
            by_venue.update({b.venue: b for b in got if not isinstance(b, BaseException)})
        size = cap_by_balances(
            opp,
            quote_free_on_buy=by_venue[opp.buy_venue].free(quote) if opp.buy_venue in by_venue else float("inf"),
            base_free_on_sell=by_venue[opp.sell_venue].free(base) if opp.sell_venue in by_venue else float("inf"),
            fee_buy=buy_info.taker_fee)
        return size, buy_info, sell_info, list(by_venue.values())
