"""Relying parties (banks, telcos, hotels, data sources), their consent requests and shares."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import clock
from identity.database import Base, BigIntKey, UTCDateTime

KINDS = ("bank", "telco", "hotel", "other", "source")
#: What a party may be allowed to do; a token carries a subset.
SCOPES = ("identity.match", "identity.consent", "credentials.verify", "sim.verify",
          "lodging.notify", "records.deliver")


class RelyingParty(Base):
    """A client of the service: OAuth 2 client credentials, scopes, quotas, a callback.

    The client secret (``vnidrp_`` and 32 random bytes) is shown once; only its
    SHA-256 digest is kept. ``token_version`` grows when the party is disabled
    or its secret rotated, which refuses its tokens on their next request.
    """

    __tablename__ = "relying_parties"
    __table_args__ = (sa.CheckConstraint("kind IN ('bank', 'telco', 'hotel', 'other', 'source')",
                                         name="kind"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: 12 characters, so that the VN1 audience ``rp:<client_id>`` fits its 16.
    client_id: Mapped[str] = mapped_column(sa.String(13), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: Space-separated, as OAuth writes scopes.
    scopes: Mapped[str] = mapped_column(sa.String(200))
    secret_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    #: A P-256 public key (DER) for private-key JWT client authentication, if registered.
    public_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary(200))
    #: Registered by the operator, never taken from a request.
    callback_url: Mapped[str | None] = mapped_column(sa.String(500))
    #: The HMAC key of callback signatures, sealed with the personal-data keys.
    callback_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary(100))
    #: Daily quota per scope, overriding the configured defaults.
    quotas: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    token_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    def scope_set(self) -> frozenset[str]:
        """The party's scopes."""
        return frozenset(self.scopes.split())


class ConsentRequest(Base):
    """A party's request for some of a citizen's attributes, for a stated purpose."""

    __tablename__ = "consent_requests"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'approved', 'refused', 'expired')",
                           name="status"),
        sa.Index("ix_consent_requests_citizen", "citizen_id", "created_at"),
        sa.Index("ix_consent_requests_callbacks", "callback_state"),
    )

    #: Random, 32 hex characters: what the party and the citizen name it by.
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    party_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("relying_parties.id"),
                                          index=True)
    #: Null when the personal id is unknown to the registry: the request is made all the
    #: same (one answer for every id) and reaches no one.
    citizen_id: Mapped[int | None] = mapped_column(sa.BigInteger, sa.ForeignKey("citizens.id"))
    #: The account asked, then the one that decided: the data go out only while that account
    #: is still the citizen's open, active account (a superseded squatter's consent is void).
    #: Null on requests made before the column existed.
    account_id: Mapped[int | None] = mapped_column(sa.BigInteger, sa.ForeignKey("accounts.id"))
    #: Space-separated names from the attribute catalogue.
    attributes: Mapped[str] = mapped_column(sa.String(200))
    purpose: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the party fetched the credential (once).
    fetched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    credential_id: Mapped[str | None] = mapped_column(sa.String(32))
    #: none (not asked), requested (until decided), pending (owed), delivered, failed.
    callback_state: Mapped[str] = mapped_column(sa.String(16), default="none")
    callback_attempts: Mapped[int] = mapped_column(sa.Integer, default=0)

    party: Mapped[RelyingParty] = relationship(lazy="joined")

    def attribute_list(self) -> list[str]:
        """The attributes asked for, in catalogue order as stored."""
        return self.attributes.split()


class DataShare(Base):
    """One delivery of a citizen's data to a party: what, when, why; and erasure requests."""

    __tablename__ = "data_shares"
    __table_args__ = (sa.Index("ix_data_shares_citizen", "citizen_id", "shared_at"),
                      sa.Index("ix_data_shares_party_erasure", "party_id",
                               "erasure_requested_at"))

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("citizens.id"))
    party_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("relying_parties.id"))
    consent_id: Mapped[str | None] = mapped_column(sa.String(32),
                                                   sa.ForeignKey("consent_requests.id"))
    attributes: Mapped[str] = mapped_column(sa.String(200))
    purpose: Mapped[str] = mapped_column(sa.String(500))
    shared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    erasure_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    erasure_acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    party: Mapped[RelyingParty] = relationship(lazy="joined")
