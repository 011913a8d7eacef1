"""What a supervisor is told (ChildSpec), what it reports (ChildInfo), and the private
messages its mailbox carries (child exits, scheduled restarts, requests from the Tree)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec
import tenacity

from actors import Actor, MailboxSpec
from protocols.messages import Msg

Restart = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RESTARTS: tuple[str, ...] = ("permanent", "transient", "temporary")
STRATEGIES: tuple[str, ...] = ("one_for_one", "one_for_all", "rest_for_one")


def default_backoff() -> tenacity.wait.wait_base:
    """Exponential with jitter, capped: 50 ms, 100 ms, 200 ms ... 2 s, plus up to 50 ms."""
    return tenacity.wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.05)


class ChildSpec(msgspec.Struct, frozen=True):
    """One child: ``factory()`` returns a fresh Actor (or Supervisor) for every incarnation.

    ``shutdown_s`` bounds the child's stop (current message + ``on_stop``; for a supervisor
    child, its whole subtree) before its task is cancelled.
    """

    name: str
    factory: Callable[[], Actor[Any]]
    restart: Restart = "permanent"
    shutdown_s: float = 5.0
    mailbox: MailboxSpec = MailboxSpec()

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"child name must be non-empty and contain no '/', got {self.name!r}")
        if self.restart not in RESTARTS:
            raise ValueError(f"restart must be one of {RESTARTS}, got {self.restart!r}")
        if not self.shutdown_s > 0:
            raise ValueError(f"shutdown_s must be > 0, got {self.shutdown_s}")
        if not callable(self.factory):
            raise TypeError(f"factory of {self.name!r} is not callable")


class ChildInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A row of ``which_children``: OTP's {Id, Child, Type, Modules}, with state and counts."""

    name: str
    path: str
    kind: str  # the actor's class name ("?" before its first start)
    state: str  # starting | running | restarting | stopping | stopped | crashed | new
    restart: str
    restarts: int
    supervisor: bool


# --- the supervisor's own inbox ---------------------------------------------------------------


class ChildExited(Msg, kw_only=True):
    """A child's incarnation ended without being asked to (crash, or a normal exit)."""

    name: str
    incarnation: int
    reason: BaseException | None  # None: normal exit


class RestartDue(Msg, kw_only=True):
    """The backoff of restart plan ``epoch`` is over: start ``names`` in order."""

    epoch: int
    names: tuple[str, ...]


class StartChild(Msg, kw_only=True):
    spec: ChildSpec


class TerminateChild(Msg, kw_only=True):
    name: str


class RestartChild(Msg, kw_only=True):
    name: str
    reason: str


class Reply(Msg, kw_only=True):
    """Answer to a Tree request: ``error`` is raised in the caller when set."""

    error: BaseException | None = None
    ref: Any = None


SupervisorInbox = ChildExited | RestartDue | StartChild | TerminateChild | RestartChild
