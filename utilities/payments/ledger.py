"""The double-entry journal of payments, and its verification (``flask payments verify-ledger``).

Every money movement is one *posting*: rows that share a ``posting`` name and
sum to zero, written in the same transaction as the state change they
explain. Accounts:

- ``citizen:<citizen id>``: the payer (negative once they paid);
- ``treasury:fees`` and ``treasury:fines``: the state treasury accounts;
- ``suspense:refunds``: money a provider took that no order may keep (it
  charged another amount than the attempt's), held until it is paid back.

A payment of order *o* through attempt *a* posts ``payment:<a.reference>``:
payer −amount, treasury +amount. A refund posts ``refund:<reference>``: the
reverse. A charge of the wrong amount posts ``held:<a.reference>``: payer
−charged, suspense +charged; its refund posts ``refund:<reference>``: suspense
−charged, payer +charged. ``(posting, account)`` is unique, so the same
movement can never be written twice, whatever retries or races happen above.

:func:`verify_ledger` proves, from the journal alone and the orders' states:
the journal sums to zero; every posting sums to zero; each order's treasury
balance is its amount when paid and zero otherwise (open, pending,
refunded), its suspense balance what is held for it and not yet paid back,
its payer balance the opposite of both; every succeeded attempt has its
payment posting and nothing else has one; every held charge its hold posting;
every succeeded refund its refund posting.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from utilities.payments.models import (REFUND_HELD, SUCCEEDED, LedgerEntry, PaymentAttempt,
                                       PaymentOrder, Refund)

TREASURY = {"fee": "treasury:fees", "fine": "treasury:fines"}
#: Money held to be paid back (a charge of another amount than the attempt's).
SUSPENSE = "suspense:refunds"


def payer_account(order: PaymentOrder) -> str:
    """The ledger account of the citizen who owes the order."""
    return f"citizen:{order.citizen_id}"


def post(db_session: Session, *, posting: str, order_id: int,
         lines: Sequence[tuple[str, int]]) -> None:
    """Write one balanced posting in the caller's transaction (refuses an unbalanced one)."""
    if sum(amount for _, amount in lines) != 0 or len(lines) < 2:
        raise ValueError(f"posting {posting} does not balance")
    now = clock.now()
    db_session.add_all(LedgerEntry(posting=posting, order_id=order_id, account=account,
                                   amount=amount, created_at=now) for account, amount in lines)


def payment_posting(*, reference: str, citizen_id: int, treasury: str,
                    amount: int) -> tuple[str, list[tuple[str, int]]]:
    """The posting of a payment through the attempt ``reference`` and its lines: the payer
    pays the order's treasury account."""
    return f"payment:{reference}", [(f"citizen:{citizen_id}", -amount), (treasury, amount)]


def post_payment(db_session: Session, order: PaymentOrder, attempt: PaymentAttempt) -> None:
    """The payer pays the order's treasury account."""
    posting, lines = payment_posting(reference=attempt.reference, citizen_id=order.citizen_id,
                                     treasury=order.treasury, amount=attempt.amount)
    post(db_session, posting=posting, order_id=order.id, lines=lines)


def post_refund(db_session: Session, order: PaymentOrder, refund: Refund) -> None:
    """The treasury pays the payer back (from the suspense account, for held money)."""
    source = SUSPENSE if refund.kind == REFUND_HELD else order.treasury
    post(db_session, posting=f"refund:{refund.reference}", order_id=order.id,
         lines=[(source, -refund.amount), (payer_account(order), refund.amount)])


def post_hold(db_session: Session, order: PaymentOrder, attempt: PaymentAttempt,
              charged: int) -> None:
    """What the provider charged for an attempt, with another amount: held to be paid back."""
    post(db_session, posting=f"held:{attempt.reference}", order_id=order.id,
         lines=[(payer_account(order), -charged), (SUSPENSE, charged)])


@dataclass
class LedgerReport:
    """What :func:`verify_ledger` found."""

    entries: int = 0
    postings: int = 0
    orders: int = 0
    total: int = 0
    paid_total: int = 0
    #: Money held for refund (the suspense account's balance), and its refunds by state.
    held_total: int = 0
    held_refunds_pending: int = 0
    held_refunds_failed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """Whether every check passed."""
        return not self.problems


