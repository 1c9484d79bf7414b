"""Use cases of residence declarations: the citizen's forms, the host's answer, the police's work.

Over 400 lines until issue 17 ("A house to live in") splits it into use-case modules along
its sections; it was kept whole here so that the identity-assurance changes stayed
reviewable in place.

- **Temporary stay** (đăng ký tạm trú): declared by a citizen for an address of a
  commune, a period of at most two years, a reason and a host. A host with an
  active account confirms or refuses in the app with their passcode; a host
  without one is checked in person by the commune police (``check_host``). The
  police approve or reject before ``decide_by``. The declarant is shown one
  course whoever the host is (:mod:`utilities.residence.stay_view`), so a
  declaration tells nothing of a stranger's account. Approval adds a
  :class:`~identity.registry.models.TemporaryResidence` to the citizen's record,
  which the ``residence`` credential reads. A renewal (gia hạn) is a new
  declaration linked to the approved one, starting the day after it ends.
- **Temporary absence** (khai báo tạm vắng): declared to the commune police of
  the permanent residence, who acknowledge it.
- **Lodging notice** (thông báo lưu trú): in :mod:`utilities.residence.lodging`.

Every function commits once, with its workflow history row and its audit
event in the same transaction. An officer sees only cases of their
jurisdiction and a citizen only their own: anything else is "not found".
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts import service as accounts
from identity.accounts.models import ACTIVE, Account, Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.audit.service import Actor, record_event
from identity.credentials.types import CredentialType, register_type
from identity.database import paginate
from identity.errors import Conflict, DomainError
from identity.monitoring.counters import bump
from identity.monitoring.queues import UnitBacklog, register_queue
from identity.registry import admin_units
from identity.registry.models import Citizen, TemporaryResidence
from identity.registry.normalise import normalise_text
from identity.registry.service import get_citizen
from utilities.payments import service as payments
from utilities.residence.errors import (AbsenceNotFound, InvalidResidenceInput,
                                        NoCurrentResidence, PeriodOverlaps, RenewalOpen,
                                        StayNotFound, SupervisorOnly)
from utilities.residence.models import (HOST_BY_APP, HOST_IN_PERSON, HOST_SELF,
                                        AbsenceDeclaration, TemporaryStay)
from utilities.residence.stay_view import declarant_state
from utilities.workflow import CaseChanged, Workflow, WorkflowEvent

#: Working days the commune police have to decide (Law on Residence 2020: three working days).
DEFAULT_DECISION_DAYS = 3
#: The longest period of one temporary stay (renewable), and of one absence.
MAX_PERIOD_YEARS = 2
VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")

OFFICERS = ("officer", "supervisor")

#: Temporary stays (tạm trú).
STAY_FLOW = Workflow("temporary_stay", initial="awaiting_host", transitions=[
    ("confirm_host", ["awaiting_host"], "submitted", ["host"]),
    ("refuse_host", ["awaiting_host"], "refused_by_host", ["host"]),
    ("check_host", ["awaiting_check"], "submitted", OFFICERS),
    ("approve", ["submitted"], "approved", OFFICERS),
    ("reject", ["awaiting_check", "submitted"], "rejected", OFFICERS),
    ("withdraw", ["awaiting_host", "awaiting_check", "submitted"], "withdrawn", ["citizen"]),
])
#: States waiting for the police (their queue), and every state still open.
STAY_POLICE_STATES = ("awaiting_check", "submitted")
STAY_OPEN_STATES = ("awaiting_host", *STAY_POLICE_STATES)

#: Temporary absences (tạm vắng).
ABSENCE_FLOW = Workflow("absence", initial="declared", transitions=[
    ("acknowledge", ["declared"], "acknowledged", OFFICERS),
    ("withdraw", ["declared"], "withdrawn", ["citizen"]),
])
ABSENCE_POLICE_STATES = ("declared",)

STAY_ACTIONS = ("check_host", "approve", "reject")
ABSENCE_ACTIONS = ("acknowledge",)


# --- Rules shared by the forms --------------------------------------------------------------------

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


def _citizen_by(account: Account) -> str:
    return f"account:{account.id}"


def _expect_version(case: TemporaryStay | AbsenceDeclaration, version: int | None) -> None:
    """The caller acted on version ``version``: if the case moved since, it is a lost race."""
    if version is not None and version != case.version:
        raise CaseChanged()


def _notify_citizen(db_session: Session, citizen_id: int, kind: str, text: str) -> None:
    account = accounts.get_account_of(db_session=db_session, citizen_id=citizen_id)
    if account is not None:
        accounts.notify(db_session=db_session, account_id=account.id, kind=kind, text=text)


def _audit_citizen(db_session: Session, actor: Actor, action: str, citizen_id: int,
                   **details: Any) -> None:
    record_event(db_session=db_session, actor=actor, action=action, subject_type="citizen",
                 subject_id=citizen_id, details=details)


def _jurisdiction_where(model: Any, officer: Officer, commune_code: str | None) -> list[Any]:
    where = [model.province_code == officer.province_code]
    if officer.commune_code is not None:
        where.append(model.commune_code == officer.commune_code)
    if commune_code is not None:
        where.append(model.commune_code == commune_code)
    return where


def _refuse_outside(db_session: Session, actor: Actor, officer: Officer, subject_type: str,
                    subject_id: int, error: DomainError) -> None:
    """Audit an officer's attempt on a case outside their jurisdiction; answer "not found"."""
    record_event(db_session=db_session, actor=officer_actor(officer, actor),
                 action="residence.access_refused", subject_type=subject_type,
                 subject_id=subject_id,
                 details={"reason": "outside_jurisdiction", "by": unit_name(officer)})
    db_session.commit()
    raise error


