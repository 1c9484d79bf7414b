"""What the residence declarations share: the rules of a form, the police's deadline, who may
see a case, and how it is audited.

The use-case modules (:mod:`~utilities.residence.stays`, :mod:`~utilities.residence.absences`,
:mod:`~utilities.residence.lodging`) build on these. Nothing here commits: the use case that
calls it commits once, at its end, with its audit event. An officer sees only cases of their
jurisdiction and a citizen only their own: anything else is "not found".
"""
from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.account import get_account_of
from identity.accounts.notifications import notify
from identity.accounts.models import Account, Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.audit.service import Actor, record_event
from identity.database import paginate
from identity.errors import DomainError
from identity.registry import admin_units
from identity.registry.models import Citizen
from identity.registry.normalise import normalise_text
from utilities.residence.errors import InvalidResidenceInput
from utilities.residence.models import AbsenceDeclaration, TemporaryStay
from utilities.workflow import CaseChanged, Workflow

#: Working days the commune police have to decide (Law on Residence 2020: three working days).
DEFAULT_DECISION_DAYS = 3
#: The longest period of one temporary stay (renewable), and of one absence.
MAX_PERIOD_YEARS = 2
VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")
#: The police roles of the workflows.
OFFICERS = ("officer", "supervisor")

Case = TypeVar("Case", TemporaryStay, AbsenceDeclaration)


# --- The rules of a form ------------------------------------------------------------------------

def decision_deadline(submitted_at: dt.datetime, working_days: int) -> dt.datetime:
    """The end (23:59:59 in Vietnam) of the ``working_days``-th working day after submission.

    Working days are Monday to Friday; public holidays are not counted out.
    """
    day = submitted_at.astimezone(VIETNAM).date()
    counted = 0
    while counted < working_days:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    return dt.datetime.combine(day, dt.time(23, 59, 59), VIETNAM).astimezone(dt.timezone.utc)


def _add_years(day: dt.date, years: int) -> dt.date:
    """``day`` moved ``years`` on (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def check_period(start: dt.date, end: dt.date, *, today: dt.date, start_field: str = "start_date",
                 end_field: str = "end_date", earliest: dt.date | None = None) -> None:
    """A period starting today or later (``earliest``), ending after it starts, ≤ 2 years."""
    if start < (today if earliest is None else earliest):
        raise InvalidResidenceInput("The period cannot start in the past.",
                                    code="period.start_past", field=start_field)
    if end <= start:
        raise InvalidResidenceInput("The period must end after it starts.",
                                    code="period.end_before_start", field=end_field)
    if end > _add_years(start, MAX_PERIOD_YEARS):
        raise InvalidResidenceInput(f"The period is longer than {MAX_PERIOD_YEARS} years.",
                                    code="period.too_long", field=end_field)


def check_commune(commune_code: str, field: str = "commune_code") -> admin_units.Commune:
    """A current commune, or 422 ``commune.unknown`` naming ``field``."""
    commune = admin_units.communes().get(commune_code) if isinstance(commune_code, str) else None
    if commune is None:
        raise InvalidResidenceInput("Unknown commune code.", code="commune.unknown", field=field)
    return commune


def check_text(value: object, field: str, max_length: int, required: bool = True) -> str:
    """Single-line NFC text without control or invisible characters (422 naming ``field``)."""
    return normalise_text(value, field=field, max_length=max_length, required=required)


def overlaps(db_session: Session, model: type[Case], *, citizen_id: int, states: tuple[str, ...],
             start: dt.date, end: dt.date) -> bool:
    """Whether a declaration of ``model`` of the citizen, in one of ``states``, covers part of
    the period from ``start`` to ``end``.

    The declarant's registry row is locked until the commit first: two declarations of one
    citizen at once are checked one after the other (PostgreSQL; SQLite serialises writers
    anyway).
    """
    db_session.execute(sa.select(Citizen.id).where(Citizen.id == citizen_id).with_for_update())
    return db_session.scalar(sa.select(model.id).where(
        model.citizen_id == citizen_id, model.status.in_(states),
        model.start_date <= end, model.end_date >= start).limit(1)) is not None


def expect_version(case: TemporaryStay | AbsenceDeclaration, version: int | None) -> None:
    """The caller acted on version ``version``: if the case moved since, it is a lost race."""
    if version is not None and version != case.version:
        raise CaseChanged()


# --- The citizen's own cases --------------------------------------------------------------------

def own_case(db_session: Session, model: type[Case], case_id: int, account: Account,
             not_found: type[DomainError]) -> Case:
    """One of the citizen's own cases, or ``not_found`` (another's is not found either)."""
    case = db_session.get(model, case_id)
    if case is None or case.citizen_id != account.citizen_id:
        raise not_found()
    return case


def own_cases(db_session: Session, model: type[Case], account: Account, *, page: int,
              per_page: int) -> tuple[list[Case], int]:
    """The citizen's cases of one kind, newest first."""
    return paginate(db_session, sa.select(model).where(model.citizen_id == account.citizen_id)
                    .order_by(model.id.desc()), page=page, per_page=per_page)


