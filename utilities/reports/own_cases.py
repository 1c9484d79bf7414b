"""The reporter's own cases: their list, a case's timeline, their answers to the officers.

A named case is found by the keyed hash of the account; an anonymous one
only with the reporter key its filing answered (:func:`own_report`). Reading
writes nothing (polling an anonymous case leaves no row); answering is
audited like every act on the case.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.models import Account
from identity.audit.service import Actor
from identity.database import paginate
from identity.protection import Protector
from utilities.reports.access import own_report
from utilities.reports.indicators import indicator_counts
from utilities.reports.models import Report
from utilities.reports.reporter import audit, recorded, reporter_actor, reporter_hash, touch
from utilities.reports.rules import CITIZEN, REPORTS, check_keeping_act
from utilities.reports.views import ReportView


def my_reports(*, db_session: Session, protector: Protector, account: Account, page: int,
               per_page: int) -> tuple[list[Report], int]:
    """The citizen's own named reports, newest first.

    Anonymous cases are not listed: nothing kept links them to the account.
    The app lists them from the case numbers and keys it holds.
    """
    return paginate(db_session, sa.select(Report)
                    .where(Report.reporter_hash == reporter_hash(protector, account.id))
                    .order_by(Report.id.desc()), page=page, per_page=per_page)


def my_report(*, db_session: Session, protector: Protector, account: Account,
              case_number: str, reporter_key: str | None = None) -> ReportView:
    """The citizen's own case and its timeline (status changes, questions and answers).

    Not audited and no notification read: polling an anonymous case leaves no row.
    """
    report = own_report(db_session, protector, account, case_number, reporter_key)
    return ReportView(report=report, history=REPORTS.history(db_session, report.id),
                      indicators=indicator_counts(db_session, report))


def answer(*, db_session: Session, protector: Protector, actor: Actor, account: Account,
           case_number: str, text: str, reporter_key: str | None = None) -> ReportView:
    """The reporter writes to the officers of the case (answers a question)."""
    report = own_report(db_session, protector, account, case_number, reporter_key)
    check_keeping_act(report, "answer", CITIZEN)
    touch(report)
    recorded(report, REPORTS.note(db_session, report, "answer", role=CITIZEN, by=None,
                                  note=text))
    audit(db_session, protector, reporter_actor(report, account, actor), report,
          "report.answered")
    db_session.commit()
    return ReportView(report=report, history=REPORTS.history(db_session, report.id))