# --- Temporary stays: the citizen -----------------------------------------------------------------

def _hold_citizen(db_session: Session, citizen_id: int) -> None:
    """Lock the declarant's registry row until the commit: two declarations of one citizen
    at once are checked for overlap one after the other (PostgreSQL; SQLite serialises
    writers anyway)."""
    db_session.execute(sa.select(Citizen.id).where(Citizen.id == citizen_id).with_for_update())


def _overlapping_stay(db_session: Session, citizen_id: int, start: dt.date,
                      end: dt.date) -> bool:
    _hold_citizen(db_session, citizen_id)
    return db_session.scalar(
        sa.select(TemporaryStay.id).where(
            TemporaryStay.citizen_id == citizen_id,
            TemporaryStay.status.in_((*STAY_OPEN_STATES, "approved")),
            TemporaryStay.start_date <= end, TemporaryStay.end_date >= start).limit(1)) is not None


def _to_police(stay: TemporaryStay, decision_days: int) -> None:
    stay.submitted_at = clock.now()
    stay.decide_by = decision_deadline(stay.submitted_at, decision_days)


def declare_stay(*, db_session: Session, actor: Actor, account: Account, commune_code: str,
                 address: str, start_date: dt.date, end_date: dt.date, reason: str,
                 host_personal_id: str,
                 decision_days: int = DEFAULT_DECISION_DAYS) -> TemporaryStay:
    """Declare a temporary stay; it waits for the host's confirmation or goes to the police.

    The host is the owner of the place or the one who lets it. One with an
    active account confirms in the app; one without is checked in person by
    the police; a declarant who owns the place is their own host. A host id
    the registry does not know is taken as one without the app (the officer
    meets the host in person): the answer is the same as for a known id.
    """
    stay = _new_stay(db_session, actor, account, commune_code=commune_code, address=address,
                     start_date=start_date, end_date=end_date, reason=reason,
                     host_personal_id=host_personal_id, decision_days=decision_days,
                     previous=None)
    db_session.commit()
    return stay


