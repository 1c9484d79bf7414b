"""One small workflow mechanism for every utility that is a case worked by the police.

A workflow is a set of states and named transitions, each allowed from some
states to some roles. A case is a row with a ``status`` and a ``version``
column (:class:`WorkflowCase`); :meth:`Workflow.apply` moves it, checks the
transition, and appends a :class:`WorkflowEvent` in the caller's transaction.

Two officers acting on one case at once: both read version *n*; the ORM's
optimistic version counter (``version_id_col``) makes each UPDATE carry
``WHERE version = n``, so one commits and the other's flush matches no row
and becomes :class:`CaseChanged` (409). No lock is held while people think.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from identity import clock
from identity.errors import Conflict, Forbidden
from utilities.workflow.models import WorkflowEvent

__all__ = ["CaseChanged", "Transition", "TransitionNotAllowed", "Workflow", "WorkflowCase",
           "WorkflowEvent", "flush_case"]


class TransitionNotAllowed(Conflict):
    """The case's current state does not allow this act; the allowed ones are listed."""

    code = "workflow.transition_not_allowed"


class CaseChanged(Conflict):
    """Someone else changed the case since it was read; read it again."""

    code = "workflow.case_changed"
    message = "The case was changed by someone else meanwhile. Reload it and try again."


class RoleNotAllowed(Forbidden):
    """The transition exists but not for this role."""

    code = "workflow.role_not_allowed"


class WorkflowCase:
    """Mixin for a case table: its state and an optimistic version counter."""

    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"version_id_col": cls.version}


@dataclass(frozen=True)
class Transition:
    """A named act that moves a case from one of ``sources`` to ``target``, for ``roles``."""

    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]


class Workflow:
    """The states and transitions of one kind of case."""

    def __init__(self, name: str, *, initial: str,
                 transitions: Iterable[tuple[str, Iterable[str], str, Iterable[str]]]) -> None:
        """``transitions``: (action, from states, to state, roles) tuples."""
        self.name = name
        self.initial = initial
        self.transitions = {action: Transition(action, frozenset(sources), target,
                                               frozenset(roles))
                            for action, sources, target, roles in transitions}
        self.states = {initial} | {t.target for t in self.transitions.values()} | {
            s for t in self.transitions.values() for s in t.sources}

    def allowed(self, state: str, role: str | None = None) -> list[str]:
        """The actions allowed from ``state`` (for ``role``, when given), sorted."""
        return sorted(t.action for t in self.transitions.values()
                      if state in t.sources and (role is None or role in t.roles))

    def check(self, state: str, action: str, role: str) -> Transition:
        """The transition for ``action`` from ``state`` by ``role``, or the refusal."""
        transition = self.transitions.get(action)
        if transition is None or state not in transition.sources:
            allowed = self.allowed(state, role)
            raise TransitionNotAllowed(
                f"'{action}' is not possible while the case is '{state}'.",
                errors={"allowed": allowed, "status": [state]}, allowed=allowed)
        if role not in transition.roles:
            raise RoleNotAllowed(f"'{action}' is not an act for the role '{role}'.")
        return transition

    def start(self, db_session: Session, case: WorkflowCase, *, role: str, by: str | None,
              note: str | None = None, entry_state: str | None = None,
              **details: Any) -> WorkflowEvent:
        """Put a new case in the initial state and record its first history row (after flush).

        ``entry_state``: another state of the workflow the case starts in, when its
        first steps do not apply (a temporary stay whose host has no account goes
        straight to the police).
        """
        state = self.initial if entry_state is None else entry_state
        if state not in self.states:
            raise ValueError(f"{state!r} is not a state of the workflow {self.name!r}")
        case.status = state
        db_session.add(case)
        db_session.flush()
        return self._record(db_session, case, "create", None, state, role, by, note, details)

    def apply(self, db_session: Session, case: WorkflowCase, action: str, *, role: str,
              by: str | None, note: str | None = None, **details: Any) -> WorkflowEvent:
        """Move ``case`` by ``action``; the caller commits (with its audit event)."""
        transition = self.check(case.status, action, role)
        source = case.status
        case.status = transition.target
        flush_case(db_session)
        return self._record(db_session, case, action, source, transition.target, role, by,
                            note, details)

    def note(self, db_session: Session, case: WorkflowCase, action: str, *, role: str,
             by: str | None, note: str | None = None, **details: Any) -> WorkflowEvent:
        """Record an act that keeps the state (assign, message, transfer) and bump the version."""
        db_session.add(case)
        flag_modified(case, "status")  # an UPDATE even with no change, so the version moves
        flush_case(db_session)
        return self._record(db_session, case, action, case.status, case.status, role, by, note,
                            details)

    def history(self, db_session: Session, case_id: int) -> list[WorkflowEvent]:
        """The case's history, oldest first."""
        return list(db_session.scalars(
            sa.select(WorkflowEvent).where(WorkflowEvent.workflow == self.name,
                                           WorkflowEvent.case_id == case_id)
            .order_by(WorkflowEvent.id)))

    def _record(self, db_session: Session, case: Any, action: str, source: str | None,
                target: str, role: str, by: str | None, note: str | None,
                details: dict[str, Any]) -> WorkflowEvent:
        event = WorkflowEvent(workflow=self.name, case_id=case.id, action=action,
                              from_state=source, to_state=target, role=role, by=by, note=note,
                              details=details, occurred_at=clock.now())
        db_session.add(event)
        return event


def flush_case(db_session: Session) -> None:
    """Flush, turning a lost optimistic-version race into :class:`CaseChanged` (rolled back)."""
    try:
        db_session.flush()
    except StaleDataError:
        db_session.rollback()
        raise CaseChanged() from None
