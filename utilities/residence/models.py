"""Tables of residence declarations.

Each declaration is a :class:`~utilities.workflow.WorkflowCase` (status and an
optimistic version); its history is the shared ``workflow_events`` table. The
place of a case (province and commune codes) decides which police unit works
it. Lodging notices are read, not worked; only their guests that do not match
the registry wait for a review (``LodgingGuest.review_state``).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import clock
from identity.database import Base, BigIntKey, UTCDateTime
from identity.registry.models import Citizen, ResidencePeriod
from utilities.workflow import WorkflowCase

#: How the host of a temporary stay vouches for it.
HOST_BY_APP = "app"            # the host has an account and confirms with the passcode
HOST_IN_PERSON = "in_person"   # no account: the commune police check the host in person
HOST_SELF = "self"             # the declarant is the owner of the place
HOST_CHECKS = (HOST_BY_APP, HOST_IN_PERSON, HOST_SELF)


class TemporaryStay(ResidencePeriod, WorkflowCase, Base):
    """A temporary stay registration (đăng ký tạm trú) at an address of one commune."""

    __tablename__ = "temporary_stays"
    __table_args__ = (
        sa.Index("ix_temporary_stays_unit", "province_code", "commune_code", "status"),
        sa.Index("ix_temporary_stays_citizen", "citizen_id", "id"),
        sa.Index("ix_temporary_stays_host", "host_citizen_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(500))
    #: The owner or host of the place, from the registry (none when the id given is not in it:
    #: the declaration is taken all the same, and the police check the host in person).
    host_citizen_id: Mapped[int | None] = mapped_column(sa.ForeignKey("citizens.id"))
    #: The host's personal id as the declarant gave it, kept only when the registry has no
    #: such id (what the officer checks in person).
    host_personal_id: Mapped[str | None] = mapped_column(sa.String(12))
    host_check: Mapped[str] = mapped_column(sa.String(16))
    host_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The approved stay this one renews (gia hạn tạm trú), if any.
    previous_id: Mapped[int | None] = mapped_column(sa.ForeignKey("temporary_stays.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: When the case reached the police queue, and the deadline of their decision.
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decide_by: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))
    decision_reason: Mapped[str | None] = mapped_column(sa.String(500))

    citizen: Mapped[Citizen] = relationship(foreign_keys="TemporaryStay.citizen_id", lazy="joined")
    host: Mapped[Citizen | None] = relationship(foreign_keys=[host_citizen_id])

    def __repr__(self) -> str:
        return f"<TemporaryStay id={self.id} status={self.status}>"


class AbsenceDeclaration(WorkflowCase, Base):
    """A temporary absence declaration (khai báo tạm vắng) from the place of permanent residence.

    The unit is the commune of the citizen's permanent residence when declared.
    """

    __tablename__ = "absence_declarations"
    __table_args__ = (
        sa.Index("ix_absence_declarations_unit", "province_code", "commune_code", "status"),
        sa.Index("ix_absence_declarations_citizen", "citizen_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizens.id"))
    province_code: Mapped[str] = mapped_column(sa.String(2))
    commune_code: Mapped[str] = mapped_column(sa.String(5))
    start_date: Mapped[dt.date] = mapped_column(sa.Date)
    end_date: Mapped[dt.date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.String(500))
    destination: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    decide_by: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))

    citizen: Mapped[Citizen] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<AbsenceDeclaration id={self.id} status={self.status}>"


class LodgingNotice(Base):
    """A lodging notice (thông báo lưu trú): who stays at one address, sent by its host or hotel."""

    __tablename__ = "lodging_notices"
    __table_args__ = (sa.Index("ix_lodging_notices_unit", "province_code", "commune_code"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    province_code: Mapped[str] = mapped_column(sa.String(2))
    commune_code: Mapped[str] = mapped_column(sa.String(5))
    address: Mapped[str] = mapped_column(sa.String(255))
    #: Who sent it: ``citizen`` (a host in the app) or ``relying_party`` (a hotel).
    notifier_type: Mapped[str] = mapped_column(sa.String(16))
    notifier_id: Mapped[str] = mapped_column(sa.String(64))
    #: The host's registry record, when a citizen sent it.
    host_citizen_id: Mapped[int | None] = mapped_column(sa.ForeignKey("citizens.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    guests: Mapped[list[LodgingGuest]] = relationship(back_populates="notice",
                                                      order_by="LodgingGuest.id")


#: Why a guest waits for the police's review: the id is not in the registry, or the name or
#: date of birth given do not match the registry's record of that id.
REVIEW_UNKNOWN_ID, REVIEW_MISMATCH = "unknown_id", "mismatch"
REVIEW_REASONS = (REVIEW_UNKNOWN_ID, REVIEW_MISMATCH)
#: States of that review: waiting, then cleared (a clerical error) or flagged (followed up).
REVIEW_PENDING, REVIEW_CLEARED, REVIEW_FLAGGED = "pending", "cleared", "flagged"
REVIEW_STATES = (REVIEW_PENDING, REVIEW_CLEARED, REVIEW_FLAGGED)


class LodgingGuest(Base):
    """One guest of a lodging notice, with arrival and departure dates.

    A guest whose id and (when given) name and date of birth match the
    registry is linked to the citizen. Any other guest is kept as declared
    (``personal_id``, ``declared_name``, ``declared_birth_date``) and waits for
    the commune police's review (``review_state``): the notifier is answered
    the same either way, so a notice cannot be used to ask the registry.
    """

    __tablename__ = "lodging_guests"
    __table_args__ = (sa.Index("ix_lodging_guests_stay", "notice_id", "arrival", "departure"),
                      sa.Index("ix_lodging_guests_review", "review_state"))

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("lodging_notices.id"))
    #: The registry's citizen of that id (none when the id is unknown).
    citizen_id: Mapped[int | None] = mapped_column(sa.ForeignKey("citizens.id"), index=True)
    arrival: Mapped[dt.date] = mapped_column(sa.Date)
    departure: Mapped[dt.date] = mapped_column(sa.Date)
    #: What the notifier declared, kept for the review only (none for a matched guest).
    personal_id: Mapped[str | None] = mapped_column(sa.String(12))
    declared_name: Mapped[str | None] = mapped_column(sa.String(255))
    declared_birth_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    review_reason: Mapped[str | None] = mapped_column(sa.String(16))
    review_state: Mapped[str | None] = mapped_column(sa.String(16))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))

    notice: Mapped[LodgingNotice] = relationship(back_populates="guests")
    citizen: Mapped[Citizen | None] = relationship()