def _new_stay(db_session: Session, actor: Actor, account: Account, *, commune_code: str,
              address: str, start_date: dt.date, end_date: dt.date, reason: str,
              host_personal_id: str, decision_days: int,
              previous: TemporaryStay | None) -> TemporaryStay:
    """A new stay with its history, audit, notification and counter (the caller commits)."""
    citizen = account.citizen
    commune = check_commune(commune_code)
    address = check_text(address, "address", 255)
    reason = check_text(reason, "reason", 500)
    check_period(start_date, end_date, today=clock.today())
    if commune.code == citizen.commune_code:
        raise InvalidResidenceInput("A temporary stay is declared outside the commune of "
                                    "permanent residence.", code="stay.permanent_commune",
                                    field="commune_code")
    if _overlapping_stay(db_session, citizen.id, start_date, end_date):
        raise PeriodOverlaps()
    host = get_citizen(db_session=db_session, personal_id=host_personal_id)
    if host is None:
        # Not in the registry: taken like a host without the app (checked in person), so the
        # answer does not tell the declarant whether a personal id exists.
        host_check, entry = HOST_IN_PERSON, "awaiting_check"
    elif host.id == citizen.id:
        host_check, entry = HOST_SELF, "submitted"
    else:
        host_account = accounts.get_account_of(db_session=db_session, citizen_id=host.id)
        has_app = host_account is not None and host_account.status == ACTIVE
        host_check, entry = ((HOST_BY_APP, "awaiting_host") if has_app
                             else (HOST_IN_PERSON, "awaiting_check"))
    stay = TemporaryStay(citizen_id=citizen.id, province_code=commune.province_code,
                         commune_code=commune.code, address=address, start_date=start_date,
                         end_date=end_date, reason=reason,
                         host_citizen_id=host.id if host else None,
                         host_personal_id=None if host else host_personal_id,
                         host_check=host_check, previous_id=previous.id if previous else None)
    if entry != "awaiting_host":
        _to_police(stay, decision_days)
    STAY_FLOW.start(db_session, stay, role="citizen", by=_citizen_by(account), entry_state=entry,
                    host_check=host_check, previous_id=stay.previous_id)
    # No host_check in the event: the declarant reads it in their access log, and it would
    # tell whether the host has an active account (officers read it on the stay).
    _audit_citizen(db_session, actor, "residence.stay_declared", citizen.id, stay_id=stay.id,
                   commune=commune.code, renews=stay.previous_id)
    if host is not None and host_check == HOST_BY_APP:
        _notify_citizen(db_session, host.id, "residence.host_confirmation",
                        f"A temporary stay at {address} names you as its host. Confirm or "
                        "refuse it in the app (Residence, host confirmations).")
    bump(db_session, metric="residence.temporary_stay.declared",
         province_code=commune.province_code, commune_code=commune.code)
    # The registration (or renewal) fee is owed from the declaration; paid in the app.
    payments.create_fee_order(db_session=db_session, actor=actor, citizen_id=citizen.id,
                              fee_code="temporary_stay_renewal" if previous else "temporary_stay",
                              province_code=commune.province_code, commune_code=commune.code,
                              source_type="temporary_stay", source_id=stay.id)
    return stay


def renew_stay(*, db_session: Session, actor: Actor, account: Account, stay_id: int,
               end_date: dt.date, decision_days: int = DEFAULT_DECISION_DAYS) -> TemporaryStay:
    """Renew an approved stay: a new declaration (same place, host and reason) linked to it.

    It starts the day after the approved one ends (today, if that has passed),
    and goes through the host and the police again.
    """
    previous = get_own_stay(db_session=db_session, account=account, stay_id=stay_id)
    if previous.status != "approved":
        raise Conflict("Only an approved stay can be renewed.", code="residence.not_renewable",
                       errors={"status": [declarant_state(previous.status)]})
    if db_session.scalar(sa.select(TemporaryStay.id).where(
            TemporaryStay.previous_id == previous.id,
            TemporaryStay.status.in_((*STAY_OPEN_STATES, "approved"))).limit(1)) is not None:
        raise RenewalOpen()
    start = max(clock.today(), previous.end_date + dt.timedelta(days=1))
    renewal = _new_stay(db_session, actor, account, commune_code=previous.commune_code,
                        address=previous.address, start_date=start, end_date=end_date,
                        reason=previous.reason, host_personal_id=_host_personal_id(previous),
                        decision_days=decision_days, previous=previous)
    # A history row on the renewed stay; its version moves, so two renewals at once: one wins.
    STAY_FLOW.note(db_session, previous, "renew", role="citizen", by=_citizen_by(account),
                   renewal_id=renewal.id)
    db_session.commit()
    return renewal


def _host_personal_id(stay: TemporaryStay) -> str:
    """The host's personal id: the registry's, or as declared when it has none."""
    return stay.host.personal_id if stay.host is not None else stay.host_personal_id or ""


def get_own_stay(*, db_session: Session, account: Account, stay_id: int) -> TemporaryStay:
    """One of the citizen's own stays, or :class:`StayNotFound`."""
    stay = db_session.get(TemporaryStay, stay_id)
    if stay is None or stay.citizen_id != account.citizen_id:
        raise StayNotFound()
    return stay


