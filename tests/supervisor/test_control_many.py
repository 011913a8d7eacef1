"""``ps``, ``tree`` and ``/v1/ps`` over a tree the size of a 1,000-market engine (3,000 actors
under three supervisors, as books sit under their venues), through the real control endpoint on
a unix socket and the CLI: the engine selects the rows (filters, sort, ``--top``) before taking
their queue waits, and answers with the tree's size."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest

from actors import ActorStats
from benchmarks.ps import GROUPS, Tick, many_workers
from supervisor import cli
from supervisor.control_api import ErrorReply, PsReply

PER_GROUP = 1000
BUSY = ("mexc/w7", "gateio/w500", "binance/w999", "mexc/w123", "gateio/w1")  # the only ones sent anything


@pytest.fixture
async def big() -> AsyncIterator[tuple[Any, str]]:
    async with many_workers(PER_GROUP) as (tree, sock):
        for n, path in enumerate(BUSY):
            ref = tree.lookup(path)
            for _ in range(10 * (n + 1)):
                ref.tell(Tick())
            await ref.ask(Tick())  # processed in order: every Tick before it is done
        yield tree, sock


async def cli_run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await cli.main_async(list(argv), out=out)
    return code, out.getvalue()


def table(out: str) -> dict[str, list[str]]:
    """ps's rows by path (under the summary header and the column names)."""
    return {line.split()[0]: line.split() for line in out.splitlines()[2:]}


async def test_ps_top_by_rate_over_3000_actors_shows_the_busy_ones_and_counts_every_actor(
        big: tuple[Any, str]) -> None:
    tree, sock = big
    total = len(tree.stats(waits=False))
    assert total == len(GROUPS) * (PER_GROUP + 1) + 2  # workers, their supervisors, control, root
    code, out = await cli_run("ps", "--sort", "rate", "--top", "5", "--socket", sock)
    assert code == 0
    assert f"actors 5/{total} shown" in out.splitlines()[0]
    rows = table(out)
    assert set(rows) == set(BUSY)
    assert all(row[6] != "-" for row in rows.values())  # WAIT p99: the rows shown carry their waits


async def test_ps_filters_by_path_glob_and_kind_before_the_top_n_and_sorts_by_wait(big: tuple[Any, str]) -> None:
    _, sock = big
    code, out = await cli_run("ps", "--path", "gateio/*", "--kind", "worker", "--top", "20", "--socket", sock)
    assert code == 0
    rows = table(out)
    assert len(rows) == 20 and all(p.startswith("gateio/w") and r[1] == "Worker" for p, r in rows.items())
    code, out = await cli_run("ps", "--sort", "wait", "--top", "3", "--socket", sock)
    assert code == 0 and set(table(out)) <= set(BUSY)  # only the busy ones have waited at all


async def test_v1_ps_answers_the_selected_rows_with_full_stats_and_refuses_an_unknown_sort(
        big: tuple[Any, str]) -> None:
    tree, sock = big
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock)) as http:
        async with http.get("http://arbor/v1/ps", params={"sort": "hwm", "top": "2"}) as resp:
            assert resp.status == 200
            reply = msgspec.json.decode(await resp.read(), type=PsReply)
        async with http.get("http://arbor/v1/ps", params={"sort": "colour"}) as resp:
            assert resp.status == 400
            assert "sort must be one of" in msgspec.json.decode(await resp.read(), type=ErrorReply).error
        async with http.get("http://arbor/v1/ps", params={"top": "many"}) as resp:
            assert resp.status == 400
    assert reply.total == len(tree.stats(waits=False))
    assert [s.path for s in reply.actors] == ["gateio/w1", "mexc/w123"]  # 50 and 40 queued at once, the most
    busiest: ActorStats = reply.actors[0]
    assert sum(busiest.queue_wait_buckets) == busiest.processed == 51  # 50 tells and the ask


async def test_tree_top_draws_the_busy_actors_under_their_supervisors_out_of_3000(big: tuple[Any, str]) -> None:
    _, sock = big
    code, out = await cli_run("tree", "--top", "5", "--sort", "rate", "--socket", sock)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("5 of ")
    assert set(re.findall(r"\bw\d+\b", out)) == {p.rpartition("/")[2] for p in BUSY}  # the rest never ran
    assert sum("  Supervisor  " in line for line in lines) == 4  # the root and the three groups
