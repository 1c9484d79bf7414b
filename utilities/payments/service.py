"""Use cases of payments: orders owed, paying them once, callbacks, reconciliation, refunds.

Over 400 lines until issue 17 ("A house to live in") splits it into use-case modules along
its sections; it was kept whole here so that the identity-assurance changes stayed
reviewable in place.

**Orders.** A fee is created by a service of the project from the fee
schedule (``data/fees.json``; e.g. a temporary stay declaration owes its
registration fee: :func:`create_fee_order`), a fine by an officer
(:func:`issue_fine`). Amounts are integers in đồng.

**Paying exactly once.** :func:`start_attempt` (behind an idempotency key,
:mod:`utilities.payments.idempotency`) works in three steps:

1. one transaction: the passcode is confirmed, the order's row is locked
   (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers), the
   order must be ``open``; a new attempt is inserted ``pending`` and the order
   moves ``open → pending``. A partial unique index allows one live attempt
   (``pending`` or ``succeeded``) per order, so even a path that forgot the
   lock could not add a second. Commit.
2. outside any transaction: the provider is asked to create the payment for
   the attempt's reference (idempotent on it at the provider).
3. one transaction: the provider's reference and redirect URL are stored on
   the attempt (never its state, which a callback may have moved meanwhile).

If the process dies between 2 and 3, the attempt is still ``pending`` with no
provider reference: :func:`reconcile` asks the provider by *our* reference
and settles it. If the provider cannot be reached at 2, the attempt stays
``pending`` too (the provider may have got the request).

**Settling.** Only the provider's word settles an attempt
(:func:`settle_attempt`, from a callback or from reconciliation): the attempt
row and the order's row are locked, a settled attempt never changes again (a
contrary later report is recorded as a ``conflict`` and audited), and a
success moves the order ``pending → paid`` with its ledger posting, usage
counter and audit event in the same transaction. A success whose amount is
not the attempt's is ``flagged``: audited, the order is not paid, and the
money the provider took is *held for refund* in the same transaction: a
ledger posting to the suspense account, a refund of kind ``held`` owed to the
payer, the order ``pending → held_for_refund``. Reconciliation pays it back
through the provider; then the order is ``open`` again, to be paid with the
right amount.

**Refunds** (:func:`refund_order`): a supervisor of the order's place, with a
reason, through the provider, posted in the ledger; the order's receipt
credentials are revoked.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts import service as accounts
from identity.accounts.errors import OutsideJurisdiction
from identity.accounts.models import Account, Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.audit.service import Actor, record_event
from identity.credentials.keys import KeyRing
from identity.credentials.models import Credential
from identity.credentials.service import Issued, sign_credential
from identity.database import paginate
from identity.monitoring.counters import bump
from identity.protection import Protector
from identity.registry import admin_units
from identity.registry.normalise import names_match, normalise_text
from identity.registry.service import get_citizen
from utilities.payments import gateway, ledger
from utilities.payments.errors import (AttemptNotFound, AttemptPending, ChargeHeld,
                                       CitizenNotMatched,
                                       InvalidPaymentInput, NotPaid, OrderNotFound, OrderPaid,
                                       OrderRefunded, RefundExists, SupervisorOnly,
                                       UnknownProvider)
from utilities.payments.gateway import PaymentProvider, ProviderDeclined, ProviderUnavailable
from utilities.payments.models import (FAILED, FEE, FINE, FLAGGED, PENDING, REFUND_HELD,
                                       REFUND_ORDER, SUCCEEDED, PaymentAttempt, PaymentOrder,
                                       ProviderCallback, ReceiptCredential, Refund)
from utilities.workflow import Workflow, WorkflowEvent

log = logging.getLogger("vnid.payments")

#: The states of an order: open → pending → paid → refunded (pending → open when it fails;
#: pending → held_for_refund → open when the provider charged another amount, until that money
#: is paid back).
ORDER_FLOW = Workflow("payment_order", initial="open", transitions=[
    ("start_payment", ["open"], "pending", ["citizen"]),
    ("pay", ["pending"], "paid", ["provider"]),
    ("fail", ["pending"], "open", ["provider"]),
    ("hold", ["pending"], "held_for_refund", ["provider"]),
    ("release", ["held_for_refund"], "open", ["provider"]),
    ("refund", ["paid"], "refunded", ["supervisor", "provider"]),
])
HELD = "held_for_refund"

#: Bounds of one order's amount, in đồng.
MAX_AMOUNT = 2_000_000_000
#: How long a receipt credential lives by default (re-issued at will).
RECEIPT_LIFETIME = 86_400
#: An attempt the provider has never heard of is failed after this long (the create call
#: may still be in flight before).
NOT_FOUND_GRACE = dt.timedelta(seconds=60)
FEES_FILE = Path(__file__).parent / "data" / "fees.json"


# --- The fee schedule --------------------------------------------------------------------------

@dataclass(frozen=True)
class Fee:
    """One fee of the schedule."""

    code: str
    name: str
    amount: int
    legal_basis: str


@cache
def fee_schedule() -> dict[str, Fee]:
    """The fee schedule of ``data/fees.json``, checked once (integer amounts in đồng)."""
    data = json.loads(FEES_FILE.read_text(encoding="utf-8"))
    fees = {}
    for code, entry in data["fees"].items():
        amount = entry["amount"]
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
            raise ValueError(f"fee {code}: the amount must be a positive integer of đồng")
        fees[code] = Fee(code=code, name=entry["name"], amount=amount,
                         legal_basis=entry["legal_basis"])
    return fees


# --- Helpers -----------------------------------------------------------------------------------

def new_reference(prefix: str) -> str:
    """A random reference that the provider sees: ``pa_``/``rf_`` and 24 hex digits."""
    return f"{prefix}_{secrets.token_hex(12)}"


def mask_personal_id(personal_id: str) -> str:
    """``001234567889`` → ``0012******89``: enough to tell receipts apart, not an identity."""
    return personal_id[:4] + "*" * (len(personal_id) - 6) + personal_id[-2:]


def _audit(db_session: Session, actor: Actor, action: str, citizen_id: int | None,
           **details: Any) -> None:
    if citizen_id is None:
        record_event(db_session=db_session, actor=actor, action=action, details=details)
    else:
        record_event(db_session=db_session, actor=actor, action=action, subject_type="citizen",
                     subject_id=citizen_id, details=details)


def _notify(db_session: Session, citizen_id: int, kind: str, text: str) -> None:
    account = accounts.get_account_of(db_session=db_session, citizen_id=citizen_id)
    if account is not None:
        accounts.notify(db_session=db_session, account_id=account.id, kind=kind, text=text)


def _lock_order(db_session: Session, order_id: int) -> PaymentOrder | None:
    """The order's row, locked until the commit, read fresh (not from the identity map)."""
    return db_session.scalars(
        sa.select(PaymentOrder).where(PaymentOrder.id == order_id).with_for_update(of=PaymentOrder)
        .execution_options(populate_existing=True)).first()


