"""Which actors ``ps``, ``watch`` and ``tree`` show: the path glob, state and kind filters, the
sort keys and ``--top``. Shared by the control endpoint, which selects the rows before taking
their full stats (so a ``ps --top 20`` over thousands of actors computes 20 rows' queue waits,
not thousands), and the CLI, which cuts the tree to the same matches."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

import msgspec

from actors.stats import ActorStats

# sort key → (value of a row, largest first?)
SORTS: dict[str, tuple[Any, bool]] = {
    "path": (lambda s: s.path, False),
    "kind": (lambda s: (s.kind, s.path), False),
    "state": (lambda s: (s.state, s.path), False),
    "depth": (lambda s: s.mailbox_depth, True),
    "hwm": (lambda s: s.mailbox_high_water, True),
    "rate": (lambda s: s.rate_per_s, True),
    "wait": (lambda s: s.queue_wait_p99_us or 0.0, True),
    "restarts": (lambda s: s.restarts, True),
    "uptime": (lambda s: s.uptime_s, True),
}
SORT_KEYS = tuple(SORTS)
NEEDS_WAITS = frozenset({"wait"})  # sort keys that need every row's queue waits


class PsQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``GET /v1/ps`` query parameters (all optional): the rows to show, in which order."""

    path: str | None = None  # tree path glob; a pattern without ``*`` also matches its subtree
    state: str | None = None
    kind: str | None = None  # actor class name, case ignored
    top: int | None = None  # only the first N after sorting
    sort: str = "path"

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, got {self.sort!r}")
        if self.top is not None and self.top < 0:
            raise ValueError(f"top must be >= 0, got {self.top}")

    def params(self) -> dict[str, str]:
        """As URL query parameters (the ones set)."""
        return {k: str(v) for k, v in msgspec.structs.asdict(self).items() if v is not None}


def select(stats: Iterable[ActorStats], *, path: str | None = None, state: str | None = None,
           kind: str | None = None, top: int | None = None, sort: str = "path") -> list[ActorStats]:
    """The rows ``ps``/``watch`` show: matching the ``path`` glob (``venues/mexc/*``; a pattern
    without ``*`` also matches the subtree under it), ``state`` and ``kind`` (class name, case
    ignored), sorted by ``sort``; ``top`` keeps the first N (``--sort rate --top 20``)."""
    key, descending = SORTS[sort]
    rows = sorted((s for s in stats if matches(s.path, s.state, s.kind, path, state, kind)), key=key,
                  reverse=descending)
    return rows[:top] if top else rows


def matches(node_path: str, node_state: str, node_kind: str, path: str | None, state: str | None,
            kind: str | None) -> bool:
    p = node_path.strip("/")
    if path is not None and not (fnmatchcase(p, path.strip("/")) or
                                 ("*" not in path and p.startswith(path.strip("/") + "/"))):
        return False
    if state is not None and node_state != state:
        return False
    return kind is None or node_kind.lower() == kind.lower()
