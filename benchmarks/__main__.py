"""``python -m benchmarks [runtime|decode|book|pipeline|replay|all] [--quick] [--json FILE] [--markdown] [--repeat N]``
(``python -m benchmarks market ...``: whole-market mode, see ``benchmarks.market``;
``python -m benchmarks ps ...``: ps/tree/metrics with thousands of actors, see ``benchmarks.ps``)

Runs the selected groups (default ``all``), one subprocess per case, prints one table with
every row's median/min/max and its ratio against the floor or peer measured in the same run,
then the targets. ``--json FILE`` writes the same as JSON; ``--markdown`` regenerates
``benchmarks/RESULTS.md``. ``--quick`` is a smoke run (small inputs, one repetition, no
warm-up): it checks the harness works, its figures mean nothing. Exit status 1 when a case
crashed or did not produce an expected row; skipped peers are not failures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import book_stream, harness, report


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["market"]:  # whole-market mode: its own runner (benchmarks.market)
        from benchmarks import market
        return market.main(args_in[1:])
    if args_in[:1] == ["ps"]:  # the control endpoint with thousands of actors: its own runner
        from benchmarks import ps
        return ps.main(args_in[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument("groups", nargs="*", default=["all"], choices=[*harness.GROUPS, "all"], metavar="GROUP",
                        help="runtime | decode | book | pipeline | replay | all (default all)")
    parser.add_argument("--quick", action="store_true", help="smoke run: small inputs, 1 repetition, no warm-up")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--markdown", action="store_true", help="regenerate benchmarks/RESULTS.md")
    parser.add_argument("--repeat", type=int, metavar="N", help="timed repetitions per case (default 5, quick 1)")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 5)
    if repeat < 1:
        parser.error("--repeat must be >= 1")

    results = harness.run(args.groups or ["all"], quick=args.quick, repeat=repeat, warmup=not args.quick)
    print(report.terminal(results, quick=args.quick, repeat=repeat))
    if args.json is not None:
        args.json.write_text(report.to_json(results, quick=args.quick, repeat=repeat))
    if args.markdown:
        n = book_stream.n_messages(args.quick)
        note = (f"seed {book_stream.DEFAULT_SEED}, {book_stream.SNAPSHOT_LEVELS} levels a side, "
                f"then {n:,} messages of 5-15 level updates, ~70/15/15% update/insert/delete")
        report.RESULTS_MD.write_text(report.markdown(results, quick=args.quick, repeat=repeat, book_note=note))
        print(f"\nwrote {report.RESULTS_MD}")
    return 1 if harness.failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
