"""Refunds: a supervisor's refund of a paid order, and paying back any refund owed.

:func:`refund_order`: a supervisor of the order's place, with a reason,
through the provider that took the money, posted in the ledger; the order's
receipt credentials are revoked. :func:`pay_back` asks the provider for a
pending refund (a supervisor's, or money held after a charge of the wrong
amount) in the caller's transaction: :func:`refund_order` calls it, and
reconciliation for the refunds the provider could not take at once.
"""
from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.audit.service import Actor, record_event
from identity.credentials.models import Credential
from identity.registry.normalise import normalise_text
from utilities.payments import ledger
from utilities.payments.errors import (NotPaid, OrderNotFound, RefundExists, SupervisorOnly,
                                       UnknownProvider)
from utilities.payments.flow import (HELD, ORDER_FLOW, audit, lock_order, new_reference,
                                     notify_citizen)
from utilities.payments.gateway import PaymentProvider, ProviderDeclined, ProviderUnavailable
from utilities.payments.models import (FAILED, PENDING, REFUND_HELD, REFUND_ORDER, SUCCEEDED,
                                       PaymentAttempt, PaymentOrder, ReceiptCredential, Refund)


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
        db_session.commit()  # the refusal and its audit row: this path's one commit
        raise OrderNotFound()
    order = lock_order(db_session, order_id)
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
    audit(db_session, acting, "payment.refund_requested", order.citizen_id, order_id=order.id,
          refund=refund.reference, amount=refund.amount, by=unit_name(officer))
    # A boundary kept on purpose: the pending refund is committed before the provider is
    # asked, so that money sent back is always for a refund we have recorded (reconciliation
    # completes it if we die before the answer is stored).
    db_session.commit()
    pay_back(db_session=db_session, actor=acting, provider=provider, refund=refund,
             by=unit_name(officer), role="supervisor")
    db_session.commit()
    db_session.refresh(refund)
    return refund


def pay_back(*, db_session: Session, actor: Actor, provider: PaymentProvider, refund: Refund,
             by: str, role: str) -> bool:
    """Ask the provider for a pending refund; on success, post it and close the order (or open
    it again, for held money). In the caller's transaction, which the caller commits; True
    when the refund was completed here."""
    try:
        answer = provider.refund(payment_reference=refund.attempt.reference,
                                 refund_reference=refund.reference, amount=refund.amount)
    except ProviderUnavailable:
        return False
    except ProviderDeclined as declined:
        refund.status = FAILED
        audit(db_session, actor, "payment.refund_declined", refund.order.citizen_id,
              order_id=refund.order_id, refund=refund.reference, reason=declined.code)
        return False
    order = lock_order(db_session, refund.order_id)
    locked = db_session.scalars(sa.select(Refund).where(Refund.id == refund.id).with_for_update()
                                .execution_options(populate_existing=True)).one()
    if order is None or locked.status != PENDING:  # completed by someone else meanwhile
        return False
    now = clock.now()
    locked.status, locked.provider_reference, locked.completed_at = (
        SUCCEEDED, answer.provider_reference[:64] or None, now)
    if locked.kind == REFUND_HELD:
        _release_held(db_session, actor, order, locked, by=by)
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
    audit(db_session, actor, "payment.refunded", order.citizen_id, order_id=order.id,
          refund=locked.reference, amount=locked.amount)
    notify_citizen(db_session, order.citizen_id, "payment.refunded",
                   f"Order {order.id} was refunded: {locked.amount:,} đồng back to your bank.")
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
    audit(db_session, actor, "payment.held_refunded", order.citizen_id, order_id=order.id,
          refund=refund.reference, amount=refund.amount)
    notify_citizen(db_session, order.citizen_id, "payment.held_refunded",
                   f"{refund.amount:,} đồng charged by mistake for order {order.id} is back with "
                   "your bank. You can pay the order again.")
