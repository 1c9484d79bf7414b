"""What the readers of a case see beside it: its history, its indicators' counts, its assignee."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.models import Officer
from utilities.reports.indicators import IndicatorCount, indicator_counts
from utilities.reports.models import Report
from utilities.reports.rules import REPORTS, allowed_acts
from utilities.workflow import WorkflowEvent


@dataclass
class ReportView:
    """A case with what its readers see beside it: history, indicators' counts, assignee."""

    report: Report
    history: list[WorkflowEvent] = field(default_factory=list)
    indicators: list[IndicatorCount] = field(default_factory=list)
    assigned_to: str | None = None
    #: Only in the answer to an anonymous filing: the key the reporter's app must keep.
    reporter_key: str | None = None

    @property
    def allowed_acts(self) -> list[str]:
        """What an officer may do next (for the officers' view)."""
        return allowed_acts(self.report.status, "officer")


def officer_view(db_session: Session, report: Report) -> ReportView:
    """The case as the officers see it: with its history, indicators and assignee."""
    assigned = (db_session.scalar(sa.select(Officer.username)
                                  .where(Officer.id == report.assigned_officer_id))
                if report.assigned_officer_id is not None else None)
    return ReportView(report=report, history=REPORTS.history(db_session, report.id),
                      indicators=indicator_counts(db_session, report), assigned_to=assigned)
