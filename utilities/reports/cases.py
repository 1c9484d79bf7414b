"""The officers' acts on a case of their jurisdiction: read, assign, ask, move on, transfer.

Every act writes its history row, its audit event and the reporter's
notification (none when anonymous) in one transaction, after checking the
version the officer read (:func:`~utilities.reports.rules.check_version`).
An assigned case changes hands only by a supervisor; a named reporter is
shown only to the assigned officer and to supervisors, each view audited.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.account import account_phone
from identity.accounts.models import Account, Officer
from identity.accounts.officers import officer_actor, unit_name
from identity.audit.service import Actor
from identity.errors import Forbidden
from identity.protection import Protector
from identity.registry.service import citizen_by_id
from utilities.reports.access import check_place, officer_by, officer_report, sees, unit_of
from utilities.reports.deadlines import Deadlines
from utilities.reports.errors import (CaseAlreadyAssigned, InvalidReport, ReporterAnonymous,
                                      ReporterNotVisible, ReportNotFound)
from utilities.reports.models import CLOSED, INVESTIGATING, REJECTED, VERIFYING
from utilities.reports.reporter import (audit, case_time, notify_reporter, recorded, reporter_of,
                                        touch)
from utilities.reports.rules import REPORTS, check_keeping_act, check_version
from utilities.reports.views import ReportView, officer_view

_STATUS_TEXT = {VERIFYING: "is being verified", INVESTIGATING: "is under investigation",
                CLOSED: "was closed", REJECTED: "was rejected"}


@dataclass(frozen=True)
class ReporterIdentity:
    """A named reporter, as the assigned officer and supervisors see them."""

    full_name: str
    personal_id: str
    date_of_birth: dt.date
    address: str
    phone: str | None


def read_report(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
                case_number: str) -> ReportView:
    """A case of the officer's jurisdiction with its history; the read is audited."""
    report = officer_report(db_session, actor, officer, case_number, details=True)
    view = officer_view(db_session, report)
    audit(db_session, protector, officer_actor(officer, actor), report, "report.read",
          by=unit_name(officer))
    db_session.commit()
    return view


def assign(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
           case_number: str, username: str | None, version: int | None = None) -> ReportView:
    """Give the case to an officer of the unit: an officer takes it, a supervisor gives it.

    An officer takes only a case nobody holds: a colleague's case changes hands
    by a supervisor (else taking it over would open its named reporter).
    """
    report = officer_report(db_session, actor, officer, case_number, details=True)
    check_version(report, version)
    check_keeping_act(report, "assign", officer.role)
    if officer.role != "supervisor" and report.assigned_officer_id not in (None, officer.id):
        raise CaseAlreadyAssigned()
    assignee = officer
    if username is not None and username != officer.username:
        if officer.role != "supervisor":
            raise Forbidden("Only a supervisor assigns a case to someone else.",
                            code="report.assign_forbidden")
        found = db_session.scalars(sa.select(Officer).where(Officer.username == username)).first()
        if found is None or not found.active or not sees(found, report):
            raise InvalidReport("No active officer of this unit has this username.",
                                code="report.assignee_invalid", field="officer")
        assignee = found
    report.assigned_officer_id = assignee.id
    touch(report)
    recorded(report, REPORTS.note(db_session, report, "assign", role=officer.role,
                                  by=officer_by(officer), officer=assignee.username,
                                  by_officer=officer.username))
    audit(db_session, protector, officer_actor(officer, actor), report, "report.assigned",
          by=unit_name(officer), officer=assignee.username)
    db_session.commit()
    return officer_view(db_session, report)


def ask(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
        case_number: str, text: str, version: int | None = None) -> ReportView:
    """Ask the reporter a question; they see it in the case's thread and a notification."""
    report = officer_report(db_session, actor, officer, case_number, details=True)
    check_version(report, version)
    check_keeping_act(report, "ask", officer.role)
    touch(report)
    recorded(report, REPORTS.note(db_session, report, "ask", role=officer.role,
                                  by=officer_by(officer), note=text,
                                  officer=officer.username))
    audit(db_session, protector, officer_actor(officer, actor), report, "report.question_asked",
          by=unit_name(officer))
    notify_reporter(db_session, protector, report, "report.question",
                    f"{officer_by(officer)} asked a question about your report "
                    f"{report.case_number}. Open the report to answer.")
    db_session.commit()
    return officer_view(db_session, report)


