"""The audit log in monthly partitions on PostgreSQL (:mod:`identity.audit.partitions`): made
ahead, pruned to by a month's query, caught by the default and moved, and old months detached
while the chain of the rest still verifies. SQLite keeps one table and refuses a detach."""
from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from identity.audit import partitions
from identity.audit.errors import AuditChainBroken
from identity.audit.models import AuditDetachedRun, AuditEvent
from identity.audit.service import Actor, detach_months, ensure_partitions, record_event, \
    verify_chain

ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="partitions are PostgreSQL's; "
                                                           "SQLite keeps one table")
OPERATOR = Actor(type="operator", id="cli:test", source="cli")
#: Months far enough ahead that no partition made at migration time reaches them.
FAR = partitions.month_of(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400))


def _months(first: dt.datetime, count: int) -> list[dt.datetime]:
    months = [first]
    while len(months) < count:
        months.append(partitions.next_month(months[-1]))
    return months


def _write(db_session: Any, at: dt.datetime, n: int = 1) -> list[AuditEvent]:
    with time_machine.travel(at, tick=False):
        events = [record_event(db_session=db_session, actor=OPERATOR, action="test.partitioned",
                               subject_type="citizen", subject_id=7, details={"n": i})
                  for i in range(n)]
        db_session.flush()
    return events


def _where(db_session: Any, event: AuditEvent) -> str:
    return db_session.scalar(sa.text("SELECT tableoid::regclass::text FROM audit_events "
                                     "WHERE id = :id"), {"id": event.id})


def _scanned(db_session: Any, sql: str, **params: Any) -> set[str]:
    plan = db_session.scalar(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"), params)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return found


@postgres_only
def test_the_migration_leaves_the_old_rows_in_legacy_a_default_and_months_ahead(db_session):
    names = [part.name for part in partitions.partitions(db_session.connection())]
    this_month = partitions.month_of(dt.datetime.now(dt.timezone.utc))
    ahead = _months(partitions.next_month(this_month), partitions.MONTHS_AHEAD)
    assert names[0] == partitions.LEGACY and names[-1] == partitions.DEFAULT
    assert names[1:-1][:len(ahead)] == [partitions.month_name(month) for month in ahead]
    legacy = partitions.partitions(db_session.connection())[0]
    assert legacy.lower is None and legacy.upper == partitions.next_month(this_month)
    # The log's keys hold the month; its id sequence is the log's own, not the legacy table's.
    assert db_session.scalar(sa.text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_audit_events'"
    )) == "PRIMARY KEY (id, occurred_at)"
    assert db_session.scalar(sa.text(
        "SELECT pg_get_serial_sequence('audit_events', 'id')")) == "public.audit_events_id_seq"


@postgres_only
def test_a_months_query_scans_that_months_partition_only(db_session):
    ensure_partitions(db_session=db_session, actor=OPERATOR)
    with time_machine.travel(FAR, tick=False):
        assert ensure_partitions(db_session=db_session, actor=OPERATOR)  # FAR's month made now
    [event] = _write(db_session, FAR + dt.timedelta(days=3, hours=5))
    assert _where(db_session, event) == partitions.month_name(FAR)
    scanned = _scanned(db_session, "SELECT id FROM audit_events WHERE occurred_at >= :lo "
                                   "AND occurred_at < :hi", lo=FAR, hi=partitions.next_month(FAR))
    assert scanned == {partitions.month_name(FAR)}
    everything = _scanned(db_session, "SELECT id FROM audit_events")
    assert len(everything) > 2 and partitions.month_name(FAR) in everything


