"""Paying an order exactly once: :func:`start_attempt`.

Behind an idempotency key (:mod:`utilities.payments.idempotency`), in three steps:

1. one transaction: the citizen's order's row is locked (``SELECT ... FOR
   UPDATE`` on PostgreSQL; SQLite serialises writers) and must be ``open``,
   then the passcode is confirmed; a new attempt is inserted ``pending`` and the order
   moves ``open → pending``. A partial unique index allows one live attempt
   (``pending`` or ``succeeded``) per order, so even a path that forgot the
   lock could not add a second. Commit.
2. outside any transaction: the provider is asked to create the payment for
   the attempt's reference (idempotent on it at the provider).
3. one transaction: the provider's reference and redirect URL are stored on
   the attempt (never its state, which a callback may have moved meanwhile),
   or the attempt is failed when the provider refused at once. Commit. On
   PostgreSQL, given the request's idempotency claim, the same statement stores
   the request's answer (:func:`answer`) with its key, while the attempt is
   still pending: the answer is then what was committed with it, and the
   request's last commit is this one.

If the process dies between 2 and 3, the attempt is still ``pending`` with no
provider reference: reconciliation (:mod:`utilities.payments.reconciliation`)
asks the provider by *our* reference and settles it. If the provider cannot be
reached at 2, the attempt stays ``pending`` too (the provider may have got the
request).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Account
from identity.accounts.passcode import confirm_passcode
from identity.audit.service import Actor
from identity.database import Statement, commit_keeping_state
from utilities.payments import gateway, idempotency
from utilities.payments.errors import (AttemptPending, ChargeHeld, InvalidPaymentInput,
                                       OrderNotFound, OrderPaid, OrderRefunded)
from utilities.payments.flow import (HELD, ORDER_FLOW, audit, lock_order, move_order_params,
                                     move_order_sql, new_reference)
from utilities.payments.gateway import PaymentProvider, ProviderDeclined, ProviderUnavailable
from utilities.payments.models import FAILED, PENDING, PaymentAttempt, PaymentOrder
from utilities.payments.schemas import attempt_answer_fields, dump_attempt
from utilities.payments.settlement import settle_attempt
from utilities.workflow import CaseChanged

log = logging.getLogger("vnid.payments")


def answer(attempt: PaymentAttempt) -> tuple[int, dict[str, Any]]:
    """The answer to the request that started ``attempt``: its status and body."""
    return 201, dump_attempt(attempt)


def start_attempt(*, db_session: Session, actor: Actor, account: Account,
                  provider: PaymentProvider, order_id: int, bank: str, passcode: str,
                  return_url: str, callback_url: str,
                  claim: idempotency.Claim | None = None) -> PaymentAttempt:
    """Pay one of the citizen's orders through ``provider`` with the chosen bank (see the
    module's doc for the three steps); the attempt, ``pending`` (or ``failed`` when the
    provider refused at once). With the request's idempotency ``claim``, the provider's
    answer and :func:`answer` may be stored in one statement (``claim.answer``)."""
    if bank not in gateway.BANKS:
        raise InvalidPaymentInput("Unknown bank code.", code="payment.bank_unknown", field="bank")
    # The citizen's order, locked first (only one of theirs is), then the passcode: no try is
    # spent on an order that cannot be paid, and the order is read once. Locks are taken
    # order then account; no path takes them the other way round.
    reference, now = new_reference("pa"), clock.now()
    if db_session.connection().dialect.name == "postgresql":
        order, amount = _open_postgres(db_session, actor=actor, account=account,
                                       order_id=order_id, provider=provider.name, bank=bank,
                                       passcode=passcode, reference=reference, now=now)
    else:
        order, amount = _open(db_session, actor=actor, account=account, order_id=order_id,
                              provider=provider.name, bank=bank, passcode=passcode,
                              reference=reference, now=now)
    audit(db_session, actor, "payment.attempt_started", account.citizen_id, order_id=order,
          attempt=reference, bank=bank, amount=amount)
    # A boundary kept on purpose: the pending attempt (and the order it holds) is committed
    # before the provider is asked, so that no money can move for an attempt we have not
    # recorded; if we die after the provider's answer, reconciliation finds this row.
    description = f"VNID order {order}"
    commit_keeping_state(db_session)  # what the provider is told was read before
    try:
        created = provider.create_payment(reference=reference, amount=amount, bank=bank,
                                          description=description,
                                          return_url=return_url, callback_url=callback_url)
    except ProviderDeclined as declined:
        settle_attempt(db_session=db_session, actor=actor, reference=reference, status=FAILED,
                       amount=None, source="create", failure_code=declined.code)
    except ProviderUnavailable as error:
        # Unknown outcome: the attempt stays pending; reconciliation will ask the provider.
        log.warning("provider unavailable at create",
                    extra={"provider": provider.name, "attempt": reference, "error": str(error)})
    else:
        recorded = None
        if claim is not None and db_session.get_bind().dialect.name == "postgresql":
            recorded = _record_answers(db_session, claim, PaymentAttempt(
                reference=reference, order_id=order, account_id=account.id,
                provider=provider.name, bank=bank, amount=amount, status=PENDING,
                provider_reference=created.provider_reference[:64],
                redirect_url=created.redirect_url[:500], failure_code=None, created_at=now,
                completed_at=None))
        if recorded is None:
            recorded = _record_provider_answer(db_session, reference=reference,
                                               provider_reference=created.provider_reference,
                                               redirect_url=created.redirect_url)
        if recorded is not None:
            if db_session.in_transaction():  # SQLite's: PostgreSQL's statement committed alone
                commit_keeping_state(db_session)  # the attempt as just written and committed
            return recorded
    db_session.commit()
    return _attempt(db_session, reference)


def _open(db_session: Session, *, actor: Actor, account: Account, order_id: int, provider: str,
          bank: str, passcode: str, reference: str, now: dt.datetime) -> tuple[int, int]:
    """Lock the order, confirm the passcode, add the attempt and move the order (the ORM's
    way, SQLite); the order's id and amount."""
    locked = lock_order(db_session, order_id, citizen_id=account.citizen_id)
    if locked is None:
        raise OrderNotFound()
    _check_payable(locked.status)
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    attempt = PaymentAttempt(reference=reference, order_id=locked.id, account_id=account.id,
                             provider=provider, bank=bank, amount=locked.amount, status=PENDING,
                             created_at=now)
    db_session.add(attempt)
    try:
        db_session.flush()
    except IntegrityError:  # the partial unique index: another live attempt got in
        db_session.rollback()
        raise AttemptPending() from None
    ORDER_FLOW.apply(db_session, locked, "start_payment", role="citizen",
                     by=f"account:{account.id}", attempt=reference, bank=bank)
    return locked.id, locked.amount


