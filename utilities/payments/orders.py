"""Orders: fees owed to a service, fines issued by officers, the citizen's and the officers' views.

A fee is created by a service of the project from the fee schedule
(``data/fees.json``; e.g. a temporary stay declaration owes its registration
fee: :func:`create_fee_order`, a step of the caller's transaction), a fine by
an officer (:func:`issue_fine`). Amounts are integers in đồng.

A use case refused with an audit row (a fine outside the jurisdiction, an
officer reading an order outside it) commits that row and raises: on that
path, the refusal is the use case's end and its one commit.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.errors import OutsideJurisdiction
from identity.accounts.models import Account, Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.audit.service import Actor, record_event
from identity.database import paginate
from identity.registry import admin_units
from identity.registry.normalise import names_match, normalise_text
from identity.registry.service import get_citizen
from utilities.payments import ledger
from utilities.payments.errors import CitizenNotMatched, InvalidPaymentInput, OrderNotFound
from utilities.payments.flow import ORDER_FLOW, audit, notify_citizen
from utilities.payments.models import (FEE, FINE, REFUND_HELD, PaymentAttempt, PaymentOrder,
                                       Refund)
from utilities.workflow import WorkflowEvent

#: Bounds of one order's amount, in đồng.
MAX_AMOUNT = 2_000_000_000
FEES_FILE = Path(__file__).parent / "data" / "fees.json"


# --- The fee schedule --------------------------------------------------------------------------

@dataclass(frozen=True)
class Fee:
    """One fee of the schedule."""

    code: str
    name: str
    amount: int
    legal_basis: str


def _valid_amount(amount: object) -> bool:
    return isinstance(amount, int) and not isinstance(amount, bool) and 0 < amount <= MAX_AMOUNT


@cache
def fee_schedule() -> dict[str, Fee]:
    """The fee schedule of ``data/fees.json``, checked once (integer amounts in đồng)."""
    data = json.loads(FEES_FILE.read_text(encoding="utf-8"))
    fees = {}
    for code, entry in data["fees"].items():
        amount = entry["amount"]
        if not _valid_amount(amount):
            raise ValueError(f"fee {code}: the amount must be a positive integer of đồng")
        fees[code] = Fee(code=code, name=entry["name"], amount=amount,
                         legal_basis=entry["legal_basis"])
    return fees


# --- Fees and fines ----------------------------------------------------------------------------

def create_fee_order(*, db_session: Session, actor: Actor, citizen_id: int, fee_code: str,
                     province_code: str, commune_code: str | None, source_type: str,
                     source_id: int) -> PaymentOrder:
    """The order of a fee owed for ``source`` (e.g. a temporary stay), in the caller's
    transaction; the same source and fee give back the same order."""
    fee = fee_schedule().get(fee_code)
    if fee is None:
        raise ValueError(f"no fee {fee_code!r} in the fee schedule")
    existing = db_session.scalars(sa.select(PaymentOrder).where(
        PaymentOrder.source_type == source_type, PaymentOrder.source_id == source_id,
        PaymentOrder.fee_code == fee_code)).first()
    if existing is not None:
        return existing
    order = PaymentOrder(kind=FEE, fee_code=fee.code, citizen_id=citizen_id,
                         description=fee.name, legal_basis=fee.legal_basis, amount=fee.amount,
                         treasury=ledger.TREASURY[FEE], province_code=province_code,
                         commune_code=commune_code, source_type=source_type,
                         source_id=source_id)
    ORDER_FLOW.start(db_session, order, role="system", by=f"service:{source_type}",
                     fee=fee.code, amount=fee.amount)
    audit(db_session, actor, "payment.fee_ordered", citizen_id, order_id=order.id,
          fee=fee.code, amount=fee.amount, source=f"{source_type}:{source_id}")
    notify_citizen(db_session, citizen_id, "payment.order_created",
                   f"{fee.name}: {fee.amount:,} đồng to pay in the app (Payments).")
    return order


def issue_fine(*, db_session: Session, actor: Actor, officer: Officer, personal_id: str,
               full_name: str, date_of_birth: dt.date, legal_basis: str, amount: int,
               due_date: dt.date, description: str | None = None,
               commune_code: str | None = None) -> PaymentOrder:
    """An officer fines a citizen (personal id, name and date of birth from the ID card); the
    citizen pays it in the app.

    The place of the fine is the officer's unit, or a commune of their
    jurisdiction given in ``commune_code``. An id the registry does not know
    and a known id with another name or birth date are one answer
    (:class:`CitizenNotMatched`, audited): a fine is no way to ask the
    registry whether an id exists.
    """
    if not _valid_amount(amount):
        raise InvalidPaymentInput(f"The amount is a whole number of đồng, 1 to {MAX_AMOUNT:,}.",
                                  code="payment.amount_invalid", field="amount")
    legal_basis = normalise_text(legal_basis, field="legal_basis", max_length=255)
    description = (normalise_text(description, field="description", max_length=255,
                                  required=False)
                   or "Tiền phạt vi phạm hành chính (administrative fine)")
    if due_date < clock.today():
        raise InvalidPaymentInput("The due date cannot be in the past.",
                                  code="payment.due_date_past", field="due_date")
    acting = officer_actor(officer, actor)
    place = commune_code or officer.commune_code
    if place is not None:
        commune = admin_units.communes().get(place)
        if commune is None:
            raise InvalidPaymentInput("Unknown commune code.", code="commune.unknown",
                                      field="commune_code")
        if not in_jurisdiction(officer, commune.province_code, commune.code):
            record_event(db_session=db_session, actor=acting, action="payment.fine_refused",
                         details={"reason": "outside_jurisdiction", "by": unit_name(officer)})
            db_session.commit()
            raise OutsideJurisdiction()
    citizen = get_citizen(db_session=db_session, personal_id=personal_id)
    if citizen is None or not names_match(full_name, citizen.full_name) \
            or date_of_birth != citizen.date_of_birth:
        # One answer, one audit row, whichever it was: unknown id, or another name or birth date.
        record_event(db_session=db_session, actor=acting, action="payment.fine_refused",
                     details={"reason": "citizen_not_matched", "by": unit_name(officer)})
        db_session.commit()
        raise CitizenNotMatched()
    order = PaymentOrder(kind=FINE, citizen_id=citizen.id, description=description,
                         legal_basis=legal_basis, amount=amount, treasury=ledger.TREASURY[FINE],
                         province_code=officer.province_code, commune_code=place,
                         due_date=due_date, issued_by_officer_id=officer.id)
    ORDER_FLOW.start(db_session, order, role=officer.role, by=unit_name(officer),
                     amount=amount, officer_id=officer.id)
    audit(db_session, acting, "payment.fine_issued", citizen.id, order_id=order.id,
          amount=amount, by=unit_name(officer))
    notify_citizen(db_session, citizen.id, "payment.fine_issued",
                   f"{unit_name(officer)} issued a fine of {amount:,} đồng, due "
                   f"{due_date.isoformat()}. Pay it in the app (Payments).")
    db_session.commit()
    return order


# --- Reading orders ----------------------------------------------------------------------------

def own_orders(*, db_session: Session, account: Account, status: str | None, page: int,
               per_page: int) -> tuple[list[PaymentOrder], int]:
    """The citizen's orders, newest first (of one status, when given)."""
    query = sa.select(PaymentOrder).where(PaymentOrder.citizen_id == account.citizen_id)
    if status:
        query = query.where(PaymentOrder.status == status)
    return paginate(db_session, query.order_by(PaymentOrder.id.desc()), page=page,
                    per_page=per_page)