def own_stays(*, db_session: Session, account: Account, page: int,
              per_page: int) -> tuple[list[TemporaryStay], int]:
    """The citizen's stays, newest first."""
    return paginate(db_session, sa.select(TemporaryStay)
                    .where(TemporaryStay.citizen_id == account.citizen_id)
                    .order_by(TemporaryStay.id.desc()), page=page, per_page=per_page)


def withdraw_stay(*, db_session: Session, actor: Actor, account: Account, stay_id: int,
                  version: int | None = None) -> TemporaryStay:
    """The citizen withdraws a stay before the police decide."""
    stay = get_own_stay(db_session=db_session, account=account, stay_id=stay_id)
    _expect_version(stay, version)
    STAY_FLOW.apply(db_session, stay, "withdraw", role="citizen", by=_citizen_by(account))
    _audit_citizen(db_session, actor, "residence.stay_withdrawn", account.citizen_id,
                   stay_id=stay.id)
    db_session.commit()
    return stay


# --- Temporary stays: the host --------------------------------------------------------------------

def host_confirmations(*, db_session: Session, account: Account, page: int,
                       per_page: int) -> tuple[list[TemporaryStay], int]:
    """Stays that name this citizen as host and wait for their answer, oldest first."""
    return paginate(db_session, sa.select(TemporaryStay)
                    .where(TemporaryStay.host_citizen_id == account.citizen_id,
                           TemporaryStay.status == "awaiting_host")
                    .order_by(TemporaryStay.id), page=page, per_page=per_page)


def answer_as_host(*, db_session: Session, actor: Actor, account: Account, stay_id: int,
                   confirm: bool, passcode: str, reason: str | None = None,
                   decision_days: int = DEFAULT_DECISION_DAYS) -> TemporaryStay:
    """The host confirms (to the police queue) or refuses a stay, with their passcode."""
    stay = db_session.get(TemporaryStay, stay_id)
    if stay is None or stay.host_citizen_id != account.citizen_id or \
            stay.host_check != HOST_BY_APP:
        raise StayNotFound()
    action = "confirm_host" if confirm else "refuse_host"
    note = check_text(reason, "reason", 500, required=False) or None
    STAY_FLOW.check(stay.status, action, "host")  # a stale answer costs no passcode try
    accounts.confirm_passcode(db_session=db_session, actor=actor, account=account,
                              passcode=passcode)
    if confirm:
        stay.host_confirmed_at = clock.now()
        _to_police(stay, decision_days)
    STAY_FLOW.apply(db_session, stay, action, role="host", by="host", note=note)
    _audit_citizen(db_session, actor, "residence.host_confirmed" if confirm
                   else "residence.host_refused", stay.citizen_id, stay_id=stay.id)
    if confirm:
        _notify_host_confirmed(db_session, stay)
    else:
        _notify_citizen(db_session, stay.citizen_id, "residence.stay_host_answer",
                        f"Your host refused your temporary stay at {stay.address}.")
    db_session.commit()
    return stay


def _notify_host_confirmed(db_session: Session, stay: TemporaryStay) -> None:
    """Tell the declarant their host is confirmed: the same words whether the host confirmed
    in the app or an officer checked them in person (see :mod:`utilities.residence.stay_view`)."""
    _notify_citizen(db_session, stay.citizen_id, "residence.stay_host_answer",
                    f"Your host confirmed your temporary stay at {stay.address}. It now waits "
                    "for the commune police.")


# --- Temporary stays: the police ------------------------------------------------------------------

def stay_for_officer(*, db_session: Session, actor: Actor, officer: Officer,
                     stay_id: int) -> TemporaryStay:
    """A stay of the officer's jurisdiction, or "not found" (an attempt outside it is audited)."""
    stay = db_session.get(TemporaryStay, stay_id)
    if stay is None:
        raise StayNotFound()
    if not in_jurisdiction(officer, stay.province_code, stay.commune_code):
        _refuse_outside(db_session, actor, officer, "temporary_stay", stay.id, StayNotFound())
    return stay


