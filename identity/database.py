"""The SQLAlchemy base shared by every domain's tables, and engine tuning.

Flask-SQLAlchemy is given :class:`Base` as its model class (``app/extensions.py``),
so the tables are plain SQLAlchemy and the identity core stays free of Flask.
"""
from __future__ import annotations

import collections
import datetime as dt
import functools
import time
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import pq
from psycopg.abc import PQGen
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

from identity.autocommit import autocommit_connection, statement_alone

#: Constraint names that Alembic can diff and drop on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A 64-bit key that autoincrements on PostgreSQL and SQLite alike.
BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always given back timezone-aware.

    SQLite keeps no zone; PostgreSQL's ``timestamptz`` does. Both give back
    an aware UTC datetime, and a naive one is refused on the way in.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use identity.clock.now()")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def staging_table(name: str, of: sa.FromClause, columns: tuple[str, ...]) -> sa.Table:
    """A temporary table of ``columns`` of ``of`` (their types; timestamps as
    :class:`UTCDateTime`), emptied at each commit on PostgreSQL: where a bulk load stages a
    batch before one ``INSERT ... SELECT``. Not in the models' metadata: no migration makes it."""
    return sa.Table(
        name, sa.MetaData(),
        *(sa.Column(c.name, UTCDateTime if c.name.endswith("_at") else c.type)
          for c in of.columns if c.name in columns),
        prefixes=["TEMPORARY"], postgresql_on_commit="DELETE ROWS")


