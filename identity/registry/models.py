"""Tables of the population registry (Cơ sở dữ liệu quốc gia về dân cư)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from identity import clock
from identity.database import Base, BigIntKey, UTCDateTime

GENDERS = ("M", "F")
#: Relation of a household member to the head of the household (quan hệ với chủ hộ).
RELATIONS = ("head", "spouse", "child", "parent", "sibling", "grandchild", "grandparent",
             "relative", "other")


class Citizen(Base):
    """A citizen of the national population registry.

    The 12-digit personal id is the natural key that the outside world uses;
    other tables refer to the surrogate ``id`` so that the personal id is
    written in one place only. The id is given by the code: it carries the
    province of birth, by which PostgreSQL partitions the table
    (:mod:`identity.registry.partitions`; there the personal id is unique by
    partition, the unique key below is SQLite's). The phone number from the
    telecom subscriber records is stored encrypted, with a keyed hash beside
    it for look-ups (see :mod:`identity.protection`).
    """

    __tablename__ = "citizens"
    __table_args__ = (
        sa.CheckConstraint("gender IN ('M', 'F')", name="gender"),
        sa.Index("ix_citizens_province_commune", "province_code", "commune_code"),
    )

    #: :func:`identity.registry.partitions.citizen_id`, never a sequence's.
    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=False)
    personal_id: Mapped[str] = mapped_column(sa.String(12), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(100))
    #: Case-folded NFC name, for case- and normalisation-insensitive comparisons.
    name_key: Mapped[str] = mapped_column(sa.String(100))
    date_of_birth: Mapped[dt.date] = mapped_column(sa.Date)
    gender: Mapped[str] = mapped_column(sa.String(1))
    nationality: Mapped[str] = mapped_column(sa.String(2), default="VN")
    ethnicity: Mapped[str] = mapped_column(sa.String(50), default="Kinh")
    #: Quê quán: the place of origin, free text as on the birth record.
    place_of_origin: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Permanent residence (thường trú): current province (2 digits) and commune (5 digits).
    province_code: Mapped[str] = mapped_column(sa.String(2))
    commune_code: Mapped[str] = mapped_column(sa.String(5))
    address: Mapped[str] = mapped_column(sa.String(255))
    phone_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    phone_hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), index=True)
    household_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    relation_to_head: Mapped[str | None] = mapped_column(sa.String(16))
    #: The import run that last wrote this row. Deliberately not a foreign key: a bulk load of
    #: millions of rows would pay a referential check per row for one constant value, and import
    #: runs are never deleted.
    import_run_id: Mapped[int | None] = mapped_column(BigIntKey)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                    onupdate=clock.now)

    def __repr__(self) -> str:  # never the personal id: reprs end up in logs
        return f"<Citizen id={self.id}>"


class ImportRun(Base):
    """One run of ``flask registry import``: what was read, written and rejected."""

    __tablename__ = "registry_import_runs"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: SHA-256 of the bytes read, known when the run completes.
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    rows_read: Mapped[int] = mapped_column(sa.Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(sa.Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(sa.Integer, default=0)
    batches_committed: Mapped[int] = mapped_column(sa.Integer, default=0)
    report_path: Mapped[str | None] = mapped_column(sa.String(1024))
    error: Mapped[str | None] = mapped_column(sa.String(1024))


class ResidencePeriod:
    """Mixin: a citizen at an address of a commune for a period (a record, or a declaration)."""

    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizens.id"))
    province_code: Mapped[str] = mapped_column(sa.String(2))
    commune_code: Mapped[str] = mapped_column(sa.String(5))
    address: Mapped[str] = mapped_column(sa.String(255))
    start_date: Mapped[dt.date] = mapped_column(sa.Date)
    end_date: Mapped[dt.date] = mapped_column(sa.Date)


class TemporaryResidence(ResidencePeriod, Base):
    """A temporary residence (nơi tạm trú) on the citizen's record, from an approved declaration.

    The registry owns the record; ``source`` names the act that made it (for
    instance ``temporary_stay:42``), since the registry knows no utility.
    """

    __tablename__ = "temporary_residences"
    __table_args__ = (
        sa.Index("ix_temporary_residences_citizen", "citizen_id", "start_date"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64), unique=True)
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