def stay_queue(*, db_session: Session, officer: Officer, statuses: Sequence[str] | None,
               commune_code: str | None, overdue: bool, page: int,
               per_page: int) -> tuple[list[TemporaryStay], int]:
    """Stays of the jurisdiction (by default those waiting for the police), by deadline."""
    where = _jurisdiction_where(TemporaryStay, officer, commune_code)
    where.append(TemporaryStay.status.in_(statuses or STAY_POLICE_STATES))
    if overdue:
        where.append(TemporaryStay.decide_by < clock.now())
    return paginate(db_session, sa.select(TemporaryStay).where(*where)
                    .order_by(sa.nulls_last(TemporaryStay.decide_by.asc()), TemporaryStay.id),
                    page=page, per_page=per_page)


def read_stay(*, db_session: Session, actor: Actor, officer: Officer,
              stay_id: int) -> tuple[TemporaryStay, list[WorkflowEvent]]:
    """A stay with its history; the read shows in the declarant's (and host's) access log."""
    stay = stay_for_officer(db_session=db_session, actor=actor, officer=officer, stay_id=stay_id)
    by = officer_actor(officer, actor)
    for citizen_id in dict.fromkeys(filter(None, (stay.citizen_id, stay.host_citizen_id))):
        _audit_citizen(db_session, by, "residence.stay_read", citizen_id, stay_id=stay.id,
                       by=unit_name(officer))
    history = STAY_FLOW.history(db_session, stay.id)
    db_session.commit()
    return stay, history


def act_on_stay(*, db_session: Session, actor: Actor, officer: Officer, stay_id: int,
                action: str, reason: str | None = None,
                version: int | None = None) -> TemporaryStay:
    """Check the host in person, approve, or reject (with a reason) a stay of the jurisdiction.

    Approval writes the temporary residence on the citizen's record.
    """
    stay = stay_for_officer(db_session=db_session, actor=actor, officer=officer, stay_id=stay_id)
    note = check_text(reason, "reason", 500, required=False) or None
    if action == "reject" and note is None:
        raise InvalidResidenceInput("A rejection needs a reason.", code="reason.required",
                                    field="reason")
    _expect_version(stay, version)
    STAY_FLOW.check(stay.status, action, officer.role)
    now = clock.now()
    if action in ("approve", "reject"):
        stay.decided_at, stay.decided_by_officer_id = now, officer.id
        stay.decision_reason = note
    elif action == "check_host":
        # The host is confirmed, in person: the declarant is shown this as when a host
        # confirms in the app (stay_view), so it is recorded the same way.
        stay.host_confirmed_at = now
    STAY_FLOW.apply(db_session, stay, action, role=officer.role, by=unit_name(officer),
                    note=note, officer_id=officer.id)
    if action == "approve":
        db_session.add(TemporaryResidence(
            citizen_id=stay.citizen_id, province_code=stay.province_code,
            commune_code=stay.commune_code, address=stay.address, start_date=stay.start_date,
            end_date=stay.end_date, source=f"temporary_stay:{stay.id}"))
    _audit_citizen(db_session, officer_actor(officer, actor), f"residence.stay_{action}",
                   stay.citizen_id, stay_id=stay.id, by=unit_name(officer))
    if action == "check_host":
        _notify_host_confirmed(db_session, stay)
    else:
        outcome = "approved" if action == "approve" else f"rejected: {note}"
        _notify_citizen(db_session, stay.citizen_id, "residence.stay_decided",
                        f"Your temporary stay at {stay.address} was {outcome}")
    db_session.commit()
    return stay


# --- Temporary absences ---------------------------------------------------------------------------

def declare_absence(*, db_session: Session, actor: Actor, account: Account,
                    start_date: dt.date, end_date: dt.date, reason: str, destination: str,
                    decision_days: int = DEFAULT_DECISION_DAYS) -> AbsenceDeclaration:
    """Declare a temporary absence to the commune police of the permanent residence."""
    citizen = account.citizen
    reason = check_text(reason, "reason", 500)
    destination = check_text(destination, "destination", 255)
    check_period(start_date, end_date, today=clock.today())
    _hold_citizen(db_session, citizen.id)
    if db_session.scalar(sa.select(AbsenceDeclaration.id).where(
            AbsenceDeclaration.citizen_id == citizen.id,
            AbsenceDeclaration.status.in_(("declared", "acknowledged")),
            AbsenceDeclaration.start_date <= end_date,
            AbsenceDeclaration.end_date >= start_date).limit(1)) is not None:
        raise PeriodOverlaps()
    now = clock.now()
    absence = AbsenceDeclaration(citizen_id=citizen.id, province_code=citizen.province_code,
                                 commune_code=citizen.commune_code, start_date=start_date,
                                 end_date=end_date, reason=reason, destination=destination,
                                 decide_by=decision_deadline(now, decision_days))
    ABSENCE_FLOW.start(db_session, absence, role="citizen", by=_citizen_by(account))
    _audit_citizen(db_session, actor, "residence.absence_declared", citizen.id,
                   absence_id=absence.id)
    bump(db_session, metric="residence.absence.declared", province_code=citizen.province_code,
         commune_code=citizen.commune_code)
    db_session.commit()
    return absence


