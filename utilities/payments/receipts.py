"""Receipts (biên lai) of paid orders, and their signed ``receipt`` credentials (VN1).

A receipt shows the payer's personal id masked. Its credential is signed like
every credential, confirmed with the passcode, and revoked when the order is
refunded (:mod:`utilities.payments.refunds`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.models import Account
from identity.accounts.passcode import confirm_passcode
from identity.audit.service import Actor
from identity.credentials.keys import KeyRing
from identity.credentials.service import Issued, sign_credential
from identity.protection import Protector
from utilities.payments.errors import NotPaid, OrderRefunded
from utilities.payments.models import SUCCEEDED, PaymentAttempt, ReceiptCredential
from utilities.payments.orders import get_own_order

#: How long a receipt credential lives by default (re-issued at will).
RECEIPT_LIFETIME = 86_400


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


def mask_personal_id(personal_id: str) -> str:
    """``001234567889`` → ``0012******89``: enough to tell receipts apart, not an identity."""
    return personal_id[:4] + "*" * (len(personal_id) - 6) + personal_id[-2:]


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
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    issued = sign_credential(db_session=db_session, redis_client=redis_client,
                             protector=protector, key_ring=key_ring, actor=actor,
                             account=account, credential_type="receipt",
                             claims=receipt_claims(paid), lifetime=lifetime)
    db_session.flush()
    db_session.add(ReceiptCredential(credential_id=issued.credential_id, order_id=paid.order_id))
    db_session.commit()
    return issued
