"""Tables of incident reports (tố giác tội phạm): the case, its evidence, its scam indicators.

The reporter is never stored in clear: ``reporter_encrypted`` holds the
reporter's account and citizen ids sealed to the case number, and
``reporter_hash`` is a keyed hash of the account id, so the citizen's own list
is one index probe while no officer query can read who filed a case. An
anonymous report keeps no seal, and its ``reporter_hash`` mixes in a key that
only the reporter's app holds: without that key no row links it to them.
The status history and the message thread live in ``workflow_events``.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import clock
from identity.database import Base, BigIntKey, UTCDateTime
from utilities.workflow import WorkflowCase

CATEGORIES = ("crime", "fraud", "fire_hazard", "traffic", "environment", "other")
#: Report statuses; the last two are final.
RECEIVED, VERIFYING, INVESTIGATING, CLOSED, REJECTED = (
    "received", "verifying", "investigating", "closed", "rejected")
OPEN_STATUSES = (RECEIVED, VERIFYING, INVESTIGATING)
STATUSES = (*OPEN_STATUSES, CLOSED, REJECTED)
INDICATOR_KINDS = ("phone", "link")


class Report(WorkflowCase, Base):
    """A citizen's report of a crime, scam, fire hazard, traffic or environmental problem.

    ``province_code``/``commune_code`` name the police unit whose queue holds
    the case: where it happened, or (location unknown) the province of the
    reporter's residence with no commune (the province-level queue).
    """

    __tablename__ = "reports"
    __table_args__ = (
        sa.CheckConstraint(f"category IN {CATEGORIES}", name="category"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
        # The queues: a province's, newest first; a commune's, newest first.
        sa.Index("ix_reports_province_queue", "province_code", "id"),
        sa.Index("ix_reports_commune_queue", "commune_code", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: The public reference ("TG-2026-7KQ2M9XD"): random, used in URLs instead of the id.
    case_number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    category: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.Text)
    province_code: Mapped[str] = mapped_column(sa.String(2))
    commune_code: Mapped[str | None] = mapped_column(sa.String(5))
    location_known: Mapped[bool] = mapped_column(sa.Boolean)
    address: Mapped[str | None] = mapped_column(sa.String(255))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    anonymous: Mapped[bool] = mapped_column(sa.Boolean)
    organisation_name: Mapped[str | None] = mapped_column(sa.String(255))
    organisation_tax_code: Mapped[str | None] = mapped_column(sa.String(14))
    #: "<account id>:<citizen id>", AES-GCM sealed to the case number (identity.protection);
    #: empty for an anonymous report (nothing the service's keys can open names its reporter).
    reporter_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    #: Keyed hash of the reporter's account id (the citizen's own list); for an anonymous
    #: report, of the account id and the reporter key only the reporter's app holds.
    reporter_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), index=True)
    assigned_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))
    #: The outcome of a closed case, or the reason of a rejected one.
    resolution: Mapped[str | None] = mapped_column(sa.Text)
    #: When the current state should have been acted on (None once final).
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                    onupdate=clock.now)

    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="report", order_by="Evidence.id")
    indicators: Mapped[list[ScamIndicator]] = relationship(
        secondary="report_indicators", order_by="ScamIndicator.id")


class Evidence(Base):
    """A file given with a report, stored content-addressed under ``EVIDENCE_DIR``.

    The SHA-256 digest and the time it was received are fixed here when the
    file arrives; every download hashes the stored file again, so a file
    changed on disk is refused (``evidence.tampered``), never shown.
    """

    __tablename__ = "report_evidence"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(32))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: True when the file was stored without its metadata (a photo's EXIF, XMP, IPTC, GPS,
    #: ICC, text; a video's metadata boxes); None for files kept before migration 0013.
    metadata_removed: Mapped[bool | None] = mapped_column(sa.Boolean)

    report: Mapped[Report] = relationship(back_populates="evidence")


class ScamIndicator(Base):
    """A scam phone number (E.164) or link (lower-case host, no trailing slash)."""

    __tablename__ = "scam_indicators"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {INDICATOR_KINDS}", name="kind"),
        sa.UniqueConstraint("kind", "value", name="uq_scam_indicators_kind_value"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    value: Mapped[str] = mapped_column(sa.String(512))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class ReportIndicator(Base):
    """A report names an indicator: the link that counts reports per number or link."""

    __tablename__ = "report_indicators"
    __table_args__ = (sa.Index("ix_report_indicators_indicator", "indicator_id", "report_id"),)

    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), primary_key=True)
    indicator_id: Mapped[int] = mapped_column(sa.ForeignKey("scam_indicators.id"),
                                              primary_key=True)
