"""The market model: one shared random walk per symbol, seen by each venue with its own lag
and noise, and each venue's L2 book churning around that venue's mid.

Pure and deterministic from the seed: the clock is a step counter advanced by the caller
(``Market.step``), never the wall clock, so a test can replay the exact market of a run.
Books hold integer prices (ticks) and sizes (steps), so what is pushed, what a snapshot says
and what the matching engine consumes are the same exact numbers.

Changes are recorded into each book's *pending* delta with one sequence number per level
update (the Binance/MEXC/Gate ``U..u`` rule), and drained by the venue's pusher.
"""

from __future__ import annotations

import math
import random
from collections import deque

from sortedcontainers import SortedDict

from simulator.config import SimConfig, SymbolSpec, symbol_spec

# Mid model (fractions of price). The cross-venue spread (noise_a - noise_b, std ~6.4 bp)
# beats two taker fees (15-20 bp) ~10% of the time, for a second or two at a time.
WALK_VOL = 2.0e-4  # shared walk, per sqrt(second)
NOISE_STD = 4.5e-4  # per-venue stationary noise
NOISE_TAU_S = 1.5  # how fast a venue's deviation reverts
LAG_S = {"mexc": 0.0, "binance": 0.2, "gateio": 0.5}
TOP_PICK_SHARE = 0.5  # half the churn lands near the top of the book
TOP_SCALE = 20.0  # mean distance (in levels) of a near-top update
SEQ0 = 1_000_000  # a book's update id before its first change
DELETE_P = 0.5  # chance an update to a present level removes it: 1/(1+p) of levels present


class Delta:
    """The changes of one book since the last drain: ``first..last`` sequence numbers and the
    final quantity (steps, 0 = removed) per price (ticks)."""

    __slots__ = ("first", "last", "bids", "asks", "full")

    def __init__(self, first: int, last: int, bids: dict[int, int], asks: dict[int, int], full: bool = False):
        self.first, self.last, self.bids, self.asks, self.full = first, last, bids, asks, full


