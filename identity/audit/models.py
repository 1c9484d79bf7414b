"""Tables of the audit log."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from identity.database import Base, BigIntKey, UTCDateTime


class AuditChainHead(Base):
    """The last link of one shard's chain: its sequence number and hash.

    A writer locks one head row for the length of its transaction; with
    several shards, concurrent transactions lock different rows and never
    wait on each other (PostgreSQL ``FOR UPDATE SKIP LOCKED``).
    """

    __tablename__ = "audit_chain_heads"

    shard: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    head_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class AuditEvent(Base):
    """One security-relevant act: who, what, when, from where, on what.

    Never holds a personal id or a phone number in clear: subjects are named by
    their surrogate ids. Rows are never updated or deleted (a database trigger
    refuses it), and each holds the hash of the previous row of its shard.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        # With the month: a partitioned table's unique keys hold its partition key
        # (:mod:`identity.audit.partitions`); the shard's head lock hands out each seq once,
        # and verify_chain names a seq found twice.
        sa.UniqueConstraint("shard", "seq", "occurred_at", name="uq_audit_events_shard_seq"),
        sa.Index("ix_audit_events_subject", "subject_type", "subject_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    shard: Mapped[int] = mapped_column(sa.Integer)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_type: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    subject_type: Mapped[str | None] = mapped_column(sa.String(32))
    subject_id: Mapped[str | None] = mapped_column(sa.String(64))
    #: Where the act came from: an IP address, or "cli".
    source: Mapped[str | None] = mapped_column(sa.String(64))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class AuditDetachedRun(Base):
    """Rows of one shard with consecutive sequence numbers that left the log with a detached
    month (:mod:`identity.audit.partitions`): the ends the remaining chain links to."""

    __tablename__ = "audit_detached_runs"

    partition_name: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    shard: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    first_seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger)
    first_prev_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    last_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    detached_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
