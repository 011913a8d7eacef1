"""Replay fills (``supervisor.paper``): orders walk the replayed book, take its liquidity until
the book's next frame, and meet the venue's filters from the recorded exchange info.

A small hand-built capture of one Binance book (its exchange info, its depth snapshot, two
depth frames) is read back with the replay's reader; the real Binance adapter parses the
recorded replies and decodes the frames, a real ``BookActor`` holds the book."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

import config
from actors import ActorRef, spawn
from actors.book import BookActor
from actors.journal_records import apply
from actors.journal_schema import connect
from config.schema import MarketsConfig
from protocols.capture import REST, WS, Market, SegmentHeader, encode_block, encode_header
from protocols.errors import ConfigError, OrderRejected
from protocols.messages import BookDelta, GetView, OrderIntent, OrderRejectedRecord, OrderUpdate
from supervisor import report
from supervisor.app import ADAPTERS
from supervisor.paper import NotRecorded, PaperVenue, RecordedRest
from supervisor.replay import ReplayStats, replay_config
from supervisor.replay_input import ReplayInput, open_inputs
from testkit import eventually

SYMBOL = "BTC/USDT"
EXCHANGE_INFO = {"symbols": [{"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
                              "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01"},
                                          {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001"},
                                          {"filterType": "NOTIONAL", "minNotional": "5"}]}]}
SNAPSHOT = {"lastUpdateId": 100, "bids": [["99.00", "1.0"]], "asks": [["100.00", "0.5"], ["100.50", "1.0"]]}


def depth_update(seq: int, asks: list[list[str]], bids: list[list[str]] | None = None, first: int = 0) -> str:
    return json.dumps({"e": "depthUpdate", "E": seq, "s": "BTCUSDT", "U": first or seq, "u": seq, "b": bids or [],
                       "a": asks})


def write_capture(directory: Path, *, exchange_info: bool) -> ReplayInput:
    directory.mkdir()
    header = SegmentHeader(version=1, index=0, wall_s=1.0, mono_ns=0, codec="lz4",
                           markets={"binance": Market(kind="binance", symbols=(SYMBOL,))})
    rest = [(REST, "binance", 0, 10, "GET /api/v3/depth?symbol=BTCUSDT&limit=1000", json.dumps(SNAPSHOT).encode())]
    if exchange_info:
        rest.insert(0, (REST, "binance", 0, 5, 'GET /api/v3/exchangeInfo?symbols=["BTCUSDT"]',
                        json.dumps(EXCHANGE_INFO).encode()))
    frames = [(WS, "binance", 0, 20, "", depth_update(101, [], [["98.00", "1.0"]], first=100)),  # straddles 100
              (WS, "binance", 0, 30, "", depth_update(102, [["101.00", "2.0"]])),  # another ask level
              (WS, "binance", 0, 40, "", depth_update(103, [["100.00", "0.5"]]))]  # the touch again, as it was
    (directory / "000000.arbcap").write_bytes(encode_header(header) + encode_block([*rest, *frames]))
    return open_inputs([directory])


class Replayed:
    """The capture's venue as a replay builds it, its book fed frame by frame."""

    def __init__(self, inputs: ReplayInput) -> None:
        replies = [(r[3], r[4], r[5]) for r in inputs.rest]
        clock = lambda: 1_000  # every reply was received before now: served at once  # noqa: E731

        def adapter(rest: RecordedRest):
            venue = ADAPTERS["binance"](rest_url="http://replay.invalid", ws_url="ws://replay.invalid",
                                        symbols=[SYMBOL], credentials=None)
            venue._rest = rest
            return venue

        self.frames = list(inputs.frames())
        self.book: ActorRef | None = None
        self.venue = PaperVenue(adapter(RecordedRest("binance", replies, clock)),
                                static=adapter(RecordedRest("binance", replies, clock, static=True)),
                                books=lambda symbol: self.book, latency_s=0.0, taker_fee=0.001,
                                balances={"BTC": 10.0, "USDT": 10_000.0}, clock=clock, wall=lambda: 1.0)

    async def next_frame(self) -> None:
        """The next recorded frame, decoded by the adapter, applied by the book."""
        assert self.book is not None
        _, _, _, recv_ns, _, data = self.frames.pop(0)
        event = self.venue.decode(data, recv_ns)
        assert isinstance(event, BookDelta)
        await self.book.send(event)
        await eventually(lambda: self.view(event.last_seq), what=f"the book at {event.last_seq}")

    async def view(self, seq: int) -> bool:
        assert self.book is not None
        view = await self.book.ask(GetView())
        return bool(view.in_sync and view.seq == seq)

    async def buy(self, n: int, qty: float, price: float) -> tuple[str, float, float]:
        update = await self.venue.place_order(OrderIntent(
            venue="binance", symbol=SYMBOL, client_order_id=f"c{n}", opportunity_id="o", side="buy",
            order_type="ioc", price=price, qty=qty))
        return update.status, round(update.filled_qty, 9), round(update.filled_quote, 9)


