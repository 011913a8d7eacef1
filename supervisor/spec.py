"""What a supervisor is told (ChildSpec), what it reports (ChildInfo), and the private
messages its mailbox carries (child exits, scheduled restarts, requests from the Tree)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Literal

import msgspec
import tenacity

from actors import Actor, MailboxSpec
from actors.lifecycle import RESTARTS, Restart, State
from protocols.messages import Msg

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
STRATEGIES: tuple[str, ...] = ("one_for_one", "one_for_all", "rest_for_one")

Backoff = Callable[[int], float]
"""Seconds to wait before a restart, given the attempt number (restarts in the window, >= 1).
A tenacity wait strategy (``tenacity.wait_*``) is accepted too; tenacity is otherwise an
implementation detail."""


def exponential_backoff(initial_s: float = 0.05, max_s: float = 2.0, jitter_s: float | None = None) -> Backoff:
    """``initial_s`` doubling per attempt, capped at ``max_s``, plus up to ``jitter_s`` of
    random jitter (default: ``initial_s``): 50 ms, 100 ms, 200 ms ... 2 s."""
    jitter = initial_s if jitter_s is None else jitter_s

    def delay(attempt: int) -> float:
        return min(max_s, initial_s * 2.0 ** min(attempt - 1, 64)) + random.uniform(0.0, jitter)
    return delay


def default_backoff() -> Backoff:
    return exponential_backoff()


def backoff_delay(backoff: Backoff | tenacity.wait.wait_base, attempt: int) -> float:
    """The delay ``backoff`` gives for ``attempt``, whichever of the two kinds it is."""
    if isinstance(backoff, tenacity.wait.wait_base):
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # a wait reads attempt_number only
        state.attempt_number = attempt
        return float(backoff(state))
    return float(backoff(attempt))


class ChildSpec(msgspec.Struct, frozen=True):
    """One child: ``factory()`` returns a fresh Actor (or Supervisor) for every incarnation.

    ``shutdown_s`` bounds the child's whole stop (current message + ``on_stop`` + its owned
    tasks; for a supervisor child, its whole subtree): past it, what still runs is cancelled.
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
    state: State  # see actors.lifecycle
    restart: str
    restarts: int
    supervisor: bool


# --- the supervisor's own inbox ---------------------------------------------------------------


class ChildExited(Msg, frozen=True, kw_only=True):
    """A child's incarnation ended without being asked to (crash, or a normal exit)."""

    name: str
    incarnation: int
    reason: BaseException | None  # None: normal exit


class RestartDue(Msg, frozen=True, kw_only=True):
    """The backoff of restart plan ``epoch`` is over: start ``names`` in order."""

    epoch: int
    names: tuple[str, ...]


class StartChild(Msg, frozen=True, kw_only=True):
    spec: ChildSpec


class TerminateChild(Msg, frozen=True, kw_only=True):
    name: str


class RestartChild(Msg, frozen=True, kw_only=True):
    name: str
    reason: str


class Reply(Msg, frozen=True, kw_only=True):
    """Answer to a Tree request: ``error`` is raised in the caller when set."""

    error: BaseException | None = None
    ref: Any = None


SupervisorInbox = ChildExited | RestartDue | StartChild | TerminateChild | RestartChild
