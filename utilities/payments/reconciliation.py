"""Reconciliation: ask the providers about what we do not know yet, and settle it.

An attempt left ``pending`` (its callback lost, the provider out of reach when
it was created, or the process dead between the provider's answer and our
commit) is asked about by *our* reference and settled with the provider's
answer (:func:`~utilities.payments.settlement.settle_attempt`); one the
provider has never heard of is failed after a grace period. Refunds left
``pending`` (a supervisor's, or money held after a charge of the wrong amount)
are asked for again (:func:`~utilities.payments.refunds.pay_back`).

:func:`reconcile` is a batch: every attempt and every refund is its own
transaction, committed after the provider's answer and before the next
provider is asked, so that no transaction stays open across the network and an
answer is never lost to the next item's failure. Idempotent: run it as often
as you like (the job every 5 minutes, ``flask payments reconcile``).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.service import Actor
from utilities.payments import gateway
from utilities.payments.flow import HELD
from utilities.payments.gateway import PaymentProvider, ProviderUnavailable
from utilities.payments.models import (FAILED, PENDING, REFUND_HELD, SUCCEEDED, PaymentAttempt,
                                       PaymentOrder, Refund)
from utilities.payments.refunds import pay_back
from utilities.payments.settlement import UNCHANGED, settle_attempt

#: An attempt the provider has never heard of is failed after this long (the create call
#: may still be in flight before).
NOT_FOUND_GRACE = dt.timedelta(seconds=60)


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
    db_session.commit()  # the list is read; no transaction stays open while providers answer
    for reference, provider_name, created_at in pending:
        report.checked += 1
        _settle_pending(db_session, actor, providers.get(provider_name), reference, created_at,
                        report)
        db_session.commit()  # one attempt, one transaction (see the module's doc)
    for refund_id in db_session.scalars(sa.select(Refund.id).where(Refund.status == PENDING)
                                        .order_by(Refund.id).limit(limit)).all():
        refund = db_session.get(Refund, refund_id)
        assert refund is not None
        provider = providers.get(refund.attempt.provider)
        if provider is None:
            continue
        completed = pay_back(db_session=db_session, actor=actor, provider=provider,
                             refund=refund, by="reconcile", role="provider")
        db_session.commit()  # one refund, one transaction (see the module's doc)
        if completed:
            report.refunds_completed += 1
    _count_held(db_session, report)
    db_session.commit()
    return report


def _settle_pending(db_session: Session, actor: Actor, provider: PaymentProvider | None,
                    reference: str, created_at: dt.datetime, report: ReconcileReport) -> None:
    """Ask ``provider`` about one pending attempt and settle it with its answer, counted in
    ``report`` (the caller commits)."""
    if provider is None:
        report.unreachable += 1
        return
    try:
        answer = provider.get_status(reference)
    except ProviderUnavailable:
        report.unreachable += 1
        return
    status, failure = answer.status, answer.failure_code
    if status == gateway.NOT_FOUND:
        if created_at > clock.now() - NOT_FOUND_GRACE:
            report.still_pending += 1
            return
        status, failure = FAILED, "provider.not_found"
    attempt, outcome = settle_attempt(
        db_session=db_session, actor=actor, reference=reference, status=status,
        amount=answer.amount, source="reconcile", provider_reference=answer.provider_reference,
        failure_code=failure)
    attempt.checked_at = clock.now()
    report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
    if outcome == UNCHANGED and status == PENDING:
        report.still_pending += 1
    else:
        report.settled += 1


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
