"""Issuer keys and the record of every credential issued (for revocation and one-time use)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from identity import clock
from identity.database import BigIntKey, Base, UTCDateTime

ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"


class IssuerKey(Base):
    """An ES256 key that signs credentials; the private half is encrypted at rest."""

    __tablename__ = "issuer_keys"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: base64url of the spec's 8-byte kid.
    kid: Mapped[str] = mapped_column(sa.String(16), unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    private_key_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(8))
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Set when the key is retired: it signed nothing after this moment.
    not_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Moves on every change, so verifiers' cached trust lists know when to reload.
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class Credential(Base):
    """One issued credential: who holds it, until when, and whether it was revoked or used."""

    __tablename__ = "credentials"
    __table_args__ = (sa.Index("ix_credentials_account", "account_id", "issued_at"),)

    #: Hex of the 16-byte ``cti``.
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("accounts.id"))
    citizen_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("citizens.id"),
                                            index=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    kid: Mapped[str] = mapped_column(sa.String(16))
    audience: Mapped[str | None] = mapped_column(sa.String(100))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
