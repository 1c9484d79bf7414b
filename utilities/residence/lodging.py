"""Lodging notices (thông báo lưu trú): who stays at one address, and the police's review.

A host in the app, or a hotel as a relying party (scope ``lodging.notify``),
lists the guests staying at one address: personal id, arrival, departure and,
as printed on the guest's ID card, the full name and date of birth.

**No oracle over the registry.** A notice takes up to 50 personal ids. It is
accepted for every well-formed guest and answered the same whether the ids
exist or not: a guest whose id is not in the registry, or whose name or date
of birth do not match the registry's record of that id, is kept as declared and
waits for the review of the commune police (``review_state`` ``pending``),
who see it in their lodging list (filter ``review=pending``) and clear or flag
it. Nothing in the answer, its status or its shape tells the notifier which
guests matched. The caller (``app/``) limits how many guests each account or
party may send a day.

Each guest of the registry sees the notice in their access log (a guest whose
id was given with another name too: it is how they learn their id was used).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from identity import clock
from identity.accounts.models import Account, Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.audit.service import Actor, record_event
from identity.database import paginate
from identity.monitoring.counters import bump
from identity.registry.models import Citizen
from identity.registry.normalise import names_match
from utilities.residence.declarations import (audit_citizen, check_commune, check_period,
                                              check_text, citizen_by, jurisdiction_where,
                                              record_refusal)
from utilities.residence.errors import GuestNotFound, GuestReviewed, InvalidResidenceInput
from utilities.residence.models import (REVIEW_CLEARED, REVIEW_FLAGGED, REVIEW_MISMATCH,
                                        REVIEW_PENDING, REVIEW_UNKNOWN_ID, LodgingGuest,
                                        LodgingNotice)

#: Guests in one notice.
MAX_GUESTS = 50
#: A lodging notice may be sent the day after a late arrival.
LODGING_LATE_DAYS = 1
#: What an officer may decide of a guest under review.
REVIEW_OUTCOMES = (REVIEW_CLEARED, REVIEW_FLAGGED)


@dataclass(frozen=True)
class LodgingNotifier:
    """Who sends a lodging notice: a host in the app, or a hotel (a relying party)."""

    type: str  # "citizen" or "relying_party"
    id: str  # "account:12", or the relying party's client id
    host_citizen_id: int | None = None


def citizen_notifier(account: Account) -> LodgingNotifier:
    """A host sending a notice from the app."""
    return LodgingNotifier(type="citizen", id=citizen_by(account),
                           host_citizen_id=account.citizen_id)


@dataclass(frozen=True)
class _DeclaredGuest:
    """A guest as the notifier declared it, checked for form only."""

    personal_id: str
    arrival: dt.date
    departure: dt.date
    full_name: str | None
    date_of_birth: dt.date | None


def _declared_guests(guests: Sequence[Mapping[str, Any]], today: dt.date) -> list[_DeclaredGuest]:
    """The guests as declared, each checked on its own (never against the registry)."""
    if not 1 <= len(guests) <= MAX_GUESTS:
        raise InvalidResidenceInput(f"A notice lists 1 to {MAX_GUESTS} guests.",
                                    code="lodging.guest_count", field="guests")
    rows: list[_DeclaredGuest] = []
    seen: set[str] = set()
    earliest = today - dt.timedelta(days=LODGING_LATE_DAYS)
    for index, guest in enumerate(guests):
        field = f"guests.{index}"
        check_period(guest["arrival"], guest["departure"], today=today, earliest=earliest,
                     start_field=f"{field}.arrival", end_field=f"{field}.departure")
        if guest["personal_id"] in seen:
            raise InvalidResidenceInput("This guest is listed twice.",
                                        code="lodging.guest_duplicate",
                                        field=f"{field}.personal_id")
        seen.add(guest["personal_id"])
        name = guest.get("full_name")
        rows.append(_DeclaredGuest(
            personal_id=guest["personal_id"], arrival=guest["arrival"],
            departure=guest["departure"],
            full_name=check_text(name, f"{field}.full_name", 100) if name is not None else None,
            date_of_birth=guest.get("date_of_birth")))
    return rows


def _review_reason(declared: _DeclaredGuest, citizen: Citizen | None) -> str | None:
    """Why a guest needs the police's review, or None when the registry agrees."""
    if citizen is None:
        return REVIEW_UNKNOWN_ID
    if declared.full_name is not None and not names_match(declared.full_name, citizen.full_name):
        return REVIEW_MISMATCH
    if declared.date_of_birth is not None and declared.date_of_birth != citizen.date_of_birth:
        return REVIEW_MISMATCH
    return None


