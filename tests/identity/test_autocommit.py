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
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from identity.audit.models import AuditChainHead, AuditEvent
from identity.audit.service import Actor, record_event
from identity.audit.writer import commit_recorded
from identity.autocommit import (UNWRITTEN, autocommit_connection, autocommit_statements,
                                 engine_of, holds_connection, in_autocommit, statement_alone)
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
            assert held and holds_connection(session)
            connection = autocommit_connection(session)
            assert connection is not None and in_autocommit(connection)
            assert engine_of(connection) is engine  # its group commit and UNWRITTEN's count
            assert engine.pool.checkedout() == 1 and UNWRITTEN.of(engine) == 1
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
            assert engine.pool.checkedout() == 1
        assert engine.pool.checkedout() == 0 and not holds_connection(session)
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
        assert engine.pool.checkedout() == 0


def test_an_orm_query_gives_the_held_connection_back_before_it_takes_one(own_database_app):
    """The rest of the request is an ordinary transaction: never two connections held, so
    requests at once cannot each hold one while waiting for a second (an exhausted pool)."""
    app = own_database_app
    with _engine(app) as (engine, _sent, begun), Session(bind=engine) as session:
        with autocommit_statements(session):
            held = autocommit_connection(session)
            assert held is not None
            session.scalar(sa.select(sa.func.count()).select_from(AuditChainHead))
            assert held.closed and engine.pool.checkedout() == 1  # the session's own, only
            assert not holds_connection(session) and autocommit_connection(session) is None
            assert UNWRITTEN.of(engine) == 0 and len(begun) == 1
            assert not in_autocommit(session.connection())
            record_event(db_session=session, actor=PARTY, action="test.held_left")
            commit_recorded(session)  # the session's commit: a transaction
        assert _events_of(app, "test.held_left") == 1
        assert engine.pool.checkedout() == 0


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
        assert engine.pool.checkedout() == 0


def test_what_the_block_recorded_and_did_not_write_is_forgotten(own_database_app):
    app = own_database_app
    with _engine(app) as (engine, _sent, begun), Session(bind=engine) as session:
        with pytest.raises(LookupError):
            with autocommit_statements(session):
                record_event(db_session=session, actor=PARTY, action="test.held_failed")
                raise LookupError("the request failed before its commit")
        assert engine.pool.checkedout() == 0 and UNWRITTEN.of(engine) == 0
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
        assert engine.pool.checkedout() == 0 and UNWRITTEN.of(engine) == 0
        assert _events_of(app, "test.held_unwritten") == 0
        with autocommit_statements(session):  # nothing recorded: nothing to refuse
            assert ONE.first(session).one == 1


def test_no_mode_where_the_sessions_way_must_be_taken(own_database_app):
    app = own_database_app
    with _engine(app) as (engine, _sent, _begun):
        with engine.connect() as connection, Session(bind=connection) as bound:
            with autocommit_statements(bound) as held:  # a test's transaction
                assert not held and not holds_connection(bound)
        with Session(bind=engine) as begun_session:
            begun_session.begin()
            with autocommit_statements(begun_session) as held:
                assert not held and autocommit_connection(begun_session) is None
        assert engine.pool.checkedout() == 0
