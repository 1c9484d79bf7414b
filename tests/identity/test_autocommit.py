"""A request on one held connection in autocommit, the session's transaction never begun.

:func:`identity.autocommit.autocommit_statements`: the online verification's and the
matches' way. Its statements run on the one connection it holds; its one write (the act's
event and counters) is committed by :func:`identity.audit.writer.commit_recorded` as one
statement; the ORM beginning a transaction gives the held connection back first, so a
request never holds two; and whatever was recorded and not written is forgotten with the
block. On a database of their own (``own_database_app``), PostgreSQL only.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from identity.audit.models import AuditChainHead, AuditEvent
from identity.audit.service import Actor, record_event
from identity.audit.writer import commit_recorded
from identity.autocommit import (UNWRITTEN, autocommit_connection, autocommit_statements,
                                 engine_of, in_autocommit, reserve_of, statement_alone)
from identity.database import Statement
from identity.monitoring.counters import bump, total

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
    reason="autocommit is PostgreSQL's way; SQLite keeps its BEGIN IMMEDIATE")

PARTY = Actor(type="party", id="bank-1", source="203.0.113.7", request_id="req-held")
ONE = Statement(sa.text("SELECT 1").columns(sa.column("one")))


@contextmanager
def _engine(app: Any) -> Iterator[tuple[sa.Engine, list[str], list[Any]]]:
    """An engine of its own (a pool of 5), each statement it sent, each session transaction
    begun (top-level) on it."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=5)
    sent: list[str] = []
    begun: list[Any] = []

    def statement(_conn: Any, _cursor: Any, text: str, *args: Any) -> None:
        sent.append(text)

    def created(db_session: Session, transaction: Any) -> None:
        if transaction.parent is None and db_session.get_bind() is engine:
            begun.append(transaction)

    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(Session, "after_transaction_create", created)
    try:
        yield engine, sent, begun
    finally:
        sa.event.remove(Session, "after_transaction_create", created)
        engine.dispose()


def _in_use(engine: sa.Engine) -> int:
    """The engine's connections checked out for a request: the pool's, less those the
    process keeps between requests (:class:`identity.autocommit.Reserve`)."""
    return engine.pool.checkedout() - reserve_of(engine).kept()


def _events_of(app: Any, action: str) -> int:
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    try:
        with Session(bind=engine) as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                      .where(AuditEvent.action == action)) or 0)
    finally:
        engine.dispose()


def test_reads_and_one_act_run_on_one_connection_and_no_session_transaction(own_database_app):
    app = own_database_app
    with _engine(app) as (engine, sent, begun), Session(bind=engine) as session:
        with autocommit_statements(session) as held:
            assert held and autocommit_connection(session) is not None
            connection = autocommit_connection(session)
            assert connection is not None and in_autocommit(connection)
            assert engine_of(connection) is engine  # its group commit and UNWRITTEN's count
            assert _in_use(engine) == 1 and UNWRITTEN.of(engine) == 1
            assert ONE.first(session).one == 1 and ONE.first(session, alone=True).one == 1
            with statement_alone(session) as alone:
                assert alone is connection  # the held one, never a second checkout
            record_event(db_session=session, actor=PARTY, action="test.held_one",
                         subject_type="citizen", subject_id=4243)
            bump(session, metric="test.held_one", province_code="01", commune_code="00004")
            assert _events_of(app, "test.held_one") == 0  # recorded, not written
            commit_recorded(session)
            assert UNWRITTEN.of(engine) == 0  # its write handed: no group commit waits for it
            # Committed by its statement: another connection sees the event and its count.
            assert _events_of(app, "test.held_one") == 1
            assert _in_use(engine) == 1
        assert _in_use(engine) == 0 and autocommit_connection(session) is None
        assert autocommit_connection(session) is None
        assert begun == [] and not session.in_transaction()
        writes = [text for text in sent if "audit_events" in text]
        assert len(writes) == 1 and "usage_counters" in writes[0]  # one statement for both
    with Session(bind=sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"],
                                       poolclass=NullPool)) as other:
        assert total(other, metric="test.held_one") >= 1


def test_a_second_write_is_refused_and_not_written(own_database_app):
    app = own_database_app
    with _engine(app) as (engine, _sent, _begun), Session(bind=engine) as session:
        with autocommit_statements(session):
            record_event(db_session=session, actor=PARTY, action="test.held_two")
            record_event(db_session=session, actor=PARTY, action="test.held_two")
            with pytest.raises(RuntimeError, match="one statement"):
                commit_recorded(session)  # two events would commit one by one
        assert _events_of(app, "test.held_two") == 0
        with autocommit_statements(session):
            record_event(db_session=session, actor=PARTY, action="test.held_then")
            commit_recorded(session)
            record_event(db_session=session, actor=PARTY, action="test.held_then")
            with pytest.raises(RuntimeError, match="one statement"):
                commit_recorded(session)  # a second write of the same request
        assert _events_of(app, "test.held_then") == 1
        assert _in_use(engine) == 0


