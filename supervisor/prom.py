"""Prometheus text exposition (format 0.0.4) of the tree's stats, written by hand.

Written by hand rather than with prometheus_client: every figure is a snapshot taken on demand
(``Tree.stats()``, the engine's summary), so the client library would only serve as a custom
collector's formatter, and the format (HELP/TYPE lines, ``name{labels} value``, histogram
``_bucket``/``_sum``/``_count``) is a few dozen lines with no dependency; the tests check it
line by line against the format.

Conventions: counters end in ``_total``, durations in ``_seconds``, no precomputed rate (a
``*_per_s`` field is not exported: ``rate(arbor_engine_frames_total[1m])``), queue waits as a
histogram (``arbor_queue_wait_seconds``, buckets ``actors.stats.QUEUE_WAIT_BUCKETS_S``).

Cardinality stays flat in the number of markets. Every actor counts in families labelled by
``kind`` and ``venue`` only (``venue`` is the path's ``venues/<venue>/`` component, "" outside
it): a few dozen series whether the tree holds 30 books or 3,000. Per-actor series (labelled
by ``path``) only for the kinds whose number does not grow with the markets: not
``PER_KIND_ONLY`` (books, detectors, and the connections: one per ``per_connection`` markets).
``ps``/``inspect`` show any single actor.

An ``Exposition`` keeps what keeps the aggregated counters monotonic: the last figures of an
actor that left the tree (a delisted market's book) stay in its group's totals, and an actor
whose count went down (a new actor at a reused path) has its previous figures retired first.
Its counters restart from zero with the control endpoint (Prometheus reads that as a reset).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import msgspec

from actors.stats import QUEUE_WAIT_BUCKETS_S, ActorStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

STATES = ("starting", "running", "restarting", "stopping", "stopped", "crashed")
# Kinds whose number grows with the markets (one per market, venue-market or shard of them):
# aggregated per kind and venue only, never per path.
PER_KIND_ONLY = frozenset({"BookActor", "DetectorActor", "ConnectionActor"})

Group = tuple[str, str]  # (kind, venue)

# per-actor families: (name, type, help, value of one actor or None to skip)
_ACTOR_METRICS: list[tuple[str, str, str, Callable[[ActorStats], float | None]]] = [
    ("arbor_actor_up", "gauge", "1 when the actor is running", lambda s: float(s.state == "running")),
    ("arbor_actor_mailbox_depth", "gauge", "Messages waiting in the mailbox", lambda s: s.mailbox_depth),
    ("arbor_actor_mailbox_capacity", "gauge", "Mailbox capacity", lambda s: s.mailbox_capacity),
    ("arbor_actor_messages_processed_total", "counter", "Messages processed", lambda s: s.processed),
    ("arbor_actor_restarts_total", "counter", "Restarts of this actor", lambda s: s.restarts),
    ("arbor_actor_uptime_seconds", "gauge", "Seconds since the current incarnation started", lambda s: s.uptime_s),
    ("arbor_supervisor_restarts_in_window", "gauge", "Restarts counted in the supervisor's intensity window",
     lambda s: s.restarts_in_window),
    ("arbor_supervisor_max_restarts", "gauge", "Restarts allowed within the supervisor's window",
     lambda s: s.max_restarts),
]

# Summary fields that only ever grow (per engine process): exported as counters.
SUMMARY_COUNTERS = frozenset({"frames", "decode_errors", "opportunities", "executed", "restarts", "unhedged_alerts"})


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    body = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
    return f"{name}{{{body}}} {_number(value)}" if body else f"{name} {_number(value)}"


def group_of(s: ActorStats) -> Group:
    parts = s.path.strip("/").split("/")
    return s.kind, parts[1] if len(parts) > 2 and parts[0] == "venues" else ""


class _Totals:
    """Counters of one actor, or of a group's retired actors."""

    __slots__ = ("processed", "dropped", "restarts", "unobserved", "wait_sum_s", "buckets")

    def __init__(self) -> None:
        self.processed = self.dropped = self.restarts = self.unobserved = 0
        self.wait_sum_s = 0.0
        self.buckets = [0] * (len(QUEUE_WAIT_BUCKETS_S) + 1)

    def add(self, s: ActorStats | _Totals) -> None:
        if isinstance(s, ActorStats):
            self.processed += s.processed
            self.dropped += s.dropped
            self.restarts += s.restarts
            self.unobserved += s.queue_wait_unobserved
            self.wait_sum_s += s.queue_wait_sum_s
            counts: Iterable[int] = s.queue_wait_buckets
        else:
            self.processed += s.processed
            self.dropped += s.dropped
            self.restarts += s.restarts
            self.unobserved += s.unobserved
            self.wait_sum_s += s.wait_sum_s
            counts = s.buckets
        for i, n in enumerate(counts):
            self.buckets[i] += n


