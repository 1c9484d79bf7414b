"""ORM instances from rows already read with Core: an entity without a second ``SELECT``.

The hot paths read a principal's row with one Core statement and check it
without building an ORM object (an officer, a relying party; a citizen's
account is attached at once, with its citizen). A route that
then needs the entity (to pass it to a use case that changes it) gets it from
the same row here: the instance in the session's identity map when there is
one, else the row attached to the session as a persistent, unmodified
instance (``make_transient_to_detached`` then ``add``). Either
way no statement is sent, and changes to the instance are flushed as for any
loaded entity.
"""
from __future__ import annotations

from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, class_mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.util import identity_key

T = TypeVar("T")


def attach(db_session: Session, model: type[T], row: sa.Row[Any] | dict[str, Any]) -> T:
    """The entity of ``row`` (every column of ``model``'s table, primary key ``id``): a
    SQLAlchemy row, a Statement's named tuple, or a dict of the columns' values."""
    values = row if isinstance(row, dict) else row._asdict()
    existing: T | None = db_session.identity_map.get(identity_key(model, values["id"]))
    if existing is not None:
        return existing
    # As a query's loading does: a new instance without ``__init__`` (whose instrumented
    # assignments record history for each column), the values put in its dict, then
    # committed as loaded (``make_transient_to_detached``) and added as persistent. About a
    # third of the cost of building it with ``__init__`` and ``merge(load=False)`` (a copy).
    entity = class_mapper(model).class_manager.new_instance()
    instance_state(entity).dict.update(values)
    make_transient_to_detached(entity)
    db_session.add(entity)
    return cast(T, entity)