def _lock_attempt(db_session: Session, reference: str) -> PaymentAttempt | None:
    return db_session.scalars(
        sa.select(PaymentAttempt).where(PaymentAttempt.reference == reference)
        .with_for_update().execution_options(populate_existing=True)).first()


def _check_payable(order: PaymentOrder) -> None:
    if order.status == "paid":
        raise OrderPaid()
    if order.status == "refunded":
        raise OrderRefunded()
    if order.status == "pending":
        raise AttemptPending()
    if order.status == HELD:
        raise ChargeHeld()


def _check_amount(amount: object, field_name: str = "amount") -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        raise InvalidPaymentInput(f"The amount is a whole number of đồng, 1 to {MAX_AMOUNT:,}.",
                                  code="payment.amount_invalid", field=field_name)
    return amount


# --- Orders ------------------------------------------------------------------------------------

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
    _audit(db_session, actor, "payment.fee_ordered", citizen_id, order_id=order.id,
           fee=fee.code, amount=fee.amount, source=f"{source_type}:{source_id}")
    _notify(db_session, citizen_id, "payment.order_created",
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
    amount = _check_amount(amount)
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
    _audit(db_session, acting, "payment.fine_issued", citizen.id, order_id=order.id,
           amount=amount, by=unit_name(officer))
    _notify(db_session, citizen.id, "payment.fine_issued",
            f"{unit_name(officer)} issued a fine of {amount:,} đồng, due {due_date.isoformat()}. "
            "Pay it in the app (Payments).")
    db_session.commit()
    return order


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
    _audit(db_session, officer_actor(officer, actor), "payment.order_read", order.citizen_id,
           order_id=order.id, by=unit_name(officer))
    db_session.commit()
    return _detail(db_session, order)


# --- Paying ------------------------------------------------------------------------------------

def start_attempt(*, db_session: Session, actor: Actor, account: Account,
                  provider: PaymentProvider, order_id: int, bank: str, passcode: str,
                  return_url: str, callback_url: str) -> PaymentAttempt:
    """Pay one of the citizen's orders through ``provider`` with the chosen bank (see the
    module's doc for the three steps); the attempt, ``pending`` (or ``failed`` when the
    provider refused at once)."""
    if bank not in gateway.BANKS:
        raise InvalidPaymentInput("Unknown bank code.", code="payment.bank_unknown", field="bank")
    order = get_own_order(db_session=db_session, account=account, order_id=order_id)
    _check_payable(order)  # before the passcode: no try is spent on an order that cannot be paid
    accounts.confirm_passcode(db_session=db_session, actor=actor, account=account,
                              passcode=passcode)
    locked = _lock_order(db_session, order_id)
    assert locked is not None
    _check_payable(locked)
    attempt = PaymentAttempt(reference=new_reference("pa"), order_id=locked.id,
                             account_id=account.id, provider=provider.name, bank=bank,
                             amount=locked.amount, status=PENDING, created_at=clock.now())
    db_session.add(attempt)
    try:
        db_session.flush()
    except IntegrityError:  # the partial unique index: another live attempt got in
        db_session.rollback()
        raise AttemptPending() from None
    ORDER_FLOW.apply(db_session, locked, "start_payment", role="citizen",
                     by=f"account:{account.id}", attempt=attempt.reference, bank=bank)
    _audit(db_session, actor, "payment.attempt_started", locked.citizen_id, order_id=locked.id,
           attempt=attempt.reference, bank=bank, amount=attempt.amount)
    db_session.commit()
    reference, attempt_id = attempt.reference, attempt.id
    try:
        answer = provider.create_payment(reference=reference, amount=attempt.amount, bank=bank,
                                         description=f"VNID order {locked.id}",
                                         return_url=return_url, callback_url=callback_url)
    except ProviderDeclined as declined:
        settle_attempt(db_session=db_session, actor=actor, reference=reference, status=FAILED,
                       amount=None, source="create", failure_code=declined.code)
        db_session.commit()
        return _attempt(db_session, attempt_id)
    except ProviderUnavailable as error:
        # Unknown outcome: the attempt stays pending; reconciliation will ask the provider.
        log.warning("provider unavailable at create",
                    extra={"provider": provider.name, "attempt": reference, "error": str(error)})
        return _attempt(db_session, attempt_id)
    record_provider_answer(db_session=db_session, reference=reference,
                           provider_reference=answer.provider_reference,
                           redirect_url=answer.redirect_url)
    return _attempt(db_session, attempt_id)


def _attempt(db_session: Session, attempt_id: int) -> PaymentAttempt:
    attempt = db_session.get(PaymentAttempt, attempt_id, populate_existing=True)
    assert attempt is not None
    return attempt


def record_provider_answer(*, db_session: Session, reference: str, provider_reference: str,
                           redirect_url: str) -> None:
    """Keep the provider's reference and redirect URL on the attempt (never its state)."""
    attempt = _lock_attempt(db_session, reference)
    if attempt is not None and attempt.provider_reference is None:
        attempt.provider_reference = provider_reference[:64]
        attempt.redirect_url = redirect_url[:500]
    db_session.commit()


# --- Settling: callbacks and reconciliation ----------------------------------------------------

APPLIED, UNCHANGED, CONFLICT, FLAGGED_OUTCOME, DUPLICATE = (
    "applied", "unchanged", "conflict", "flagged", "duplicate")


def settle_attempt(*, db_session: Session, actor: Actor, reference: str, status: str,
                   amount: int | None, source: str, provider_name: str | None = None,
                   provider_reference: str | None = None,
                   failure_code: str | None = None) -> tuple[PaymentAttempt, str]:
    """Apply what the provider says of an attempt, in the caller's transaction.

    The outcome: ``applied`` (the state moved), ``unchanged`` (already known,
    or still pending), ``conflict`` (the attempt was settled otherwise: nothing
    changes, audited) or ``flagged`` (success with another amount: audited, the
    order is not paid). Raises :class:`AttemptNotFound`.
    """
    attempt = _lock_attempt(db_session, reference)
    if attempt is None or (provider_name is not None and attempt.provider != provider_name):
        raise AttemptNotFound()
    order = _lock_order(db_session, attempt.order_id)
    assert order is not None
    if provider_reference and attempt.provider_reference is None:
        attempt.provider_reference = provider_reference[:64]
    if status == PENDING or status == attempt.status:
        return attempt, UNCHANGED
    if attempt.status != PENDING:
        _audit(db_session, actor, "payment.report_conflict", order.citizen_id,
               order_id=order.id, attempt=reference, known=attempt.status, reported=status,
               source=source)
        return attempt, CONFLICT
    now = clock.now()
    attempt.completed_at = now
    if status == SUCCEEDED and amount != attempt.amount:
        _hold_mismatched_charge(db_session, actor, order, attempt, reported=amount,
                                source=source)
        return attempt, FLAGGED_OUTCOME
    if status == SUCCEEDED:
        attempt.status = SUCCEEDED
        order.paid_at = now
        ORDER_FLOW.apply(db_session, order, "pay", role="provider", by=source,
                         attempt=reference)
        ledger.post_payment(db_session, order, attempt)
        bump(db_session, metric="payments.paid", province_code=order.province_code,
             commune_code=order.commune_code)
        _audit(db_session, actor, "payment.paid", order.citizen_id, order_id=order.id,
               attempt=reference, amount=attempt.amount, source=source)
        _notify(db_session, order.citizen_id, "payment.paid",
                f"Payment received: {attempt.amount:,} đồng for order {order.id}. The receipt "
                "is in the app (Payments).")
        return attempt, APPLIED
    attempt.status, attempt.failure_code = FAILED, (failure_code or status)[:64]
    ORDER_FLOW.apply(db_session, order, "fail", role="provider", by=source, attempt=reference,
                     reason=attempt.failure_code)
    _audit(db_session, actor, "payment.failed", order.citizen_id, order_id=order.id,
           attempt=reference, reason=attempt.failure_code, source=source)
    return attempt, APPLIED


def _hold_mismatched_charge(db_session: Session, actor: Actor, order: PaymentOrder,
                            attempt: PaymentAttempt, *, reported: int | None,
                            source: str) -> None:
    """The provider reports a success of another amount: flag the attempt, do not pay the
    order, and hold what was charged for refund (posting, refund owed, order state).

    A success without an amount is taken as a charge of the amount asked for;
    a reported charge of nothing leaves nothing to hold (the order reopens).
    """
    charged = attempt.amount if reported is None else reported
    attempt.status, attempt.failure_code = FLAGGED, "amount_mismatch"
    details = {"order_id": order.id, "attempt": attempt.reference, "expected": attempt.amount,
               "reported": reported, "source": source}
    if charged <= 0:
        ORDER_FLOW.apply(db_session, order, "fail", role="provider", by=source,
                         attempt=attempt.reference, reason="amount_mismatch")
        _audit(db_session, actor, "payment.amount_mismatch", order.citizen_id, **details)
        return
    refund = Refund(reference=new_reference("rf"), order_id=order.id, attempt_id=attempt.id,
                    kind=REFUND_HELD, amount=charged, officer_id=None, status=PENDING,
                    reason=f"amount_mismatch: charged {charged}, asked {attempt.amount}",
                    created_at=clock.now())
    db_session.add(refund)
    ledger.post_hold(db_session, order, attempt, charged)
    ORDER_FLOW.apply(db_session, order, "hold", role="provider", by=source,
                     attempt=attempt.reference, reason="amount_mismatch", held=charged,
                     refund=refund.reference)
    _audit(db_session, actor, "payment.amount_mismatch", order.citizen_id, **details,
           held=charged, refund=refund.reference)
    _notify(db_session, order.citizen_id, "payment.held_for_refund",
            f"Your bank charged {charged:,} đồng instead of {attempt.amount:,} for order "
            f"{order.id}. That money is held and will be paid back to your bank; pay the order "
            "again once it is back.")


@dataclass(frozen=True)
class CallbackResult:
    """What a callback did."""

    outcome: str
    attempt_reference: str | None = None
    order_status: str | None = None


_CALLBACK_STATES = (PENDING, SUCCEEDED, FAILED)


def _callback_fields(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidPaymentInput("The callback body is not a JSON object.",
                                  code="payment.callback_invalid")
    event_id, reference = data.get("event_id"), data.get("merchant_reference")
    status, amount = data.get("status"), data.get("amount")
    if (not isinstance(event_id, str) or not 1 <= len(event_id) <= 64
            or not isinstance(reference, str) or not 1 <= len(reference) <= 32
            or status not in _CALLBACK_STATES
            or (amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)))
            or data.get("currency", "VND") != "VND"):
        raise InvalidPaymentInput("The callback lacks a field or has a wrong one.",
                                  code="payment.callback_invalid")
    provider_reference = data.get("provider_reference")
    return {"event_id": event_id, "reference": reference, "status": status, "amount": amount,
            "provider_reference": provider_reference if isinstance(provider_reference, str)
            else None}