class Exposition:
    """Renders the exposition; keeps retired actors' counters in their group (module doc)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[Group, ActorStats]] = {}
        self._retired: dict[Group, _Totals] = {}

    def _retire(self, group: Group, s: ActorStats) -> None:
        self._retired.setdefault(group, _Totals()).add(s)

    def render(self, stats: Iterable[ActorStats], summary: msgspec.Struct | None = None) -> str:
        stats = list(stats)
        now: dict[str, tuple[Group, ActorStats]] = {}
        for s in stats:
            group = group_of(s)
            before = self._last.get(s.path)
            if before is not None and (before[0] != group or s.processed < before[1].processed):
                self._retire(*before)  # a new actor at a reused path: its counts start again
            now[s.path] = (group, s)
        for path, (group, s) in self._last.items():
            if path not in now:
                self._retire(group, s)  # left the tree: its counts stay in the group's totals
        self._last = now
        lines: list[str] = []
        self._groups(stats, lines)
        self._actors([s for s in stats if s.kind not in PER_KIND_ONLY], lines)
        if summary is not None:
            _summary(summary, lines)
        return "\n".join(lines) + "\n"

    def _groups(self, stats: list[ActorStats], lines: list[str]) -> None:
        totals: dict[Group, _Totals] = {}
        states: dict[Group, dict[str, int]] = {}
        depth: dict[Group, list[int]] = {}
        for s in stats:
            group = group_of(s)
            totals.setdefault(group, _Totals()).add(s)
            by_state = states.setdefault(group, dict.fromkeys(STATES, 0))
            by_state[s.state] = by_state.get(s.state, 0) + 1
            depth.setdefault(group, []).append(s.mailbox_depth)
        for group, retired in self._retired.items():
            totals.setdefault(group, _Totals()).add(retired)
        order = sorted(totals)

        def labels(g: Group) -> dict[str, str]:
            return {"kind": g[0], "venue": g[1]}

        def family(name: str, kind: str, help_: str, rows: list[str]) -> None:
            if rows:
                lines.extend((f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *rows))

        family("arbor_actors", "gauge", "Actors in each state, per kind and venue",
               [_sample("arbor_actors", {**labels(g), "state": st}, n)
                for g in sorted(states) for st, n in states[g].items()])
        family("arbor_mailbox_depth", "gauge", "Messages waiting in the mailboxes of a kind and venue",
               [_sample("arbor_mailbox_depth", labels(g), sum(depth[g])) for g in sorted(depth)])
        family("arbor_mailbox_depth_max", "gauge", "Deepest mailbox of a kind and venue (ps --top finds it)",
               [_sample("arbor_mailbox_depth_max", labels(g), max(depth[g])) for g in sorted(depth)])
        for name, help_, value in (
                ("arbor_messages_processed_total", "Messages processed", lambda t: t.processed),
                ("arbor_messages_dropped_total", "Messages dropped or conflated by the mailbox policy",
                 lambda t: t.dropped),
                ("arbor_restarts_total", "Actor restarts", lambda t: t.restarts),
                ("arbor_queue_wait_unobserved_total", "Messages whose queue wait the histogram did not sample",
                 lambda t: t.unobserved)):
            family(name, "counter", help_, [_sample(name, labels(g), value(totals[g])) for g in order])
        rows = []
        for g in order:
            t, cumulative = totals[g], 0
            for bound, n in zip((*QUEUE_WAIT_BUCKETS_S, math.inf), t.buckets, strict=True):
                cumulative += n
                le = "+Inf" if math.isinf(bound) else repr(bound)
                rows.append(_sample("arbor_queue_wait_seconds_bucket", {**labels(g), "le": le}, cumulative))
            rows.append(_sample("arbor_queue_wait_seconds_sum", labels(g), t.wait_sum_s))
            rows.append(_sample("arbor_queue_wait_seconds_count", labels(g), cumulative))
        family("arbor_queue_wait_seconds", "histogram",
               "Time a message waited in the mailbox before its actor took it (sampled: see the docs)", rows)

    @staticmethod
    def _actors(stats: list[ActorStats], lines: list[str]) -> None:
        for name, kind, help_, value_of in _ACTOR_METRICS:
            samples = []
            for s in stats:
                value = value_of(s)
                if value is not None:
                    samples.append(_sample(name, {"path": s.path or "/", "kind": s.kind}, value))
            if samples:
                lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples]


def _summary(summary: msgspec.Struct, lines: list[str]) -> None:
    for field in msgspec.structs.fields(summary):
        value = getattr(summary, field.name)
        if isinstance(value, bool | int | float) and (named := summary_metric(field.name)) is not None:
            name, kind = named
            lines += [f"# TYPE {name} {kind}", _sample(name, {}, float(value))]


def render(stats: Iterable[ActorStats], summary: msgspec.Struct | None = None) -> str:
    """One exposition with no history (a fresh ``Exposition``)."""
    return Exposition().render(stats, summary)


def summary_metric(field: str) -> tuple[str, str] | None:
    """``(metric name, type)`` of a summary field, or None for a precomputed rate."""
    if field.endswith("_per_s"):
        return None
    if field in SUMMARY_COUNTERS:
        return f"arbor_engine_{field}_total", "counter"
    if field.endswith("_s"):
        return f"arbor_engine_{field[:-2]}_seconds", "gauge"
    return f"arbor_engine_{field}", "gauge"
