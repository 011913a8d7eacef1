"""The control endpoint's wire schema: the JSON bodies of every request and reply, as
msgspec Structs shared by the server (``supervisor.control``) and the CLI."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.stats import ActorStats
from protocols.messages import MarketEvent

TOKEN_FILE = "control.token"  # in ControlConfig.state_dir, 0600, TCP only
ADDRESS_FILE = "control.json"  # in ControlConfig.state_dir, 0600: a ControlAddress


class ErrorReply(msgspec.Struct, frozen=True, kw_only=True):
    error: str
    status: int


class OkReply(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool = True
    detail: str = ""


class PsReply(msgspec.Struct, frozen=True, kw_only=True):
    actors: list[ActorStats]  # the rows the query selected (``supervisor.selection.PsQuery``), in order
    total: int = 0  # actors in the tree


class TreeNode(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    path: str
    kind: str
    state: str
    restarts: int
    restart_type: str | None = None  # permanent | transient | temporary (None for the root)
    strategy: str | None = None  # supervisors only
    max_restarts: int | None = None
    within_s: float | None = None
    restarts_in_window: int | None = None
    children: list[TreeNode] = []
    mailbox_depth: int = 0  # for `tree --top N --sort depth|rate`
    rate_per_s: float = 0.0


class TreeReply(msgspec.Struct, frozen=True, kw_only=True):
    root: TreeNode


class InspectReply(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    stats: ActorStats
    describe_type: str | None  # the describe() Struct's class name
    describe: Any  # describe() as JSON (credential-like fields redacted)
    children: list[str]  # paths of direct children (supervisors)


class PathRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str


class MarketRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    venue: str
    symbol: str


class ControlAddress(msgspec.Struct, frozen=True, kw_only=True):
    """``control.json``: how the CLI reaches this engine."""

    transport: str
    pid: int
    unix_path: str | None = None
    url: str | None = None
    token_file: str | None = None


class ControlStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``describe()`` of the control actor."""

    transport: str
    address: str
    requests: int
    errors: int
    listening_since: float  # wall clock


class MarketsReply(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/markets``: the markets refresher's status (None unless whole-market mode) and
    the journal's newest market changes (added, removed, quarantined), newest first."""

    status: Any
    events: list[MarketEvent]
    counts: dict[str, int]  # every journaled change by event
