"""The lifecycle table, the one restart rule, and what a library user imports from ``actors``."""

from __future__ import annotations

import pytest

import actors
from actors.lifecycle import TRANSITIONS, IllegalTransition, restart_decision, transition
from protocols import errors, messages


@pytest.mark.parametrize(("restart", "reason", "decision"), [
    ("permanent", None, "restart"),
    ("permanent", ValueError("x"), "restart"),
    ("transient", None, "stop"),
    ("transient", ValueError("x"), "restart"),
    ("temporary", None, "remove"),
    ("temporary", ValueError("x"), "remove"),
])
def test_the_restart_decision_follows_the_otp_restart_types(restart, reason, decision) -> None:
    assert restart_decision(restart, reason) == decision


def test_a_move_outside_the_lifecycle_table_is_refused_naming_the_position() -> None:
    assert transition("starting", "running", "a/b") == "running"
    with pytest.raises(IllegalTransition, match=r"a/b: new -> running"):
        transition("new", "running", "a/b")


def test_every_ended_state_can_start_again_and_a_running_actor_is_never_started_twice() -> None:
    assert set(TRANSITIONS) == {"new", "starting", "running", "stopping", "restarting", "stopped", "crashed"}
    for state in ("restarting", "stopped", "crashed"):
        assert "starting" in TRANSITIONS[state]
    assert "starting" not in TRANSITIONS["running"]  # a running actor is never started twice


def test_the_message_base_and_the_runtime_errors_are_importable_from_actors() -> None:
    assert actors.Msg is messages.Msg
    for name in ("ActorStopped", "AskTimeout", "MailboxFull", "RestartIntensityExceeded", "RuntimeFault"):
        assert getattr(actors, name) is getattr(errors, name)
        assert name in actors.__all__