class VenueBook:
    """One venue's book for one symbol: levels, sequence number and the pending delta."""

    def __init__(self, spec: SymbolSpec, levels: int, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.span = int(levels * (1 + DELETE_P))  # grid points per side we keep levels on
        self.bids: SortedDict = SortedDict()  # ticks -> steps; best = last
        self.asks: SortedDict = SortedDict()  # best = first
        self.seq = 0
        self._p_bids: dict[int, int] = {}
        self._p_asks: dict[int, int] = {}
        self._p_first = 1
        self._carry = 0.0
        self.bid_top = 0
        self.ask_bot = 0

    # --- level mutation (every change goes through here: it numbers and records it) -------
    def set_level(self, is_bid: bool, price: int, qty: int) -> None:
        side = self.bids if is_bid else self.asks
        if qty > 0:
            side[price] = qty
        elif price in side:
            del side[price]
        else:
            return
        self.seq += 1
        (self._p_bids if is_bid else self._p_asks)[price] = qty

    def drain(self) -> Delta | None:
        """The pending changes as one delta (None when nothing changed), and start a new one."""
        if self.seq < self._p_first:
            return None
        d = Delta(self._p_first, self.seq, self._p_bids, self._p_asks)
        self._p_bids, self._p_asks, self._p_first = {}, {}, self.seq + 1
        return d

    def full_delta(self, delta: Delta) -> Delta:
        """The whole book under the numbers of ``delta`` (Gate's ``full: true`` push)."""
        return Delta(delta.first, delta.last, dict(self.bids), dict(self.asks), full=True)

    def _random_qty(self, price: int) -> int:
        value = self.spec.level_notional * self.rng.lognormvariate(0.0, 1.0)
        return max(1, int(value / (price * self.spec.tick) / self.spec.step))

    # --- market evolution -------------------------------------------------------------------
    def seed_levels(self, mid: float) -> None:
        """Fill the book at equilibrium around ``mid`` (price units) without recording."""
        self._bounds(mid)
        g = self.spec.grid
        for k in range(self.span):
            for is_bid, price in ((True, self.bid_top - k * g), (False, self.ask_bot + k * g)):
                if (k == 0 or self.rng.random() < 1 / (1 + DELETE_P)) and price > 0:
                    (self.bids if is_bid else self.asks)[price] = self._random_qty(price)
        self.seq = SEQ0  # a book's update id is never 0 at a live venue (nor "none yet" to a client)
        self._p_first = self.seq + 1

    def _bounds(self, mid: float) -> None:
        g = self.spec.grid
        m = mid / self.spec.tick
        self.bid_top = (math.ceil(m / g) - 1) * g
        self.ask_bot = self.bid_top + g

    def step(self, mid: float, dt: float, updates_per_s: float) -> None:
        """Move the book to a new venue mid (price units) and churn it for ``dt`` seconds."""
        self._bounds(mid)
        g, span, top, bot = self.spec.grid, self.span, self.bid_top, self.ask_bot
        bids, asks, set_level = self.bids, self.asks, self.set_level
        bid_keys, ask_keys = bids.keys(), asks.keys()  # views: index -1 is the highest price
        # Levels the mid moved through, or that drifted out of range, go away.
        while bids and bid_keys[-1] > top:
            set_level(True, bid_keys[-1], 0)
        while asks and ask_keys[0] < bot:
            set_level(False, ask_keys[0], 0)
        low = top - span * g
        while bids and bid_keys[0] <= low:
            set_level(True, bid_keys[0], 0)
        high = bot + span * g
        while asks and ask_keys[-1] >= high:
            set_level(False, ask_keys[-1], 0)
        rng = self.rng
        rnd, expo, qty = rng.random, rng.expovariate, self._random_qty
        want = updates_per_s * dt + self._carry
        n = int(want)
        self._carry = want - n
        for _ in range(n):
            is_bid = rnd() < 0.5
            if rnd() < TOP_PICK_SHARE:
                k = min(int(expo(1.0 / TOP_SCALE)), span - 1)
            else:
                k = int(rnd() * span)
            price = top - k * g if is_bid else bot + k * g
            if price <= 0:
                continue
            side = bids if is_bid else asks
            if price in side and rnd() < DELETE_P:
                set_level(is_bid, price, 0)
            else:
                set_level(is_bid, price, qty(price))
        # Market makers keep the touch quoted: the spread stays one level wide.
        if top > 0 and top not in bids:
            set_level(True, top, qty(top))
        if bot not in asks:
            set_level(False, bot, qty(bot))

    def levels(self) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        """The book as floats (parsed from the same strings a client gets), best first."""
        fp, fq = self.spec.fmt_price, self.spec.fmt_qty
        bids = tuple((float(fp(p)), float(fq(q))) for p, q in reversed(self.bids.items()))
        asks = tuple((float(fp(p)), float(fq(q))) for p, q in self.asks.items())
        return bids, asks


class MidModel:
    """Shared walk + per-venue lag and Ornstein-Uhlenbeck noise for one symbol."""

    def __init__(self, seed: int, symbol: str, venues: tuple[str, ...], price0: float, dt: float,
                 factor: dict[str, float] | None = None, noise: float = 1.0) -> None:
        self.dt = dt
        self._factor = {v: (factor or {}).get(v, 1.0) for v in venues}
        self._walk_rng = random.Random(f"{seed}:walk:{symbol}")
        self._noise_rng = {v: random.Random(f"{seed}:noise:{v}:{symbol}") for v in venues}
        self._lag_steps = {v: round(LAG_S.get(v, 0.0) / dt) for v in venues}
        depth = max(self._lag_steps.values(), default=0) + 1
        self._walk: deque[float] = deque([math.log(price0)] * depth, maxlen=depth)
        self._noise = {v: self._noise_rng[v].gauss(0.0, NOISE_STD * noise) for v in venues}
        self._decay = math.exp(-dt / (NOISE_TAU_S * noise))  # thin markets dislocate further, for longer
        self._shock = NOISE_STD * noise * math.sqrt(1 - self._decay**2)

    def step(self, n: int = 1) -> None:
        """Advance ``n`` intervals: the same draws, in the same order, as ``n`` single steps."""
        walk, noise, decay, shock = self._walk, self._noise, self._decay, self._shock
        walk_std = WALK_VOL * math.sqrt(self.dt)
        for _ in range(n):
            walk.append(walk[-1] + self._walk_rng.gauss(0.0, walk_std))
            for v, rng in self._noise_rng.items():
                noise[v] = noise[v] * decay + rng.gauss(0.0, shock)

    def mid(self, venue: str) -> float:
        return self._factor[venue] * math.exp(self._walk[-1 - self._lag_steps[venue]] + self._noise[venue])


def cadence(activity: float) -> int:
    """Every how many intervals a market of this ``activity`` (update-rate factor) moves: a quiet
    one (a < 1) every ``round(1 / a)``, its changes merged meanwhile, so its top of book changes
    rarely and its frame rate is a fraction of a busy market's (the mid's walk alone would
    otherwise move every book at every interval), and stepping it costs as little."""
    return max(1, round(1.0 / activity)) if activity < 1.0 else 1


class Market:
    """Every venue's book for every symbol, advanced one push interval at a time.

    A market moves at its ``cadence``: its mid model advances every interval it covers (the
    same walk and noise draws as stepping each interval, so every venue, in any process, sees
    the same walk), its books only on the intervals it is due, churned for the time since.
    The markets not due cost nothing at a step."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.dt = cfg.push_interval_s
        self.specs: dict[str, SymbolSpec] = {}
        self.mids: dict[str, MidModel] = {}
        self.books: dict[str, dict[str, VenueBook]] = {v: {} for v in cfg.venues}
        self._by_cadence: dict[int, list[str]] = {}  # k -> the symbols that move every k-th step
        universe = dict.fromkeys(s for v in cfg.venues for s in cfg.listed(v))
        for s in universe:
            self.list(s, [v for v in cfg.venues if s in cfg.listed(v)])
        self.steps = 0

    def list(self, symbol: str, venues: list[str]) -> None:
        """List ``symbol`` on ``venues`` (at run time too): its books start around the mid."""
        spec = self.specs.get(symbol)
        if spec is None:
            spec = self.specs[symbol] = symbol_spec(symbol)
            self.mids[symbol] = MidModel(self.cfg.seed, symbol, self.cfg.venues, spec.price0, self.dt,
                                         self.cfg.price_factor.get(symbol, {}), self.cfg.noise.get(symbol, 1.0))
            self._by_cadence.setdefault(cadence(self.cfg.activity.get(symbol, 1.0)), []).append(symbol)
        for v in venues:
            if symbol not in self.books[v]:
                book = VenueBook(spec, self.cfg.levels, random.Random(f"{self.cfg.seed}:book:{v}:{symbol}"))
                book.seed_levels(self.mids[symbol].mid(v))
                self.books[v][symbol] = book

    def delist(self, symbol: str, venue: str) -> None:
        """Take ``symbol`` off ``venue``: no more pushes, absent from its listing."""
        self.books[venue].pop(symbol, None)

    def step(self) -> None:
        """One interval: the markets due at it move (see the class docstring)."""
        self.steps += 1
        rate, activity, books = self.cfg.updates_per_s, self.cfg.activity, self.books
        venues = [(v, books[v]) for v in self.cfg.venues]
        for k, symbols in self._by_cadence.items():
            if self.steps % k:
                continue
            dt = k * self.dt
            for s in symbols:
                model = self.mids[s]
                model.step(k)
                for v, venue_books in venues:
                    book = venue_books.get(s)
                    if book is not None:
                        book.step(model.mid(v), dt, rate * activity.get(s, 1.0))


def best_edge(market: Market, symbol: str, fees: dict[str, float]) -> float:
    """The best cross-venue edge after both taker fees: max over venue pairs of
    ``bid_b / ask_a - 1 - fee_a - fee_b`` at the touch. Positive = an opportunity."""
    tops = {}
    for v, books in market.books.items():
        b = books.get(symbol)
        if b is not None and b.bids and b.asks:
            tops[v] = (b.bids.peekitem(-1)[0], b.asks.peekitem(0)[0])
    best = -math.inf
    for a, (_, ask) in tops.items():
        for c, (bid, _) in tops.items():
            if a != c:
                best = max(best, bid / ask - 1 - fees[a] - fees[c])
    return best
