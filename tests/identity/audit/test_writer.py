"""The shared write path: an event and the transaction's counters go out as one statement at the
flush or commit, are seen by the transaction's later reads, and vanish with its rollback."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from identity.audit.models import AuditChainHead, AuditEvent
from identity.audit.service import Actor, event_hash, record_event, verify_chain
from identity.audit.writer import commit_recorded, write_pending
from identity.autocommit import autocommit_connection, autocommit_statements, leave_autocommit
from identity.monitoring.counters import bump, total
from identity.monitoring.models import UsageCounter

ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
PARTY = Actor(type="party", id="bank-1", source="203.0.113.7", request_id="req-writer")


def _statements(connection: sa.Connection) -> list[str]:
    sent: list[str] = []
    sa.event.listen(connection, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: sent.append(statement))
    return sent


def _verified(session: Session, n: int) -> AuditEvent:
    event = record_event(db_session=session, actor=PARTY, action="credential.verified",
                         subject_type="citizen", subject_id=4200 + n,
                         details={"by": "Ngân hàng Một", "result": "valid"})
    bump(session, metric="credentials.verified", province_code="01", commune_code="00004")
    return event


def test_nothing_is_sent_before_the_commit_then_one_write(session_factory, db_connection):
    sent = _statements(db_connection)
    with session_factory() as session:
        session.begin()
        event = _verified(session, 1)
        assert not any("audit_events" in s or "usage_counters" in s for s in sent)
        session.commit()
    writes = [s for s in sent if "audit_events" in s or "usage_counters" in s]
    if ON_POSTGRES:  # the event, its head and its counter: one statement
        assert len(writes) == 1 and "usage_counters" in writes[0], writes
        assert "random()" not in writes[0]
    else:  # SQLite: the same rows, statement by statement
        assert len(writes) >= 2
    assert event.id is not None and event.seq >= 1
    with session_factory() as session:
        row = session.get(AuditEvent, event.id)
        assert (row.shard, row.seq, row.hash, row.request_id) == (
            event.shard, event.seq, event.hash, "req-writer")
        # The hash the statement computed is the one verification recomputes.
        assert row.hash == event_hash(row.prev_hash, shard=row.shard, seq=row.seq,
                                      occurred_at=row.occurred_at, actor_type=row.actor_type,
                                      actor_id=row.actor_id, action=row.action,
                                      subject_type=row.subject_type,
                                      subject_id=row.subject_id, source=row.source,
                                      request_id=row.request_id, details=row.details)
        head = session.get(AuditChainHead, row.shard)
        assert (head.seq, head.head_hash) == (row.seq, row.hash)
        assert total(session, metric="credentials.verified") == 1
        assert verify_chain(db_session=session).events >= 1


def test_the_transaction_reads_what_it_recorded(db_session):
    event = _verified(db_session, 2)
    found = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.subject_id == "4202")).one()  # autoflush wrote it
    assert found.id == event.id and found.hash == event.hash
    bump(db_session, metric="credentials.verified", province_code="01", commune_code="00004")
    count = db_session.scalar(sa.select(sa.func.sum(UsageCounter.count)).where(
        UsageCounter.metric == "credentials.verified"))
    assert count == 2  # the second bump was written before the read


def test_a_rolled_back_transaction_writes_nothing(session_factory):
    with session_factory() as session:
        session.begin()
        event = _verified(session, 3)
        session.rollback()
        session.begin()
        session.commit()  # a later commit of the same session does not write them either
    with session_factory() as session:
        assert event.id is None
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.subject_id == "4203")) == 0
        assert total(session, metric="credentials.verified") == 0


def test_several_events_of_a_transaction_chain_in_one_shard(session_factory):
    with session_factory() as session, session.begin():
        events = [_verified(session, 10 + n) for n in range(3)]
    assert len({e.shard for e in events}) == 1
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 3))
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:]))
    with session_factory() as session:
        assert total(session, metric="credentials.verified") == 3
        assert verify_chain(db_session=session).events >= 3


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks: SQLite serialises every writer")
def test_a_writer_waits_when_every_shard_is_held(app: Any) -> None:
    """Every head locked elsewhere: the one statement writes nothing, the writer then waits
    for a head (it is not lost, nor written twice) and goes on when one is released."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    holder, writer = Session(bind=engine), Session(bind=engine)
    written: dict[str, Any] = {}
    try:
        held = holder.scalars(sa.select(AuditChainHead.shard).where(AuditChainHead.shard >= 0)
                              .with_for_update()).all()
        assert held

        def write() -> None:
            try:
                event = record_event(db_session=writer, actor=PARTY, action="test.all_held")
                writer.flush()
                written["event"] = event
            except BaseException as error:  # reported below
                written["error"] = error

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # waiting for a head, not failing, not skipping the chain
        holder.rollback()
        thread.join(timeout=30)
        assert "error" not in written, written
        event = written["event"]
        assert event.shard in held and event.id is not None
        rows = writer.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "test.all_held")).all()
        assert [row.id for row in rows] == [event.id]
    finally:
        holder.rollback()
        writer.rollback()
        holder.close()
        writer.close()
        engine.dispose()


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks: SQLite serialises every writer")
def test_concurrent_bumps_of_one_count_do_not_wait_for_each_other(app: Any) -> None:
    """Two transactions bump the same count: each into its connection's slot, so the second
    commits while the first still holds its row (it used to queue behind it); the count read
    afterwards is the sum of both."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    slot = sa.text("SELECT pg_backend_pid() % 16")
    first = Session(bind=engine)
    spare: list[Session] = []
    metric = "test.slotted"
    try:
        taken = first.scalar(slot)
        second = Session(bind=engine)
        while second.scalar(slot) == taken:  # a backend of another slot (1 in 16 shares it)
            spare.append(second)
            second = Session(bind=engine)
        spare.append(second)
        for session in (first, second):
            session.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        bump(first, metric=metric, province_code="01", commune_code="00004")
        assert total(first, metric=metric) == 1  # its slot's row written and locked
        bump(second, metric=metric, province_code="01", commune_code="00004", amount=2)
        second.commit()  # would wait 2 s for the first's row lock, then fail
        first.commit()
        with Session(bind=engine) as reader:
            assert total(reader, metric=metric) == 3
            assert reader.scalar(sa.select(sa.func.count()).where(
                UsageCounter.metric == metric)) == 2
    finally:
        for session in (first, *spare):
            session.rollback()
            session.close()
        with engine.begin() as connection:
            connection.execute(sa.delete(UsageCounter).where(UsageCounter.metric == metric))
        engine.dispose()


# --- a request in autocommit (identity.autocommit.autocommit_statements) ------------------------

ONLY_POSTGRES = pytest.mark.skipif(not ON_POSTGRES,
                                   reason="autocommit is PostgreSQL's way; SQLite keeps BEGIN")


@contextmanager
def _autocommit_session(app: Any) -> Iterator[tuple[sa.Engine, Session,
                                                    list[tuple[str, bool, bool]]]]:
    """A session on an engine of its own, and what each statement met: its text, whether
    the connection was in autocommit, whether a transaction was open. The test enters
    :func:`autocommit_statements` itself, once or more."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    seen: list[tuple[str, bool, bool]] = []

    def statement(conn: Any, cursor: Any, text: str, *args: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        seen.append((text, bool(dbapi.autocommit),
                     dbapi.info.transaction_status != psycopg.pq.TransactionStatus.IDLE))

    sa.event.listen(engine, "before_cursor_execute", statement)
    session = Session(bind=engine)
    try:
        yield engine, session, seen
    finally:
        session.close()
        engine.dispose()


def _events_of(app: Any, action: str) -> list[AuditEvent]:
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    try:
        with Session(bind=engine) as session:
            return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))
    finally:
        engine.dispose()