_ORDERS, _ATTEMPTS = (cast(sa.Table, model.__table__) for model in (PaymentOrder, PaymentAttempt))
#: The citizen's order, locked until the commit (another's is no row, and is not locked).
_LOCK_ORDER = Statement(
    sa.select(_ORDERS.c.id, _ORDERS.c.amount, _ORDERS.c.status, _ORDERS.c.version)
    .where(_ORDERS.c.id == sa.bindparam("order_id"),
           _ORDERS.c.citizen_id == sa.bindparam("citizen_id")).with_for_update())
#: The attempt, the order moved ``open → pending`` (its version with it) and the history row.
_START = Statement(sa.text(f"""
WITH attempt AS (
    INSERT INTO payment_attempts (reference, order_id, account_id, provider, bank, amount,
                                  status, created_at)
    VALUES (:reference, :order_id, :account_id, :provider, :bank, :amount, :pending, :now)
    RETURNING id),
{move_order_sql()}
SELECT attempt.id, (SELECT count(*) FROM moved) AS moved FROM attempt""").columns(
    sa.column("id"), sa.column("moved")))


def _open_postgres(db_session: Session, *, actor: Actor, account: Account, order_id: int,
                   provider: str, bank: str, passcode: str, reference: str,
                   now: dt.datetime) -> tuple[int, int]:
    """:func:`_open` on PostgreSQL: the order locked by one statement, the attempt, the
    order's move and its history row written by another (no ORM unit of work)."""
    locked = _LOCK_ORDER.first(db_session, {"order_id": order_id,
                                            "citizen_id": account.citizen_id})
    if locked is None:
        raise OrderNotFound()
    _check_payable(locked.status)
    transition = ORDER_FLOW.check(locked.status, "start_payment", "citizen")
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    try:
        written = _START.first(db_session, {
            "reference": reference, "account_id": account.id, "provider": provider,
            "bank": bank, "amount": locked.amount, "pending": PENDING,
            **move_order_params(transition, order_id=locked.id, version=locked.version,
                                from_state=locked.status, role="citizen",
                                by=f"account:{account.id}", now=now, attempt=reference,
                                bank=bank)})
    except IntegrityError:  # the partial unique index: another live attempt got in
        db_session.rollback()
        raise AttemptPending() from None
    if written is None or written.moved != 1:  # not under the lock just taken: never
        db_session.rollback()
        raise CaseChanged()
    return int(locked.id), int(locked.amount)


