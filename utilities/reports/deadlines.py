"""How long a case may stay in each open state, and the backlog of open and overdue cases.

Every act that moves a case (or hands it to another unit) sets its ``due_at``
from :class:`Deadlines`; the queue filters on it, and the monitoring dashboard
counts open and overdue cases per unit through :func:`backlog` (registered
under the name ``reports`` with :mod:`identity.monitoring.queues`, which may
not import the utilities).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.monitoring.queues import UnitBacklog, register_queue
from utilities.reports.models import INVESTIGATING, OPEN_STATUSES, RECEIVED, VERIFYING, Report


@dataclass(frozen=True)
class Deadlines:
    """How long each open state may last before the case is overdue."""

    received: dt.timedelta = dt.timedelta(hours=24)
    verifying: dt.timedelta = dt.timedelta(hours=72)
    investigating: dt.timedelta = dt.timedelta(days=30)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Deadlines:
        """From ``REPORT_DEADLINE_HOURS`` (first action), ``REPORT_VERIFY_HOURS``, and
        ``REPORT_INVESTIGATE_HOURS``."""
        return cls(received=dt.timedelta(hours=float(config["REPORT_DEADLINE_HOURS"])),
                   verifying=dt.timedelta(hours=float(config["REPORT_VERIFY_HOURS"])),
                   investigating=dt.timedelta(hours=float(config["REPORT_INVESTIGATE_HOURS"])))

    def due(self, status: str, since: dt.datetime) -> dt.datetime | None:
        """When a case entering ``status`` at ``since`` becomes overdue (None when final)."""
        span = {RECEIVED: self.received, VERIFYING: self.verifying,
                INVESTIGATING: self.investigating}.get(status)
        return None if span is None else since + span


def backlog(db_session: Session, now: dt.datetime) -> list[UnitBacklog]:
    """Open and overdue cases per unit, in one GROUP BY."""
    overdue = sa.func.sum(sa.case((Report.due_at < now, 1), else_=0))
    rows = db_session.execute(
        sa.select(Report.province_code, Report.commune_code, sa.func.count(), overdue)
        .where(Report.status.in_(OPEN_STATUSES))
        .group_by(Report.province_code, Report.commune_code))
    return [UnitBacklog(queue="reports", province_code=province, commune_code=commune,
                        open=int(count), overdue=int(late or 0))
            for province, commune, count, late in rows]


register_queue("reports", backlog)
