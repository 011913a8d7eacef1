"""Pipeline speed (issue 6): frame -> opportunity latency, sustained rate, RSS — when the engine exists.

Role: drive the whole engine (``supervisor.app``) from the simulator at rising frame rates and
report, measured inside the process, p50/p99 of ``Opportunity.created_ns - BookView.recv_ns``
at 20k frames/s, the highest rate sustained with flat mailboxes, and RSS at 3 venues x 50
symbols. Rows: ``harness.PIPELINE_ROWS`` for impl ``arbor``.

Status: the engine assembly (``supervisor.app``) is not in the tree yet, so ``prepare`` raises
``Skip("engine not available ...")`` and the harness reports every pipeline row as skipped.
When ``supervisor.app`` lands, this module is where the driver goes; the rows and targets are
already wired in ``benchmarks.harness``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from benchmarks.harness import Skip


def _engine_available() -> bool:
    try:
        return importlib.util.find_spec("supervisor.app") is not None
    except ImportError:
        return False


def prepare(quick: bool) -> Callable[[], list[dict]]:
    if not _engine_available():
        raise Skip("engine not available (supervisor.app not in the tree yet)")
    raise Skip("supervisor.app exists but the pipeline driver is not written yet")