class Base(DeclarativeBase):
    """Base of every table of the service."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


#: A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 1.0


def configure_engine(engine: Engine) -> None:
    """Make SQLite behave as the service expects; ping idle PostgreSQL connections only.

    PostgreSQL: no ``pool_pre_ping`` (a round trip before every request's first
    statement); a connection that sat in the pool for more than
    :data:`IDLE_PING_SECONDS` is pinged when it is checked out, and replaced if the
    ping fails (a restarted server, a dropped link). A connection reused within the
    second is not: if the server died in that second, the request's first statement
    fails, SQLAlchemy sees a disconnect and invalidates the whole pool (every older
    connection is replaced at its next checkout), and the request answers 503 with
    ``Retry-After``: only requests already under way when the server died fail.

    SQLite (the embedded default) gets WAL, foreign keys, a busy timeout, and
    ``BEGIN IMMEDIATE`` for each transaction. The last one matters: a
    deferred transaction that reads and later writes fails at once with
    "database is locked" when another writer went first; taking the write
    lock at ``BEGIN`` makes concurrent writers wait their turn instead. It
    also makes SAVEPOINTs work, which the test suite relies on.
    """
    if getattr(engine, "_vnid_configured", False):
        return
    engine._vnid_configured = True  # type: ignore[attr-defined]
    if engine.dialect.name == "postgresql":
        _ping_idle_connections(engine)
        sa.event.listen(engine, "do_connect", _connect_keeping_prepared)
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class KeepPreparedConnection(psycopg.Connection[Any]):
    """psycopg's connection, except that a ``ROLLBACK`` keeps the statements already prepared.

    psycopg prepares a statement on a connection after its fifth execution there
    (``prepare_threshold``), and PostgreSQL then plans it once. But at every rollback
    psycopg forgets them all and sends ``DEALLOCATE ALL``, in case the transaction created
    objects that a prepared statement names and the rollback took them away. Every request
    whose session read in a transaction ends it with a rollback (the session closed), so
    each such request cost its connection every prepared statement: the next requests there
    sent each statement unprepared again, and PostgreSQL parsed and planned it every time.
    Under the payment bench's load, half of PostgreSQL's time went to planning
    (``pg_stat_statements.track_planning``: 1,719 plans for 1,938 calls of a statement).

    PostgreSQL keeps prepared statements across a rollback (they are not transactional),
    and no request of the service runs DDL (migrations run apart, in their own process), so
    here a rollback keeps what is prepared. It still forgets the executions counted towards
    preparing a statement, as psycopg does: a statement that only read-only requests run
    (each ending with a rollback) is never prepared, so it keeps the plan PostgreSQL makes for
    its values each time. A generic plan would serve a queue page of a small province with
    the plan made for a big one's (a sequential scan through the big one's rows: the report
    queue bench's page at 1,000 reports, 536 a second unprepared, fell to 289, with ``503``s,
    when these were prepared too). psycopg's own rule stays for everything else: a ``DROP``,
    ``ALTER`` or ``DISCARD ALL`` run on the connection still clears them all.
    Tested in ``tests/identity/test_database.py``: if psycopg changes what this relies on,
    the test fails.
    """

    def _rollback_gen(self) -> PQGen[None]:
        if (self._num_transactions or self._tpc or self._pipeline
                or self.pgconn.transaction_status == pq.TransactionStatus.IDLE):
            return (yield from super()._rollback_gen())
        yield from self._exec_command(b"ROLLBACK")
        self._prepared._counts.clear()


def _connect_keeping_prepared(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    return KeepPreparedConnection.connect(*cargs, **cparams)


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's pessimistic disconnect handling, for connections that sat idle only."""

    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["vnid_idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("vnid_idle_since")
        if since is None or time.monotonic() - since <= IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: the pool drops it and checks out another
            raise sa.exc.DisconnectionError("idle connection failed its ping") from error


def commit_keeping_state(db_session: Session) -> None:
    """Commit without expiring the session's objects: their state is what was committed.

    A commit expires every object of the session (``expire_on_commit``), so what reads one
    afterwards (the answer's dump) loads it again (a ``BEGIN``, one ``SELECT`` per object and
    relationship, a ``ROLLBACK`` at the end of the request), and the expiring itself costs
    the objects' snapshots. A use case whose answer is what it wrote, under its own locks, in
    the transaction just committed (or that reads nothing after it) commits so.
    """
    before = db_session.expire_on_commit
    db_session.expire_on_commit = False
    try:
        db_session.commit()
    finally:
        db_session.expire_on_commit = before


def paginate(db_session: Session, query: sa.Select[Any], *, page: int,
             per_page: int) -> tuple[list[Any], int]:
    """One page of an ordered query's rows (1-based) and the total the query matches."""
    total = db_session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db_session.scalars(query.offset((page - 1) * per_page).limit(per_page))
    return list(rows), int(total)


_CURSOR = "vnid_statement_cursor"


def _cursor(pooled: Any) -> Any:
    """The cursor :class:`Statement` runs on, kept with its DBAPI connection (whose pool
    record's ``info`` lives as long as it does): a psycopg cursor used again keeps its
    adapters, about 12 µs a statement less than a new one. A connection serves one request
    at a time, and every statement's rows are fetched before the next one is sent."""
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.closed or cursor.connection is not pooled.dbapi_connection:
        cursor = pooled.info[_CURSOR] = pooled.dbapi_connection.cursor()
    return cursor


class Statement:
    """A statement of a hot path, run straight on the DBAPI cursor of a session's connection.

    Each statement through the ORM session costs about 150 µs of Python here (its
    execution context, result metadata, ``cursor.description`` built into column
    objects); the same statement on psycopg's cursor costs about 60 µs. A
    :class:`Statement` is compiled once per dialect and run on the connection (and so the
    transaction) the session already holds: it commits or rolls back with everything else
    the session does. On PostgreSQL it takes the short way; SQLite (the embedded default)
    keeps SQLAlchemy's, which also converts its values (SQLite has no date types).

    What SQLAlchemy does around a statement still happens: ``before_cursor_execute`` and
    ``after_cursor_execute`` listeners see it (the fault tests and the profiler count
    statements with them), and a DBAPI error goes through SQLAlchemy's own handling, so a
    lost connection invalidates the pool and surfaces as the ``DBAPIError`` that the app
    answers with ``503``. Result columns of a :class:`UTCDateTime` come back UTC-aware as
    through the ORM; parameters must be what psycopg takes as they are (aware datetimes,
    strings, numbers, bytes).

    On PostgreSQL a statement is prepared on its connection at its first run there
    (``prepare``), and kept (:class:`KeepPreparedConnection`): PostgreSQL parses it once and,
    after a few runs, plans it once. Left to psycopg's count of five runs in a row, which a
    rollback starts again, a hot statement was seldom prepared under a mix of requests: in
    the mixed load bench (``--only load``), 532 of the filing's 786 runs were planned afresh,
    1,035 of the account row's 4,655; prepared at once, 24 of each (six per connection). Every
    :class:`Statement` of the service reads or writes rows by their keys, so one generic
    plan serves every value. :meth:`of_sql` texts, built at run time (a batch of events of
    any size), keep psycopg's count: a text seen once is not worth a prepare.
    """

    def __init__(self, statement: sa.Executable | str, columns: tuple[str, ...] = (), *,
                 prepare: bool | None = True) -> None:
        """``statement``: a Core statement, or PostgreSQL SQL text whose result ``columns``
        (none: the statement returns no rows) are named here; ``prepare``: psycopg's (None:
        after its count of runs)."""
        self.statement = statement
        self._prepare = prepare
        if isinstance(statement, str):
            self._sql = statement
            self._processors: list[Any] = [None] * len(columns)
            self._literals: dict[str, Any] = {}
        else:
            dialect = postgresql_psycopg.dialect()
            compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            if compiled.insert_prefetch or compiled.update_prefetch:
                # Python-side defaults (``onupdate=clock.now``) are SQLAlchemy's execution
                # work, which this short way skips: such a statement names its values itself.
                raise TypeError("a Statement fills no Python-side column default: give "
                                + ", ".join(sorted(c.name for c in (
                                    *compiled.insert_prefetch, *compiled.update_prefetch))))
            self._sql = compiled.string
            # The values written in the statement itself (``failed + 1``): sent with each run.
            self._literals = {name: bind.value for name, bind in compiled.binds.items()
                              if not bind.required}
            columns = tuple(column.keyname for column in compiled._result_columns)
            self._processors = [column.type.result_processor(dialect, None)
                                if isinstance(column.type, UTCDateTime) else None
                                for column in compiled._result_columns]
        self._row: Any = collections.namedtuple("Row", columns, rename=True) if columns else None
        self._convert = any(self._processors)
        # psycopg encodes a str query on every run and hashes it anew for its cache of
        # converted queries; bytes made once are used as they are and keep their hash.
        self._sql_bytes = self._sql.encode()

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def of_sql(sql: str, columns: tuple[str, ...] = ()) -> Statement:
        """The statement of SQL text built at run time (one per distinct text, kept)."""
        return Statement(sql, columns, prepare=None)

    def rows(self, db_session: Session, params: Any = None, *, alone: bool = False) -> list[Any]:
        """The statement's rows (attribute access by column name), in the session's
        transaction. ``params``: a dict for a Core statement, a tuple for SQL text.

        ``alone``: a statement that needs nothing of the session runs on its own in
        autocommit where it can (:func:`identity.autocommit.statement_alone`), committed
        when it returns, the session left without a transaction; elsewhere in the
        session's, which the caller commits (``db_session.in_transaction()`` tells which
        way it went)."""
        if alone:
            with statement_alone(db_session) as connection:
                if connection is not None:
                    return self.rows_on(connection, params)
        return self.rows_on(autocommit_connection(db_session) or db_session.connection(), params)

    def rows_on(self, connection: sa.Connection, params: Any = None) -> list[Any]:
        """:meth:`rows` on a connection (SQL text: PostgreSQL's only)."""
        if connection.dialect.name != "postgresql":
            statement = (sa.text(self.statement) if isinstance(self.statement, str)
                         else self.statement)
            result = connection.execute(statement, params)
            return list(result) if self._row is not None else []
        sql, make = self._sql, self._row
        if self._literals:
            params = {**self._literals, **(params or {})}
        events = connection.dispatch
        cursor = _cursor(connection.connection)
        try:
            if events.before_cursor_execute:
                events.before_cursor_execute(connection, cursor, sql, params, None, False)
            cursor.execute(self._sql_bytes, params, prepare=self._prepare)
            values = cursor.fetchall() if make is not None else []
            if events.after_cursor_execute:
                events.after_cursor_execute(connection, cursor, sql, params, None, False)
        except Exception as error:  # SQLAlchemy's handling: invalidation, DBAPIError
            connection._handle_dbapi_exception(error, sql, params, cursor, None)
        if make is None:
            return []
        if self._convert:
            processors = self._processors
            return [make._make(value if process is None or value is None else process(value)
                               for value, process in zip(row, processors)) for row in values]
        return [make._make(row) for row in values]

    def first(self, db_session: Session, params: Any = None, *, alone: bool = False) -> Any:
        """The first row, or None (``alone``: as :meth:`rows`)."""
        found = self.rows(db_session, params, alone=alone)
        return found[0] if found else None


class CallerWith:
    """The caller's row (every column of ``table``, by its id) and another row read with it in
    ONE statement, an outer join from the caller's row: an officer's row with the credential
    they verify, a party's with the citizen it matches. The caller's row comes first, for its
    checks (active, token version), before anything of the other is used or answered."""

    def __init__(self, table: sa.Table, prefix: str, columns: tuple[Any, ...],
                 joined: Any, on: Any) -> None:
        """``prefix``: of the caller's columns' labels, and ``<prefix>_id`` the parameter of
        its id; ``columns`` of ``joined``, joined ``on`` a condition that names its own
        parameters."""
        self.statement = Statement(
            sa.select(*(column.label(f"{prefix}_{column.name}") for column in table.c),
                      *columns)
            .select_from(table.outerjoin(joined, on))
            .where(table.c.id == sa.bindparam(f"{prefix}_id")))
        self._row: Any = collections.namedtuple(  # type: ignore[misc]
            f"{prefix.title()}Row", [column.name for column in table.c])
        self._other: Any = collections.namedtuple(  # type: ignore[misc]
            "Joined", [column.name for column in columns])
        self._width = len(table.c)

    def first(self, db_session: Session, params: dict[str, Any]) -> tuple[Any, Any]:
        """The caller's row as a row of its table reads (None: no such caller), and the
        other row, by the names of ``columns`` (None: none joined)."""
        row = self.statement.first(db_session, params)
        if row is None:
            return None, None
        other = row[self._width:]
        return (self._row._make(row[:self._width]),
                None if other[0] is None else self._other._make(other))


def connection_lost(error: BaseException) -> bool:
    """Whether a database error says the connection broke or the database is unreachable
    (an outage: the app answers 503; a statement whose answer was lost may have committed),
    not that the database refused a statement (a value, a constraint: nothing written)."""
    return isinstance(error, sa.exc.DBAPIError) and (
        bool(error.connection_invalidated) or isinstance(error, sa.exc.OperationalError))