def handle_callback(*, db_session: Session, actor: Actor, provider: PaymentProvider,
                    timestamp: str | None, signature: str | None, body: bytes) -> CallbackResult:
    """A provider's callback: verified, applied once, recorded with what it did.

    A forged or stale one is audited and refused (401); the same event again
    changes nothing (``duplicate``); one for an attempt we do not know is
    recorded and answered 404.
    """
    try:
        provider.verify_callback(timestamp=timestamp, signature=signature, body=body,
                                 now=clock.now().timestamp())
    except Exception as error:
        _audit(db_session, actor, "payment.callback_refused", None, provider=provider.name,
               reason=getattr(error, "code", "invalid"))
        db_session.commit()
        raise
    fields = _callback_fields(body)
    seen = db_session.scalar(sa.select(ProviderCallback.outcome).where(
        ProviderCallback.provider == provider.name,
        ProviderCallback.event_id == fields["event_id"]))
    if seen is not None:
        return CallbackResult(outcome=DUPLICATE, attempt_reference=fields["reference"])
    try:
        attempt, outcome = settle_attempt(
            db_session=db_session, actor=actor, reference=fields["reference"],
            status=fields["status"], amount=fields["amount"], source=f"callback:{provider.name}",
            provider_name=provider.name, provider_reference=fields["provider_reference"])
    except AttemptNotFound:
        db_session.rollback()
        _audit(db_session, actor, "payment.callback_unknown", None, provider=provider.name,
               event_id=fields["event_id"])
        db_session.commit()
        raise
    db_session.add(ProviderCallback(provider=provider.name, event_id=fields["event_id"],
                                    attempt_id=attempt.id, status=fields["status"],
                                    amount=fields["amount"], outcome=outcome,
                                    received_at=clock.now()))
    order_status = attempt.order.status
    try:
        db_session.commit()
    except IntegrityError:  # the same event, concurrently: the other one applied it
        db_session.rollback()
        return CallbackResult(outcome=DUPLICATE, attempt_reference=fields["reference"])
    return CallbackResult(outcome=outcome, attempt_reference=fields["reference"],
                          order_status=order_status)


