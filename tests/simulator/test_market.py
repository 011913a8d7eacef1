"""The market model and the matching engine as pure code: no sockets, no clock."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import SimConfig
from simulator.config import symbol_spec
from simulator.market import Market, VenueBook, best_edge
from simulator.matching import Exchange, Reject

CFG = SimConfig()


def first_opportunity_s(seed: int, horizon_s: float = 10.0) -> float | None:
    m = Market(SimConfig(seed=seed, updates_per_s=30.0))
    for i in range(int(horizon_s / m.dt)):
        m.step()
        if any(best_edge(m, s, CFG.fees) > 0 for s in CFG.symbols):
            return (i + 1) * m.dt
    return None


def test_same_seed_gives_the_same_books_and_another_seed_does_not():
    a, b, c = Market(SimConfig(seed=5)), Market(SimConfig(seed=5)), Market(SimConfig(seed=6))
    for _ in range(20):
        a.step(), b.step(), c.step()
    assert a.books["gateio"]["SOL/USDT"].levels() == b.books["gateio"]["SOL/USDT"].levels()
    assert a.books["mexc"]["BTC/USDT"].seq == b.books["mexc"]["BTC/USDT"].seq
    assert a.books["mexc"]["BTC/USDT"].levels() != c.books["mexc"]["BTC/USDT"].levels()


def test_with_default_markets_an_opportunity_after_fees_appears_within_ten_seconds():
    for seed in range(1, 6):
        assert first_opportunity_s(seed) is not None, seed


def test_opportunities_come_and_go_rather_than_persist():
    m = Market(SimConfig(seed=2, updates_per_s=30.0))
    on = starts = 0
    prev = False
    for _ in range(600):  # one simulated minute
        m.step()
        cur = any(best_edge(m, s, CFG.fees) > 0 for s in CFG.symbols)
        on += cur
        starts += cur and not prev
        prev = cur
    assert 0.01 < on / 600 < 0.4 and starts >= 5


def test_books_stay_uncrossed_with_about_the_configured_levels_and_the_symbols_tick():
    m = Market(SimConfig(seed=9))
    for _ in range(50):
        m.step()
    for venue, books in m.books.items():
        for symbol, book in books.items():
            bids, asks = book.levels()
            assert bids[0][0] < asks[0][0], (venue, symbol)
            assert 800 < len(bids) < 1200 and 800 < len(asks) < 1200
    assert symbol_spec("SOL/USDT").tick == 0.001 and symbol_spec("BTC/USDT").tick == 0.01


def test_drained_deltas_number_every_level_update_contiguously():
    m = Market(SimConfig(seed=4))
    book = m.books["binance"]["ETH/USDT"]
    book.drain()
    last = book.seq
    for _ in range(10):
        m.step()
        d = book.drain()
        assert d.first == last + 1 and d.last == book.seq
        last = d.last


def _exchange(seed: int) -> tuple[Exchange, VenueBook]:
    spec = symbol_spec("ETH/USDT")
    book = VenueBook(spec, 200, random.Random(seed))
    book.seed_levels(3000.0)
    ex = Exchange(books={"ETH/USDT": book}, fee=0.001, min_notional=5.0,
                  balances={"ETH": 10.0, "USDT": 50_000.0}, new_order_id=iter(range(10**6)).__next__)
    return ex, book


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.sampled_from(["limit", "ioc", "market"]),
                          st.integers(-30, 30), st.integers(1, 30_000)), max_size=12), st.integers(0, 3))
def test_matching_conserves_value_net_of_fees_and_never_overdraws(orders, seed):
    ex, book = _exchange(seed)
    for i, (side, kind, offset, qty) in enumerate(orders):
        mid = (book.bids.peekitem(-1)[0] + book.asks.peekitem(0)[0]) // 2
        try:
            ex.place(symbol="ETH/USDT", side=side, kind=kind, client_id=f"c{i}", now_ms=0,
                     price=None if kind == "market" else mid + offset * 4, qty=qty)
        except Reject:
            pass
    eth = sum(ex.balances["ETH"])
    usdt = sum(ex.balances["USDT"])
    bought = sum(o.filled * 1e-4 for o in ex.orders.values() if o.side == "buy")
    sold = sum(o.filled * 1e-4 for o in ex.orders.values() if o.side == "sell")
    spent = sum(o.filled_quote for o in ex.orders.values() if o.side == "buy")
    got = sum(o.filled_quote for o in ex.orders.values() if o.side == "sell")
    fees_eth = sum(o.fee for o in ex.orders.values() if o.side == "buy")
    fees_usdt = sum(o.fee for o in ex.orders.values() if o.side == "sell")
    assert abs(eth - (10.0 + bought - sold - fees_eth)) < 1e-6
    assert abs(usdt - (50_000.0 - spent + got - fees_usdt)) < 1e-4
    assert all(free >= -1e-9 and locked >= -1e-6 for free, locked in ex.balances.values())
    bids, asks = book.levels()
    assert bids[0][0] < asks[0][0]  # taking liquidity never crosses the book


def test_a_quiet_market_moves_every_round_one_over_activity_steps_on_the_walk_a_busy_one_sees() -> None:
    quiet = Market(SimConfig(seed=3, activity={"SOL/USDT": 0.25}))  # moves every 4th interval
    busy = Market(SimConfig(seed=3))
    alone = Market(SimConfig(seed=3, venues=("gateio",), activity={"SOL/USDT": 0.25}))  # one venue per process
    seqs = []
    for _ in range(8):
        quiet.step(), busy.step(), alone.step()
        seqs.append(quiet.books["mexc"]["SOL/USDT"].seq)
    assert seqs[0] == seqs[1] == seqs[2] < seqs[3] == seqs[4] == seqs[5] == seqs[6] < seqs[7]
    for venue in ("mexc", "binance", "gateio"):  # the same walk and noise, whatever the cadence
        assert quiet.books[venue]["SOL/USDT"].bid_top == busy.books[venue]["SOL/USDT"].bid_top
        assert quiet.mids["SOL/USDT"].mid(venue) == busy.mids["SOL/USDT"].mid(venue)
    assert alone.books["gateio"]["SOL/USDT"].bid_top == quiet.books["gateio"]["SOL/USDT"].bid_top
    assert quiet.books["mexc"]["BTC/USDT"].levels() == busy.books["mexc"]["BTC/USDT"].levels()  # not quiet: as before
