"""Fault injection for one simulated venue: armed by tests or the admin API, consumed by the
venue's pusher and request handlers at the moment the fault actually happens, and counted then.

Kinds (``count`` = how many times it fires):
  disconnect      close every WebSocket of the venue (code 1001, as a venue restart does)
  stall           skip one push without closing; the changes are kept and arrive later, merged
  gap             lose one push: its changes are never sent, the next push skips sequence numbers
  duplicate       send one push twice
  reorder         send one push after the next one
  malformed       send one broken frame (truncated JSON, bad protobuf, wrong field type)
  latency         delay one push by ``SimConfig.fault_latency_s``
  stale_snapshot  the next depth snapshot is the book as it was when the fault was armed
  http_429        answer the next REST request with 429 and the venue's rate-limit headers
  http_5xx        answer the next REST request with 503
  timeout         hold the next REST response for ``SimConfig.fault_timeout_s``
  trades_5xx      answer the next own-trades request (myTrades, my_trades) with 503: an order's
                  fills (and so its fee) unreadable while its state is known
  order_unknown   execute the next order, then answer 503 (the outcome is unknown to the client)
  order_timeout   hold the next order request BEFORE it executes for ``fault_timeout_s``, then
                  answer 504: the order never executes (a request lost on its way)
  order_latency   execute the next order at once, then hold its HTTP answer for
                  ``SimConfig.fault_order_latency_s`` (default: ``fault_latency_s``); meanwhile a
                  query by client id finds it (a slow venue, or a kill with a leg in flight)
  private_drop    close every private-stream (user data) connection at the next account event,
                  which is lost with it
  private_miss    lose the next account event (no venue replays them)
  private_delay   hold the next account event's frames for ``fault_latency_s`` (a late fill push)
  ws_api_drop     execute the next WebSocket API order, then close its connection before the
                  reply (the outcome is unknown to the client)
"""

from __future__ import annotations

from typing import Any

KINDS = (
    "disconnect",
    "stall",
    "gap",
    "duplicate",
    "reorder",
    "malformed",
    "latency",
    "stale_snapshot",
    "http_429",
    "http_5xx",
    "timeout",
    "trades_5xx",
    "order_unknown",
    "order_timeout",
    "order_latency",
    "private_drop",
    "private_miss",
    "private_delay",
    "ws_api_drop",
)


class Faults:
    """Armed faults and the tally of those that fired."""

    def __init__(self) -> None:
        self.armed: dict[str, int] = {}
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.stale: dict[str, Any] = {}  # symbol -> book copy, for stale_snapshot
        self.on_arm: list[Any] = []  # callbacks(kind), e.g. to copy books for stale_snapshot

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(KINDS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        self.armed[kind] = self.armed.get(kind, 0) + count
        for callback in self.on_arm:
            callback(kind)

    def armed_for(self, kind: str) -> bool:
        return self.armed.get(kind, 0) > 0

    def take(self, kind: str) -> bool:
        """Consume one armed ``kind`` and count it as fired; False when none is armed."""
        left = self.armed.get(kind, 0)
        if left <= 0:
            return False
        if left == 1:
            del self.armed[kind]
        else:
            self.armed[kind] = left - 1
        self.counts[kind] += 1
        return True

    def clear(self) -> None:
        """Disarm everything (the counts stay: they are history)."""
        self.armed.clear()
        self.stale.clear()

    def describe(self) -> dict[str, dict[str, int]]:
        return {"armed": dict(self.armed), "counts": dict(self.counts)}
