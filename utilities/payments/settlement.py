"""Settling an attempt with the provider's word, in the caller's transaction.

Only the provider's word settles an attempt: its answer when asked to create
the payment (:mod:`~utilities.payments.attempts`), its callback
(:mod:`~utilities.payments.callbacks`) or its answer to reconciliation
(:mod:`~utilities.payments.reconciliation`). Each of those use cases calls
:func:`settle_attempt` and commits.

The attempt row and the order's row are locked, a settled attempt never
changes again (a contrary later report is recorded as a ``conflict`` and
audited), and a success moves the order ``pending → paid`` with its ledger
posting, usage counter and audit event in the same transaction. A success
whose amount is not the attempt's is ``flagged``: audited, the order is not
paid, and the money the provider took is *held for refund* in the same
transaction: a ledger posting to the suspense account, a refund of kind
``held`` owed to the payer, the order ``pending → held_for_refund``.
Reconciliation pays it back through the provider
(:func:`utilities.payments.refunds.pay_back`); then the order is ``open``
again, to be paid with the right amount.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from identity import clock
from identity.audit.service import Actor
from identity.monitoring.counters import bump
from utilities.payments import ledger
from utilities.payments.errors import AttemptNotFound
from utilities.payments.flow import (ORDER_FLOW, audit, lock_attempt, lock_order, new_reference,
                                     notify_citizen)
from utilities.payments.models import (FAILED, FLAGGED, PENDING, REFUND_HELD, SUCCEEDED,
                                       PaymentAttempt, PaymentOrder, Refund)

#: What a report of the provider did to the attempt.
APPLIED, UNCHANGED, CONFLICT, FLAGGED_OUTCOME = "applied", "unchanged", "conflict", "flagged"


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
    attempt = lock_attempt(db_session, reference)
    if attempt is None or (provider_name is not None and attempt.provider != provider_name):
        raise AttemptNotFound()
    order = lock_order(db_session, attempt.order_id)
    assert order is not None
    if provider_reference and attempt.provider_reference is None:
        attempt.provider_reference = provider_reference[:64]
    if status == PENDING or status == attempt.status:
        return attempt, UNCHANGED
    if attempt.status != PENDING:
        audit(db_session, actor, "payment.report_conflict", order.citizen_id,
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
        audit(db_session, actor, "payment.paid", order.citizen_id, order_id=order.id,
              attempt=reference, amount=attempt.amount, source=source)
        notify_citizen(db_session, order.citizen_id, "payment.paid",
                       paid_notice(attempt.amount, order.id))
        return attempt, APPLIED
    attempt.status, attempt.failure_code = FAILED, (failure_code or status)[:64]
    ORDER_FLOW.apply(db_session, order, "fail", role="provider", by=source, attempt=reference,
                     reason=attempt.failure_code)
    audit(db_session, actor, "payment.failed", order.citizen_id, order_id=order.id,
          attempt=reference, reason=attempt.failure_code, source=source)
    return attempt, APPLIED


def paid_notice(amount: int, order_id: int) -> str:
    """What the citizen's app says of a payment received."""
    return (f"Payment received: {amount:,} đồng for order {order_id}. The receipt is in the "
            "app (Payments).")


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
        audit(db_session, actor, "payment.amount_mismatch", order.citizen_id, **details)
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
    audit(db_session, actor, "payment.amount_mismatch", order.citizen_id, **details,
          held=charged, refund=refund.reference)
    notify_citizen(db_session, order.citizen_id, "payment.held_for_refund",
                   f"Your bank charged {charged:,} đồng instead of {attempt.amount:,} for order "
                   f"{order.id}. That money is held and will be paid back to your bank; pay the "
                   "order again once it is back.")