@pytest.fixture
async def replayed(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Replayed]:
    r = Replayed(write_capture(tmp_path / "cap", exchange_info=getattr(request, "param", True)))
    r.book = await spawn(lambda: BookActor(venue=r.venue, symbol=SYMBOL, publish=None), name="book")
    try:
        await r.next_frame()  # the book buffers it, fetches the recorded snapshot, and is in sync
        assert (await r.book.ask(GetView())).asks[:2] == ((100.0, 0.5), (100.5, 1.0))
        yield r
    finally:
        await r.book.stop()
        await r.venue.close()


async def test_a_second_order_in_the_same_instant_sees_what_the_first_took(replayed):
    assert await replayed.buy(1, 0.3, 100.0) == ("filled", 0.3, 30.0)
    # 0.2 left at 100.00 and the limit stops there: a partial fill, as an IOC reports it
    assert await replayed.buy(2, 0.5, 100.0) == ("expired", 0.2, 20.0)
    # the touch is gone for this book state: the next order starts at 100.50
    assert await replayed.buy(3, 0.4, 100.5) == ("filled", 0.4, 40.2)


async def test_the_books_next_frame_restores_the_venues_levels(replayed):
    assert await replayed.buy(1, 0.5, 100.0) == ("filled", 0.5, 50.0)
    assert await replayed.buy(2, 0.1, 100.0) == ("expired", 0.0, 0.0)
    await replayed.next_frame()  # another level changed: the book is the venue's truth again
    assert await replayed.buy(3, 0.5, 100.0) == ("filled", 0.5, 50.0)
    await replayed.next_frame()
    assert await replayed.buy(4, 0.6, 101.0) == ("filled", 0.6, 60.05)  # 0.5 at 100.00, 0.1 at 100.50


async def test_an_order_walks_the_levels_its_limit_allows_at_their_prices(replayed):
    assert await replayed.buy(1, 2.0, 100.5) == ("expired", 1.5, 150.5)


async def test_orders_are_rounded_and_checked_against_the_recorded_filters(replayed):
    assert replayed.venue.rules_recorded == {}
    info = (await replayed.venue.symbol_info([SYMBOL]))[SYMBOL]
    assert (str(info.tick_size), str(info.step_size), str(info.min_notional)) == ("0.01", "0.001", "5")
    assert info.taker_fee == 0.001 and replayed.venue.rules_recorded == {SYMBOL: True}
    # quantity down to the step, a buy's limit down to the tick: never worse than asked
    assert await replayed.buy(1, 0.0557, 100.509) == ("filled", 0.055, 5.5)
    with pytest.raises(OrderRejected, match="below min notional 5"):
        await replayed.buy(2, 0.049, 100.0)
    with pytest.raises(OrderRejected, match="below min quantity"):
        await replayed.buy(3, 0.0004, 100.0)


@pytest.mark.parametrize("replayed", [False], indirect=True)
async def test_a_capture_without_exchange_info_trades_on_permissive_filters(replayed):
    assert await replayed.buy(1, 0.0004, 100.0) == ("filled", 0.0004, 0.04)
    assert replayed.venue.rules_recorded == {SYMBOL: False}


async def test_a_market_the_recorded_exchange_info_does_not_list_trades_on_permissive_filters(replayed, caplog):
    """A capture whose exchange info lists BTCUSDT only (a market listed after it was taken):
    BTC/USDT keeps its recorded filters, ETH/USDT gets permissive ones, and the replay says so."""
    with caplog.at_level(logging.WARNING, logger="arbor.replay"):
        rules = await replayed.venue.symbol_info([SYMBOL, "ETH/USDT"])
    assert str(rules[SYMBOL].step_size) == "0.001" and rules["ETH/USDT"].min_notional == 0
    assert replayed.venue.rules_recorded == {SYMBOL: True, "ETH/USDT": False}
    assert "ETH/USDT is not in the recorded exchange info" in caplog.text


def test_the_report_counts_partial_fills_and_orders_the_filters_rejected(tmp_path):
    path = tmp_path / "journal.sqlite"
    conn = connect(str(path))
    try:
        for n, (filled, status) in enumerate([(0.5, "filled"), (0.2, "expired"), (0.0, "expired")]):
            intent = OrderIntent(venue="binance", symbol=SYMBOL, client_order_id=f"c{n}", opportunity_id="o",
                                 side="buy", order_type="ioc", price=100.0, qty=0.5)
            apply(conn, intent, 1)
            apply(conn, OrderUpdate(venue="binance", symbol=SYMBOL, client_order_id=f"c{n}", order_id=str(n),
                                    side="buy", order_type="ioc", status=status, price=100.0, qty=0.5,
                                    filled_qty=filled, filled_quote=filled * 100), 2)
        apply(conn, OrderIntent(venue="binance", symbol=SYMBOL, client_order_id="c9", opportunity_id="o",
                                side="buy", order_type="ioc", price=100.0, qty=0.0004), 3)
        apply(conn, OrderRejectedRecord(client_order_id="c9", venue="binance", code="local",
                                        message="below min quantity"), 4)
    finally:
        conn.close()
    inputs = ReplayInput(sources=["cap"], markets={}, taker_fees={}, rest=[], frames_total=0, first_ns=0,
                         wall_at_first=0.0, torn=[], cryptofeed=False)
    stats = ReplayStats(span_ns=1, rules_recorded={"binance/BTC/USDT": True, "gateio/BTC/USDT": False})
    r = report.build("x", inputs, stats, path)
    assert (r.orders_filled, r.orders_partial, r.orders_rejected, r.rules_recorded) == (2, 1, 1, (1, 2))
    out = report.text(r)
    assert "orders filled 2 (partially 1), rejected 1" in out
    assert "from the recorded exchange info for 1 of 2 markets traded (the rest: permissive" in out


