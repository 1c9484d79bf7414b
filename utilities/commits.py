"""Committing a use case that answers with the rows it has just written, without reading them again.

A commit expires every object of the session (``expire_on_commit``), so the
answer's dump reads each one again afterwards: a ``BEGIN``, one ``SELECT``
per object and per relationship, and a ``ROLLBACK`` at the end of the
request, for values the use case holds already. A use case whose answer is
what it wrote, under its own locks, in the transaction just committed, may
answer from that state: it is what the database holds.
"""
from __future__ import annotations

from sqlalchemy.orm import Session


def commit_keeping_state(db_session: Session) -> None:
    """Commit without expiring the session's objects (their state is what was committed)."""
    before = db_session.expire_on_commit
    db_session.expire_on_commit = False
    try:
        db_session.commit()
    finally:
        db_session.expire_on_commit = before
