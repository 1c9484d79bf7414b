"""The rules of a case (tố giác tội phạm): its state machine and the acts that keep its state.

The police of the unit where it happened work a case through :data:`REPORTS`
(received → verifying → investigating → closed, or rejected); assigning it,
asking the reporter, transferring it, and the reporter's answers and evidence
keep its state (:data:`KEEPING_ACTS`). Two officers acting on one case at
once: the second gets ``workflow.case_changed`` (409), from
:func:`check_version` or from the case's version column at the flush.
"""
from __future__ import annotations

from utilities.reports.models import (CLOSED, INVESTIGATING, OPEN_STATUSES, RECEIVED, REJECTED,
                                      VERIFYING, Report)
from utilities.workflow import CaseChanged, RoleNotAllowed, TransitionNotAllowed, Workflow

OFFICER_ROLES = ("officer", "supervisor")
CITIZEN = "citizen"

#: The state machine of a report. ``close`` needs an outcome, ``reject`` a reason.
REPORTS = Workflow("report", initial=RECEIVED, transitions=[
    ("verify", [RECEIVED], VERIFYING, OFFICER_ROLES),
    ("investigate", [VERIFYING], INVESTIGATING, OFFICER_ROLES),
    ("close", [INVESTIGATING], CLOSED, OFFICER_ROLES),
    ("reject", OPEN_STATUSES, REJECTED, OFFICER_ROLES),
])
#: Acts that keep the state (recorded with ``Workflow.note``): the states and roles they need.
KEEPING_ACTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "assign": (OPEN_STATUSES, OFFICER_ROLES),
    "ask": (OPEN_STATUSES, OFFICER_ROLES),
    "transfer": (OPEN_STATUSES, OFFICER_ROLES),
    "answer": (OPEN_STATUSES, (CITIZEN,)),
    "add_evidence": (OPEN_STATUSES, (CITIZEN,)),
}
STATUS_ACTIONS = tuple(REPORTS.transitions)


def allowed_acts(status: str, role: str) -> list[str]:
    """Every act (state-changing or not) ``role`` may do on a case in ``status``."""
    keeping = [act for act, (states, roles) in KEEPING_ACTS.items()
               if status in states and role in roles]
    return sorted(REPORTS.allowed(status, role) + keeping)


def check_keeping_act(report: Report, act: str, role: str) -> None:
    """Refuse an act that keeps the state when the case's state or the caller's role forbids it."""
    states, roles = KEEPING_ACTS[act]
    if report.status not in states:
        allowed = allowed_acts(report.status, role)
        raise TransitionNotAllowed(f"'{act}' is not possible while the case is "
                                   f"'{report.status}'.",
                                   errors={"allowed": allowed, "status": [report.status]},
                                   allowed=allowed)
    if role not in roles:
        raise RoleNotAllowed(f"'{act}' is not an act for the role '{role}'.")


def check_version(report: Report, version: int | None) -> None:
    """The caller acted on what it read: a case changed since is :class:`CaseChanged`."""
    if version is not None and version != report.version:
        raise CaseChanged()
