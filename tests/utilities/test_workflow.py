"""The workflow mechanism itself; each utility tests its own state machine through it."""
from __future__ import annotations

import pytest

from utilities.workflow import RoleNotAllowed, TransitionNotAllowed, Workflow

FLOW = Workflow("sample", initial="received", transitions=[
    ("verify", ["received"], "verifying", ["officer", "supervisor"]),
    ("close", ["verifying"], "closed", ["officer"]),
    ("withdraw", ["received", "verifying"], "withdrawn", ["citizen"]),
])


def test_states_are_collected_from_the_transitions():
    assert FLOW.states == {"received", "verifying", "closed", "withdrawn"}


def test_allowed_actions_depend_on_state_and_role():
    assert FLOW.allowed("received") == ["verify", "withdraw"]
    assert FLOW.allowed("received", "citizen") == ["withdraw"]
    assert FLOW.allowed("closed") == []


def test_a_transition_from_the_wrong_state_lists_the_allowed_ones():
    with pytest.raises(TransitionNotAllowed) as caught:
        FLOW.check("received", "close", "officer")
    assert caught.value.code == "workflow.transition_not_allowed"
    assert caught.value.errors["allowed"] == ["verify"]


def test_an_unknown_action_is_refused_like_a_wrong_state():
    with pytest.raises(TransitionNotAllowed):
        FLOW.check("received", "teleport", "officer")


def test_a_role_without_the_right_is_refused():
    with pytest.raises(RoleNotAllowed):
        FLOW.check("received", "verify", "citizen")
    assert FLOW.check("received", "verify", "supervisor").target == "verifying"
