"""The provider's signed callbacks: verified, applied once, recorded with what they did.

Every callback received is a row of :class:`~utilities.payments.models.ProviderCallback`,
unique per provider event: the same event again changes nothing. What the
callback reports is applied by :func:`~utilities.payments.settlement.settle_attempt`
in the same transaction as that row.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import CLOSED
from identity.audit.service import Actor
from identity.database import Statement
from identity.monitoring.counters import bump
from utilities.payments import ledger
from utilities.payments.errors import AttemptNotFound, InvalidPaymentInput
from utilities.payments.flow import ORDER_FLOW, audit, move_order_params, move_order_sql
from utilities.payments.gateway import PaymentProvider
from utilities.payments.models import FAILED, PENDING, SUCCEEDED, ProviderCallback
from utilities.payments.settlement import APPLIED, paid_notice, settle_attempt

#: The outcome of an event already received (the other outcomes are settlement's).
DUPLICATE = "duplicate"

_CALLBACK_STATES = (PENDING, SUCCEEDED, FAILED)


@dataclass(frozen=True)
class CallbackResult:
    """What a callback did."""

    outcome: str
    attempt_reference: str | None = None
    order_status: str | None = None


def handle_callback(*, db_session: Session, actor: Actor, provider: PaymentProvider,
                    timestamp: str | None, signature: str | None, body: bytes) -> CallbackResult:
    """A provider's callback: verified, applied once, recorded with what it did.

    A forged or stale one is audited and refused (401); the same event again
    changes nothing (``duplicate``); one for an attempt we do not know is
    recorded and answered 404. Each refusal commits its audit row and raises.
    """
    try:
        provider.verify_callback(timestamp=timestamp, signature=signature, body=body,
                                 now=clock.now().timestamp())
    except Exception as error:
        audit(db_session, actor, "payment.callback_refused", None, provider=provider.name,
              reason=getattr(error, "code", "invalid"))
        db_session.commit()
        raise
    fields = _callback_fields(body)
    if db_session.connection().dialect.name == "postgresql":
        paid = _pay_postgres(db_session, actor, provider.name, fields)
        if paid is not None:
            return paid
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
        audit(db_session, actor, "payment.callback_unknown", None, provider=provider.name,
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


#: The attempt of a callback and its order, locked in that order (as :func:`settle_attempt`
#: locks them), and whether the provider sent this event before.
_LOCK = Statement(sa.text("""
SELECT (SELECT outcome FROM payment_callbacks
        WHERE provider = :provider AND event_id = :event_id) AS seen,
       a.id, a.provider, a.amount, a.status, o.id AS order_id, o.citizen_id,
       o.status AS order_status, o.version, o.treasury, o.province_code, o.commune_code
FROM payment_attempts AS a JOIN payment_orders AS o ON o.id = a.order_id
WHERE a.reference = :reference
FOR UPDATE OF a, o""").columns(*(sa.column(name) for name in (
    "seen", "id", "provider", "amount", "status", "order_id", "citizen_id", "order_status",
    "version", "treasury", "province_code", "commune_code"))))
#: A pending attempt paid: the attempt, the order moved ``pending → paid`` (its version with
#: it), its history row, its ledger posting, the citizen's notification and the callback's
#: row (none when the same event was recorded meanwhile: then the whole is rolled back).
_PAID = Statement(sa.text(f"""
WITH attempt AS (
    UPDATE payment_attempts
    SET status = :succeeded, completed_at = :now,
        provider_reference = COALESCE(provider_reference, CAST(:provider_reference AS text))
    WHERE id = :attempt_id AND status = :pending
    RETURNING id),
{move_order_sql(also_set=", paid_at = :now", condition=" AND EXISTS (SELECT FROM attempt)")},
posted AS (
    INSERT INTO ledger_entries (posting, order_id, account, amount, created_at)
    SELECT :posting, moved.id, line.account, line.amount, :now
    FROM moved, unnest(CAST(:accounts AS text[]), CAST(:amounts AS bigint[]))
        AS line(account, amount)),
notified AS (
    INSERT INTO notifications (account_id, kind, text, created_at)
    SELECT accounts.id, :notice_kind, :notice, :now
    FROM moved, accounts WHERE accounts.citizen_id = :citizen_id AND accounts.status <> :closed),
recorded AS (
    INSERT INTO payment_callbacks (provider, event_id, attempt_id, status, amount, outcome,
                                   received_at)
    SELECT :provider, :event_id, attempt.id, :succeeded, :amount, :outcome, :now FROM attempt
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING id)
SELECT (SELECT count(*) FROM moved) AS paid, (SELECT count(*) FROM recorded) AS recorded
""").columns(sa.column("paid"), sa.column("recorded")))


def _pay_postgres(db_session: Session, actor: Actor, provider: str,
                  fields: dict[str, Any]) -> CallbackResult | None:
    """The callback that pays a pending attempt of the amount asked for, on PostgreSQL: two
    statements (:data:`_LOCK`, :data:`_PAID`) where :func:`settle_attempt` takes a dozen; an
    event sent before is ``duplicate``. None for every other callback (unknown attempt or
    provider, another state or amount): those take :func:`settle_attempt`'s way."""
    reference = fields["reference"]
    row = _LOCK.first(db_session, {"provider": provider, "event_id": fields["event_id"],
                                   "reference": reference})
    if row is not None and row.seen is not None:
        return CallbackResult(outcome=DUPLICATE, attempt_reference=reference)
    if (row is None or row.provider != provider or fields["status"] != SUCCEEDED
            or row.status != PENDING or fields["amount"] != row.amount):
        return None
    transition = ORDER_FLOW.check(row.order_status, "pay", "provider")
    source, now = f"callback:{provider}", clock.now()
    posting, lines = ledger.payment_posting(reference=reference, citizen_id=row.citizen_id,
                                            treasury=row.treasury, amount=row.amount)
    written = _PAID.first(db_session, {
        "succeeded": SUCCEEDED, "pending": PENDING, "attempt_id": row.id,
        "provider_reference": (fields["provider_reference"] or "")[:64] or None,
        **move_order_params(transition, order_id=row.order_id, version=row.version,
                            from_state=row.order_status, role="provider", by=source, now=now,
                            attempt=reference),
        "posting": posting,
        "accounts": [account for account, _ in lines], "amounts": [amount for _, amount in lines],
        "notice_kind": "payment.paid", "notice": paid_notice(row.amount, row.order_id),
        "citizen_id": row.citizen_id, "closed": CLOSED, "provider": provider,
        "event_id": fields["event_id"], "amount": fields["amount"], "outcome": APPLIED})
    if written is None or written.paid != 1 or written.recorded != 1:
        db_session.rollback()  # the same event recorded meanwhile (or, never, a moved order)
        if written is not None and written.paid == 1:
            return CallbackResult(outcome=DUPLICATE, attempt_reference=reference)
        return None
    bump(db_session, metric="payments.paid", province_code=row.province_code,
         commune_code=row.commune_code)
    audit(db_session, actor, "payment.paid", row.citizen_id, order_id=row.order_id,
          attempt=reference, amount=row.amount, source=source)
    db_session.commit()
    return CallbackResult(outcome=APPLIED, attempt_reference=reference,
                          order_status=transition.target)


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
