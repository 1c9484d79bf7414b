"""Usage counters: one upsert in the caller's transaction, so a count is never off by a crash.

Each act that the rollout is judged by (a report filed, a declaration made,
a credential verified, a consent given, a payment made) calls :func:`bump`
before its commit. Rows are per day, metric and commune, so concurrent acts
in different communes never touch the same row, and statistics read a few
thousand rows whatever the population.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity import clock
from identity.monitoring.models import UsageCounter

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def bump(db_session: Session, *, metric: str, province_code: str | None = None,
         commune_code: str | None = None, amount: int = 1) -> None:
    """Add ``amount`` to today's counter of ``metric`` for the place (not committed here)."""
    insert = _INSERTS[db_session.get_bind().dialect.name]
    statement: Any = insert(UsageCounter).values(
        day=clock.today(), metric=metric, province_code=province_code or "",
        commune_code=commune_code or "", count=amount)
    db_session.execute(statement.on_conflict_do_update(
        index_elements=["day", "metric", "province_code", "commune_code"],
        set_={"count": UsageCounter.count + amount}))


def total(db_session: Session, *, metric: str, province_code: str | None = None,
          since: object = None) -> int:
    """The sum of a metric (in a province, since a day) for statistics and tests."""
    query = sa.select(sa.func.coalesce(sa.func.sum(UsageCounter.count), 0)).where(
        UsageCounter.metric == metric)
    if province_code is not None:
        query = query.where(UsageCounter.province_code == province_code)
    if since is not None:
        query = query.where(UsageCounter.day >= since)
    return int(db_session.scalar(query) or 0)
