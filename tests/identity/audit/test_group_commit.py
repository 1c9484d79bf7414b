"""Group commit: concurrent autocommit requests of one process share one statement, chained in
order, each answered only once that statement has committed, all refused if it fails."""
from __future__ import annotations

import datetime as dt
import gc
import os
import threading
import time
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from identity.audit import group_commit
from identity.audit.group_commit import MAX_BATCH, GroupCommit, group_for
from identity.audit.models import AuditChainHead, AuditEvent
from identity.audit.service import Actor, record_event, verify_chain
from identity.audit.writer import commit_recorded, write_batch
from identity.autocommit import UNWRITTEN, autocommit_statements, handed_write
from identity.monitoring.counters import bump, total

ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
PARTY = Actor(type="party", id="bank-1", source="203.0.113.7", request_id="req-group")


@pytest.fixture(autouse=True)
def _no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """No gathering unless a test asks for it (its own tests below)."""
    monkeypatch.setattr(group_commit, "WAIT_SECONDS", 0.0)


class _Request:
    """A request's session in autocommit, as far as the group commit sees it."""

    def __init__(self, engine: sa.Engine | None = None) -> None:
        self.session = Session()
        self.connection: Any = type("Connection", (), {"engine": engine})()
        if engine is not None:  # what autocommit_statements does
            self.session.info["vnid_autocommit_unwritten"] = engine
            UNWRITTEN.add(engine, self.session)


def _write(group: GroupCommit, request: _Request, event: str, unlinkable: bool = False,
           counters: dict[Any, int] | None = None) -> Any:
    """A request's write of its event (a name stands for the event: the fake writes it)."""
    return group.write(request.session, request.connection, cast(Any, event), unlinkable,
                       counters or {})