def test_an_orm_query_gives_the_held_connection_back_before_it_takes_one(own_database_app):
    """The rest of the request is an ordinary transaction: never two connections held, so
    requests at once cannot each hold one while waiting for a second (an exhausted pool)."""
    app = own_database_app
    with _engine(app) as (engine, _sent, begun), Session(bind=engine) as session:
        with autocommit_statements(session):
            held = autocommit_connection(session)
            assert held is not None
            session.scalar(sa.select(sa.func.count()).select_from(AuditChainHead))
            assert _in_use(engine) == 1  # the session's own, only
            assert autocommit_connection(session) is None and autocommit_connection(session) is None
            assert UNWRITTEN.of(engine) == 0 and len(begun) == 1
            assert not in_autocommit(session.connection())
            record_event(db_session=session, actor=PARTY, action="test.held_left")
            commit_recorded(session)  # the session's commit: a transaction
        assert _events_of(app, "test.held_left") == 1
        assert _in_use(engine) == 0


def test_recorded_rows_are_never_lost_to_an_orm_query(own_database_app):
    """An act recorded, then the ORM begins a transaction: refused (RuntimeError), nothing
    of it written; the block ends with its connection back."""
    app = own_database_app
    with _engine(app) as (engine, _sent, _begun), Session(bind=engine) as session:
        with pytest.raises(RuntimeError, match="before recording"):
            with autocommit_statements(session):
                record_event(db_session=session, actor=PARTY, action="test.held_lost")
                session.scalar(sa.select(sa.func.count()).select_from(AuditChainHead))
        session.rollback()
        assert _events_of(app, "test.held_lost") == 0
        assert _in_use(engine) == 0


def test_what_the_block_recorded_and_did_not_write_is_forgotten(own_database_app):
    app = own_database_app
    with _engine(app) as (engine, _sent, begun), Session(bind=engine) as session:
        with pytest.raises(LookupError):
            with autocommit_statements(session):
                record_event(db_session=session, actor=PARTY, action="test.held_failed")
                raise LookupError("the request failed before its commit")
        assert _in_use(engine) == 0 and UNWRITTEN.of(engine) == 0
        with autocommit_statements(session):  # the next request starts clean
            record_event(db_session=session, actor=PARTY, action="test.held_next")
            commit_recorded(session)
        assert _events_of(app, "test.held_failed") == 0
        assert _events_of(app, "test.held_next") == 1
        assert begun == []


def test_a_block_that_ends_with_an_act_unwritten_fails_closed(own_database_app):
    """A view that recorded its act and returned without committing it would answer with
    the act missing from the citizen's access log: refused (RuntimeError: a 500)."""
    app = own_database_app
    with _engine(app) as (engine, _sent, _begun), Session(bind=engine) as session:
        with pytest.raises(RuntimeError, match="did not write it"):
            with autocommit_statements(session):
                record_event(db_session=session, actor=PARTY, action="test.held_unwritten")
        with pytest.raises(RuntimeError, match="did not write it"):
            with autocommit_statements(session):
                bump(session, metric="test.held_unwritten", province_code="01",
                     commune_code="00004")
        assert _in_use(engine) == 0 and UNWRITTEN.of(engine) == 0
        assert _events_of(app, "test.held_unwritten") == 0
        with autocommit_statements(session):  # nothing recorded: nothing to refuse
            assert ONE.first(session).one == 1


def test_no_mode_where_the_sessions_way_must_be_taken(own_database_app):
    app = own_database_app
    with _engine(app) as (engine, _sent, _begun):
        with engine.connect() as connection, Session(bind=connection) as bound:
            with autocommit_statements(bound) as held:  # a test's transaction
                assert not held and autocommit_connection(bound) is None
        with Session(bind=engine) as begun_session:
            begun_session.begin()
            with autocommit_statements(begun_session) as held:
                assert not held and autocommit_connection(begun_session) is None
        assert _in_use(engine) == 0


def _backend_pid(connection: sa.Connection) -> int:
    return int(connection.connection.dbapi_connection.info.backend_pid)  # type: ignore[union-attr]


