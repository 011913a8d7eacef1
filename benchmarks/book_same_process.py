"""Book apply of several implementations in ONE process, interleaved: the ratios for a busy machine.

``python -m benchmarks.book_same_process [IMPL ...] [--repeat N]`` (default: arbor,
arbor-python, ccxt, order-book-c). The harness's ``book`` group runs each implementation in its
own process, one after the other, which is the cleaner measurement on a quiet machine; on a
shared one, a neighbour's load lands on some processes and not others and the ratios drift by
2-5x. Here every repetition applies the same seeded stream (``benchmarks.book_stream``) to each
implementation in turn, so a burst of load hits them alike; it prints the median and best
updates/s and the ratio of medians against each other implementation.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from benchmarks import book_peers, book_stream, peers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.book_same_process")
    parser.add_argument("impls", nargs="*", metavar="IMPL", help=f"of {', '.join(sorted(book_peers.IMPLS))}")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    unknown = set(args.impls) - set(book_peers.IMPLS)
    if unknown:
        parser.error(f"unknown implementation(s): {', '.join(sorted(unknown))}")
    names = [n for n in args.impls or ["arbor", "arbor-python", "ccxt", "order-book-c"]
             if (peer := book_peers.IMPLS[n].peer) is None or not peers.missing(peer)]
    stream = book_stream.generate(book_stream.n_messages(False))
    impls = {n: book_peers.IMPLS[n]() for n in names}
    rates: dict[str, list[float]] = {n: [] for n in names}
    want = (stream.final_bids, stream.final_asks)
    for _ in range(args.repeat):
        for name, impl in impls.items():
            msgs, book = impl.native(stream), impl.build(stream)
            apply = impl.applier(book)
            gc.collect()
            t0 = time.perf_counter()
            for m in msgs:
                apply(m)
            rates[name].append(stream.n_updates / (time.perf_counter() - t0))
            if impl.final(book) != want:
                raise SystemExit(f"{name}: final book differs from the stream's reference")
    med = {n: statistics.median(v) for n, v in rates.items()}
    for n in names:
        ratios = "  ".join(f"{med[n] / med[m]:.2f}x {m}" for m in names if m != n)
        print(f"{n:14s} median {med[n] / 1e6:6.2f}M/s  best {max(rates[n]) / 1e6:6.2f}M/s  {ratios}")


if __name__ == "__main__":
    main()
