"""The officers' queue: the cases of their jurisdiction, newest first, filtered.

One index range scan per page whatever the queue's size
(:func:`~utilities.reports.access.jurisdiction_range`): the count
stops at :data:`QUEUE_COUNT_CAP`. No reporter data is in it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Officer
from utilities.reports.access import jurisdiction, jurisdiction_range
from utilities.reports.errors import InvalidReport
from utilities.reports.models import OPEN_STATUSES, Report

#: The queue counts matching cases up to here, so a page costs the same at any queue size.
QUEUE_COUNT_CAP = 1000
_VN = dt.timezone(dt.timedelta(hours=7))


@dataclass(frozen=True)
class QueuePage:
    """One page of a police queue; ``total`` stops counting at :data:`QUEUE_COUNT_CAP`."""

    items: list[Report]
    total: int
    total_exact: bool


def queue(*, db_session: Session, officer: Officer, page: int, per_page: int,
          category: str | None = None, status: str | None = None,
          filed_from: dt.date | None = None, filed_to: dt.date | None = None,
          overdue: bool | None = None) -> QueuePage:
    """The cases of the officer's jurisdiction, newest first (no reporter data in it).

    A read that writes nothing, so it does not commit.
    """
    where: list[Any] = []
    if category is not None:
        where.append(Report.category == category)
    if status is not None:
        where.append(Report.status == status)
    if filed_from is not None:
        where.append(Report.created_at >= _day_start(filed_from, "filed_from"))
    if filed_to is not None:
        where.append(Report.created_at < _day_start(filed_to, "filed_to", days_after=1))
    if overdue is not None:
        late = sa.and_(Report.status.in_(OPEN_STATUSES), Report.due_at < clock.now())
        where.append(late if overdue else sa.not_(late))
    query = sa.select(Report).where(*jurisdiction(officer), *where)
    total = int(db_session.scalar(sa.select(sa.func.count()).select_from(
        query.with_only_columns(Report.id).limit(QUEUE_COUNT_CAP + 1).subquery())) or 0)
    unit, key = jurisdiction_range(officer)
    items = list(db_session.scalars(sa.select(Report).where(*unit, *where)
                                    .order_by(key.desc(), Report.id.desc())
                                    .offset((page - 1) * per_page).limit(per_page)))
    return QueuePage(items=items, total=min(total, QUEUE_COUNT_CAP),
                     total_exact=total <= QUEUE_COUNT_CAP)


def _day_start(day: dt.date, field: str, *, days_after: int = 0) -> dt.datetime:
    """The UTC instant a Vietnam day (plus ``days_after``) begins; 422 where that overflows.

    ``9999-12-31`` has no next day, and ``0001-01-01`` in Vietnam begins the day
    before year 1 in UTC: both are refused (``queue.date_out_of_range``), never a 500.
    """
    try:
        start = dt.datetime.combine(day + dt.timedelta(days=days_after), dt.time(), _VN)
        return start.astimezone(dt.timezone.utc)
    except OverflowError:
        raise InvalidReport("The date is outside the range the queue can search.",
                            code="queue.date_out_of_range", field=field) from None
