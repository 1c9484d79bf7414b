"""Helpers of the monitoring tests: operators, queues (accounts: ``tests.factories``)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from identity.audit.service import Actor
from identity.monitoring import operators
from identity.monitoring.queues import UnitBacklog

ACTOR = Actor(type="operator", id="test")


def new_operator(db_session: Any, name: str = "Bộ Công an A06") -> str:
    """An operator's admin token."""
    return operators.create_operator(db_session=db_session, actor=ACTOR, name=name)[1]


def fixed_queue(rows: Iterable[tuple[str, str | None, int, int]], name: str = "test.queue") -> Any:
    """A backlog query returning fixed (province, commune, open, overdue) rows."""
    def query(db_session: Any, now: Any) -> list[UnitBacklog]:
        return [UnitBacklog(queue=name, province_code=province, commune_code=commune,
                            open=count, overdue=late) for province, commune, count, late in rows]
    return query
