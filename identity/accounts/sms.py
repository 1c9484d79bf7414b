"""Sending text messages: one gateway interface, and the ``outbox`` backend.

The outbox backend (development and tests) stores each message, encrypted,
in ``sms_outbox``: ``flask sms outbox`` and ``GET /api/v1/dev/sms-outbox``
read it back. Production plugs a telecom operator's gateway in behind the
same interface (``SMS_BACKEND`` names a class); the production configuration
refuses the outbox.
"""
from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.models import SmsMessage
from identity.protection import Protector

_PHONE_CONTEXT = b"sms-outbox/phone"
_TEXT_CONTEXT = b"sms-outbox/text"
PHONE_PURPOSE = b"phone"


class SmsGateway(Protocol):
    """Something that delivers a text to a phone, inside the caller's transaction if it can."""

    def send(self, *, db_session: Session, phone: str, text: str) -> None:
        """Hand a message over for delivery."""


class OutboxGateway:
    """Keeps messages in the database instead of sending them (development and tests)."""

    def __init__(self, protector: Protector) -> None:
        self.protector = protector

    def send(self, *, db_session: Session, phone: str, text: str) -> None:
        """Store the message: it is 'sent' when the caller's transaction commits."""
        db_session.add(SmsMessage(
            phone_hash=self.protector.lookup_hash(phone, purpose=PHONE_PURPOSE),
            phone_encrypted=self.protector.encrypt(phone, context=_PHONE_CONTEXT),
            text_encrypted=self.protector.encrypt(text, context=_TEXT_CONTEXT)))

    def messages(self, *, db_session: Session, phone: str | None = None,
                 limit: int = 100) -> list[dict[str, object]]:
        """The latest messages, newest first, optionally for one phone."""
        query = sa.select(SmsMessage).order_by(SmsMessage.id.desc()).limit(limit)
        if phone is not None:
            query = query.where(
                SmsMessage.phone_hash == self.protector.lookup_hash(phone, purpose=PHONE_PURPOSE))
        return [{"phone": self.protector.decrypt(m.phone_encrypted, context=_PHONE_CONTEXT),
                 "text": self.protector.decrypt(m.text_encrypted, context=_TEXT_CONTEXT),
                 "sent_at": m.sent_at} for m in db_session.scalars(query)]
