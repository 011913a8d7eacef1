"""The lifecycle of one tree position: its states, the one function that moves between them,
and the restart rule a supervisor applies when a child exits.

==========  ===================================================================================
state       meaning
==========  ===================================================================================
new         built, never started
starting    factory called, ``on_start`` running
running     ``on_start`` succeeded; handling messages
stopping    asked to stop (by its owner, or its starter gave up); finishing the current
            message, then ``on_stop``, within ``shutdown_s``
restarting  stopped, its mailbox kept: a supervisor will start a fresh instance
stopped     ended normally (or was stopped); permanently if its mailbox is closed
crashed     ended by an exception, and no restart follows (yet)
==========  ===================================================================================

Every move goes through ``transition``, which refuses a move the table does not list: a wrong
move is a runtime bug, raised where it happens rather than shown later as a confusing state.
"""

from __future__ import annotations

from typing import Literal

State = Literal["new", "starting", "running", "stopping", "restarting", "stopped", "crashed"]
Restart = Literal["permanent", "transient", "temporary"]
Decision = Literal["restart", "stop", "remove"]
RESTARTS: tuple[Restart, ...] = ("permanent", "transient", "temporary")

_ENDED: frozenset[State] = frozenset({"restarting", "stopped", "crashed"})
TRANSITIONS: dict[State, frozenset[State]] = {
    "new": frozenset({"starting", "restarting", "stopped"}),  # restarting: in a plan before its first start
    "starting": frozenset({"running", "stopping", "crashed"}),
    "running": frozenset({"stopping", *_ENDED}),
    "stopping": frozenset({"stopping", *_ENDED}),
    # ended states: started again by a supervisor, or settled for good (closed)
    "restarting": frozenset({"starting", *_ENDED}),
    "stopped": frozenset({"starting", *_ENDED}),
    "crashed": frozenset({"starting", *_ENDED}),
}


class IllegalTransition(RuntimeError):
    """A runtime bug: a lifecycle move the table does not allow."""


def transition(current: State, new: State, path: str) -> State:
    """Return ``new`` if ``current -> new`` is a legal move, else raise IllegalTransition."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"{path or '/'}: {current} -> {new} is not a lifecycle move")
    return new


def restart_decision(restart: Restart, reason: BaseException | None) -> Decision:
    """What a supervisor does with a child that exited on its own (``reason`` None: normal exit).

    The one place the OTP restart types are interpreted: ``permanent`` is always restarted;
    ``transient`` only after an abnormal exit, else it stays listed as stopped; ``temporary``
    never, and is removed from its supervisor.
    """
    if restart == "temporary":
        return "remove"
    if restart == "transient" and reason is None:
        return "stop"
    return "restart"