@postgres_only
def test_rows_the_default_caught_move_into_their_month_when_it_is_made(db_session):
    late = FAR + dt.timedelta(days=200)
    events = _write(db_session, late, n=3)
    assert {_where(db_session, event) for event in events} == {partitions.DEFAULT}
    with time_machine.travel(late, tick=False):
        made = ensure_partitions(db_session=db_session, actor=OPERATOR)
    assert partitions.month_name(partitions.month_of(late)) in made
    assert {_where(db_session, event) for event in events} == {
        partitions.month_name(partitions.month_of(late))}
    assert db_session.scalar(sa.text(f"SELECT count(*) FROM {partitions.DEFAULT}")) == 0
    assert verify_chain(db_session=db_session).events >= 3
    [made_event] = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "audit.partitions_made")).all()[-1:]
    assert partitions.month_name(partitions.month_of(late)) in made_event.details["partitions"]


def _straddled_months(db_session: Any, monkeypatch: Any) -> tuple[dt.datetime, list[AuditEvent]]:
    """Two months of one shard whose border interleaves: the event stamped last in the first
    month takes its seq after the first one of the second. Their partitions made; returns the
    first month and the events (first month's, then the second's)."""
    first, second, third = _months(FAR, 3)
    with time_machine.travel(third, tick=False):
        ensure_partitions(db_session=db_session, actor=OPERATOR)
    monkeypatch.setattr("identity.audit.writer.random.randrange", lambda _n: 0)  # one shard
    early = _write(db_session, first + dt.timedelta(days=2), n=3)
    border = _write(db_session, second + dt.timedelta(microseconds=1))
    late_stamp = _write(db_session, second - dt.timedelta(microseconds=1))  # seq after border
    after = _write(db_session, second + dt.timedelta(days=1), n=2)
    assert len({event.shard for event in early + border + late_stamp + after}) == 1
    assert late_stamp[0].seq == border[0].seq + 1
    assert _where(db_session, late_stamp[0]) == partitions.month_name(first)
    return first, [*early, *late_stamp, *border, *after]


@postgres_only
def test_a_detached_month_leaves_runs_the_rest_of_the_chain_steps_over(db_session, monkeypatch):
    first, events = _straddled_months(db_session, monkeypatch)
    before = verify_chain(db_session=db_session)
    second = partitions.next_month(first)
    with time_machine.travel(partitions.next_month(partitions.next_month(second)), tick=False):
        taken = detach_months(db_session=db_session, before=second, actor=OPERATOR)
    names = [name for name, _rows in taken]
    assert partitions.month_name(first) in names and partitions.LEGACY in names
    assert dict(taken)[partitions.month_name(first)] == 4
    shard = events[0].shard
    runs = db_session.scalars(sa.select(AuditDetachedRun).where(
        AuditDetachedRun.partition_name == partitions.month_name(first),
        AuditDetachedRun.shard == shard)).all()
    # Two runs on that shard: the three early rows, then the late-stamped one past the border.
    assert sorted((run.first_seq, run.last_seq) for run in runs)[-2:] == [
        (events[0].seq, events[2].seq), (events[3].seq, events[3].seq)]
    remaining = {part.name for part in partitions.partitions(db_session.connection())}
    assert partitions.month_name(first) not in remaining
    assert db_session.scalar(sa.text(f"SELECT count(*) FROM {partitions.month_name(first)}")) == 4
    after = verify_chain(db_session=db_session)
    assert after.events + after.detached == before.events + 1  # the detach's own event
    assert after.detached == sum(rows for _name, rows in taken)
    event = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "audit.months_detached")).one()
    assert event.actor_type == "operator" and event.details["rows"] == after.detached


