"""Temporary absences (khai báo tạm vắng): declared to the commune police of the permanent
residence, who acknowledge them.

Every use case commits once, with its workflow history row and its audit event
in the same transaction.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Account, Officer
from identity.accounts.officers import officer_actor, unit_name
from identity.audit.service import Actor
from identity.database import paginate
from identity.monitoring.counters import bump
from utilities.residence.declarations import (DEFAULT_DECISION_DAYS, OFFICERS, audit_citizen,
                                              check_period, check_text, citizen_by,
                                              decision_deadline, expect_version,
                                              jurisdiction_where, notify_citizen, officer_case,
                                              overlaps, own_case, own_cases, withdraw_case)
from utilities.residence.errors import AbsenceNotFound, PeriodOverlaps
from utilities.residence.models import AbsenceDeclaration
from utilities.workflow import Workflow, WorkflowEvent

ABSENCE_FLOW = Workflow("absence", initial="declared", transitions=[
    ("acknowledge", ["declared"], "acknowledged", OFFICERS),
    ("withdraw", ["declared"], "withdrawn", ["citizen"]),
])
#: States waiting for the police (their queue).
ABSENCE_POLICE_STATES = ("declared",)
#: What an officer may do to an absence.
ABSENCE_ACTIONS = ("acknowledge",)


# --- The citizen ----------------------------------------------------------------------------------

def declare_absence(*, db_session: Session, actor: Actor, account: Account,
                    start_date: dt.date, end_date: dt.date, reason: str, destination: str,
                    decision_days: int = DEFAULT_DECISION_DAYS) -> AbsenceDeclaration:
    """Declare a temporary absence to the commune police of the permanent residence."""
    citizen = account.citizen
    reason = check_text(reason, "reason", 500)
    destination = check_text(destination, "destination", 255)
    check_period(start_date, end_date, today=clock.today())
    if overlaps(db_session, AbsenceDeclaration, citizen_id=citizen.id,
                states=("declared", "acknowledged"), start=start_date, end=end_date):
        raise PeriodOverlaps()
    now = clock.now()
    absence = AbsenceDeclaration(citizen_id=citizen.id, province_code=citizen.province_code,
                                 commune_code=citizen.commune_code, start_date=start_date,
                                 end_date=end_date, reason=reason, destination=destination,
                                 decide_by=decision_deadline(now, decision_days))
    ABSENCE_FLOW.start(db_session, absence, role="citizen", by=citizen_by(account))
    audit_citizen(db_session, actor, "residence.absence_declared", citizen.id,
                  absence_id=absence.id)
    bump(db_session, metric="residence.absence.declared", province_code=citizen.province_code,
         commune_code=citizen.commune_code)
    db_session.commit()
    return absence


def get_own_absence(*, db_session: Session, account: Account,
                    absence_id: int) -> AbsenceDeclaration:
    """One of the citizen's own absence declarations, or :class:`AbsenceNotFound`."""
    return own_case(db_session, AbsenceDeclaration, absence_id, account, AbsenceNotFound)


def own_absences(*, db_session: Session, account: Account, page: int,
                 per_page: int) -> tuple[list[AbsenceDeclaration], int]:
    """The citizen's absence declarations, newest first."""
    return own_cases(db_session, AbsenceDeclaration, account, page=page, per_page=per_page)


def withdraw_absence(*, db_session: Session, actor: Actor, account: Account, absence_id: int,
                     version: int | None = None) -> AbsenceDeclaration:
    """The citizen withdraws an absence declaration not yet acknowledged."""
    absence = get_own_absence(db_session=db_session, account=account, absence_id=absence_id)
    withdraw_case(db_session, actor, account, absence, ABSENCE_FLOW, version,
                  "residence.absence_withdrawn", absence_id=absence.id)
    db_session.commit()
    return absence


# --- The police -----------------------------------------------------------------------------------

def absence_queue(*, db_session: Session, officer: Officer, statuses: Sequence[str] | None,
                  commune_code: str | None, overdue: bool, page: int,
                  per_page: int) -> tuple[list[AbsenceDeclaration], int]:
    """Absences of the officer's jurisdiction (by default those to acknowledge), by deadline."""
    where = jurisdiction_where(AbsenceDeclaration, officer, commune_code)
    where.append(AbsenceDeclaration.status.in_(statuses or ABSENCE_POLICE_STATES))
    if overdue:
        where.append(AbsenceDeclaration.decide_by < clock.now())
    return paginate(db_session, sa.select(AbsenceDeclaration).where(*where)
                    .order_by(AbsenceDeclaration.decide_by, AbsenceDeclaration.id),
                    page=page, per_page=per_page)


def _absence_for_officer(db_session: Session, actor: Actor, officer: Officer,
                         absence_id: int) -> AbsenceDeclaration | None:
    """The absence if it is in the officer's jurisdiction; None (the attempt audited) if
    outside."""
    return officer_case(db_session, actor, officer, AbsenceDeclaration, absence_id, "absence",
                        AbsenceNotFound)


def read_absence(*, db_session: Session, actor: Actor, officer: Officer,
                 absence_id: int) -> tuple[AbsenceDeclaration, list[WorkflowEvent]]:
    """An absence with its history; the read shows in the citizen's access log."""
    absence = _absence_for_officer(db_session, actor, officer, absence_id)
    if absence is None:  # outside the jurisdiction: the attempt stays audited
        db_session.commit()
        raise AbsenceNotFound()
    audit_citizen(db_session, officer_actor(officer, actor), "residence.absence_read",
                  absence.citizen_id, absence_id=absence.id, by=unit_name(officer))
    history = ABSENCE_FLOW.history(db_session, absence.id)
    db_session.commit()
    return absence, history


def act_on_absence(*, db_session: Session, actor: Actor, officer: Officer, absence_id: int,
                   action: str, reason: str | None = None,
                   version: int | None = None) -> AbsenceDeclaration:
    """Acknowledge an absence of the jurisdiction."""
    absence = _absence_for_officer(db_session, actor, officer, absence_id)
    if absence is None:  # outside the jurisdiction: the attempt stays audited
        db_session.commit()
        raise AbsenceNotFound()
    note = check_text(reason, "reason", 500, required=False) or None
    expect_version(absence, version)
    ABSENCE_FLOW.check(absence.status, action, officer.role)
    absence.acknowledged_at, absence.acknowledged_by_officer_id = clock.now(), officer.id
    ABSENCE_FLOW.apply(db_session, absence, action, role=officer.role, by=unit_name(officer),
                       note=note, officer_id=officer.id)
    audit_citizen(db_session, officer_actor(officer, actor), f"residence.absence_{action}",
                  absence.citizen_id, absence_id=absence.id, by=unit_name(officer))
    notify_citizen(db_session, absence.citizen_id, "residence.absence_acknowledged",
                   "The commune police acknowledged your temporary absence declaration.")
    db_session.commit()
    return absence