def get_own_order(*, db_session: Session, account: Account, order_id: int) -> PaymentOrder:
    """One of the citizen's orders, or :class:`OrderNotFound`."""
    order = db_session.get(PaymentOrder, order_id)
    if order is None or order.citizen_id != account.citizen_id:
        raise OrderNotFound()
    return order


@dataclass
class OrderDetail:
    """An order with its attempts and its history."""

    order: PaymentOrder
    attempts: list[PaymentAttempt]
    history: list[WorkflowEvent]
    #: Money charged with another amount, held and owed back to the payer (newest first).
    held_refunds: list[Refund] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.order, name)


def order_detail(*, db_session: Session, account: Account, order_id: int) -> OrderDetail:
    """One of the citizen's orders, its attempts (newest first) and its history."""
    order = get_own_order(db_session=db_session, account=account, order_id=order_id)
    return _detail(db_session, order)


def _detail(db_session: Session, order: PaymentOrder) -> OrderDetail:
    attempts = list(db_session.scalars(sa.select(PaymentAttempt).where(
        PaymentAttempt.order_id == order.id).order_by(PaymentAttempt.id.desc())))
    held = list(db_session.scalars(sa.select(Refund).where(
        Refund.order_id == order.id, Refund.kind == REFUND_HELD).order_by(Refund.id.desc())))
    return OrderDetail(order=order, attempts=attempts,
                       history=ORDER_FLOW.history(db_session, order.id), held_refunds=held)


def order_for_officer(*, db_session: Session, actor: Actor, officer: Officer,
                      order_id: int) -> OrderDetail:
    """An order of the officer's jurisdiction (an attempt outside is audited; "not found")."""
    order = db_session.get(PaymentOrder, order_id)
    if order is None:
        raise OrderNotFound()
    if not in_jurisdiction(officer, order.province_code, order.commune_code or ""):
        record_event(db_session=db_session, actor=officer_actor(officer, actor),
                     action="payment.access_refused", subject_type="citizen",
                     subject_id=order.citizen_id,
                     details={"reason": "outside_jurisdiction", "by": unit_name(officer)})
        db_session.commit()
        raise OrderNotFound()
    audit(db_session, officer_actor(officer, actor), "payment.order_read", order.citizen_id,
          order_id=order.id, by=unit_name(officer))
    db_session.commit()
    return _detail(db_session, order)
