"""Summary tables, so statistics cost the same at 10,000 or 100,000,000 citizens."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from identity.database import Base


class UsageCounter(Base):
    """How many times ``metric`` happened on ``day`` in one commune ('' where none applies)."""

    __tablename__ = "usage_counters"
    __table_args__ = (sa.Index("ix_usage_counters_metric_day", "metric", "day"),)

    day: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    province_code: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger)