@dataclass
class ReconcileReport:
    """What one reconciliation run did."""

    checked: int = 0
    settled: int = 0
    still_pending: int = 0
    unreachable: int = 0
    refunds_completed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    #: After the run: orders whose money is held for refund, what is owed back (đồng), and
    #: the held refunds the provider declined (to be settled by hand).
    held_orders: int = 0
    held_owed: int = 0
    held_refunds_failed: int = 0


def reconcile(*, db_session: Session, actor: Actor, providers: Mapping[str, PaymentProvider],
              older_than: dt.timedelta = dt.timedelta(seconds=60),
              limit: int = 500) -> ReconcileReport:
    """Ask the providers about attempts pending longer than ``older_than`` and settle them;
    drive refunds left pending. Idempotent: run it as often as you like."""
    report = ReconcileReport()
    now = clock.now()
    pending = db_session.execute(
        sa.select(PaymentAttempt.reference, PaymentAttempt.provider, PaymentAttempt.created_at)
        .where(PaymentAttempt.status == PENDING, PaymentAttempt.created_at <= now - older_than)
        .order_by(PaymentAttempt.id).limit(limit)).all()
    db_session.commit()
    for reference, provider_name, created_at in pending:
        provider = providers.get(provider_name)
        report.checked += 1
        if provider is None:
            report.unreachable += 1
            continue
        try:
            answer = provider.get_status(reference)
        except ProviderUnavailable:
            report.unreachable += 1
            continue
        status, failure = answer.status, answer.failure_code
        if status == gateway.NOT_FOUND:
            if created_at > clock.now() - NOT_FOUND_GRACE:
                report.still_pending += 1
                continue
            status, failure = FAILED, "provider.not_found"
        attempt, outcome = settle_attempt(
            db_session=db_session, actor=actor, reference=reference, status=status,
            amount=answer.amount, source="reconcile", provider_reference=answer.provider_reference,
            failure_code=failure)
        attempt.checked_at = clock.now()
        db_session.commit()
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
        if outcome == UNCHANGED and status == PENDING:
            report.still_pending += 1
        else:
            report.settled += 1
    for refund_id in db_session.scalars(sa.select(Refund.id).where(Refund.status == PENDING)
                                        .order_by(Refund.id).limit(limit)).all():
        refund = db_session.get(Refund, refund_id)
        assert refund is not None
        provider = providers.get(refund.attempt.provider)
        if provider is not None and _drive_refund(db_session, actor, provider, refund,
                                                  by="reconcile", role="provider"):
            report.refunds_completed += 1
    _count_held(db_session, report)
    db_session.commit()
    return report