def withdraw_case(db_session: Session, actor: Actor, account: Account, case: Case,
                  flow: Workflow, version: int | None, action: str, **details: Any) -> None:
    """The citizen withdraws ``case`` (as of ``version``), audited as ``action``."""
    expect_version(case, version)
    flow.apply(db_session, case, "withdraw", role="citizen", by=citizen_by(account))
    audit_citizen(db_session, actor, action, account.citizen_id, **details)


# --- Who acted, who is told -----------------------------------------------------------------------

def citizen_by(account: Account) -> str:
    """A history row's ``by`` for a citizen acting from the app."""
    return f"account:{account.id}"


def notify_citizen(db_session: Session, citizen_id: int, kind: str, text: str) -> None:
    """A notification in the app of the citizen, when they have an account."""
    account = get_account_of(db_session=db_session, citizen_id=citizen_id)
    if account is not None:
        notify(db_session=db_session, account_id=account.id, kind=kind, text=text)


def audit_citizen(db_session: Session, actor: Actor, action: str, citizen_id: int,
                  **details: Any) -> None:
    """An audit event about the citizen: it shows in their access log."""
    record_event(db_session=db_session, actor=actor, action=action, subject_type="citizen",
                 subject_id=citizen_id, details=details)


# --- The police's jurisdiction --------------------------------------------------------------------

def jurisdiction_where(model: Any, officer: Officer, commune_code: str | None) -> list[Any]:
    """The conditions on ``model``'s place that keep a list inside the officer's jurisdiction
    (and in one commune of it, when ``commune_code`` is given)."""
    where = [model.province_code == officer.province_code]
    if officer.commune_code is not None:
        where.append(model.commune_code == officer.commune_code)
    if commune_code is not None:
        where.append(model.commune_code == commune_code)
    return where


def record_refusal(db_session: Session, actor: Actor, officer: Officer, subject_type: str,
                   subject_id: int) -> None:
    """Audit an officer's attempt on a case outside their jurisdiction (the use case commits
    it, then answers "not found")."""
    record_event(db_session=db_session, actor=officer_actor(officer, actor),
                 action="residence.access_refused", subject_type=subject_type,
                 subject_id=subject_id,
                 details={"reason": "outside_jurisdiction", "by": unit_name(officer)})


def officer_case(db_session: Session, actor: Actor, officer: Officer, model: type[Case],
                 case_id: int, subject_type: str, not_found: type[DomainError]) -> Case | None:
    """The case if it is in the officer's jurisdiction; ``not_found`` raised if it does not
    exist; None if it is outside (the attempt recorded, for the use case to commit before it
    answers "not found" all the same)."""
    case = db_session.get(model, case_id)
    if case is None:
        raise not_found()
    if not in_jurisdiction(officer, case.province_code, case.commune_code):
        record_refusal(db_session, actor, officer, subject_type, case.id)
        return None
    return case
