"""ORM instances from rows already read with Core: an entity without a second ``SELECT``.

The hot paths read a principal's row (an officer, a relying party) with one
Core statement and check it without building an ORM object. A route that
then needs the entity (to pass it to a use case that changes it) gets it from
the same row here: the instance in the session's identity map when there is
one, else the row attached to the session as a persistent, unmodified
instance (``make_transient_to_detached`` then ``merge(load=False)``). Either
way no statement is sent, and changes to the instance are flushed as for any
loaded entity.
"""
from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

T = TypeVar("T")


def attach(db_session: Session, model: type[T], row: sa.Row[Any]) -> T:
    """The entity of ``row`` (every column of ``model``'s table, primary key ``id``)."""
    existing: T | None = db_session.identity_map.get(identity_key(model, row.id))
    if existing is not None:
        return existing
    entity = model(**row._asdict())  # a SQLAlchemy row, or a Statement's named tuple
    make_transient_to_detached(entity)
    return db_session.merge(entity, load=False)
