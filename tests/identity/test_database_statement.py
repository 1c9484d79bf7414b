"""``identity.database.Statement``: hot statements on the driver's cursor, same answers as the ORM.

On PostgreSQL the statement goes straight to psycopg's cursor of the session's connection;
on SQLite through SQLAlchemy. Either way: it runs in the session's transaction (rolled back
with it), rows are read by column name, UTC columns come back UTC-aware, cursor listeners see
it, and a driver error is SQLAlchemy's ``DBAPIError`` (which the app answers with 503).
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from app.extensions import db
from identity.autocommit import in_autocommit, statement_alone
from identity.database import Statement
from identity.protection import Protector
from identity.registry.models import Citizen
from tests.factories import add_citizen

_CITIZENS = Citizen.__table__
_BY_ID = Statement(sa.select(_CITIZENS.c.id, _CITIZENS.c.personal_id, _CITIZENS.c.created_at)
                   .where(_CITIZENS.c.id == sa.bindparam("citizen_id")))
_RENAME = Statement(sa.update(_CITIZENS).where(_CITIZENS.c.id == sa.bindparam("citizen_id"))
                    .values(full_name=sa.bindparam("name"), updated_at=sa.bindparam("now"))
                    .returning(_CITIZENS.c.full_name))


def test_a_row_reads_as_through_the_orm(db_session: Session, protector: Protector) -> None:
    citizen = add_citizen(db_session, protector)
    db_session.flush()
    row = _BY_ID.first(db_session, {"citizen_id": citizen.id})
    assert (row.id, row.personal_id) == (citizen.id, citizen.personal_id)
    orm = db_session.execute(sa.select(_CITIZENS.c.created_at)
                             .where(_CITIZENS.c.id == citizen.id)).scalar_one()
    assert row.created_at == orm
    assert row.created_at.utcoffset() == dt.timedelta(0)
    assert row._asdict()["personal_id"] == citizen.personal_id
    assert _BY_ID.first(db_session, {"citizen_id": -1}) is None


def test_a_write_belongs_to_the_session_transaction(db_session: Session,
                                                    protector: Protector) -> None:
    citizen = add_citizen(db_session, protector)
    db_session.commit()  # a savepoint of the test's transaction
    nested = db_session.begin_nested()
    renamed = _RENAME.rows(db_session, {"citizen_id": citizen.id, "name": "Lê Thị Hoa",
                                        "now": clock.now()})
    assert [tuple(row) for row in renamed] == [("Lê Thị Hoa",)]
    nested.rollback()
    name = db_session.execute(sa.select(_CITIZENS.c.full_name)
                              .where(_CITIZENS.c.id == citizen.id)).scalar_one()
    assert name == citizen.full_name
    assert _RENAME.rows(db_session, {"citizen_id": -1, "name": "x", "now": clock.now()}) == []


def test_cursor_listeners_see_the_statement(db_session: Session) -> None:
    engine = db_session.get_bind()
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        _BY_ID.first(db_session, {"citizen_id": 1})
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert any("FROM citizens" in statement for statement in seen)


def test_a_driver_error_is_sqlalchemy_s(db_session: Session) -> None:
    broken = Statement(sa.select(sa.literal_column("1")).select_from(
        sa.table("no_such_table")))
    with pytest.raises(sa.exc.DBAPIError):
        broken.rows(db_session)


def test_a_python_side_default_is_refused_at_once() -> None:
    # SQLAlchemy fills ``updated_at`` (onupdate=clock.now) in its execution context, which the
    # short way skips: the statement must name it, and is refused when built without it.
    with pytest.raises(TypeError, match="updated_at"):
        Statement(sa.update(_CITIZENS).values(full_name="x"))


def test_values_written_in_the_statement_are_sent(db_session: Session) -> None:
    # ``failed_passcodes + 1``: the 1 is a bound value of the compiled statement, not the caller's.
    plus_one = Statement(sa.select((sa.bindparam("n", type_=sa.Integer) + 1).label("next")))
    assert plus_one.first(db_session, {"n": 41}).next == 42


def test_a_statement_whose_only_values_are_its_own(db_session: Session) -> None:
    # No parameters from the caller, one value written in the statement.
    assert Statement(sa.select(sa.literal(5).label("five"))).first(db_session).five == 5


def test_statements_of_a_connection_share_one_cursor_until_an_error_closes_it(
        db_session: Session) -> None:
    cursors: list[Any] = []
    engine = db_session.get_bind()

    def listener(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if "citizens" in statement or "no_such_table" in statement:
            cursors.append(cursor)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        _BY_ID.first(db_session, {"citizen_id": 1})
        _BY_ID.first(db_session, {"citizen_id": 2})
        db_session.begin_nested()
        with pytest.raises(sa.exc.DBAPIError):
            Statement(sa.select(sa.literal_column("1")).select_from(
                sa.table("no_such_table"))).rows(db_session)
        db_session.rollback()  # the savepoint
        assert _BY_ID.first(db_session, {"citizen_id": -1}) is None  # on a new cursor
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    if db_session.get_bind().dialect.name == "postgresql":
        first, second, failed, after = cursors
        assert first is second is failed and failed.closed  # SQLAlchemy closed it on the error
        assert after is not failed and not after.closed


def test_statement_alone_gives_no_connection_where_the_session_must_be_used(app, db_session):
    # A session bound to the test's transaction (a connection, not an engine): the session's
    # way, on PostgreSQL as on SQLite.
    with statement_alone(db_session) as alone:
        assert alone is None


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="SQLite has no autocommit mode: the session's way")
def test_statement_alone_is_not_given_once_the_session_holds_a_transaction(app):
    with app.app_context(), Session(db.engine) as own:
        with statement_alone(own) as alone:
            assert alone is not None and in_autocommit(alone)
        own.execute(sa.text("SELECT 1"))  # the session's transaction begins: it holds one
        with statement_alone(own) as alone:
            assert alone is None  # a second connection of the same pool could wait forever
