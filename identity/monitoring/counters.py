"""Usage counters: one upsert in the caller's transaction, so a count is never off by a crash.

Each act that the rollout is judged by (a report filed, a declaration made,
a credential verified, a consent given, a payment made) calls :func:`bump`
before its commit. Rows are per day, metric and commune, so concurrent acts
in different communes never touch the same row, and statistics read a few
thousand rows whatever the population.

:func:`bump` sends nothing itself: the amounts are summed per row for the transaction
and written at its flush or commit by :mod:`identity.audit.writer`, in the same
statement as the transaction's audit event when there is one (no round trip of its own).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.audit import writer
from identity.monitoring.models import UsageCounter


def bump(db_session: Session, *, metric: str, province_code: str | None = None,
         commune_code: str | None = None, amount: int = 1) -> None:
    """Add ``amount`` to today's counter of ``metric`` for the place (not committed here)."""
    writer.add_counter(db_session, (clock.today(), metric, province_code or "",
                                    commune_code or ""), amount)


def total(db_session: Session, *, metric: str, province_code: str | None = None,
          since: object = None) -> int:
    """The sum of a metric (in a province, since a day) for statistics and tests."""
    writer.write_pending(db_session)  # the transaction's own bumps count
    query = sa.select(sa.func.coalesce(sa.func.sum(UsageCounter.count), 0)).where(
        UsageCounter.metric == metric)
    if province_code is not None:
        query = query.where(UsageCounter.province_code == province_code)
    if since is not None:
        query = query.where(UsageCounter.day >= since)
    return int(db_session.scalar(query) or 0)
