"""The double-entry journal of payments, and its verification (``flask payments verify-ledger``).

Every money movement is one *posting*: rows that share a ``posting`` name and
sum to zero, written in the same transaction as the state change they
explain. Accounts:

- ``citizen:<citizen id>``: the payer (negative once they paid);
- ``treasury:fees`` and ``treasury:fines``: the state treasury accounts.

A payment of order *o* through attempt *a* posts ``payment:<a.reference>``:
payer −amount, treasury +amount. A refund posts ``refund:<reference>``: the
reverse. ``(posting, account)`` is unique, so the same movement can never be
written twice, whatever retries or races happen above.

:func:`verify_ledger` proves, from the journal alone and the orders' states:
the journal sums to zero; every posting sums to zero; each order's treasury
balance is its amount when paid and zero otherwise (open, pending,
refunded), its payer balance the opposite; every succeeded attempt has its
payment posting and nothing else has one; every succeeded refund its refund
posting.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from utilities.payments.models import (SUCCEEDED, LedgerEntry, PaymentAttempt, PaymentOrder,
                                       Refund)

TREASURY = {"fee": "treasury:fees", "fine": "treasury:fines"}


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


def post_payment(db_session: Session, order: PaymentOrder, attempt: PaymentAttempt) -> None:
    """The payer pays the order's treasury account."""
    post(db_session, posting=f"payment:{attempt.reference}", order_id=order.id,
         lines=[(payer_account(order), -attempt.amount), (order.treasury, attempt.amount)])


def post_refund(db_session: Session, order: PaymentOrder, refund: Refund) -> None:
    """The treasury pays the payer back."""
    post(db_session, posting=f"refund:{refund.reference}", order_id=order.id,
         lines=[(order.treasury, -refund.amount), (payer_account(order), refund.amount)])


@dataclass
class LedgerReport:
    """What :func:`verify_ledger` found."""

    entries: int = 0
    postings: int = 0
    orders: int = 0
    total: int = 0
    paid_total: int = 0
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
    payer: dict[int, int] = {}
    for order_id, account, total in db_session.execute(
            sa.select(LedgerEntry.order_id, LedgerEntry.account, sa.func.sum(LedgerEntry.amount))
            .group_by(LedgerEntry.order_id, LedgerEntry.account)):
        book = treasury if account.startswith("treasury:") else payer
        book[order_id] = book.get(order_id, 0) + int(total)
    postings = set(db_session.scalars(sa.select(LedgerEntry.posting).distinct()))
    for order in db_session.execute(
            sa.select(PaymentOrder.id, PaymentOrder.status, PaymentOrder.amount)).all():
        report.orders += 1
        expected = order.amount if order.status == "paid" else 0
        if order.status == "paid":
            report.paid_total += order.amount
        if treasury.get(order.id, 0) != expected or payer.get(order.id, 0) != -expected:
            report.problems.append(
                f"order {order.id} ({order.status}): treasury {treasury.get(order.id, 0)}, "
                f"payer {payer.get(order.id, 0)}, expected ±{expected}")
    for reference, status in db_session.execute(
            sa.select(PaymentAttempt.reference, PaymentAttempt.status)):
        has_posting = f"payment:{reference}" in postings
        if has_posting != (status == SUCCEEDED):
            report.problems.append(f"attempt {reference} is {status} but its payment posting "
                                   f"is {'present' if has_posting else 'missing'}")
    for reference, status in db_session.execute(sa.select(Refund.reference, Refund.status)):
        if (f"refund:{reference}" in postings) != (status == SUCCEEDED):
            report.problems.append(f"refund {reference} is {status}: its posting does not agree")
    del report.problems[max_problems:]
    return report
