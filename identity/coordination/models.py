"""Tables of data coordination: sources, their records, load runs, daily counts.

Personal data at rest: a record's personal id is kept only as a keyed look-up
hash (``personal_id_hash``, :meth:`identity.protection.Protector.lookup_hash`)
and, with the name, date of birth, sex and the document's own fields, inside
one AES-GCM blob (``data_encrypted``) bound to the record's source and id.
Plain columns hold only what queries need: link state, document status and
validity dates.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import clock
from identity.database import Base, BigIntKey, UTCDateTime
from identity.relying_parties.models import RelyingParty

#: The kinds of source (see :mod:`identity.coordination.kinds`).
SOURCE_KINDS = ("education", "passport", "driving_licence", "health_insurance", "vehicle",
                "telecom")
#: linked: the citizen found and agreeing; mismatch: found, some field disagrees;
#: unknown_id: no citizen holds the id; unlinked: an operator said "not this citizen".
LINK_STATES = ("linked", "mismatch", "unknown_id", "unlinked")
RESOLUTIONS = ("registry_right", "source_right", "not_this_citizen")
#: A document's status at its source; ``valid`` is also an active SIM subscription.
DOCUMENT_STATUSES = ("valid", "revoked", "suspended", "expired")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DataSource(Base):
    """A connected source (a ministry's register, a telecom operator): a relying party's feed.

    The source authenticates as its relying party (``party_id``, scope
    ``records.deliver``). A telecom source is owned by the telco's own party,
    which also fetches its junk-SIM report (scope ``sim.verify``).
    """

    __tablename__ = "data_sources"
    __table_args__ = (sa.CheckConstraint(_in("kind", SOURCE_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: A short code used in URLs and commands, e.g. ``csgt-gplx`` or ``viettel``.
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    party_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("relying_parties.id"),
                                          index=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    party: Mapped[RelyingParty] = relationship(lazy="joined", innerjoin=True)


_REVIEW = "link_state IN ('mismatch', 'unknown_id') AND resolution IS NULL"


class SourceRecord(Base):
    """One record of a source (a licence, a card, a subscription), linked to a citizen or not.

    ``source_id`` and ``citizen_id`` are deliberately not foreign keys (as
    ``citizens.import_run_id``): a bulk load of millions of records would pay
    two referential checks per row for values the linker has just read from
    ``data_sources`` and ``citizens`` in the same transaction, and neither a
    source nor a citizen is ever deleted.
    """

    __tablename__ = "source_records"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "record_key", name="uq_source_records_source_key"),
        sa.CheckConstraint(_in("link_state", LINK_STATES), name="link_state"),
        sa.CheckConstraint(f"resolution IS NULL OR {_in('resolution', RESOLUTIONS)}",
                           name="resolution"),
        sa.CheckConstraint(_in("status", DOCUMENT_STATUSES), name="status"),
        # Partial: only the few records under review, so a bulk load hardly touches it.
        sa.Index("ix_source_records_review", "received_at",
                 postgresql_where=sa.text(_REVIEW), sqlite_where=sa.text(_REVIEW)),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.BigInteger)
    #: The source's own id of the record: what makes a re-delivery idempotent.
    record_key: Mapped[str] = mapped_column(sa.String(64))
    personal_id_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    citizen_id: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    link_state: Mapped[str] = mapped_column(sa.String(16))
    #: Space-separated fields that disagree with the registry (full_name date_of_birth gender).
    mismatch_fields: Mapped[str | None] = mapped_column(sa.String(64))
    resolution: Mapped[str | None] = mapped_column(sa.String(20))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(12))
    valid_from: Mapped[dt.date | None] = mapped_column(sa.Date)
    valid_until: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: AES-GCM of the record's personal fields (JSON), bound to source and record id.
    data_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: Keyed hash of the record's whole content: an identical re-delivery changes nothing.
    content_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    source: Mapped[DataSource] = relationship(
        lazy="joined", innerjoin=True,
        primaryjoin="DataSource.id == foreign(SourceRecord.source_id)")

    def __repr__(self) -> str:  # never personal data: reprs end up in logs
        return f"<SourceRecord id={self.id} source={self.source_id}>"


class SourceDailyCount(Base):
    """Per source and per day (UTC+7): records received, linked, mismatched, unknown, rejected."""

    __tablename__ = "source_daily_counts"

    source_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("data_sources.id"),
                                           primary_key=True)
    day: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    received: Mapped[int] = mapped_column(sa.Integer, default=0)
    linked: Mapped[int] = mapped_column(sa.Integer, default=0)
    mismatched: Mapped[int] = mapped_column(sa.Integer, default=0)
    unknown_id: Mapped[int] = mapped_column(sa.Integer, default=0)
    rejected: Mapped[int] = mapped_column(sa.Integer, default=0)


class LoadRun(Base):
    """One run of ``flask sources load``: how far it got, so an interrupted run resumes."""

    __tablename__ = "source_load_runs"
    __table_args__ = (sa.Index("ix_source_load_runs_resume", "source_id", "file_key", "status"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("data_sources.id"))
    file_name: Mapped[str] = mapped_column(sa.String(255))
    #: SHA-256 of the file's size and first MiB: the same file is recognised when resumed.
    file_key: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Data lines (after the header) whose batch committed; a resumed run skips them.
    lines_done: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_unchanged: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    batches_committed: Mapped[int] = mapped_column(sa.Integer, default=0)
    report_path: Mapped[str | None] = mapped_column(sa.String(1024))
    error: Mapped[str | None] = mapped_column(sa.String(1024))


class DocumentCredential(Base):
    """A VN1 credential issued for a document, so the document's revocation revokes it too."""

    __tablename__ = "document_credentials"

    credential_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("credentials.id"),
                                               primary_key=True)
    record_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("source_records.id"),
                                           index=True)
