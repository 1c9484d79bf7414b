"""``identity.database.KeepPreparedConnection``: a rollback keeps the statements psycopg prepared.

Without it, psycopg forgets every prepared statement at each ``ROLLBACK`` (and sends
``DEALLOCATE ALL``); each request whose session read in a transaction ends with one, so the
next requests on that connection had every statement parsed and planned again. PostgreSQL
only: SQLite has no prepared statements to keep.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from identity.database import KeepPreparedConnection, Statement, configure_engine

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
    reason="prepared statements are PostgreSQL's")

PROBE = sa.text("SELECT count(*) FROM audit_chain_heads WHERE shard >= :shard")
PREPARED = sa.text("SELECT coalesce(sum(generic_plans + custom_plans), -1) "
                   "FROM pg_prepared_statements WHERE statement LIKE '%audit_chain_heads%'")


@pytest.fixture()
def engine(app: Flask) -> Iterator[sa.Engine]:
    """An engine of the app's kind (configured as the app's is), with one connection."""
    made = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=1, max_overflow=0)
    configure_engine(made)
    try:
        yield made
    finally:
        made.dispose()


def _prepare(connection: sa.Connection) -> int:
    """Run the probe until psycopg prepared it; how often PostgreSQL ran it prepared."""
    for shard in range(6):  # psycopg prepares at the fifth execution
        connection.execute(PROBE, {"shard": shard}).scalar_one()
    return int(connection.execute(PREPARED).scalar_one())


def test_connections_are_the_keeping_kind(app: Flask, engine: sa.Engine) -> None:
    with engine.connect() as connection:
        assert isinstance(connection.connection.dbapi_connection, KeepPreparedConnection)
    with app.app_context(), db.engine.connect() as connection:  # the app's own pool
        assert isinstance(connection.connection.dbapi_connection, KeepPreparedConnection)


def test_a_rollback_keeps_the_prepared_statements(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        executions = _prepare(connection)
        assert executions >= 1
        connection.rollback()  # a ROLLBACK of psycopg's own: it used to forget them all
        connection.execute(PROBE, {"shard": 0}).scalar_one()
        assert connection.execute(PREPARED).scalar_one() == executions + 1  # run prepared
        driver: Any = connection.connection.dbapi_connection
        assert driver._prepared._names, "psycopg still knows what it prepared"


def test_a_rollback_still_undoes_the_transaction(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        _prepare(connection)
        connection.execute(sa.text("CREATE TEMPORARY TABLE kept_probe (n int)"))
        connection.commit()
        connection.execute(sa.text("INSERT INTO kept_probe VALUES (1)"))
        connection.rollback()
        assert connection.execute(sa.text("SELECT count(*) FROM kept_probe")).scalar_one() == 0
        connection.execute(sa.text("INSERT INTO kept_probe VALUES (2)"))
        connection.commit()
        assert connection.execute(sa.text("SELECT sum(n) FROM kept_probe")).scalar_one() == 2


def test_a_rollback_of_a_failed_transaction_leaves_a_working_connection(
        engine: sa.Engine) -> None:
    with engine.connect() as connection:
        executions = _prepare(connection)
        with pytest.raises(sa.exc.DataError):
            connection.execute(sa.text("SELECT 1 / :zero"), {"zero": 0})
        connection.rollback()
        assert connection.execute(PROBE, {"shard": 0}).scalar_one() >= 0
        assert connection.execute(PREPARED).scalar_one() == executions + 1


def test_discard_all_still_clears_them(engine: sa.Engine) -> None:
    """psycopg's rule stays for what really drops them: the server and the driver agree."""
    with engine.connect() as connection:
        _prepare(connection)
        connection.commit()
        driver: Any = connection.connection.dbapi_connection
        driver.autocommit = True  # DISCARD ALL runs outside a transaction only
        driver.execute("DISCARD ALL")
        driver.autocommit = False
        assert not driver._prepared._names
        assert connection.execute(PREPARED).scalar_one() == -1
        for shard in range(3):  # unprepared again, and working
            assert connection.execute(PROBE, {"shard": shard}).scalar_one() >= 0


def test_a_rollback_forgets_the_statements_on_their_way_to_being_prepared(
        engine: sa.Engine) -> None:
    """A statement that only read-only requests run (each ending with a rollback) is never
    prepared: PostgreSQL plans it for its values each time, never with a generic plan."""
    with engine.connect() as connection:
        for _ in range(4):  # four executions in each of three "requests"
            for shard in range(4):
                connection.execute(PROBE, {"shard": shard}).scalar_one()
            connection.rollback()
        assert connection.execute(PREPARED).scalar_one() == -1
        driver: Any = connection.connection.dbapi_connection
        assert not driver._prepared._names


def test_a_hot_statement_is_prepared_at_its_first_run_and_stays(engine: sa.Engine) -> None:
    """A :class:`Statement` is prepared at once (a mix of read-only requests, each ending
    with a rollback, would keep psycopg's count of five runs from ever being reached), and
    kept across rollbacks; a text built at run time (``of_sql``) waits for the count."""
    hot = Statement(sa.text("SELECT count(*) AS n FROM audit_chain_heads WHERE shard >= :shard"))
    built = Statement.of_sql("SELECT count(*) FROM audit_chain_heads WHERE shard < %s", ("n",))
    with engine.connect() as connection:
        hot.rows_on(connection, {"shard": 0})
        built.rows_on(connection, (0,))
        connection.rollback()
        hot.rows_on(connection, {"shard": 1})
        prepared = connection.execute(sa.text(
            "SELECT statement FROM pg_prepared_statements")).scalars().all()
        assert any("shard >= $1" in text for text in prepared), prepared
        assert not any("shard < $1" in text for text in prepared), prepared
