"""The tick-to-trade case's simulator half, in its own process (so the simulator's work does
not share the engine's event loop): ``python -m benchmarks.tick_to_trade_sim RATE``.

Prints one JSON line (each venue's URLs and credentials), then answers commands on stdin, one
JSON line each: ``dip`` -- the market paused (until both legs are in, so the market's churn
cannot take the dip away under the buy; frames already queued still flow), Binance's bids at
or above ``DIP`` under Gate's best bid removed and an ask put there and pushed (the frame that
creates the opportunity; ``t0``: when the simulator WROTE it to the engine's market
connection, ``Conn.watch_ns``, not when it was queued behind the frames before it), the market
resumed; then waits for one new
order on each venue and answers ``{"t0", "binance", "gateio"}`` (their arrival times, the same
system-wide monotonic clock as the engine's process) or ``{"error"}`` after ``LEG_TIMEOUT_S``;
``undip`` -- the injected ask removed; ``quit``.

The process runs at a lower priority (``NICE``): it stands for venues on other hosts, whose
work never takes the engine's core. At the same priority, on a box with few cores, the
engine's write of the first leg wakes this (at the heavy rate, busy) process, which takes the
engine's core inside that write for 0.4-6 ms about one write in four (wall time against
thread CPU time); the second leg then left that much later, a gap no venue elsewhere would
ever cause. Niced, that drops to a few writes in a hundred.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from simulator import SimConfig, Simulator

SYMBOL = "BTC/USDT"
DIP = 0.004  # under Gate's bid: beats both taker fees (20 bp) and the edge, inside the model's bounds
LEG_TIMEOUT_S = 5.0
NICE = 10


async def main(rate: float) -> None:
    async with Simulator(SimConfig(seed=1, symbols=(SYMBOL,), venues=("binance", "gateio"),
                                   updates_per_s=rate)) as sim:
        print(json.dumps({name: {"rest": v.rest_url, "ws": v.ws_url, "key": v.credentials.api_key,
                                 "secret": v.credentials.secret} for name, v in sim.venues.items()}), flush=True)
        binance, gate = sim.venues["binance"], sim.venues["gateio"]
        book = binance.books[SYMBOL]
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        price = 0
        while line := (await reader.readline()).decode().strip():
            if line == "quit":
                break
            if line == "undip":
                book.set_level(False, price, 0)
                binance.push()
                print("{}", flush=True)
                continue
            before = (len(binance.orders), len(gate.orders))
            sim.pause()  # the market holds still from the dip until both legs are in: the buy finds it
            price = int(gate.books[SYMBOL].bids.peekitem(-1)[0] * (1 - DIP))
            for bid in [b for b in book.bids if b >= price]:
                book.set_level(True, bid, 0)
            book.set_level(False, price, round(0.001 * 10**book.spec.qty_decimals))
            market = [c for c in binance.conns if SYMBOL in c.subs]  # the engine's market connection(s)
            for conn in market:  # the dip's frame: the next one queued after those waiting
                conn.watch, conn.watch_ns = conn.sent + conn.queue.qsize() + 1, 0
            binance.push()
            deadline = time.monotonic() + LEG_TIMEOUT_S
            while len(binance.orders) == before[0] or len(gate.orders) == before[1]:
                if time.monotonic() > deadline:
                    print(json.dumps({"error": "no legs"}), flush=True)
                    sim.resume()
                    break
                await asyncio.sleep(0.001)
            else:
                sim.resume()
                # when the dip was first written (the engine acted on it, so it was), and the first
                # order each venue got after it: the opportunity's legs
                t0 = min(c.watch_ns for c in market if c.watch_ns)
                print(json.dumps({"t0": t0, "binance": list(binance.orders.values())[before[0]].arrival_ns,
                                  "gateio": list(gate.orders.values())[before[1]].arrival_ns}), flush=True)


if __name__ == "__main__":
    os.nice(NICE)
    asyncio.run(main(float(sys.argv[1])))
