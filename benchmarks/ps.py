"""``python -m benchmarks ps [--actors 3000] [--repeat 5]``: what ``ps``, ``tree``, ``summary`` and
``/metrics`` cost the engine with thousands of actors.

A real tree on the real runtime (``--actors`` workers under three supervisors, as the books sit
under their venues, plus the control endpoint on a unix socket), every worker having processed
more messages than its queue-wait ring holds, then ``--between`` more each before every
measured request (the messages a book gets between two refreshes of ``watch``). Reported per
request: the process CPU time (client and server share this process: the server's handler,
the JSON both ways and the CLI's rendering) of the median of ``--repeat`` runs, its min and
max; and ``tree.stats()`` alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from actors import Actor
from config import ControlConfig
from protocols.messages import Msg
from supervisor import ChildSpec, Supervisor, cli, run
from supervisor.control import ControlActor

GROUPS = ("mexc", "gateio", "binance")


class Tick(Msg, frozen=True, kw_only=True):
    n: int = 0


class Worker(Actor[Tick]):
    async def receive(self, msg: Tick) -> None:
        return None


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    books: int


class Handle:
    """The control endpoint's EngineHandle over a tree with no engine behind it (the CLI's ps
    also reads the summary: the workers' count, as cheap as it gets)."""

    tree: Any = None

    def __init__(self, books: int) -> None:
        self.books = books

    async def subscribe(self, venue: str, symbol: str) -> None:
        raise LookupError(venue)

    async def unsubscribe(self, venue: str, symbol: str) -> None:
        raise LookupError(venue)

    def request_stop(self) -> None:
        return None

    def summary(self) -> Summary:
        return Summary(books=self.books)


@contextlib.asynccontextmanager
async def many_workers(per_group: int, worker: type[Actor[Any]] = Worker) -> AsyncIterator[tuple[Any, str]]:
    """``(tree, socket path)``: ``per_group`` workers under each of three supervisors (as books
    sit under their venues) and the control endpoint on a unix socket, on the real runtime."""
    handle = Handle(per_group * len(GROUPS))
    with tempfile.TemporaryDirectory(prefix="arb") as d:
        cfg = ControlConfig(transport="unix", unix_path=str(Path(d) / "control.sock"), state_dir=d)
        root = Supervisor([
            *(ChildSpec(g, lambda: Supervisor([ChildSpec(f"w{i}", worker) for i in range(per_group)]))
              for g in GROUPS),
            ChildSpec("control", lambda: ControlActor(engine=handle, config=cfg)),
        ])
        async with run(root) as tree:
            handle.tree = tree
            yield tree, cfg.unix_path or ""


async def _feed(tree: Any, paths: list[str], per_actor: int) -> None:
    refs = [tree.lookup(path) for path in paths]
    for chunk in range(0, per_actor, 500):  # within the mailboxes' capacity
        for ref in refs:
            for i in range(chunk, min(per_actor, chunk + 500) - 1):
                ref.tell(Tick(n=i))
        await asyncio.gather(*(ref.ask(Tick(n=-1), timeout=60.0) for ref in refs))  # each one drained


def _cpu_ms(start: float) -> float:
    return (time.process_time() - start) * 1e3


async def measure(actors: int, repeat: int, between: int) -> dict[str, list[float]]:
    per_group = actors // len(GROUPS)
    async with many_workers(per_group) as (tree, socket):
        paths = [f"{g}/w{i}" for g in GROUPS for i in range(per_group)]
        await _feed(tree, paths, 1100)  # every ring full
        tree.stats()  # the start-up backlog folded, as a running engine's first scrape does
        gc.freeze()  # as Engine.serve does once the tree is up: no full collection walks it mid-request
        sock = ["--socket", socket]
        requests: dict[str, list[str]] = {
            "ps": ["ps", *sock], "ps --top 20 --sort rate": ["ps", "--top", "20", "--sort", "rate", *sock],
            "ps --kind Worker --path 'mexc/*' --top 20": ["ps", "--kind", "Worker", "--path", "mexc/*",
                                                           "--top", "20", *sock],
            "tree": ["tree", *sock], "tree --top 20": ["tree", "--top", "20", *sock],
            "metrics": ["metrics", *sock]}
        out: dict[str, list[float]] = {name: [] for name in ("tree.stats()", *requests)}
        for _ in range(repeat):
            await _feed(tree, paths, between)
            t = time.process_time()
            tree.stats()
            out["tree.stats()"].append(_cpu_ms(t))
            for name, argv in requests.items():
                await _feed(tree, paths, between)
                t = time.process_time()
                if await cli.main_async(argv, out=io.StringIO()) != 0:
                    raise RuntimeError(f"{name} failed")
                out[name].append(_cpu_ms(t))
        return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks ps", description=__doc__.split("\n\n")[0])
    p.add_argument("--actors", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--between", type=int, default=30, metavar="N", help="messages per actor before each request")
    args = p.parse_args(argv)
    import uvloop

    res = uvloop.run(measure(args.actors, args.repeat, args.between))
    print(f"{args.actors} workers, {args.between} messages each between requests, CPU ms (median [min-max] "
          f"of {args.repeat}):")
    for name, ms in res.items():
        print(f"  {name:45s} {statistics.median(ms):8.1f}  [{min(ms):.1f}-{max(ms):.1f}]")
    return 0