def _guest_row(declared: _DeclaredGuest, citizen: Citizen | None) -> LodgingGuest:
    """The guest's row: linked to the registry's citizen, and kept as declared for review
    when the registry does not confirm it."""
    reason = _review_reason(declared, citizen)
    guest = LodgingGuest(citizen_id=citizen.id if citizen else None, arrival=declared.arrival,
                         departure=declared.departure)
    if reason is not None:  # kept as declared, for the officer who reviews it
        guest.personal_id, guest.declared_name = declared.personal_id, declared.full_name
        guest.declared_birth_date = declared.date_of_birth
        guest.review_reason, guest.review_state = reason, REVIEW_PENDING
    return guest


def notify_lodging(*, db_session: Session, actor: Actor, notifier: LodgingNotifier,
                   commune_code: str, address: str,
                   guests: Sequence[Mapping[str, Any]]) -> LodgingNotice:
    """Record who stays at one address; guests the registry does not confirm go to review.

    ``guests``: mappings with ``personal_id``, ``arrival`` and ``departure``
    (dates; the departure may be planned), and optionally ``full_name`` and
    ``date_of_birth`` as on the guest's ID card. Only the form of each row is
    refused (422 naming it); whether an id is in the registry changes nothing
    in the answer (see the module's doc).
    """
    commune = check_commune(commune_code)
    address = check_text(address, "address", 255)
    declared = _declared_guests(guests, clock.today())
    citizens = {citizen.personal_id: citizen for citizen in db_session.scalars(
        sa.select(Citizen).where(Citizen.personal_id.in_([g.personal_id for g in declared])))}
    notice = LodgingNotice(province_code=commune.province_code, commune_code=commune.code,
                           address=address, notifier_type=notifier.type,
                           notifier_id=notifier.id, host_citizen_id=notifier.host_citizen_id)
    notice.guests = [_guest_row(g, citizens.get(g.personal_id)) for g in declared]
    db_session.add(notice)
    db_session.flush()
    for guest in notice.guests:
        if guest.citizen_id is not None:
            audit_citizen(db_session, actor, "residence.lodging_notified", guest.citizen_id,
                          notice_id=notice.id, commune=commune.code)
    to_review = sum(1 for guest in notice.guests if guest.review_state == REVIEW_PENDING)
    if to_review:  # under the notifier: many of them tell the police who probes the registry
        record_event(db_session=db_session, actor=actor, action="residence.lodging_to_review",
                     subject_type="lodging_notice", subject_id=notice.id,
                     details={"notifier": notifier.id, "guests": len(notice.guests),
                              "to_review": to_review})
    bump(db_session, metric="residence.lodging.notified", province_code=commune.province_code,
         commune_code=commune.code)
    db_session.commit()
    return notice


# --- The police ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GuestStay:
    """A guest staying at an address, as the police of the commune see it.

    ``personal_id``, ``full_name`` and ``date_of_birth`` are the registry's
    when it knows the id, else as declared; ``declared_*`` are what the
    notifier gave for a guest under review.
    """

    guest_id: int
    notice_id: int
    personal_id: str
    full_name: str | None
    date_of_birth: dt.date | None
    commune_code: str
    address: str
    arrival: dt.date
    departure: dt.date
    notified_by: str
    in_registry: bool
    review_state: str | None
    review_reason: str | None
    declared_name: str | None
    declared_birth_date: dt.date | None