def get_own_absence(*, db_session: Session, account: Account,
                    absence_id: int) -> AbsenceDeclaration:
    """One of the citizen's own absence declarations, or :class:`AbsenceNotFound`."""
    absence = db_session.get(AbsenceDeclaration, absence_id)
    if absence is None or absence.citizen_id != account.citizen_id:
        raise AbsenceNotFound()
    return absence


def own_absences(*, db_session: Session, account: Account, page: int,
                 per_page: int) -> tuple[list[AbsenceDeclaration], int]:
    """The citizen's absence declarations, newest first."""
    return paginate(db_session, sa.select(AbsenceDeclaration)
                    .where(AbsenceDeclaration.citizen_id == account.citizen_id)
                    .order_by(AbsenceDeclaration.id.desc()), page=page, per_page=per_page)


def withdraw_absence(*, db_session: Session, actor: Actor, account: Account, absence_id: int,
                     version: int | None = None) -> AbsenceDeclaration:
    """The citizen withdraws an absence declaration not yet acknowledged."""
    absence = get_own_absence(db_session=db_session, account=account, absence_id=absence_id)
    _expect_version(absence, version)
    ABSENCE_FLOW.apply(db_session, absence, "withdraw", role="citizen", by=_citizen_by(account))
    _audit_citizen(db_session, actor, "residence.absence_withdrawn", account.citizen_id,
                   absence_id=absence.id)
    db_session.commit()
    return absence


def absence_for_officer(*, db_session: Session, actor: Actor, officer: Officer,
                        absence_id: int) -> AbsenceDeclaration:
    """An absence of the officer's jurisdiction, or "not found" (an attempt outside is audited)."""
    absence = db_session.get(AbsenceDeclaration, absence_id)
    if absence is None:
        raise AbsenceNotFound()
    if not in_jurisdiction(officer, absence.province_code, absence.commune_code):
        _refuse_outside(db_session, actor, officer, "absence", absence.id, AbsenceNotFound())
    return absence


def absence_queue(*, db_session: Session, officer: Officer, statuses: Sequence[str] | None,
                  commune_code: str | None, overdue: bool, page: int,
                  per_page: int) -> tuple[list[AbsenceDeclaration], int]:
    """Absences of the officer's jurisdiction (by default those to acknowledge), by deadline."""
    where = _jurisdiction_where(AbsenceDeclaration, officer, commune_code)
    where.append(AbsenceDeclaration.status.in_(statuses or ABSENCE_POLICE_STATES))
    if overdue:
        where.append(AbsenceDeclaration.decide_by < clock.now())
    return paginate(db_session, sa.select(AbsenceDeclaration).where(*where)
                    .order_by(AbsenceDeclaration.decide_by, AbsenceDeclaration.id),
                    page=page, per_page=per_page)


def read_absence(*, db_session: Session, actor: Actor, officer: Officer,
                 absence_id: int) -> tuple[AbsenceDeclaration, list[WorkflowEvent]]:
    """An absence with its history; the read shows in the citizen's access log."""
    absence = absence_for_officer(db_session=db_session, actor=actor, officer=officer,
                                  absence_id=absence_id)
    _audit_citizen(db_session, officer_actor(officer, actor), "residence.absence_read",
                   absence.citizen_id, absence_id=absence.id, by=unit_name(officer))
    history = ABSENCE_FLOW.history(db_session, absence.id)
    db_session.commit()
    return absence, history