def _terminate(app: Any, *pids: int) -> None:
    """End these backends from another connection, as a restarted server would."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    try:
        with engine.connect() as other:
            for pid in pids:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()
    finally:
        engine.dispose()


def _held_pid(session: Session) -> int:
    connection = autocommit_connection(session)
    assert connection is not None
    return _backend_pid(connection)


def test_the_next_block_takes_the_connection_kept_without_the_pool(own_database_app):
    """Between blocks the connection stays checked out, kept by the process: the next block
    runs on the same backend, and it is the only connection the engine has out."""
    with _engine(own_database_app) as (engine, _sent, begun), Session(bind=engine) as session:
        pids = []
        for _ in range(3):
            with autocommit_statements(session):
                pids.append(_held_pid(session))
                assert ONE.first(session).one == 1
            assert reserve_of(engine).kept() == 1 and engine.pool.checkedout() == 1
        assert len(set(pids)) == 1 and begun == []
        with statement_alone(session) as alone:  # a refresh's one statement takes it too
            assert alone is not None and _backend_pid(alone) == pids[0]
            assert reserve_of(engine).kept() == 0
        assert reserve_of(engine).kept() == 1


def test_no_more_are_kept_than_keep_allows(own_database_app, monkeypatch):
    monkeypatch.setattr("identity.autocommit.KEEP", 2)
    with _engine(own_database_app) as (engine, _sent, _begun):
        with ExitStack() as blocks:
            for _ in range(4):  # four requests at once, each on its own connection
                blocks.enter_context(autocommit_statements(
                    blocks.enter_context(Session(bind=engine))))
            assert engine.pool.checkedout() == 4 and reserve_of(engine).kept() == 0
        assert reserve_of(engine).kept() == 2 and engine.pool.checkedout() == 2


def test_a_connection_left_in_a_transaction_goes_back_to_the_pool(own_database_app):
    """Kept only clean: a transaction open on the server (or in SQLAlchemy) sends the
    connection back to the pool, whose reset rolls it back; the next block starts idle."""
    with _engine(own_database_app) as (engine, _sent, _begun), Session(bind=engine) as session:
        with autocommit_statements(session):
            autocommit_connection(session).connection.dbapi_connection.execute("BEGIN")
        assert reserve_of(engine).kept() == 0 and engine.pool.checkedout() == 0
        with statement_alone(session) as alone:
            alone.execute(sa.text("SELECT 1"))  # SQLAlchemy's own transaction, begun
            assert alone.in_transaction()
        assert reserve_of(engine).kept() == 0 and engine.pool.checkedout() == 0
        with autocommit_statements(session):
            status = autocommit_connection(session).connection.dbapi_connection.info \
                .transaction_status
            assert status == psycopg.pq.TransactionStatus.IDLE


def test_a_disconnect_closes_every_kept_connection(own_database_app):
    """The database restarted: the request under way fails (503 in the app), and the next
    ones run on new connections, none failing on another kept one that died too."""
    app = own_database_app
    with _engine(app) as (engine, _sent, _begun):
        sessions = [Session(bind=engine) for _ in range(2)]
        with ExitStack() as blocks:
            for session in sessions:
                blocks.enter_context(autocommit_statements(session))
            dead = [_held_pid(session) for session in sessions]
        assert reserve_of(engine).kept() == 2
        _terminate(app, *dead)
        with pytest.raises(sa.exc.DBAPIError) as lost:
            with autocommit_statements(sessions[0]):
                ONE.first(sessions[0])
        assert lost.value.connection_invalidated
        assert reserve_of(engine).kept() == 0  # the other dead one too
        for session in sessions:
            with autocommit_statements(session):
                assert ONE.first(session).one == 1 and _held_pid(session) not in dead
            session.close()


def test_a_connection_kept_idle_for_long_is_pinged_and_replaced_if_dead(own_database_app,
                                                                        monkeypatch):
    app = own_database_app
    with _engine(app) as (engine, sent, _begun), Session(bind=engine) as session:
        with autocommit_statements(session):
            dead = _held_pid(session)
        monkeypatch.setattr("identity.autocommit.KEPT_IDLE_PING_SECONDS", 0.0)
        _terminate(app, dead)
        with autocommit_statements(session):  # no error: the ping failed, another serves
            assert ONE.first(session).one == 1 and _held_pid(session) != dead
        monkeypatch.setattr("identity.autocommit.KEPT_IDLE_PING_SECONDS", 60.0)
        before = len(sent)
        with autocommit_statements(session):
            ONE.first(session)
        assert len(sent) == before + 1  # recently used: no ping


def test_disposing_the_engine_closes_the_kept_connections(own_database_app):
    app = own_database_app
    with _engine(app) as (engine, _sent, _begun), Session(bind=engine) as session:
        with autocommit_statements(session):
            connection = autocommit_connection(session)
            dbapi = connection.connection.dbapi_connection
        assert reserve_of(engine).kept() == 1
        engine.dispose()
        assert reserve_of(engine).kept() == 0 and dbapi.closed


def test_an_engine_without_a_pool_keeps_nothing(own_database_app):
    engine = sa.create_engine(own_database_app.config["SQLALCHEMY_DATABASE_URI"],
                              poolclass=NullPool)
    try:
        with Session(bind=engine) as session:
            with autocommit_statements(session):
                connection = autocommit_connection(session)
            assert connection.closed and reserve_of(engine).kept() == 0
    finally:
        engine.dispose()