@postgres_only
def test_a_detached_run_altered_or_added_breaks_the_chain(db_session, monkeypatch):
    """The runs are checked against the digest the detach wrote into its own chained event:
    a run changed afterwards, or one added to cover rows deleted from the log, is named."""
    first, events = _straddled_months(db_session, monkeypatch)
    second = partitions.next_month(first)
    with time_machine.travel(partitions.next_month(partitions.next_month(second)), tick=False):
        detach_months(db_session=db_session, before=second, actor=OPERATOR)
    assert verify_chain(db_session=db_session).detached >= 4
    db_session.begin_nested()
    db_session.execute(sa.update(AuditDetachedRun).where(
        AuditDetachedRun.first_seq == events[3].seq, AuditDetachedRun.shard == events[3].shard)
        .values(last_hash=b"\0" * 32))
    with pytest.raises(AuditChainBroken) as broken:
        verify_chain(db_session=db_session)
    assert "not those the last detach recorded" in broken.value.reason
    db_session.rollback()
    # Rows after the detached month deleted, and a run written to explain them away.
    later = events[4:]
    db_session.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    db_session.execute(sa.delete(AuditEvent).where(AuditEvent.id.in_([e.id for e in later])))
    db_session.add(AuditDetachedRun(
        partition_name=partitions.month_name(second), shard=later[0].shard,
        first_seq=later[0].seq, last_seq=later[-1].seq, first_prev_hash=later[0].prev_hash,
        last_hash=later[-1].hash, detached_at=FAR))
    db_session.flush()
    with pytest.raises(AuditChainBroken) as broken:
        verify_chain(db_session=db_session)
    assert "not those the last detach recorded" in broken.value.reason


@postgres_only
def test_a_month_whose_rows_do_not_verify_is_not_detached(db_session, monkeypatch):
    first, events = _straddled_months(db_session, monkeypatch)
    db_session.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    db_session.execute(sa.update(AuditEvent).where(AuditEvent.id == events[1].id)
                       .values(details={"n": "edited"}))
    second = partitions.next_month(first)
    with time_machine.travel(partitions.next_month(partitions.next_month(second)), tick=False), \
            pytest.raises(AuditChainBroken) as broken:
        detach_months(db_session=db_session, before=second, actor=OPERATOR)
    assert broken.value.event_id == events[1].id
    names = {part.name for part in partitions.partitions(db_session.connection())}
    assert partitions.month_name(first) in names


@postgres_only
@pytest.mark.parametrize("before, message", [
    (lambda now: partitions.month_of(now), "the current month and the one before stay"),
    (lambda now: partitions.next_month(partitions.month_of(now)) - dt.timedelta(days=1),
     "give the first day of a month")])
def test_the_current_and_previous_month_stay(db_session, before, message):
    now = dt.datetime.now(dt.timezone.utc)
    with pytest.raises(partitions.PartitionError, match=message):
        detach_months(db_session=db_session, before=before(now), actor=OPERATOR)


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's answers; PostgreSQL's are the tests above")
def test_on_sqlite_the_log_is_one_table_and_nothing_detaches(db_session):
    assert ensure_partitions(db_session=db_session, actor=OPERATOR) == []
    with pytest.raises(partitions.PartitionError, match="PostgreSQL only"):
        detach_months(db_session=db_session, before=partitions.month_of(dt.date(2020, 1, 1)),
                      actor=OPERATOR)


@postgres_only
def test_a_detach_that_waits_for_the_logs_lock_gives_up_instead_of_holding_writes(
        app, db_session, monkeypatch):
    """DETACH queues every audit write behind it: behind a long transaction it gives up at its
    lock timeout (the service's writes are not held), and nothing is detached."""
    from app.extensions import db

    first, _events = _straddled_months(db_session, monkeypatch)
    second = partitions.next_month(first)
    # Without the detach's own timeout, this one ends the wait (and fails the match below).
    db_session.execute(sa.text("SET LOCAL statement_timeout = '10s'"))
    with app.app_context(), db.engine.connect() as other:
        other.execute(sa.text("SET lock_timeout = '2s'"))  # never a test waiting on itself
        # A long reader of the oldest month (the parent is this test's: it made partitions).
        other.execute(sa.text(f"LOCK TABLE {partitions.LEGACY} IN ACCESS SHARE MODE"))
        with time_machine.travel(partitions.next_month(partitions.next_month(second)),
                                 tick=False), pytest.raises(sa.exc.OperationalError,
                                                            match="lock timeout"):
            detach_months(db_session=db_session, before=second, actor=OPERATOR,
                          lock_timeout_ms=200)
        other.rollback()
    db_session.rollback()
    names = {part.name for part in partitions.partitions(db_session.connection())}
    assert partitions.LEGACY in names
