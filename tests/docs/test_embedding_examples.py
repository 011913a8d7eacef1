"""Every ```python block of docs/embedding.md, executed as written against the simulator.

Each block is a complete program whose first line names it (``# embedding example: NAME``);
it is exec'd into a fresh namespace (``__name__`` is not ``"__main__"``, so its own
``asyncio.run`` does not fire) and its ``main`` is awaited with the simulator's MEXC URLs when
it takes endpoints. The assertions are what the page says each example does.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocols.messages import BookView, Opportunity
from simulator import SimConfig, Simulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NAME = re.compile(r"\A# embedding example: (\w+)\n")
EXPECTED = {"one_book", "detector", "runtime", "tree"}


def examples() -> dict[str, str]:
    found: dict[str, str] = {}
    for code in BLOCK.findall(DOC.read_text()):
        m = NAME.match(code)
        assert m, f"a python block in {DOC.name} does not start with '# embedding example: NAME':\n{code[:200]}"
        assert m[1] not in found, f"two examples named {m[1]}"
        found[m[1]] = code
    return found


def load(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"embedding_example_{name}"}
    exec(compile(examples()[name], f"{DOC}:{name}", "exec"), namespace)
    return namespace


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(seed=7, symbols=("BTC/USDT", "ETH/USDT"), venues=("mexc",))) as s:
        yield s


async def run_main(name: str, sim: Simulator | None = None) -> Any:
    main = load(name)["main"]
    params = inspect.signature(main).parameters
    if "rest_url" in params:
        assert sim is not None
        # The defaults are the real venue; the test swaps in the simulator's endpoints.
        assert params["rest_url"].default.startswith("https://") and params["ws_url"].default.startswith("wss://")
        venue = sim.venues["mexc"]
        return await main(rest_url=venue.rest_url, ws_url=venue.ws_url)
    return await main()


def test_the_page_holds_exactly_the_four_named_examples_each_a_program_with_an_async_main() -> None:
    found = examples()
    assert set(found) == EXPECTED
    for name, code in found.items():
        assert "async def main(" in code, name
        assert 'if __name__ == "__main__":\n    asyncio.run(main())' in code, name


async def test_one_book_example_syncs_a_mexc_book_whose_best_bid_is_below_its_best_ask(sim: Simulator) -> None:
    view = await run_main("one_book", sim)
    assert isinstance(view, BookView)
    assert (view.venue, view.symbol, view.in_sync) == ("mexc", "BTC/USDT", True)
    assert 0 < len(view.bids) <= 5 and 0 < len(view.asks) <= 5  # depth=5 in the example
    assert view.bids[0][0] < view.asks[0][0]
    # the book matches the simulator's truth at a seq at or before the venue's current one
    assert view.seq <= sim.venues["mexc"].seq("BTC/USDT")


async def test_detector_example_finds_the_mexc_to_binance_opportunity_after_fees(
        capsys: pytest.CaptureFixture[str]) -> None:
    opp = await run_main("detector")
    assert isinstance(opp, Opportunity)
    assert (opp.buy_venue, opp.sell_venue, opp.symbol) == ("mexc", "binance", "BTC/USDT")
    # the conflated seq-1 view of mexc was never seen: the opportunity uses seq 2
    assert (opp.buy_seq, opp.sell_seq) == (2, 7)
    assert (opp.buy_price, opp.sell_price) == (60_010.0, 60_200.0)
    assert opp.edge_bps == pytest.approx(16.6, abs=0.1)  # what the example's comment says
    assert opp.size * opp.buy_price <= 1000.0 + 1e-6  # max_notional
    assert "conflated views: 1" in capsys.readouterr().out


async def test_runtime_example_shows_each_mailbox_policy_as_the_page_says(
        capsys: pytest.CaptureFixture[str]) -> None:
    results = await run_main("runtime")
    assert results["block"].received == (1, 2, 3)
    assert results["drop_oldest"].received == (3, 4, 5)
    assert results["conflate"].received == (3, 20)
    assert results["fail_refused"] == 2
    out = capsys.readouterr().out
    assert "dropped: 2" in out and "stopped for good" in out and "refused: actor messages must be" in out
    # the "It prints" block on the page is what the program prints
    doc = DOC.read_text()
    printed = doc[doc.index("It prints:"):].split("```")[1].strip().splitlines()
    assert printed and all(line in out.splitlines() for line in printed), (printed, out)


async def test_tree_example_restarts_a_book_through_its_supervisor_and_it_resyncs(sim: Simulator) -> None:
    result = await run_main("tree", sim)
    assert result["restarts"] == 1
    after = result["after"]
    assert after.in_sync and after.bids[0][0] < after.asks[0][0]
    # a fresh instance resynced from a new snapshot: it is at or past where the old one was
    assert after.seq >= result["seq_before"]
    latest = result["latest"]
    assert set(latest) == {"BTC/USDT", "ETH/USDT"}  # the user's actor got views of both books
    assert all(v.in_sync and v.venue == "mexc" for v in latest.values())
    assert set(result["paths"]) >= {"", "latest", "mexc", "mexc/connection", "mexc/books",
                                    "mexc/books/BTCUSDT", "mexc/books/ETHUSDT"}