def _shown(guest: LodgingGuest) -> GuestStay:
    """What the police see of a guest (the registry's data when it knows the id)."""
    citizen = guest.citizen
    return GuestStay(
        guest_id=guest.id, notice_id=guest.notice_id,
        personal_id=citizen.personal_id if citizen else guest.personal_id or "",
        full_name=citizen.full_name if citizen else guest.declared_name,
        date_of_birth=citizen.date_of_birth if citizen else guest.declared_birth_date,
        commune_code=guest.notice.commune_code, address=guest.notice.address,
        arrival=guest.arrival, departure=guest.departure,
        notified_by=guest.notice.notifier_type, in_registry=citizen is not None,
        review_state=guest.review_state, review_reason=guest.review_reason,
        declared_name=guest.declared_name, declared_birth_date=guest.declared_birth_date)


def guests_staying(*, db_session: Session, actor: Actor, officer: Officer, on: dt.date | None,
                   commune_code: str | None, page: int, per_page: int,
                   review: str | None = None) -> tuple[list[GuestStay], int]:
    """Who stays where in the officer's jurisdiction (on a date, when given), newest first;
    ``review``: only the guests in that review state (``pending``: the police's queue).

    Each registry guest shown writes one event to that guest's access log, in
    the same transaction as the read's commit.
    """
    where = jurisdiction_where(LodgingNotice, officer, commune_code)
    if on is not None:
        where += [LodgingGuest.arrival <= on, LodgingGuest.departure >= on]
    if review is not None:
        where.append(LodgingGuest.review_state == review)
    guests, total = paginate(
        db_session, sa.select(LodgingGuest).join(LodgingGuest.notice).where(*where)
        .options(joinedload(LodgingGuest.notice), joinedload(LodgingGuest.citizen))
        .order_by(LodgingGuest.arrival.desc(), LodgingGuest.id.desc()),
        page=page, per_page=per_page)
    shown = [_shown(guest) for guest in guests]
    by = officer_actor(officer, actor)
    for guest in guests:
        if guest.citizen_id is not None:
            audit_citizen(db_session, by, "residence.lodging_read", guest.citizen_id,
                          notice_id=guest.notice_id, by=unit_name(officer))
    db_session.commit()
    return shown, total


def review_guest(*, db_session: Session, actor: Actor, officer: Officer, guest_id: int,
                 outcome: str, reason: str | None = None) -> GuestStay:
    """An officer of the notice's place clears or flags a guest under review (audited).

    A guest outside the jurisdiction is "not found" (the attempt audited).
    """
    if outcome not in REVIEW_OUTCOMES:
        raise InvalidResidenceInput("The outcome is cleared or flagged.",
                                    code="lodging.review_outcome", field="outcome")
    note = check_text(reason, "reason", 500, required=False) or None
    guest = db_session.scalars(sa.select(LodgingGuest).where(LodgingGuest.id == guest_id)
                               .with_for_update().execution_options(populate_existing=True)
                               ).first()
    if guest is None:
        raise GuestNotFound()
    if not in_jurisdiction(officer, guest.notice.province_code, guest.notice.commune_code):
        record_refusal(db_session, actor, officer, "lodging_guest", guest.id)
        db_session.commit()  # the attempt stays audited
        raise GuestNotFound()
    acting = officer_actor(officer, actor)
    if guest.review_state != REVIEW_PENDING:
        raise GuestReviewed(errors={"review_state": [guest.review_state or "none"]})
    guest.review_state, guest.reviewed_at = outcome, clock.now()
    guest.reviewed_by_officer_id = officer.id
    record_event(db_session=db_session, actor=acting, action=f"residence.lodging_{outcome}",
                 subject_type="lodging_guest", subject_id=guest.id,
                 details={"notice_id": guest.notice_id, "reason": guest.review_reason,
                          "note": note, "by": unit_name(officer)})
    if guest.citizen_id is not None:  # the citizen whose id was used sees the review
        audit_citizen(db_session, acting, "residence.lodging_reviewed", guest.citizen_id,
                      notice_id=guest.notice_id, outcome=outcome, by=unit_name(officer))
    shown = _shown(guest)
    db_session.commit()
    return shown