def act_on_absence(*, db_session: Session, actor: Actor, officer: Officer, absence_id: int,
                   action: str, reason: str | None = None,
                   version: int | None = None) -> AbsenceDeclaration:
    """Acknowledge an absence of the jurisdiction."""
    absence = absence_for_officer(db_session=db_session, actor=actor, officer=officer,
                                  absence_id=absence_id)
    note = check_text(reason, "reason", 500, required=False) or None
    _expect_version(absence, version)
    ABSENCE_FLOW.check(absence.status, action, officer.role)
    absence.acknowledged_at, absence.acknowledged_by_officer_id = clock.now(), officer.id
    ABSENCE_FLOW.apply(db_session, absence, action, role=officer.role, by=unit_name(officer),
                       note=note, officer_id=officer.id)
    _audit_citizen(db_session, officer_actor(officer, actor), f"residence.absence_{action}",
                   absence.citizen_id, absence_id=absence.id, by=unit_name(officer))
    _notify_citizen(db_session, absence.citizen_id, "residence.absence_acknowledged",
                    "The commune police acknowledged your temporary absence declaration.")
    db_session.commit()
    return absence


# --- The overdue view -----------------------------------------------------------------------------

def overdue_cases(*, db_session: Session, officer: Officer, kind: str, page: int,
                  per_page: int) -> tuple[list[TemporaryStay] | list[AbsenceDeclaration], int]:
    """For a supervisor: the cases of ``kind`` past their deadline across the province."""
    if officer.role != "supervisor":
        raise SupervisorOnly()
    model: Any = TemporaryStay if kind == "temporary_stay" else AbsenceDeclaration
    states = STAY_POLICE_STATES if kind == "temporary_stay" else ABSENCE_POLICE_STATES
    return paginate(db_session, sa.select(model).where(
        model.province_code == officer.province_code, model.status.in_(states),
        model.decide_by < clock.now()).order_by(model.decide_by, model.id),
        page=page, per_page=per_page)


# --- The record and the credential ----------------------------------------------------------------

def current_residence(*, db_session: Session, citizen_id: int,
                      on: dt.date | None = None) -> TemporaryResidence | None:
    """The citizen's temporary residence in force on ``on`` (today), the latest to start."""
    day = on or clock.today()
    return db_session.scalars(sa.select(TemporaryResidence).where(
        TemporaryResidence.citizen_id == citizen_id, TemporaryResidence.start_date <= day,
        TemporaryResidence.end_date >= day)
        .order_by(TemporaryResidence.start_date.desc(), TemporaryResidence.id.desc())
        .limit(1)).first()


def own_current_residence(*, db_session: Session, account: Account) -> TemporaryResidence:
    """The citizen's temporary residence in force today, or :class:`NoCurrentResidence`."""
    residence = current_residence(db_session=db_session, citizen_id=account.citizen_id)
    if residence is None:
        raise NoCurrentResidence()
    return residence


def residence_claims(db_session: Session, account: Account) -> dict[str, Any]:
    """The claims of a ``residence`` credential: the stay approved and in force today."""
    residence = own_current_residence(db_session=db_session, account=account)
    citizen = account.citizen
    return {"id": citizen.personal_id, "nm": citizen.full_name, "addr": residence.address,
            "cm": residence.commune_code, "fr": residence.start_date.isoformat(),
            "to": residence.end_date.isoformat()}


register_type(CredentialType(
    name="residence", claims=residence_claims, min_level=1, lifetime=120,
    description="Temporary residence (tạm trú) approved by the commune police, in force today"))


# --- Police queues for monitoring -----------------------------------------------------------------

def _backlog(queue: str, model: Any, states: Iterable[str]) -> Any:
    def query(db_session: Session, now: dt.datetime) -> list[UnitBacklog]:
        rows = db_session.execute(
            sa.select(model.province_code, model.commune_code, sa.func.count(),
                      sa.func.sum(sa.case((model.decide_by < now, 1), else_=0)))
            .where(model.status.in_(tuple(states)))
            .group_by(model.province_code, model.commune_code))
        return [UnitBacklog(queue=queue, province_code=province, commune_code=commune,
                            open=int(count), overdue=int(overdue or 0))
                for province, commune, count, overdue in rows]
    return query


register_queue("temporary_stays", _backlog("temporary_stays", TemporaryStay, STAY_POLICE_STATES))
register_queue("absences", _backlog("absences", AbsenceDeclaration, ABSENCE_POLICE_STATES))