@ONLY_POSTGRES
def test_in_autocommit_an_event_and_its_counter_are_one_statement_committed_alone(
        own_database_app):
    app = own_database_app
    with _autocommit_session(app) as (engine, session, seen):
        before = _events_of(app, "test.autocommit_one")
        with autocommit_statements(session) as in_mode:
            assert in_mode
            record_event(db_session=session, actor=PARTY, action="test.autocommit_one",
                         subject_type="citizen", subject_id=4242)
            bump(session, metric="test.autocommit_one", province_code="01",
                 commune_code="00004")
            commit_recorded(session)
        writes = [s for s in seen if "audit_events" in s[0] or "usage_counters" in s[0]]
        assert len(writes) == 1 and "usage_counters" in writes[0][0]
        assert all(autocommit and not open_ for _text, autocommit, open_ in seen), seen
        # Committed by the statement itself: another connection sees it at once.
        assert len(_events_of(app, "test.autocommit_one")) == len(before) + 1
        with Session(bind=engine) as other:
            assert total(other, metric="test.autocommit_one") >= 1
            assert verify_chain(db_session=other).events >= 1


@ONLY_POSTGRES
def test_in_autocommit_more_than_one_statement_is_refused_and_not_written(own_database_app):
    app = own_database_app
    with _autocommit_session(app) as (_engine, session, _seen):
        with pytest.raises(RuntimeError, match="one statement"):
            with autocommit_statements(session):
                record_event(db_session=session, actor=PARTY, action="test.autocommit_two")
                record_event(db_session=session, actor=PARTY, action="test.autocommit_two")
                commit_recorded(session)  # two events would commit one by one
        assert _events_of(app, "test.autocommit_two") == []

        with pytest.raises(RuntimeError, match="one statement"):
            with autocommit_statements(session):
                record_event(db_session=session, actor=PARTY, action="test.autocommit_then")
                session.flush()  # the event is not in the unit of work: nothing written yet
                assert _events_of(app, "test.autocommit_then") == []
                write_pending(session)  # the one write, committed
                assert len(_events_of(app, "test.autocommit_then")) == 1
                record_event(db_session=session, actor=PARTY, action="test.autocommit_then")
                commit_recorded(session)  # a second write of the same request
        assert len(_events_of(app, "test.autocommit_then")) == 1