def _count_held(db_session: Session, report: ReconcileReport) -> None:
    """What is still held for refund after the run (the report shows it, every run)."""
    report.held_orders = db_session.scalar(sa.select(sa.func.count()).select_from(PaymentOrder)
                                           .where(PaymentOrder.status == HELD)) or 0
    for status, count, owed in db_session.execute(
            sa.select(Refund.status, sa.func.count(), sa.func.coalesce(sa.func.sum(
                Refund.amount), 0)).where(Refund.kind == REFUND_HELD, Refund.status != SUCCEEDED)
            .group_by(Refund.status)):
        report.held_owed += int(owed)
        if status == FAILED:
            report.held_refunds_failed += int(count)


# --- Refunds -----------------------------------------------------------------------------------

def refund_order(*, db_session: Session, actor: Actor, officer: Officer,
                 providers: Mapping[str, PaymentProvider], order_id: int,
                 reason: str) -> Refund:
    """A supervisor refunds a paid order of their jurisdiction, with a reason, through the
    provider that took the money. Answers the refund (``pending`` if the provider could not
    be reached: reconciliation completes it)."""
    if officer.role != "supervisor":
        raise SupervisorOnly()
    reason = normalise_text(reason, field="reason", max_length=500)
    acting = officer_actor(officer, actor)
    order = db_session.get(PaymentOrder, order_id)
    if order is None:
        raise OrderNotFound()
    if not in_jurisdiction(officer, order.province_code, order.commune_code or ""):
        record_event(db_session=db_session, actor=acting, action="payment.refund_refused",
                     subject_type="citizen", subject_id=order.citizen_id,
                     details={"reason": "outside_jurisdiction", "by": unit_name(officer)})
        db_session.commit()
        raise OrderNotFound()
    order = _lock_order(db_session, order_id)
    assert order is not None
    refund = db_session.scalars(sa.select(Refund).where(Refund.order_id == order.id,
                                                        Refund.kind == REFUND_ORDER)).first()
    if order.status == "refunded" or (refund is not None and refund.status != FAILED):
        raise RefundExists()
    if order.status != "paid":
        raise NotPaid()
    attempt = db_session.scalars(sa.select(PaymentAttempt).where(
        PaymentAttempt.order_id == order.id, PaymentAttempt.status == SUCCEEDED)).one()
    provider = providers.get(attempt.provider)
    if provider is None:
        raise UnknownProvider()
    if refund is None:
        refund = Refund(reference=new_reference("rf"), order_id=order.id, attempt_id=attempt.id,
                        amount=attempt.amount, reason=reason, officer_id=officer.id,
                        status=PENDING, created_at=clock.now())
        db_session.add(refund)
    else:  # a refund the provider declined before: asked again
        refund.status, refund.reason, refund.officer_id = PENDING, reason, officer.id
    db_session.flush()
    _audit(db_session, acting, "payment.refund_requested", order.citizen_id, order_id=order.id,
           refund=refund.reference, amount=refund.amount, by=unit_name(officer))
    db_session.commit()
    _drive_refund(db_session, acting, provider, refund, by=unit_name(officer), role="supervisor")
    db_session.refresh(refund)
    return refund


