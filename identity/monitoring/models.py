"""Summary tables, so statistics cost the same at 10,000 or 100,000,000 citizens."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from identity import clock
from identity.database import Base, BigIntKey, UTCDateTime


class UsageCounter(Base):
    """How many times ``metric`` happened on ``day`` in one commune ('' where none applies).

    A count is the sum of its rows over ``slot``: on PostgreSQL each database connection
    adds to the slot of its backend (``pg_backend_pid() % COUNTER_SLOTS``), so concurrent
    transactions bumping the same count (every verification at a checkpoint bumps its
    commune's) update different rows instead of queueing on one row's lock until each
    commits; SQLite writes slot 0. Every reader sums (``sum(count)`` grouped without the
    slot); a count has at most :data:`COUNTER_SLOTS` rows.
    """

    __tablename__ = "usage_counters"
    #: Statistics of one commune (or one province) read their own rows, not the whole metric.
    __table_args__ = (sa.Index("ix_usage_counters_metric_day", "metric", "day"),
                      sa.Index("ix_usage_counters_place", "province_code", "commune_code",
                               "metric", "day"))

    day: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    province_code: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    slot: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, default=0,
                                      server_default="0")
    count: Mapped[int] = mapped_column(sa.BigInteger)


#: How many rows a usage count is spread over (:class:`UsageCounter`): about the number of
#: connections a busy moment holds per database, so that two rarely share a slot.
COUNTER_SLOTS = 16


class AccountCount(Base):
    """How many accounts of one commune are at ``level`` in ``status``.

    Kept in the same transaction as every change of an account's level or
    status (:mod:`identity.monitoring.accounts`), so statistics by level,
    status, province and commune read a few thousand rows at any population.
    """

    __tablename__ = "account_counts"

    province_code: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    commune_code: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger)


class UsageRollup(Base):
    """A closed day's usage counters summed per province, and nationally (province ``''``).

    Filled from :class:`UsageCounter` for days at least two days old (no
    transaction still bumps them), so a year of national figures is a few
    hundred rows however many communes report.
    """

    __tablename__ = "usage_rollups"

    day: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    province_code: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger)


class RollupState(Base):
    """The last day rolled up into :class:`UsageRollup` (one row, ``name = "usage"``)."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    through_day: Mapped[dt.date] = mapped_column(sa.Date)


class Operator(Base):
    """A ministry operator who reads the statistics API and the dashboard.

    The admin token is shown once at creation; only its SHA-256 digest is
    kept (the token is 32 random bytes, so a fast digest is enough).
    """

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
