"""Text rendering for the CLI: the ps table, the box-drawn tree, inspect's key: value lines.

Pure functions over the control endpoint's reply Structs; no I/O.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from actors.stats import ActorStats
from supervisor.control_api import InspectReply, MarketsReply, TreeNode
from supervisor.selection import SORTS, matches

PS_HEADER = ("PATH", "KIND", "STATE", "MAILBOX", "HWM", "MSG/S", "WAIT p99", "RESTARTS", "UPTIME")


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def wait_us(us: float | None) -> str:
    if us is None:
        return "-"
    if us < 1000:
        return f"{us:.0f}us"
    if us < 1_000_000:
        return f"{us / 1000:.1f}ms"
    return f"{us / 1e6:.2f}s"


def ps_row(s: ActorStats) -> tuple[str, ...]:
    return (s.path or "/", s.kind, s.state, f"{s.mailbox_depth}/{s.mailbox_capacity}", str(s.mailbox_high_water),
            f"{s.rate_per_s:.1f}", wait_us(s.queue_wait_p99_us), str(s.restarts), duration(s.uptime_s))


def ps_table(stats: list[ActorStats], sort: str = "path") -> str:
    key, descending = SORTS[sort]
    rows = [PS_HEADER, *(ps_row(s) for s in sorted(stats, key=key, reverse=descending))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(PS_HEADER))]
    numeric = {3, 4, 5, 6, 7, 8}  # right-aligned columns
    lines = ["  ".join(cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _label(node: TreeNode) -> str:
    parts = [node.name, node.kind]
    if node.strategy is not None:
        parts.append(node.strategy)
        parts.append(f"intensity {node.restarts_in_window or 0}/{node.max_restarts} in {node.within_s:g}s")
    parts.append(node.state)
    if node.restart_type:
        parts.append(node.restart_type)
    if node.restarts:
        parts.append(f"restarts={node.restarts}")
    return "  ".join(parts)


TREE_SORTS: dict[str, Any] = {"rate": lambda n: n.rate_per_s, "depth": lambda n: n.mailbox_depth,
                              "restarts": lambda n: n.restarts}


def prune_tree(root: TreeNode, *, path: str | None = None, state: str | None = None, kind: str | None = None,
               top: int | None = None, sort: str = "rate") -> tuple[TreeNode | None, int, int]:
    """The tree cut to the nodes matching the filters (``select``'s: path glob or subtree,
    state, kind) and, with ``top``, to the N of them largest by ``sort``, each kept with its
    ancestors so it is drawn where it lives. Returns (tree or None, nodes shown, nodes in all)."""
    nodes: list[TreeNode] = []

    def walk(n: TreeNode) -> None:
        nodes.append(n)
        for c in n.children:
            walk(c)

    walk(root)
    if path is None and state is None and kind is None and not top:
        return root, len(nodes), len(nodes)
    matched = [n for n in nodes if matches(n.path, n.state, n.kind, path, state, kind)]
    if top:
        matched = sorted(matched, key=TREE_SORTS[sort], reverse=True)[:top]
    keep = {n.path.strip("/") for n in matched}

    def cut(n: TreeNode) -> TreeNode | None:
        children = [c for c in (cut(c) for c in n.children) if c is not None]
        if n.path.strip("/") in keep or children:
            return msgspec.structs.replace(n, children=children)
        return None

    pruned = cut(root)
    return pruned, len(keep), len(nodes)


def tree_text(root: TreeNode) -> str:
    lines = [_label(root)]

    def walk(node: TreeNode, prefix: str) -> None:
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            lines.append(prefix + ("└── " if last else "├── ") + _label(child))
            walk(child, prefix + ("    " if last else "│   "))

    walk(root, "")
    return "\n".join(lines)


def _kv(value: Any, indent: str, lines: list[str], key: str) -> None:
    if isinstance(value, dict):
        lines.append(f"{indent}{key}:" if value else f"{indent}{key}: {{}}")
        for k, v in value.items():
            _kv(v, indent + "  ", lines, str(k))
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        lines.append(f"{indent}{key}:")
        for i, v in enumerate(value):
            _kv(v, indent + "  ", lines, f"[{i}]")
    else:
        lines.append(f"{indent}{key}: {_scalar(value)}")


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value) or "(none)"
    return str(value)


def inspect_text(reply: InspectReply) -> str:
    s = reply.stats
    lines = [f"path: {reply.path or '/'}", f"kind: {s.kind}", f"state: {s.state}",
             f"mailbox: {s.mailbox_depth}/{s.mailbox_capacity} (high water {s.mailbox_high_water}, "
             f"policy {s.mailbox_policy})",
             f"processed: {s.processed} ({s.rate_per_s:.1f} msg/s), dropped: {s.dropped}, conflated: {s.conflated}",
             f"queue wait: p50 {wait_us(s.queue_wait_p50_us)}, p99 {wait_us(s.queue_wait_p99_us)}",
             f"restarts: {s.restarts}", f"uptime: {duration(s.uptime_s)}"]
    if s.last_failure is not None:
        lines.append(f"last failure: {s.last_failure.type}: {s.last_failure.text}")
    if s.strategy is not None:
        lines.append(f"strategy: {s.strategy}, intensity {s.restarts_in_window or 0}/{s.max_restarts} "
                     f"in {s.within_s:g}s")
    if reply.children:
        lines.append("children: " + ", ".join(reply.children))
    if reply.describe is not None:
        described = msgspec.to_builtins(reply.describe)
        if isinstance(described, dict):
            lines.append(f"describe ({reply.describe_type}):")
            for k, v in described.items():
                _kv(v, "  ", lines, str(k))
        else:
            lines.append(f"describe ({reply.describe_type}): {_scalar(described)}")
    return "\n".join(lines)


def summary_header(summary: dict[str, Any], shown: int, total: int) -> str:
    """One line over the ps table: what the operator looks at first with thousands of actors."""
    g = summary.get
    return (f"books {g('books_in_sync')}/{g('books')} in sync{_synced(summary)} | markets {_markets(summary)} | "
            f"frames {g('frames')} | opportunities {g('opportunities')} | restarts {g('restarts')} | "
            f"actors {shown}/{total} shown")


def _synced(summary: dict[str, Any]) -> str:
    at = summary.get("all_in_sync_s")
    return f", all in sync after {at}s" if at is not None else ""


def _markets(summary: dict[str, Any]) -> str:
    """``24 (22 active, 1 quarantined, 30 shared)``: the markets run, and how many trade now."""
    g = summary.get
    parts = [f"{g('markets_active', 0)} active"]
    if g("quarantined"):
        parts.append(f"{g('quarantined')} quarantined")
    if g("markets_shared") is not None:
        parts.append(f"{g('markets_shared')} shared")
    return f"{g('markets', 0)} ({', '.join(parts)})"


def summary_text(summary: dict[str, Any]) -> str:
    """``python -m supervisor summary``: the status line, then every figure on its own line."""
    g = summary.get
    lines = [f"books {g('books_in_sync')}/{g('books')} in sync{_synced(summary)} | markets {_markets(summary)}"]
    lines += [f"{k}: {_scalar(v)}" for k, v in summary.items()]
    return "\n".join(lines)


def markets_text(reply: MarketsReply) -> str:
    """The refresher's counts (whole-market mode), then one line per journaled change."""
    lines = []
    st = reply.status
    if isinstance(st, dict):
        lines.append(f"shared {st.get('shared')} | subscribed " +
                     ", ".join(f"{v} {n}" for v, n in (st.get("subscribed") or {}).items()) +
                     f" | refreshes {st.get('refreshes')} | added {st.get('added')} | removed {st.get('removed')}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(reply.counts.items())) or "none"
    lines.append(f"journaled changes: {counts}")
    for e in reply.events:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.ts_ms / 1000)) if e.ts_ms else "-"
        prices = " ".join(f"{k}={v:.8g}" for k, v in e.prices.items())
        lines.append("  ".join(part for part in (when, e.event.ljust(11), e.symbol, ",".join(e.venues), e.reason,
                                                  prices) if part))
    return "\n".join(lines)