@ONLY_POSTGRES
def test_leaving_autocommit_makes_the_next_writes_one_transaction(own_database_app):
    app = own_database_app
    with _autocommit_session(app) as (_engine, session, seen):
        with pytest.raises(RuntimeError, match="before recording"):
            with autocommit_statements(session):
                record_event(db_session=session, actor=PARTY, action="test.left_too_late")
                leave_autocommit(session)  # the event would be lost with the mode
        with pytest.raises(RuntimeError, match="before recording"):
            with autocommit_statements(session):
                bump(session, metric="test.left_too_late", province_code="01",
                     commune_code="00004")
                leave_autocommit(session)  # so would a count
        with autocommit_statements(session):
            leave_autocommit(session)
            assert autocommit_connection(session) is None
            record_event(db_session=session, actor=PARTY, action="test.left_autocommit")
            record_event(db_session=session, actor=PARTY, action="test.left_autocommit")
            session.flush()
            assert seen[-1][1] is False  # the writes ran in a transaction
            session.rollback()
        assert _events_of(app, "test.left_autocommit") == []  # and went with it
        assert _events_of(app, "test.left_too_late") == []


@ONLY_POSTGRES
def test_in_autocommit_a_writer_waits_for_a_held_shard_in_its_one_statement(
        own_database_app: Any) -> None:
    """Every head locked elsewhere: the one statement finds none free, then the same
    statement waits for one (no lock held between statements); written once, chained."""
    app = own_database_app
    with _autocommit_session(app) as (engine, writer, seen):
        holder = Session(bind=engine)
        written: dict[str, Any] = {}
        try:
            held = holder.scalars(sa.select(AuditChainHead.shard)
                                  .where(AuditChainHead.shard >= 0).with_for_update()).all()
            assert held

            def write() -> None:
                try:
                    with autocommit_statements(writer) as in_mode:
                        assert in_mode
                        written["event"] = record_event(db_session=writer, actor=PARTY,
                                                        action="test.autocommit_held")
                        commit_recorded(writer)
                except BaseException as error:  # reported below
                    written["error"] = error

            thread = threading.Thread(target=write)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive()  # waiting for a head
            holder.rollback()
            thread.join(timeout=30)
            assert "error" not in written, written
            event = written["event"]
            assert event.shard in held and event.id is not None
            assert [e.id for e in _events_of(app, "test.autocommit_held")] == [event.id]
            writes = [text for text, _autocommit, _open in seen if "audit_events" in text]
            assert len(writes) == 2 and "SKIP LOCKED" in writes[0] and "SKIP" not in writes[1]
            with Session(bind=engine) as other:
                assert verify_chain(db_session=other).events >= 1
        finally:
            holder.rollback()
            holder.close()