def _drive_refund(db_session: Session, actor: Actor, provider: PaymentProvider, refund: Refund,
                  *, by: str, role: str) -> bool:
    """Ask the provider for a pending refund; on success, post it and close the order."""
    try:
        answer = provider.refund(payment_reference=refund.attempt.reference,
                                 refund_reference=refund.reference, amount=refund.amount)
    except ProviderUnavailable:
        return False
    except ProviderDeclined as declined:
        refund.status = FAILED
        _audit(db_session, actor, "payment.refund_declined", refund.order.citizen_id,
               order_id=refund.order_id, refund=refund.reference, reason=declined.code)
        db_session.commit()
        return False
    order = _lock_order(db_session, refund.order_id)
    locked = db_session.scalars(sa.select(Refund).where(Refund.id == refund.id).with_for_update()
                                .execution_options(populate_existing=True)).one()
    if order is None or locked.status != PENDING:  # completed by someone else meanwhile
        db_session.commit()
        return False
    now = clock.now()
    locked.status, locked.provider_reference, locked.completed_at = (
        SUCCEEDED, answer.provider_reference[:64] or None, now)
    if locked.kind == REFUND_HELD:
        _release_held(db_session, actor, order, locked, by=by)
        db_session.commit()
        return True
    order.refunded_at = now
    ORDER_FLOW.apply(db_session, order, "refund", role=role, by=by, refund=locked.reference,
                     reason=locked.reason)
    ledger.post_refund(db_session, order, locked)
    db_session.execute(
        sa.update(Credential).where(
            Credential.id.in_(sa.select(ReceiptCredential.credential_id)
                              .where(ReceiptCredential.order_id == order.id)),
            Credential.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by="refund").execution_options(synchronize_session=False))
    _audit(db_session, actor, "payment.refunded", order.citizen_id, order_id=order.id,
           refund=locked.reference, amount=locked.amount)
    _notify(db_session, order.citizen_id, "payment.refunded",
            f"Order {order.id} was refunded: {locked.amount:,} đồng back to your bank.")
    db_session.commit()
    return True