def test_a_replay_config_replays_the_captured_markets(tmp_path):
    inputs = write_capture(tmp_path / "cap", exchange_info=True)
    cfg = replay_config(config.load(None), inputs, tmp_path / "out" / "journal.sqlite")
    assert cfg.markets.symbols == "configured"
    assert {name: v.symbols for name, v in cfg.venues.items()} == {"binance": (SYMBOL,)}


def test_a_whole_market_replay_config_keeps_the_selection_and_only_the_captured_pinned_markets(tmp_path):
    inputs = write_capture(tmp_path / "cap", exchange_info=True)
    base = config.load(None)
    venues = {**base.venues, "binance": msgspec.structs.replace(base.venues["binance"], symbols=(SYMBOL, "DOGE/USDT")),
              "gateio": msgspec.structs.replace(base.venues["gateio"], symbols=())}  # binance pins two, gateio none
    shared = msgspec.structs.replace(base, venues=venues, markets=MarketsConfig(symbols="shared", min_venues=2))
    with pytest.raises(ConfigError, match=r"markets\.min_venues"):  # the capture holds one venue
        replay_config(shared, inputs, tmp_path / "out" / "journal.sqlite")
    inputs.markets["gateio"] = Market(kind="gateio", symbols=(SYMBOL,))
    cfg = replay_config(shared, inputs, tmp_path / "out" / "journal.sqlite")
    assert cfg.markets == shared.markets
    assert {name: v.symbols for name, v in cfg.venues.items()} == {"binance": (SYMBOL,), "gateio": ()}


LISTING = {"symbols": [
    {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "isSpotTradingAllowed": True},
    {"symbol": "ETHUSDT", "status": "BREAK", "baseAsset": "ETH", "quoteAsset": "USDT", "isSpotTradingAllowed": True},
    {"symbol": "XRPUSDT", "status": "TRADING", "baseAsset": "XRP", "quoteAsset": "USDT", "isSpotTradingAllowed": True},
]}


def paper_binance(replies: list[tuple[int, str, bytes]], symbols: tuple[str, ...]) -> PaperVenue:
    def adapter(rest: RecordedRest):
        venue = ADAPTERS["binance"](rest_url="http://replay.invalid", ws_url="ws://replay.invalid",
                                    symbols=list(symbols), credentials=None)
        venue._rest = rest
        return venue

    clock = lambda: 1_000  # noqa: E731
    return PaperVenue(adapter(RecordedRest("binance", replies, clock)),
                      static=adapter(RecordedRest("binance", replies, clock, static=True)), symbols=symbols,
                      books=lambda symbol: None, latency_s=0.0, taker_fee=0.001, balances={}, clock=clock,
                      wall=lambda: 1.0)


async def test_a_paper_venues_markets_are_the_recorded_listing_of_the_captured_markets():
    """The whole listing (not the per-symbol exchange info recorded before it) is the venue's
    markets, limited to those captured: XRP/USDT was listed but not captured; ETH/USDT is halted."""
    replies = [(5, 'GET /api/v3/exchangeInfo?symbols=["BTCUSDT"]', json.dumps(EXCHANGE_INFO).encode()),
               (6, "GET /api/v3/exchangeInfo", json.dumps(LISTING).encode()),
               (7, "GET /api/v3/ticker/24hr", json.dumps([{"symbol": "BTCUSDT", "quoteVolume": "12.5"}]).encode())]
    venue = paper_binance(replies, (SYMBOL, "ETH/USDT", "SOL/USDT"))
    listed = {row.symbol: row for row in await venue.markets()}
    assert set(listed) == {SYMBOL, "ETH/USDT", "SOL/USDT"}
    assert listed[SYMBOL].open and not listed["ETH/USDT"].open
    assert listed["SOL/USDT"].open and listed["SOL/USDT"].venue_symbol == "SOLUSDT"  # captured, not listed: it streamed
    assert await venue.quote_volumes_24h() == {"BTCUSDT": 12.5}


async def test_a_capture_without_exchange_info_lists_its_markets_open_and_has_no_tickers():
    venue = paper_binance([], (SYMBOL,))
    assert [(row.symbol, row.open) for row in await venue.markets()] == [(SYMBOL, True)]
    with pytest.raises(NotRecorded, match="ticker/24hr"):
        await venue.quote_volumes_24h()
