"""Gate.io ``spot.obu`` (order book v2, gateio.md §4.2) for the simulated venue.

A stream ``ob.PAIR.N`` (N = 50 or 400 levels) is a top-N view of the venue's book, followed
per subscription: its first push is ``full: true`` (the view now, ``u`` = the book's update
id); after it every push carries the levels of the view that changed since that
subscription's previous push, with ``U`` = previous ``u`` + 1 and ``u`` = the book's id now; a
level that left the view is sent with amount "0". A push lost to a fault is a real gap for
that subscription. A Gate in-band ``full`` delta (``gate_full_every``) becomes a full push.
"""

from __future__ import annotations

import msgspec

from simulator.market import Delta, VenueBook
from simulator.venues.base import Conn, now_ms

CHANNEL = "spot.obu"
LEVELS = (50, 400)
_enc = msgspec.json.Encoder()
Side = dict[int, int]


def parse_stream(stream: object) -> tuple[str, int] | None:
    """``"ob.BTC_USDT.50"`` -> ("BTC_USDT", 50); None if not a documented stream name."""
    if not isinstance(stream, str):
        return None
    prefix, _, rest = stream.partition(".")
    pair, _, levels = rest.rpartition(".")
    if prefix != "ob" or not pair or not levels.isdigit() or int(levels) not in LEVELS:
        return None
    return pair, int(levels)


class ObuViews:
    """The last-pushed top-N view of each subscription, by (its connection, symbol)."""

    def __init__(self, books: dict[str, VenueBook]) -> None:
        self.books = books
        self._views: dict[tuple[object, str], tuple[int, Side, Side]] = {}  # -> (u, bids, asks)

    def _top(self, symbol: str, n: int) -> tuple[Side, Side]:
        book = self.books[symbol]
        return dict(book.bids.items()[-n:]), dict(book.asks.items()[:n])

    def request(self, conn: Conn, event: str, payload: object, pairs: dict[str, str]
                ) -> tuple[dict | None, dict | None, str | None]:
        """A ``spot.obu`` subscribe/unsubscribe on ``conn``: (error, result) of the reply and,
        for a new subscription, its first push (sent after the reply)."""
        stream = payload[0] if isinstance(payload, list) and len(payload) == 1 else None
        parsed = parse_stream(stream)
        symbol = pairs.get(parsed[0]) if parsed else None
        if parsed is None or symbol is None:
            return {"code": 2, "message": f"Invalid argument provided: payload {payload}"}, None, None
        if event == "unsubscribe":
            if conn.names.get(symbol) == stream:
                conn.subs.discard(symbol)
                del conn.names[symbol]
                self.drop(conn, symbol)
            return None, {"status": "success"}, None
        if symbol in conn.subs:  # gateio.md §4.2: subscribing twice on one connection
            return {"code": 2, "message": f"Alert sub {stream}"}, None, None
        conn.subs.add(symbol)
        conn.names[symbol] = str(stream)
        return None, {"status": "success"}, self.first_push(conn, symbol, parsed[1], str(stream))

    def first_push(self, conn: object, symbol: str, n: int, stream: str) -> str:
        """A new subscription's first push: the view now, in full."""
        seq = self.books[symbol].seq
        bids, asks = self._top(symbol, n)
        self._views[(conn, symbol)] = (seq, bids, asks)
        return self._frame(symbol, stream, seq, None, bids, asks, full=True)

    def drop(self, conn: object, symbol: str | None = None) -> None:
        """Forget a subscription (``symbol``) or every one of a closed connection (None)."""
        for key in [k for k in self._views if k[0] is conn and symbol in (None, k[1])]:
            del self._views[key]

    def push(self, conn: object, symbol: str, n: int, stream: str, delta: Delta) -> str | None:
        """The push after a book change: full when ``delta`` is, else the changed levels."""
        old = self._views.get((conn, symbol))
        seq = self.books[symbol].seq
        bids, asks = self._top(symbol, n)
        if delta.full or old is None:  # (None: every subscription got its first push already)
            self._views[(conn, symbol)] = (seq, bids, asks)
            return self._frame(symbol, stream, seq, None, bids, asks, full=True)
        u0, old_bids, old_asks = old
        changed_bids, changed_asks = _diff(old_bids, bids), _diff(old_asks, asks)
        if not changed_bids and not changed_asks:
            return None  # nothing to say: the next push starts at U = u0 + 1 still
        self._views[(conn, symbol)] = (seq, bids, asks)
        return self._frame(symbol, stream, seq, u0 + 1, changed_bids, changed_asks, full=False)

    def _frame(self, symbol: str, stream: str, u: int, first: int | None, bids: Side, asks: Side, *,
               full: bool) -> str:
        spec = self.books[symbol].spec
        fp, fq = spec.fmt_price, spec.fmt_qty
        t = now_ms()
        result: dict = {"t": t}
        if full:
            result["full"] = True
        result["s"] = stream
        if first is not None:
            result["U"] = first
        result["u"] = u
        result["b"] = [[fp(p), fq(q)] for p, q in sorted(bids.items(), reverse=True)]
        result["a"] = [[fp(p), fq(q)] for p, q in sorted(asks.items())]
        return _enc.encode({"time": t // 1000, "time_ms": t, "channel": CHANNEL, "event": "update",
                            "result": result}).decode()


def _diff(old: Side, new: Side) -> Side:
    out = {p: q for p, q in new.items() if old.get(p) != q}
    out.update({p: 0 for p in old if p not in new})
    return out
