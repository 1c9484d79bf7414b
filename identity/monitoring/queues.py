"""The police queues that monitoring watches, registered by the utilities that own them.

``identity`` may not import ``utilities``; each utility registers a backlog
query here when its service module is imported, and the statistics and
metrics read every registered queue without knowing their tables.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from identity import clock


@dataclass(frozen=True)
class UnitBacklog:
    """The open and overdue cases of one queue at one police unit (province, or commune)."""

    queue: str
    province_code: str
    commune_code: str | None
    open: int
    overdue: int


#: A backlog query: aggregate (GROUP BY) counts of open and overdue cases per unit at ``now``.
BacklogQuery = Callable[[Session, dt.datetime], Iterable[UnitBacklog]]

_QUEUES: dict[str, BacklogQuery] = {}


def register_queue(name: str, query: BacklogQuery) -> None:
    """Make a queue visible to monitoring (idempotent: the last registration wins)."""
    _QUEUES[name] = query


def queue_names() -> list[str]:
    """The registered queues, sorted."""
    return sorted(_QUEUES)


def backlogs(db_session: Session, *, now: dt.datetime | None = None) -> list[UnitBacklog]:
    """Every registered queue's backlog per unit."""
    at = now or clock.now()
    return [row for name in sorted(_QUEUES) for row in _QUEUES[name](db_session, at)]
