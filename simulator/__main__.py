"""``python -m simulator [--seed N] [--symbols BTC/USDT ...] [--rate N]``: start the three
simulated venues on loopback, print their URLs, (simulator-only, not secret) credentials and
the admin API's bearer token (fresh per run), and run until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from simulator import SimConfig, Simulator


def parse(argv: list[str] | None = None) -> SimConfig:
    p = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--symbols", nargs="+", default=["BTC/USDT", "ETH/USDT", "SOL/USDT"])
    p.add_argument("--rate", type=float, default=300.0, help="level updates/s per symbol per venue")
    args = p.parse_args(argv)
    return SimConfig(seed=args.seed, symbols=tuple(args.symbols), updates_per_s=args.rate)


async def serve(cfg: SimConfig) -> None:
    async with Simulator(cfg) as sim:
        for name, v in sim.venues.items():
            # Simulator credentials are generated per run and only valid against it.
            print(f"{name:8} rest {v.rest_url}  ws {v.ws_url}  admin {v.admin_url}")
            print(f"{'':8} api_key {v.credentials.api_key}  secret {v.credentials.secret}")
        print(f"admin token {sim.admin_token}  (every /_sim request: Authorization: Bearer <token>)")
        print("faults: POST {admin}/faults {\"kind\": ..., \"count\": 1}; Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    cfg = parse(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(cfg))


if __name__ == "__main__":
    main()
