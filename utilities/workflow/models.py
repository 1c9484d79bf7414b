"""The history every workflow case keeps: one row per transition, never updated."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from identity.database import BigIntKey, Base, UTCDateTime


class WorkflowEvent(Base):
    """One transition of one case of one workflow (a report, a temporary stay, ...)."""

    __tablename__ = "workflow_events"
    __table_args__ = (sa.Index("ix_workflow_events_case", "workflow", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    workflow: Mapped[str] = mapped_column(sa.String(32))
    case_id: Mapped[int] = mapped_column(sa.BigInteger)
    action: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str | None] = mapped_column(sa.String(32))
    to_state: Mapped[str] = mapped_column(sa.String(32))
    #: The role that acted ("citizen", "officer", "supervisor", "host", "system").
    role: Mapped[str] = mapped_column(sa.String(16))
    #: Who, as the case's own rules allow it to be shown (never an anonymous reporter).
    by: Mapped[str | None] = mapped_column(sa.String(100))
    note: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