class _Writes:
    """A fake ``write_batch``: the first call blocks until released; each call's events."""

    def __init__(self, fail_on: int | None = None, refuse: str | None = None) -> None:
        self.batches: list[list[Any]] = []
        self.counters: list[dict[Any, int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on  # this call's connection breaks
        self.refuse = refuse  # a statement carrying this event is refused by the database

    def __call__(self, connection: Any, events: list[Any], unlinkable: bool,
                 counters: dict[Any, int]) -> list[Any]:
        number = len(self.batches)
        self.batches.append(list(events))
        self.counters.append(dict(counters))
        if number == 0:
            self.entered.set()
            assert self.release.wait(10)
        if number == self.fail_on:
            raise sa.exc.OperationalError("INSERT", None, ConnectionError("server closed"))
        if self.refuse in events:
            raise sa.exc.DataError("INSERT", None, ValueError("invalid byte sequence"))
        return [("row", event) for event in events]


def _writers(group: GroupCommit, names: list[str], counters: Any = None,
             unlinkable: bool = False) -> tuple[list[threading.Thread], dict[str, Any]]:
    results: dict[str, Any] = {}

    def write(name: str) -> None:
        try:
            results[name] = _write(group, _Request(), name, unlinkable,
                                   counters(name) if counters else {})
        except BaseException as error:  # read by the test
            results[name] = error

    return [threading.Thread(target=write, args=(name,)) for name in names], results


def _queued(group: GroupCommit, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(group._queue) < count:
        assert time.monotonic() < deadline, "the writers never queued"
        time.sleep(0.001)


def _busy(fail_on: int | None = None, refuse: str | None = None) -> tuple[
        _Writes, GroupCommit, threading.Thread, dict[str, Any]]:
    """A group whose first writer ("first") is inside its statement, held there."""
    writes = _Writes(fail_on, refuse)
    group = GroupCommit(writes)
    (first,), results = _writers(group, ["first"])
    first.start()
    assert writes.entered.wait(10)
    return writes, group, first, results


def _release(writes: _Writes, *threads: threading.Thread) -> None:
    writes.release.set()
    for thread in threads:
        thread.join(10)


def test_an_idle_writer_writes_at_once_alone():
    writes = _Writes()
    writes.release.set()
    group = GroupCommit(writes)
    assert _write(group, _Request(), "a", counters={("d", "m", "", ""): 1}) == ("row", "a")
    assert _write(group, _Request(), "b") == ("row", "b")
    assert writes.batches == [["a"], ["b"]] and group.statements == 2


def test_writes_that_arrive_during_a_statement_go_out_together_in_their_order():
    writes, group, first, results = _busy()
    names = [f"w{n}" for n in range(5)]
    others, more = _writers(group, names, counters=lambda name: {("d", "m", "01", ""): 1,
                                                                 ("d", name, "", ""): 2})
    for thread in others:
        thread.start()
        _queued(group, names.index(thread._args[0]) + 1)  # type: ignore[attr-defined]
    assert not more  # nobody is answered before their statement has returned
    _release(writes, first, *others)
    assert writes.batches == [["first"], names]  # one statement for the five, in order
    assert writes.counters[1] == {("d", "m", "01", ""): 5,
                                  **{("d", name, "", ""): 2 for name in names}}
    assert results == {"first": ("row", "first")}
    assert more == {name: ("row", name) for name in names}
    assert group.statements == 2 and group._queue == [] and not group._busy


def test_a_failed_statement_refuses_its_whole_batch_and_nobody_else():
    writes, group, first, results = _busy(fail_on=1)
    others, more = _writers(group, ["a", "b", "c"])
    for thread in others:
        thread.start()
    _queued(group, 3)
    _release(writes, first, *others)
    assert results == {"first": ("row", "first")}
    assert set(more) == {"a", "b", "c"}
    assert all(isinstance(error, sa.exc.OperationalError) for error in more.values())
    assert writes.batches == [["first"], ["a", "b", "c"]]  # not sent again: it may have committed
    assert not group._busy and group._queue == []
    # The next writer leads again: the failure left nothing held.
    assert _write(group, _Request(), "after") == ("row", "after")


def test_a_row_the_database_refuses_fails_its_own_request_only():
    writes, group, first, results = _busy(refuse="bad")
    names = ["a", "bad", "c"]
    others, more = _writers(group, names, counters=lambda name: {("d", name, "", ""): 1})
    for count, thread in enumerate(others, 1):
        thread.start()
        _queued(group, count)
    _release(writes, first, *others)
    # Refused whole (nothing written), then written request by request.
    assert writes.batches == [["first"], names, ["a"], ["bad"], ["c"]]
    assert writes.counters[2:] == [{("d", name, "", ""): 1} for name in names]
    assert more["a"] == ("row", "a") and more["c"] == ("row", "c")
    assert isinstance(more["bad"], sa.exc.DataError)
    assert results == {"first": ("row", "first")} and not group._busy


def test_unlinkable_events_go_in_a_statement_of_their_own():
    writes, group, first, _results = _busy()
    linked, answers = _writers(group, ["a", "b"])
    unlinked, hidden = _writers(group, ["x", "y"], unlinkable=True)
    for count, thread in enumerate((linked[0], unlinked[0], linked[1], unlinked[1]), 1):
        thread.start()
        _queued(group, count)
    _release(writes, first, *linked, *unlinked)
    assert writes.batches == [["first"], ["a", "b"], ["x", "y"]]
    assert answers == {"a": ("row", "a"), "b": ("row", "b")}
    assert hidden == {"x": ("row", "x"), "y": ("row", "y")}


def test_a_batch_is_at_most_max_batch_events_the_rest_goes_next():
    writes, group, first, _results = _busy()
    names = [f"w{n}" for n in range(MAX_BATCH + 3)]
    others, more = _writers(group, names)
    for thread in others:
        thread.start()
    _queued(group, len(names))
    _release(writes, first, *others)
    assert [len(batch) for batch in writes.batches] == [1, MAX_BATCH, 3]
    assert more == {name: ("row", name) for name in names}


# --- gathering: the leader waits for the writes of the requests in flight beside it ------------

def _gathering(monkeypatch: pytest.MonkeyPatch,
               seconds: float) -> tuple[sa.Engine, GroupCommit, _Writes]:
    monkeypatch.setattr(group_commit, "WAIT_SECONDS", seconds)
    writes = _Writes()
    writes.release.set()
    return sa.create_engine("sqlite://"), GroupCommit(writes), writes


def test_an_idle_leader_does_not_wait(monkeypatch):
    engine, group, writes = _gathering(monkeypatch, 5.0)
    started = time.monotonic()
    assert _write(group, _Request(engine), "alone") == ("row", "alone")
    assert time.monotonic() - started < 2.5 and writes.batches == [["alone"]]
    assert UNWRITTEN.of(engine) == 0


def test_a_leader_waits_for_the_other_request_in_flight_then_writes_both(monkeypatch):
    engine, group, writes = _gathering(monkeypatch, 5.0)
    first, second = _Request(engine), _Request(engine)
    answers: dict[str, Any] = {}
    leader = threading.Thread(target=lambda: answers.update(a=_write(group, first, "a")))
    started = time.monotonic()
    leader.start()
    time.sleep(0.1)
    assert writes.batches == [] and not answers  # waiting for the second request's write
    assert _write(group, second, "b") == ("row", "b")
    leader.join(10)
    assert writes.batches == [["a", "b"]] and answers == {"a": ("row", "a")}
    assert time.monotonic() - started < 2.5  # it went when the second had written


def test_a_request_that_ends_without_writing_is_not_waited_for(monkeypatch):
    engine, group, writes = _gathering(monkeypatch, 5.0)
    first, refused = _Request(engine), _Request(engine)
    leader = threading.Thread(target=_write, args=(group, first, "a"))
    started = time.monotonic()
    leader.start()
    time.sleep(0.1)
    assert writes.batches == []
    handed_write(refused.session)  # e.g. its token was refused: its transaction ends
    leader.join(10)
    assert writes.batches == [["a"]] and time.monotonic() - started < 2.5


def test_a_leader_waits_no_longer_than_its_bound(monkeypatch):
    engine, group, writes = _gathering(monkeypatch, 0.05)
    first, slow = _Request(engine), _Request(engine)
    started = time.monotonic()
    assert _write(group, first, "a") == ("row", "a")
    waited = time.monotonic() - started
    assert writes.batches == [["a"]] and 0.04 <= waited < 2.0
    assert UNWRITTEN.of(engine) == 1  # the slow one is still in flight
    del slow  # a session dropped without ending its transaction leaves the count
    gc.collect()
    assert UNWRITTEN.of(engine) == 0


# --- on PostgreSQL: the statement of a batch --------------------------------------------------

ONLY_POSTGRES = pytest.mark.skipif(not ON_POSTGRES,
                                   reason="autocommit is PostgreSQL's way; SQLite keeps BEGIN")


@ONLY_POSTGRES
def test_concurrent_requests_share_one_statement_chained_and_counted(own_database_app):
    """Every head held elsewhere: the first request waits in its statement, the others
    queue; released, they are written by ONE statement, back to back in one chain, their
    counters summed, every row committed before any of them is answered, through the
    engine's one group commit."""
    engine = sa.create_engine(own_database_app.config["SQLALCHEMY_DATABASE_URI"],
                              poolclass=NullPool)
    group = group_for(engine, write_batch)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, text, *args: statements.append(text))
    holder = Session(bind=engine)
    events: dict[int, Any] = {}
    errors: list[BaseException] = []

    def request(n: int) -> None:
        with Session(bind=engine) as session:
            try:
                with autocommit_statements(session) as in_mode:
                    assert in_mode
                    events[n] = record_event(db_session=session, actor=PARTY,
                                             action="test.grouped", subject_type="citizen",
                                             subject_id=7000 + n, details={"n": n})
                    bump(session, metric="test.grouped", province_code="01",
                         commune_code=f"0000{n % 2}")
                    commit_recorded(session)
            except BaseException as error:  # read by the test
                errors.append(error)

    try:
        assert holder.scalars(sa.select(AuditChainHead.shard)
                              .where(AuditChainHead.shard >= 0).with_for_update()).all()
        threads = [threading.Thread(target=request, args=(n,)) for n in range(6)]
        threads[0].start()
        _queued_statement(statements, "FOR UPDATE)")  # the first one waits for a head
        for thread in threads[1:]:
            thread.start()
        _queued(group, 5)
        assert not events or all(event.id is None for event in events.values())
        holder.rollback()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        written = [text for text in statements if "INSERT INTO audit_events" in text]
        assert [text.count("::json") for text in written] == [1, 1, 5]  # skip, wait, batch
        assert group.statements == 2
        batch = sorted((e for n, e in events.items() if n), key=lambda e: e.seq)
        assert len({e.shard for e in batch}) == 1
        assert [e.seq for e in batch] == list(range(batch[0].seq, batch[0].seq + 5))
        assert all(b.prev_hash == a.hash for a, b in zip(batch, batch[1:]))
        with Session(bind=engine) as other:
            rows = other.scalars(sa.select(AuditEvent).where(
                AuditEvent.action == "test.grouped")).all()
            assert sorted(r.id for r in rows) == sorted(e.id for e in events.values())
            assert total(other, metric="test.grouped") == 6
            head = other.get(AuditChainHead, batch[-1].shard)
            assert head.seq >= batch[-1].seq
            assert verify_chain(db_session=other).events >= 6
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


def _queued_statement(statements: list[str], marker: str) -> None:
    deadline = time.monotonic() + 10
    while not any(marker in text and "SKIP" not in text for text in statements):
        assert time.monotonic() < deadline, "the first request never waited for a head"
        time.sleep(0.001)
    time.sleep(0.05)  # it is inside the statement now


@ONLY_POSTGRES
@pytest.mark.parametrize("unlinkable", [False, True])
def test_one_statement_writes_a_batch_chained_after_one_head(own_database_app, unlinkable):
    """write_batch, as a leader sends it: every event on one chain, back to back, each hash
    what verification recomputes; an unlinkable batch keeps the events' own random ids."""
    engine = sa.create_engine(own_database_app.config["SQLALCHEMY_DATABASE_URI"],
                              poolclass=NullPool)
    try:
        with Session(bind=engine) as session:
            events = [record_event(db_session=session, actor=PARTY, action="test.batch",
                                   subject_type="citizen", subject_id=8000 + n,
                                   details={"n": n, "tên": "Nguyễn"}, unlinkable=unlinkable)
                      for n in range(4)]
            session.rollback()  # only the objects are wanted: the batch writes them
        ids = [event.id for event in events]
        with engine.connect() as connection:
            autocommitted = connection.execution_options(isolation_level="AUTOCOMMIT")
            day = dt.date(2026, 12, 6)
            rows = write_batch(autocommitted, events, unlinkable,
                               {(day, "test.batch", "01", "00004"): 3,
                                (day, "test.batch", "79", "26734"): 1})
        assert [row.seq for row in rows] == list(range(rows[0].seq, rows[0].seq + 4))
        assert len({row.shard for row in rows}) == 1 and (rows[0].shard < 0) is unlinkable
        assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
        if unlinkable:
            assert [row.id for row in rows] == ids  # their own random ids, in order
        with Session(bind=engine) as other:
            assert total(other, metric="test.batch") == 4
            assert verify_chain(db_session=other).events >= 4
            head = other.get(AuditChainHead, rows[0].shard)
            assert (head.seq, head.head_hash) == (rows[-1].seq, bytes(rows[-1].hash))
    finally:
        engine.dispose()
