"""Tables of electronic identity accounts, their devices, sessions and officers.

Short-lived state (pending registrations, SMS codes, login challenges) lives in
Redis; what must survive a Redis restart lives here: failed-passcode counters,
session families and their revocation, token versions.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import clock
from identity.database import Base, BigIntKey, UTCDateTime
from identity.registry.models import Citizen

#: Account statuses. ``pending_review``: the phone is not the registry's; an officer decides.
#: ``closed``: withdrawn, or superseded by the citizen's own registration or reclaim; kept for
#: the record, never reopened. What each state may do: ``identity/accounts/capabilities.py``.
ACTIVE, PENDING_REVIEW, LOCKED, REJECTED = "active", "pending_review", "locked", "rejected"
CLOSED = "closed"
ACCOUNT_STATUSES = (ACTIVE, PENDING_REVIEW, LOCKED, REJECTED, CLOSED)
#: The states of an open account: at most one per citizen (index ``uq_accounts_one_open``).
OPEN_STATUSES = (ACTIVE, PENDING_REVIEW, LOCKED, REJECTED)


class Account(Base):
    """A citizen's electronic identity account (tài khoản định danh điện tử), level 1 or 2."""

    __tablename__ = "accounts"
    __table_args__ = (
        sa.CheckConstraint("level IN (1, 2)", name="level"),
        sa.CheckConstraint(f"status IN {ACCOUNT_STATUSES}", name="status"),
        sa.Index("ix_accounts_status", "status", "created_at"),
        # One open account per citizen: this index settles concurrent registrations and
        # reclaims; closed accounts stay beside the open one, for the record.
        sa.Index("uq_accounts_one_open", "citizen_id", unique=True,
                 postgresql_where=sa.text("status <> 'closed'"),
                 sqlite_where=sa.text("status <> 'closed'")),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizens.id"))
    level: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    status: Mapped[str] = mapped_column(sa.String(16))
    #: Why the account is locked: "self" (lost phone), "passcode", "officer".
    lock_reason: Mapped[str | None] = mapped_column(sa.String(16))
    #: Restored on unlock, so locking cannot skip a pending review.
    status_before_lock: Mapped[str | None] = mapped_column(sa.String(16))
    #: The phone verified by SMS at registration (encrypted) and its keyed hash.
    phone_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    phone_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    passcode_hash: Mapped[str] = mapped_column(sa.String(255))
    failed_passcodes: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    #: In every access token; raising it refuses every access token issued before.
    token_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    review_note: Mapped[str | None] = mapped_column(sa.String(500))
    level2_check: Mapped[str | None] = mapped_column(sa.String(16))
    level2_card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    level2_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))
    level2_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                    onupdate=clock.now)

    citizen: Mapped[Citizen] = relationship(lazy="joined", innerjoin=True)


class Device(Base):
    """A phone bound to an account by its P-256 public key. One active device per account."""

    __tablename__ = "devices"
    __table_args__ = (
        sa.Index("uq_devices_one_active", "account_id", unique=True,
                 postgresql_where=sa.text("revoked_at IS NULL"),
                 sqlite_where=sa.text("revoked_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    device_id: Mapped[str] = mapped_column(sa.String(64))
    #: DER SubjectPublicKeyInfo of the device's P-256 key.
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(128))
    bound_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: How it was bound: "registration", "sms_rebind", "officer_rebind".
    bound_by: Mapped[str] = mapped_column(sa.String(16))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Officer(Base):
    """A police officer (cán bộ công an) acting inside one jurisdiction."""

    __tablename__ = "officers"
    __table_args__ = (sa.CheckConstraint("role IN ('officer', 'supervisor')", name="role"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[str] = mapped_column(sa.String(16))
    province_code: Mapped[str] = mapped_column(sa.String(2))
    #: None: the whole province.
    commune_code: Mapped[str | None] = mapped_column(sa.String(5))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    totp_secret_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: The last TOTP time step accepted: each step is accepted once.
    last_totp_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    token_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class SessionFamily(Base):
    """One login and every refresh token rotated from it.

    The refresh token carries the family and its generation; a refresh moves
    the generation on. A token of an older generation is a reuse: the whole
    family is revoked (RFC 6819 5.2.2.3, OAuth 2.0 Security BCP 4.14).
    """

    __tablename__ = "session_families"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    generation: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(32))


class Notification(Base):
    """A message for the citizen, shown in the app (device changes, level changes, locks)."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_account", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class SmsMessage(Base):
    """A text message given to the ``outbox`` SMS backend (development and tests only).

    The phone and the text (which holds a code) are encrypted like any contact data.
    """

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    phone_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), index=True)
    phone_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    text_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