def _release_held(db_session: Session, actor: Actor, order: PaymentOrder, refund: Refund, *,
                  by: str) -> None:
    """Held money is back with the payer: post it; the order is open again once nothing more
    is held for it."""
    ledger.post_refund(db_session, order, refund)
    still_held = db_session.scalar(sa.select(sa.func.count()).select_from(Refund).where(
        Refund.order_id == order.id, Refund.kind == REFUND_HELD, Refund.status != SUCCEEDED,
        Refund.id != refund.id))
    if order.status == HELD and not still_held:
        ORDER_FLOW.apply(db_session, order, "release", role="provider", by=by,
                         refund=refund.reference)
    _audit(db_session, actor, "payment.held_refunded", order.citizen_id, order_id=order.id,
           refund=refund.reference, amount=refund.amount)
    _notify(db_session, order.citizen_id, "payment.held_refunded",
            f"{refund.amount:,} đồng charged by mistake for order {order.id} is back with your "
            "bank. You can pay the order again.")


# --- Receipts ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Receipt:
    """The receipt (biên lai) of a paid order, as the app shows it."""

    order_id: int
    kind: str
    description: str
    legal_basis: str
    amount: int
    currency: str
    paid_at: dt.datetime
    payer: str
    bank: str
    attempt_reference: str
    provider_reference: str | None
    treasury: str


