"""Venue rules a client must live with, as the simulated venues enforce them (each switchable
in ``SimConfig``; None turns one off):

- MEXC (mexc.md §1.1): a socket without a valid subscription is closed after 30 s; a
  subscribed one with nothing flowing either way (no push, no PING) after 60 s.
- Binance (binance.md §3.1): more than 5 incoming messages a second close the socket;
  (§3.3) requests that keep coming while rate limited (429) end in a 418 IP ban.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from simulator.venues.base import Conn


async def mexc_idle(conn: Conn, unsubscribed_s: float | None, no_data_s: float | None,
                    close: Callable[[str], None]) -> None:
    """Watch ``conn`` until it breaks an idle rule, then ``close(rule)``."""
    limits = [t for t in (unsubscribed_s, no_data_s) if t is not None]
    if not limits:
        return
    loop = asyncio.get_running_loop()
    since_unsubscribed: float | None = loop.time()
    while True:
        await asyncio.sleep(min(limits) / 10)
        now = loop.time()
        if conn.subs:
            since_unsubscribed = None
            if no_data_s is not None and now - max(conn.last_in, conn.last_out) > no_data_s:
                return close("idle_no_data")
        else:
            since_unsubscribed = now if since_unsubscribed is None else since_unsubscribed
            if unsubscribed_s is not None and now - since_unsubscribed > unsubscribed_s:
                return close("idle_unsubscribed")


def too_many_messages(conn: Conn, per_s: int | None) -> bool:
    """Count the message ``conn`` just received (at ``conn.last_in``); True over ``per_s``/s."""
    if per_s is None:
        return False
    now = conn.last_in
    conn.inbound = [t for t in conn.inbound if now - t < 1.0] + [now]
    return len(conn.inbound) > per_s


class IpBan:
    """Binance's escalation: after ``after`` requests made while over the limit, every request
    is refused for ``ban_s`` seconds (418)."""

    def __init__(self, after: int | None, ban_s: float) -> None:
        self.after, self.ban_s = after, ban_s
        self.until = 0.0  # time.time() until which every request is answered 418
        self.while_limited = 0  # requests made while rate limited, in this window

    def banned_for(self) -> float | None:
        left = self.until - time.time()
        return left if left > 0 else None

    def over_limit(self, reset_s: float) -> float:
        """One more request while over the limit: seconds until it may retry (the ban's, once banned)."""
        self.while_limited += 1
        if self.after is not None and self.while_limited > self.after:
            self.until = time.time() + self.ban_s
            return self.ban_s
        return reset_s
