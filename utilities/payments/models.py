"""Tables of payments: orders, attempts, the ledger, idempotency keys, callbacks, refunds.

- :class:`PaymentOrder`: what a citizen owes (a fee of the schedule or a fine
  issued by an officer). A :class:`~utilities.workflow.WorkflowCase`: its
  state (``open`` → ``pending`` → ``paid`` → ``refunded``; ``pending`` →
  ``held_for_refund`` → ``open`` when the provider charged another amount) moves through
  :data:`utilities.payments.flow.ORDER_FLOW`, each move a row of the shared
  ``workflow_events`` history.
- :class:`PaymentAttempt`: one try to pay an order through a provider. A
  partial unique index allows at most one *live* attempt (``pending`` or
  ``succeeded``) per order: whatever the races above it, the database itself
  refuses a second one.
- :class:`LedgerEntry`: the double-entry journal. Every posting (its rows
  share ``posting``) sums to zero, and ``(posting, account)`` is unique, so
  the same money movement cannot be written twice.
- :class:`IdempotencyKey`: the stored answer of each ``Idempotency-Key``.
- :class:`ProviderCallback`: every callback received, unique per provider
  event, with what it did.
- :class:`Refund` and :class:`ReceiptCredential`.

Amounts are integers in đồng (VND has no minor unit), never floats.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import clock
from identity.database import Base, BigIntKey, UTCDateTime
from identity.registry.models import Citizen
from utilities.workflow import WorkflowCase

FEE, FINE = "fee", "fine"
ORDER_KINDS = (FEE, FINE)

#: Attempt states. ``pending`` and ``succeeded`` are live: at most one per order.
PENDING, SUCCEEDED, FAILED, FLAGGED = "pending", "succeeded", "failed", "flagged"
LIVE_ATTEMPT_STATES = (PENDING, SUCCEEDED)

_LIVE_WHERE = sa.text("status IN ('pending', 'succeeded')")


class PaymentOrder(WorkflowCase, Base):
    """What a citizen owes: a fee (lệ phí) or a fine (tiền phạt), in đồng."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        sa.Index("ix_payment_orders_citizen", "citizen_id", "id"),
        # A service asks for its fee once: the same source never owes the same fee twice.
        sa.UniqueConstraint("source_type", "source_id", "fee_code",
                            name="uq_payment_orders_source"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    #: The code of the fee schedule (``data/fees.json``), for fees.
    fee_code: Mapped[str | None] = mapped_column(sa.String(32))
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizens.id"))
    description: Mapped[str] = mapped_column(sa.String(255))
    legal_basis: Mapped[str] = mapped_column(sa.String(255))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    #: The ledger account the money goes to: ``treasury:fees`` or ``treasury:fines``.
    treasury: Mapped[str] = mapped_column(sa.String(32))
    #: The place of the order (the commune of a declaration, the unit that fined).
    province_code: Mapped[str] = mapped_column(sa.String(2))
    commune_code: Mapped[str | None] = mapped_column(sa.String(5))
    due_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    issued_by_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))
    #: What created it: e.g. ``temporary_stay`` and the stay's id.
    source_type: Mapped[str | None] = mapped_column(sa.String(32))
    source_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    citizen: Mapped[Citizen] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<PaymentOrder id={self.id} {self.kind} {self.amount} {self.status}>"


class PaymentAttempt(Base):
    """One try to pay an order through a provider; ``reference`` is what the provider knows."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        sa.Index("uq_payment_attempts_live", "order_id", unique=True,
                 sqlite_where=_LIVE_WHERE, postgresql_where=_LIVE_WHERE),
        sa.Index("ix_payment_attempts_status", "status", "created_at"),
        sa.Index("ix_payment_attempts_order", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: Our reference, sent to the provider (random, not guessable): ``pa_`` + 24 hex.
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_orders.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    provider: Mapped[str] = mapped_column(sa.String(32))
    bank: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(16))
    provider_reference: Mapped[str | None] = mapped_column(sa.String(64))
    redirect_url: Mapped[str | None] = mapped_column(sa.String(500))
    failure_code: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The last time reconciliation asked the provider about it.
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[PaymentOrder] = relationship()


class LedgerEntry(Base):
    """One row of the double-entry journal: ``amount`` (đồng) into ``account``, signed.

    Accounts: ``citizen:<citizen id>`` (the payer), ``treasury:fees``,
    ``treasury:fines``, ``suspense:refunds`` (money held to be paid back). A
    payment posts −amount to the payer and +amount to the treasury; a refund
    the reverse; a charge of the wrong amount −charged to the payer and
    +charged to the suspense account, until its refund posts the reverse.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.UniqueConstraint("posting", "account", name="uq_ledger_entries_posting"),
        sa.Index("ix_ledger_entries_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: The money movement the row belongs to: ``payment:<attempt ref>`` or ``refund:<ref>``.
    posting: Mapped[str] = mapped_column(sa.String(48))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_orders.id"))
    account: Mapped[str] = mapped_column(sa.String(48))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class IdempotencyKey(Base):
    """The first answer given to one ``Idempotency-Key`` of one account."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("account_id", "key", name="uq_idempotency_keys_key"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    key: Mapped[str] = mapped_column(sa.String(255))
    #: Keyed hash of method, path and canonical body (the body holds the passcode).
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16))
    response_status: Mapped[int | None] = mapped_column(sa.Integer)
    response_body: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    #: When the request holding the key started (a crashed one is taken over after a while).
    locked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class ProviderCallback(Base):
    """One callback of a provider, kept once per provider event, with its outcome."""

    __tablename__ = "payment_callbacks"
    __table_args__ = (
        sa.UniqueConstraint("provider", "event_id", name="uq_payment_callbacks_event"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(32))
    event_id: Mapped[str] = mapped_column(sa.String(64))
    attempt_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_attempts.id"),
                                                   index=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: ``applied``, ``unchanged`` (state already known), ``conflict`` or ``flagged``.
    outcome: Mapped[str] = mapped_column(sa.String(16))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


#: Kinds of refund: a supervisor's refund of a paid order (``order``), or the money of an
#: attempt the provider charged with another amount, held and owed back (``held``).
REFUND_ORDER, REFUND_HELD = "order", "held"


class Refund(Base):
    """Money owed back to a payer through the provider that took it: one refund per attempt.

    ``order``: a supervisor's full refund of a paid order (one per order).
    ``held``: the provider reported a success with another amount than the
    attempt's; what it charged is held (ledger account ``suspense:refunds``)
    and owed back to the payer, with no officer needed.
    """

    __tablename__ = "payment_refunds"
    __table_args__ = (sa.Index("ix_payment_refunds_order", "order_id", "kind"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_orders.id"))
    attempt_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_attempts.id"), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(8), default=REFUND_ORDER,
                                      server_default=REFUND_ORDER)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(500))
    #: The supervisor who asked for it (none for a held refund, which is owed by rule).
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))
    status: Mapped[str] = mapped_column(sa.String(16))
    provider_reference: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[PaymentOrder] = relationship()
    attempt: Mapped[PaymentAttempt] = relationship()


class ReceiptCredential(Base):
    """A ``receipt`` credential issued for an order (revoked if the order is refunded)."""

    __tablename__ = "payment_receipts"

    credential_id: Mapped[str] = mapped_column(sa.ForeignKey("credentials.id"),
                                               primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_orders.id"), index=True)