def receipt(*, db_session: Session, account: Account, order_id: int) -> Receipt:
    """The receipt of one of the citizen's paid orders (409 when not paid or refunded)."""
    order = get_own_order(db_session=db_session, account=account, order_id=order_id)
    if order.status == "refunded":
        raise OrderRefunded()
    if order.status != "paid" or order.paid_at is None:
        raise NotPaid()
    attempt = db_session.scalars(sa.select(PaymentAttempt).where(
        PaymentAttempt.order_id == order.id, PaymentAttempt.status == SUCCEEDED)).one()
    return Receipt(order_id=order.id, kind=order.kind, description=order.description,
                   legal_basis=order.legal_basis, amount=order.amount, currency="VND",
                   paid_at=order.paid_at, payer=mask_personal_id(order.citizen.personal_id),
                   bank=attempt.bank, attempt_reference=attempt.reference,
                   provider_reference=attempt.provider_reference, treasury=order.treasury)


def receipt_claims(paid: Receipt) -> dict[str, Any]:
    """The ``c`` map of a ``receipt`` credential: order, amount, paid at, masked payer."""
    return {"oid": paid.order_id, "k": paid.kind, "amt": paid.amount, "cur": paid.currency,
            "pat": paid.paid_at.isoformat(timespec="seconds"), "idm": paid.payer}


def issue_receipt_credential(*, db_session: Session, redis_client: redis.Redis,
                             protector: Protector, key_ring: KeyRing, actor: Actor,
                             account: Account, order_id: int, passcode: str,
                             lifetime: int = RECEIPT_LIFETIME) -> Issued:
    """A signed ``receipt`` credential (VN1) of a paid order, for an officer to verify offline;
    confirmed with the passcode, like every credential."""
    paid = receipt(db_session=db_session, account=account, order_id=order_id)
    accounts.confirm_passcode(db_session=db_session, actor=actor, account=account,
                              passcode=passcode)
    issued = sign_credential(db_session=db_session, redis_client=redis_client,
                             protector=protector, key_ring=key_ring, actor=actor,
                             account=account, credential_type="receipt",
                             claims=receipt_claims(paid), lifetime=lifetime)
    db_session.flush()
    db_session.add(ReceiptCredential(credential_id=issued.credential_id, order_id=paid.order_id))
    db_session.commit()
    return issued
