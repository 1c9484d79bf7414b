"""Temporary stays (đăng ký tạm trú): the citizen's declaration, the host's answer, the police's
decision.

A stay is declared by a citizen for an address of a commune, a period of at
most two years, a reason and a host. A host with an active account confirms or
refuses in the app with their passcode; a host without one is checked in
person by the commune police (``check_host``). The police approve or reject
before ``decide_by``. The declarant is shown one course whoever the host is
(:mod:`utilities.residence.stay_view`), so a declaration tells nothing of a
stranger's account. Approval adds a
:class:`~identity.registry.models.TemporaryResidence` to the citizen's record,
which the ``residence`` credential reads (:mod:`utilities.residence.records`).
A renewal (gia hạn) is a new declaration linked to the approved one, starting
the day after it ends.

Every use case commits once, with its workflow history row and its audit event
in the same transaction.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.account import get_account_of
from identity.accounts.passcode import confirm_passcode
from identity.accounts.models import ACTIVE, Account, Officer
from identity.accounts.officers import officer_actor, unit_name
from identity.audit.service import Actor
from identity.database import paginate
from identity.errors import Conflict
from identity.monitoring.counters import bump
from identity.registry.models import TemporaryResidence
from identity.registry.service import get_citizen
from utilities.payments.orders import create_fee_order
from utilities.residence.declarations import (DEFAULT_DECISION_DAYS, OFFICERS, audit_citizen,
                                              check_commune, check_period, check_text,
                                              citizen_by, decision_deadline, expect_version,
                                              jurisdiction_where, notify_citizen, officer_case,
                                              overlaps, own_case, own_cases, withdraw_case)
from utilities.residence.errors import (InvalidResidenceInput, PeriodOverlaps, RenewalOpen,
                                        StayNotFound)
from utilities.residence.models import HOST_BY_APP, HOST_IN_PERSON, HOST_SELF, TemporaryStay
from utilities.residence.stay_view import declarant_state
from utilities.workflow import Workflow, WorkflowEvent

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
#: What an officer may do to a stay.
STAY_ACTIONS = ("check_host", "approve", "reject")


# --- The citizen ----------------------------------------------------------------------------------

def _to_police(stay: TemporaryStay, decision_days: int) -> None:
    """The stay goes to the police's queue now, with its deadline."""
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
    if overlaps(db_session, TemporaryStay, citizen_id=citizen.id,
                states=(*STAY_OPEN_STATES, "approved"), start=start_date, end=end_date):
        raise PeriodOverlaps()
    host = get_citizen(db_session=db_session, personal_id=host_personal_id)
    if host is None:
        # Not in the registry: taken like a host without the app (checked in person), so the
        # answer does not tell the declarant whether a personal id exists.
        host_check, entry = HOST_IN_PERSON, "awaiting_check"
    elif host.id == citizen.id:
        host_check, entry = HOST_SELF, "submitted"
    else:
        host_account = get_account_of(db_session=db_session, citizen_id=host.id)
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
    STAY_FLOW.start(db_session, stay, role="citizen", by=citizen_by(account), entry_state=entry,
                    host_check=host_check, previous_id=stay.previous_id)
    # No host_check in the event: the declarant reads it in their access log, and it would
    # tell whether the host has an active account (officers read it on the stay).
    audit_citizen(db_session, actor, "residence.stay_declared", citizen.id, stay_id=stay.id,
                  commune=commune.code, renews=stay.previous_id)
    if host is not None and host_check == HOST_BY_APP:
        notify_citizen(db_session, host.id, "residence.host_confirmation",
                       f"A temporary stay at {address} names you as its host. Confirm or "
                       "refuse it in the app (Residence, host confirmations).")
    bump(db_session, metric="residence.temporary_stay.declared",
         province_code=commune.province_code, commune_code=commune.code)
    # The registration (or renewal) fee is owed from the declaration; paid in the app.
    create_fee_order(db_session=db_session, actor=actor, citizen_id=citizen.id,
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
    STAY_FLOW.note(db_session, previous, "renew", role="citizen", by=citizen_by(account),
                   renewal_id=renewal.id)
    db_session.commit()
    return renewal


def _host_personal_id(stay: TemporaryStay) -> str:
    """The host's personal id: the registry's, or as declared when it has none."""
    return stay.host.personal_id if stay.host is not None else stay.host_personal_id or ""


def get_own_stay(*, db_session: Session, account: Account, stay_id: int) -> TemporaryStay:
    """One of the citizen's own stays, or :class:`StayNotFound`."""
    return own_case(db_session, TemporaryStay, stay_id, account, StayNotFound)


def own_stays(*, db_session: Session, account: Account, page: int,
              per_page: int) -> tuple[list[TemporaryStay], int]:
    """The citizen's stays, newest first."""
    return own_cases(db_session, TemporaryStay, account, page=page, per_page=per_page)


def withdraw_stay(*, db_session: Session, actor: Actor, account: Account, stay_id: int,
                  version: int | None = None) -> TemporaryStay:
    """The citizen withdraws a stay before the police decide."""
    stay = get_own_stay(db_session=db_session, account=account, stay_id=stay_id)
    withdraw_case(db_session, actor, account, stay, STAY_FLOW, version,
                  "residence.stay_withdrawn", stay_id=stay.id)
    db_session.commit()
    return stay


# --- The host -------------------------------------------------------------------------------------

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
    """The host confirms (to the police queue) or refuses a stay, with their passcode.

    A wrong passcode is committed at once by
    :func:`identity.accounts.passcode.confirm_passcode` (its counter must survive the
    refusal); a right one is committed with the answer.
    """
    stay = db_session.get(TemporaryStay, stay_id)
    if stay is None or stay.host_citizen_id != account.citizen_id or \
            stay.host_check != HOST_BY_APP:
        raise StayNotFound()
    action = "confirm_host" if confirm else "refuse_host"
    note = check_text(reason, "reason", 500, required=False) or None
    STAY_FLOW.check(stay.status, action, "host")  # a stale answer costs no passcode try
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    if confirm:
        stay.host_confirmed_at = clock.now()
        _to_police(stay, decision_days)
    STAY_FLOW.apply(db_session, stay, action, role="host", by="host", note=note)
    audit_citizen(db_session, actor, "residence.host_confirmed" if confirm
                  else "residence.host_refused", stay.citizen_id, stay_id=stay.id)
    if confirm:
        _notify_host_confirmed(db_session, stay)
    else:
        notify_citizen(db_session, stay.citizen_id, "residence.stay_host_answer",
                       f"Your host refused your temporary stay at {stay.address}.")
    db_session.commit()
    return stay


def _notify_host_confirmed(db_session: Session, stay: TemporaryStay) -> None:
    """Tell the declarant their host is confirmed: the same words whether the host confirmed
    in the app or an officer checked them in person (see :mod:`utilities.residence.stay_view`)."""
    notify_citizen(db_session, stay.citizen_id, "residence.stay_host_answer",
                   f"Your host confirmed your temporary stay at {stay.address}. It now waits "
                   "for the commune police.")


# --- The police -----------------------------------------------------------------------------------

def stay_queue(*, db_session: Session, officer: Officer, statuses: Sequence[str] | None,
               commune_code: str | None, overdue: bool, page: int,
               per_page: int) -> tuple[list[TemporaryStay], int]:
    """Stays of the jurisdiction (by default those waiting for the police), by deadline."""
    where = jurisdiction_where(TemporaryStay, officer, commune_code)
    where.append(TemporaryStay.status.in_(statuses or STAY_POLICE_STATES))
    if overdue:
        where.append(TemporaryStay.decide_by < clock.now())
    return paginate(db_session, sa.select(TemporaryStay).where(*where)
                    .order_by(sa.nulls_last(TemporaryStay.decide_by.asc()), TemporaryStay.id),
                    page=page, per_page=per_page)


def _stay_for_officer(db_session: Session, actor: Actor, officer: Officer,
                      stay_id: int) -> TemporaryStay | None:
    """The stay if it is in the officer's jurisdiction; None (the attempt audited) if outside."""
    return officer_case(db_session, actor, officer, TemporaryStay, stay_id, "temporary_stay",
                        StayNotFound)


def read_stay(*, db_session: Session, actor: Actor, officer: Officer,
              stay_id: int) -> tuple[TemporaryStay, list[WorkflowEvent]]:
    """A stay with its history; the read shows in the declarant's (and host's) access log."""
    stay = _stay_for_officer(db_session, actor, officer, stay_id)
    if stay is None:  # outside the jurisdiction: the attempt stays audited
        db_session.commit()
        raise StayNotFound()
    by = officer_actor(officer, actor)
    for citizen_id in dict.fromkeys(filter(None, (stay.citizen_id, stay.host_citizen_id))):
        audit_citizen(db_session, by, "residence.stay_read", citizen_id, stay_id=stay.id,
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
    stay = _stay_for_officer(db_session, actor, officer, stay_id)
    if stay is None:  # outside the jurisdiction: the attempt stays audited
        db_session.commit()
        raise StayNotFound()
    note = check_text(reason, "reason", 500, required=False) or None
    if action == "reject" and note is None:
        raise InvalidResidenceInput("A rejection needs a reason.", code="reason.required",
                                    field="reason")
    expect_version(stay, version)
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
    audit_citizen(db_session, officer_actor(officer, actor), f"residence.stay_{action}",
                  stay.citizen_id, stay_id=stay.id, by=unit_name(officer))
    if action == "check_host":
        _notify_host_confirmed(db_session, stay)
    else:
        outcome = "approved" if action == "approve" else f"rejected: {note}"
        notify_citizen(db_session, stay.citizen_id, "residence.stay_decided",
                       f"Your temporary stay at {stay.address} was {outcome}")
    db_session.commit()
    return stay
