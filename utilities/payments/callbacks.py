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
from identity.audit.service import Actor
from utilities.payments.errors import AttemptNotFound, InvalidPaymentInput
from utilities.payments.flow import audit
from utilities.payments.gateway import PaymentProvider
from utilities.payments.models import FAILED, PENDING, SUCCEEDED, ProviderCallback
from utilities.payments.settlement import settle_attempt

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