def change_status(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
                  deadlines: Deadlines, case_number: str, action: str,
                  outcome: str | None = None, reason: str | None = None,
                  version: int | None = None) -> ReportView:
    """Move the case on (verify, investigate, close with an outcome, reject with a reason)."""
    report = officer_report(db_session, actor, officer, case_number, details=True)
    check_version(report, version)
    transition = REPORTS.check(report.status, action, officer.role)
    note = None
    if action == "close":
        if not outcome:
            raise InvalidReport("Closing a case needs its outcome.",
                                code="report.outcome_required", field="outcome")
        note = report.resolution = outcome
    elif action == "reject":
        if not reason:
            raise InvalidReport("Rejecting a case needs a reason.",
                                code="report.reason_required", field="reason")
        note = report.resolution = reason
    report.due_at = deadlines.due(transition.target, case_time(report))
    touch(report)
    recorded(report, REPORTS.apply(db_session, report, action, role=officer.role,
                                   by=officer_by(officer), note=note,
                                   officer=officer.username))
    audit(db_session, protector, officer_actor(officer, actor), report, f"report.{action}",
          by=unit_name(officer), status=report.status)
    text = f"Your report {report.case_number} {_STATUS_TEXT[report.status]}"
    notify_reporter(db_session, protector, report, "report.status",
                    (text + f": {note}" if note else text + ".")[:500])
    db_session.commit()
    return officer_view(db_session, report)


def transfer(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
             deadlines: Deadlines, case_number: str, province_code: str | None,
             commune_code: str | None, reason: str, version: int | None = None) -> ReportView:
    """Hand the case to another unit; the old unit (and its assignee) loses access at once."""
    report = officer_report(db_session, actor, officer, case_number, details=True)
    check_version(report, version)
    check_keeping_act(report, "transfer", officer.role)
    province_code, commune_code = check_place(province_code, commune_code)
    if (province_code, commune_code) == (report.province_code, report.commune_code):
        raise InvalidReport("The case is already in this unit's queue.",
                            code="report.transfer_same_unit", field="commune_code")
    before = {"province": report.province_code, "commune": report.commune_code}
    after = {"province": province_code, "commune": commune_code}
    report.province_code, report.commune_code = province_code, commune_code
    report.assigned_officer_id = None
    report.due_at = deadlines.due(report.status, case_time(report))
    touch(report)
    recorded(report, REPORTS.note(db_session, report, "transfer", role=officer.role,
                                  by=officer_by(officer), note=reason,
                                  officer=officer.username, before=before, after=after))
    audit(db_session, protector, officer_actor(officer, actor), report, "report.transferred",
          by=unit_name(officer), before=before, after=after)
    notify_reporter(db_session, protector, report, "report.transferred",
                    f"Your report {report.case_number} was transferred to {unit_of(report)}.")
    db_session.commit()
    return officer_view(db_session, report)


def reporter_identity(*, db_session: Session, protector: Protector, actor: Actor,
                      officer: Officer, case_number: str) -> ReporterIdentity:
    """Who filed a named report: for the assigned officer and supervisors, each view audited."""
    report = officer_report(db_session, actor, officer, case_number)
    if report.anonymous:
        raise ReporterAnonymous()
    if officer.role != "supervisor" and report.assigned_officer_id != officer.id:
        raise ReporterNotVisible()
    account_id, citizen_id = reporter_of(protector, report)
    citizen = citizen_by_id(db_session, citizen_id)
    account = db_session.get(Account, account_id)
    if citizen is None:
        raise ReportNotFound()
    audit(db_session, protector, officer_actor(officer, actor), report,
          "report.reporter_viewed", by=unit_name(officer))
    identity = ReporterIdentity(
        full_name=citizen.full_name, personal_id=citizen.personal_id,
        date_of_birth=citizen.date_of_birth, address=citizen.address,
        phone=account_phone(protector=protector, account=account) if account else None)
    db_session.commit()
    return identity
