"""One benchmark case in this process: ``python -m benchmarks._case NAME [--quick] [--repeat N]``.

Run by ``benchmarks.harness`` (one subprocess per case). Prepares the case, runs one warm-up
repetition unless ``ARBOR_BENCH_WARMUP=0``, then N repetitions with ``gc.collect()`` before
each (GC stays enabled while timing). Writes ``@progress ...`` lines on stderr and one JSON
object on stdout: ``{"reps": [[row, ...], ...]}`` or ``{"skipped": reason}``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import json
import os
import sys

from benchmarks.harness import CASES, Skip


def _progress(text: str) -> None:
    sys.stderr.write(f"@progress {text}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._case")
    parser.add_argument("name", choices=[c.name for c in CASES])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    case = next(c for c in CASES if c.name == args.name)
    module = importlib.import_module(case.module)
    _progress("preparing")
    try:
        if case.prepare is not None:
            rep = getattr(module, case.prepare)(args.quick, *case.args)
        else:
            rep = functools.partial(module.run, args.quick)
    except Skip as skip:
        print(json.dumps({"skipped": str(skip)}))
        return 0
    if os.environ.get("ARBOR_BENCH_WARMUP", "1") == "1":
        _progress("warm-up")
        gc.collect()
        rep()
    reps = []
    for i in range(args.repeat):
        _progress(f"repetition {i + 1}/{args.repeat}")
        gc.collect()
        reps.append(rep())
    print(json.dumps({"reps": reps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