def verify_ledger(db_session: Session, *, max_problems: int = 100) -> LedgerReport:
    """Check the journal against itself and against every order (see the module's doc)."""
    report = LedgerReport()
    report.entries, report.total = db_session.execute(
        sa.select(sa.func.count(LedgerEntry.id),
                  sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))).one()
    if report.total != 0:
        report.problems.append(f"the journal sums to {report.total}, not 0")
    report.postings = db_session.scalar(
        sa.select(sa.func.count(sa.distinct(LedgerEntry.posting)))) or 0
    for posting, total in db_session.execute(
            sa.select(LedgerEntry.posting, sa.func.sum(LedgerEntry.amount))
            .group_by(LedgerEntry.posting).having(sa.func.sum(LedgerEntry.amount) != 0)):
        report.problems.append(f"posting {posting} sums to {total}")

    # Balances per order and account kind, in one pass over the journal.
    treasury: dict[int, int] = {}
    suspense: dict[int, int] = {}
    payer: dict[int, int] = {}
    for order_id, account, total in db_session.execute(
            sa.select(LedgerEntry.order_id, LedgerEntry.account, sa.func.sum(LedgerEntry.amount))
            .group_by(LedgerEntry.order_id, LedgerEntry.account)):
        book = (treasury if account.startswith("treasury:")
                else suspense if account == SUSPENSE else payer)
        book[order_id] = book.get(order_id, 0) + int(total)
    postings = set(db_session.scalars(sa.select(LedgerEntry.posting).distinct()))
    owed = _held_owed(db_session, report)
    report.held_total = sum(suspense.values())
    for order in db_session.execute(
            sa.select(PaymentOrder.id, PaymentOrder.status, PaymentOrder.amount)).all():
        report.orders += 1
        expected = order.amount if order.status == "paid" else 0
        held = owed.get(order.id, 0)
        if order.status == "paid":
            report.paid_total += order.amount
        if (treasury.get(order.id, 0), suspense.get(order.id, 0), payer.get(order.id, 0)) != (
                expected, held, -expected - held):
            report.problems.append(
                f"order {order.id} ({order.status}): treasury {treasury.get(order.id, 0)}, "
                f"held {suspense.get(order.id, 0)}, payer {payer.get(order.id, 0)}, expected "
                f"treasury {expected}, held {held}, payer {-expected - held}")
    for reference, status in db_session.execute(
            sa.select(PaymentAttempt.reference, PaymentAttempt.status)):
        has_posting = f"payment:{reference}" in postings
        if has_posting != (status == SUCCEEDED):
            report.problems.append(f"attempt {reference} is {status} but its payment posting "
                                   f"is {'present' if has_posting else 'missing'}")
    for reference, status, kind, attempt in db_session.execute(
            sa.select(Refund.reference, Refund.status, Refund.kind, PaymentAttempt.reference)
            .join(PaymentAttempt, Refund.attempt_id == PaymentAttempt.id)):
        if (f"refund:{reference}" in postings) != (status == SUCCEEDED):
            report.problems.append(f"refund {reference} is {status}: its posting does not agree")
        if kind == REFUND_HELD and f"held:{attempt}" not in postings:
            report.problems.append(f"refund {reference} pays back a charge never held")
    held_attempts = {posting.split(":", 1)[1] for posting in postings
                     if posting.startswith("held:")}
    refunded_holds = set(db_session.scalars(
        sa.select(PaymentAttempt.reference).join(Refund, Refund.attempt_id == PaymentAttempt.id)
        .where(Refund.kind == REFUND_HELD)))
    for reference in sorted(held_attempts - refunded_holds):
        report.problems.append(f"attempt {reference}: money held with no refund owed")
    del report.problems[max_problems:]
    return report


def _held_owed(db_session: Session, report: LedgerReport) -> dict[int, int]:
    """Per order, the held money not yet paid back (refunds pending or failed); counts them."""
    owed: dict[int, int] = {}
    for order_id, status, amount in db_session.execute(
            sa.select(Refund.order_id, Refund.status, Refund.amount)
            .where(Refund.kind == REFUND_HELD, Refund.status != SUCCEEDED)):
        owed[order_id] = owed.get(order_id, 0) + int(amount)
        if status == "failed":
            report.held_refunds_failed += 1
        else:
            report.held_refunds_pending += 1
    return owed
