"""What waits for the police across declarations: the supervisors' overdue view, and the open
and overdue counts of each unit that the monitoring dashboard reads. Reads only: nothing here
commits.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Officer
from identity.database import paginate
from identity.monitoring.queues import BacklogQuery, UnitBacklog, register_queue
from utilities.residence.absences import ABSENCE_POLICE_STATES
from utilities.residence.errors import SupervisorOnly
from utilities.residence.models import AbsenceDeclaration, TemporaryStay
from utilities.residence.stays import STAY_POLICE_STATES


def overdue_cases(*, db_session: Session, officer: Officer, kind: str, page: int,
                  per_page: int) -> tuple[list[TemporaryStay] | list[AbsenceDeclaration], int]:
    """For a supervisor: the cases of ``kind`` past their deadline across the province."""
    if officer.role != "supervisor":
        raise SupervisorOnly()
    model: Any = TemporaryStay if kind == "temporary_stay" else AbsenceDeclaration
    states = STAY_POLICE_STATES if kind == "temporary_stay" else ABSENCE_POLICE_STATES
    return paginate(db_session, sa.select(model).where(
        model.province_code == officer.province_code, model.status.in_(states),
        model.decide_by < clock.now()).order_by(model.decide_by, model.id),
        page=page, per_page=per_page)


def _backlog(queue: str, model: Any, states: Iterable[str]) -> BacklogQuery:
    """The monitoring query of ``queue``: cases of ``model`` in ``states``, by unit."""
    def query(db_session: Session, now: dt.datetime) -> list[UnitBacklog]:
        rows = db_session.execute(
            sa.select(model.province_code, model.commune_code, sa.func.count(),
                      sa.func.sum(sa.case((model.decide_by < now, 1), else_=0)))
            .where(model.status.in_(tuple(states)))
            .group_by(model.province_code, model.commune_code))
        return [UnitBacklog(queue=queue, province_code=province, commune_code=commune,
                            open=int(count), overdue=int(overdue or 0))
                for province, commune, count, overdue in rows]
    return query


register_queue("temporary_stays", _backlog("temporary_stays", TemporaryStay, STAY_POLICE_STATES))
register_queue("absences", _backlog("absences", AbsenceDeclaration, ABSENCE_POLICE_STATES))