def _check_payable(status: str) -> None:
    if status == "paid":
        raise OrderPaid()
    if status == "refunded":
        raise OrderRefunded()
    if status == "pending":
        raise AttemptPending()
    if status == HELD:
        raise ChargeHeld()


def _record_provider_answer(db_session: Session, *, reference: str, provider_reference: str,
                            redirect_url: str) -> PaymentAttempt | None:
    """Keep the provider's reference and redirect URL on the attempt (never its state).

    One ``UPDATE ... WHERE redirect_url IS NULL RETURNING`` the attempt: the first
    answer recorded wins, and the row read back is the attempt as it is now (a
    callback may have settled it meanwhile, or named the provider's reference first:
    that one is kept, the redirect URL is still stored, which the app opens). None
    when an answer was recorded before. On PostgreSQL the statement commits on its own,
    the session left out (``alone``); elsewhere it is the session's, which the caller
    commits.
    """
    row = _ANSWERED.first(db_session, {"attempt_reference": reference,
                                       "answer_reference": provider_reference[:64],
                                       "answer_url": redirect_url[:500]}, alone=True)
    return None if row is None else PaymentAttempt(**row._asdict())


#: The provider's answer kept on the attempt, which comes back as it is now.
_ANSWERED = Statement(
    sa.update(_ATTEMPTS).where(_ATTEMPTS.c.reference == sa.bindparam("attempt_reference"),
                               _ATTEMPTS.c.redirect_url.is_(None))
    .values(provider_reference=sa.func.coalesce(_ATTEMPTS.c.provider_reference,
                                                sa.bindparam("answer_reference")),
            redirect_url=sa.bindparam("answer_url"))
    .returning(*_ATTEMPTS.c))


_COLUMNS = ", ".join(column.name for column in _ATTEMPTS.c)
#: The provider's answer kept on an attempt still pending and not answered before, and the
#: request's answer kept with its idempotency key: one statement, one commit. No row when the
#: attempt moved meanwhile (a callback, reconciliation) or had its answer: nothing written.
_ANSWERS = Statement(sa.text(f"""
WITH answered AS (
    UPDATE payment_attempts
    SET provider_reference = COALESCE(provider_reference, CAST(:answer_reference AS text)),
        redirect_url = :answer_url
    WHERE reference = :attempt_reference AND redirect_url IS NULL AND status = :pending
    RETURNING {_COLUMNS}),
{idempotency.answer_sql(" AND EXISTS (SELECT FROM answered)")}
SELECT {_COLUMNS}, (SELECT count(*) FROM kept) AS kept FROM answered""").columns(
    *_ATTEMPTS.c, sa.column("kept")))


def _record_answers(db_session: Session, claim: idempotency.Claim,
                    expected: PaymentAttempt) -> PaymentAttempt | None:
    """The provider's answer kept on the attempt and :func:`answer` with the claimed key, in
    one statement committed alone, the answer made from ``expected`` (the attempt as started,
    with the provider's answer): what the statement leaves, since it writes only while the
    attempt is pending and unanswered. The attempt, or None when it had moved (nothing
    written: the caller records the provider's answer alone, and the key's answer after)."""
    status, body = answer(expected)
    row = _ANSWERS.first(db_session, {
        "attempt_reference": expected.reference, "answer_reference": expected.provider_reference,
        "answer_url": expected.redirect_url, "pending": PENDING,
        **idempotency.answer_params(claim, status=status, body=body)}, alone=True)
    if row is None:
        return None
    fields = row._asdict()
    kept = fields.pop("kept") == 1
    recorded = PaymentAttempt(**fields)
    if kept:
        claim.answer = status, body
        # A column the prediction did not foresee: the answer made from what was written.
        if attempt_answer_fields(recorded) != attempt_answer_fields(expected):
            log.error("payment answer kept with its key differs from the attempt",
                      extra={"attempt": expected.reference})
            claim.answer = answer(recorded)
            idempotency.correct_answer(db_session, claim, *claim.answer)
    return recorded


def _attempt(db_session: Session, reference: str) -> PaymentAttempt:
    attempt = db_session.scalars(
        sa.select(PaymentAttempt).where(PaymentAttempt.reference == reference)
        .execution_options(populate_existing=True)).first()
    assert attempt is not None
    return attempt
