"""Prometheus text exposition (format 0.0.4) of the tree's stats, written by hand.

The format is small enough that a dependency buys nothing: ``# HELP`` / ``# TYPE`` lines,
then ``name{label="value",...} number`` samples. Every actor metric is labelled with its tree
``path`` and ``kind`` (the same paths the CLI and the logs use). Numeric fields of the
engine's summary Struct become ``arbor_engine_<field>``, after Prometheus' conventions: a
field named in ``SUMMARY_COUNTERS`` is a counter ending in ``_total``, a duration (``*_s``)
ends in ``_seconds``, and a precomputed rate (``*_per_s``) is not exported at all (Prometheus
derives rates from the counters: ``rate(arbor_engine_frames_total[1m])``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import msgspec

from actors.stats import ActorStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_STATES = ("starting", "running", "restarting", "stopping", "stopped", "crashed")

# (name, type, help, value of one actor or None to skip)
_ACTOR_METRICS: list[tuple[str, str, str, Callable[[ActorStats], float | None]]] = [
    ("arbor_actor_up", "gauge", "1 when the actor is running", lambda s: float(s.state == "running")),
    ("arbor_mailbox_depth", "gauge", "Messages waiting in the mailbox", lambda s: s.mailbox_depth),
    ("arbor_mailbox_capacity", "gauge", "Mailbox capacity", lambda s: s.mailbox_capacity),
    ("arbor_mailbox_high_water", "gauge", "Highest mailbox depth seen", lambda s: s.mailbox_high_water),
    ("arbor_messages_processed_total", "counter", "Messages processed", lambda s: s.processed),
    ("arbor_messages_dropped_total", "counter", "Messages dropped or conflated by the mailbox policy",
     lambda s: s.dropped),
    ("arbor_actor_restarts_total", "counter", "Restarts of this actor", lambda s: s.restarts),
    ("arbor_actor_uptime_seconds", "gauge", "Seconds since the current incarnation started", lambda s: s.uptime_s),
    ("arbor_supervisor_restarts_in_window", "gauge", "Restarts counted in the supervisor's intensity window",
     lambda s: s.restarts_in_window),
    ("arbor_supervisor_max_restarts", "gauge", "Restarts allowed within the supervisor's window",
     lambda s: s.max_restarts),
]


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


def render(stats: Iterable[ActorStats], summary: msgspec.Struct | None = None) -> str:
    """The whole exposition: one family per metric, every actor a sample in it."""
    stats = list(stats)
    lines: list[str] = []
    for name, kind, help_, value_of in _ACTOR_METRICS:
        samples = []
        for s in stats:
            value = value_of(s)
            if value is not None:
                samples.append(_sample(name, {"path": s.path or "/", "kind": s.kind}, value))
        if samples:
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples]
    lines += ["# HELP arbor_actor_state 1 for the actor's current state",
              "# TYPE arbor_actor_state gauge"]
    for s in stats:
        for state in _STATES if s.state in _STATES else (*_STATES, s.state):
            lines.append(_sample("arbor_actor_state", {"path": s.path or "/", "state": state}, float(s.state == state)))
    waits = [(s, q, v) for s in stats for q, v in (("0.5", s.queue_wait_p50_us), ("0.99", s.queue_wait_p99_us))
             if v is not None]
    if waits:
        lines += ["# HELP arbor_queue_wait_seconds Time a message waited in the mailbox (recent window)",
                  "# TYPE arbor_queue_wait_seconds gauge"]
        lines += [_sample("arbor_queue_wait_seconds", {"path": s.path or "/", "quantile": q}, v / 1e6)
                  for s, q, v in waits]
    if summary is not None:
        for field in msgspec.structs.fields(summary):
            value = getattr(summary, field.name)
            if isinstance(value, bool | int | float) and (named := summary_metric(field.name)) is not None:
                name, kind = named
                lines += [f"# TYPE {name} {kind}", _sample(name, {}, float(value))]
    return "\n".join(lines) + "\n"


# Summary fields that only ever grow (per engine process): exported as counters.
SUMMARY_COUNTERS = frozenset({"frames", "decode_errors", "opportunities", "executed", "restarts", "unhedged_alerts"})


def summary_metric(field: str) -> tuple[str, str] | None:
    """``(metric name, type)`` of a summary field, or None for a precomputed rate."""
    if field.endswith("_per_s"):
        return None
    if field in SUMMARY_COUNTERS:
        return f"arbor_engine_{field}_total", "counter"
    if field.endswith("_s"):
        return f"arbor_engine_{field[:-2]}_seconds", "gauge"
    return f"arbor_engine_{field}", "gauge"
