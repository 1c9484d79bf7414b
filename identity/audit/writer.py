"""The write path every hot endpoint shares: its audit events and usage counters, in one statement.

:func:`identity.audit.service.record_event` and :func:`identity.monitoring.counters.bump`
do not talk to the database. They hand their row to the session (the event as a pending
object, the counter into a per-transaction sum), and this module writes everything pending
when the session flushes (before any later query of the same transaction: autoflush) or
commits, so the rows still commit or vanish with the act they record:

- On PostgreSQL, the first event of a transaction is written by ONE statement: a CTE that
  locks a free shard head (``FOR UPDATE SKIP LOCKED``, starting at a shard drawn in Python
  and wrapping around, never ``ORDER BY random()``), computes the event's hash in SQL from
  the head's (``sha256(prev || canonical text)``, byte for byte what
  :func:`identity.audit.service.event_hash` computes), inserts the event, moves the head
  and upserts the transaction's counters: hand-shaped SQL, built once per shape, sent
  through :class:`identity.database.Statement` (no ORM unit of work, no SQLAlchemy result)
  and prepared by psycopg after a few uses.
- When every shard is locked by other transactions (no row comes back), or for later
  events of a transaction that already holds its head, or several events flushed
  together, the hashes are computed in Python from the held head and the rows go in one
  multi-row statement with the head's update and the counters.
- A request in autocommit (:func:`identity.autocommit.autocommit_statements`) writes its one
  event by the one statement, which is then its commit (:func:`_write_alone`); the events
  of concurrent such requests of one process share that statement
  (:mod:`identity.audit.group_commit`: a batch chained after one head).
- SQLite (the embedded default) takes the same steps as separate Core statements; its
  ``BEGIN IMMEDIATE`` already serialises writers.

Rows pending when a flush starts are written by this module's ``before_flush`` listener;
counters bumped by other ``before_flush`` listeners (``identity.monitoring.accounts``) are
written in ``after_flush``. An event recorded from inside a flush would reach the unit of
work without its chain fields and be refused by the table's ``NOT NULL`` columns (fails
closed); nothing records one there.

The commit is the caller's, one per request (or per batch of autocommit requests); concurrent
commits share PostgreSQL's WAL flush
(its group commit: ``python -m bench.audit_write`` shows it with ``pg_stat_wal``). Nothing
is acknowledged before it returns: a crash before it loses the act and its rows together.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from identity.audit.group_commit import counters_params, counters_text, group_for, write_chained
from identity.audit.models import AuditChainHead, AuditEvent
from identity.autocommit import PENDING_WRITES, WROTE, autocommit_connection, engine_of
from identity.database import Statement
from identity.monitoring.models import UsageCounter

_PENDING, _HEAD = PENDING_WRITES, "vnid_audit_head"
#: How long a process trusts its count of shards (``flask audit add-shards`` adds some).
SHARD_COUNT_TTL = 300.0
#: The chains of unlinkable events (created by migration 0013); ordinary events never take
#: them. Several, so that concurrent anonymous acts do not wait for one row lock.
UNLINKABLE_SHARDS = range(-8, 0)

_COLUMNS = ("shard", "seq", "occurred_at", "actor_type", "actor_id", "action", "subject_type",
            "subject_id", "source", "request_id", "details", "prev_hash", "hash")
_HASHED = _COLUMNS[2:-2]  # the canonical text's fields after shard and seq


@dataclass
class _Pending:
    """What a session's transaction has recorded and not yet written."""

    events: list[tuple[AuditEvent, bool]] = field(default_factory=list)
    counters: dict[tuple[dt.date, str, str, str], int] = field(default_factory=dict)


@dataclass
class _HeldHead:
    transaction: Any
    shard: int
    seq: int
    head_hash: bytes


def canonical_rest(fields: dict[str, Any]) -> str:
    """The canonical JSON of an event after ``[shard,seq,``: the part that needs no head."""
    values = [fields["occurred_at"].astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
              *(fields[name] for name in _HASHED[1:])]
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)[1:]


def _pending(session: Session) -> _Pending:
    if not session.in_transaction() and autocommit_connection(session) is None:
        session.begin()  # what is pending belongs to a transaction: its rollback forgets it
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = _Pending()
    return pending


def add_event(session: Session, event: AuditEvent, unlinkable: bool) -> None:
    """Queue ``event`` (no chain fields yet) for the transaction's next flush or commit (in
    autocommit, for its commit only: the event stays out of the session's unit of work)."""
    _pending(session).events.append((event, unlinkable))
    if autocommit_connection(session) is None:
        session.add(event)  # the session is no longer clean: flush() and autoflush write it


def add_counter(session: Session, key: tuple[dt.date, str, str, str], amount: int) -> None:
    """Add ``amount`` to the transaction's pending sum for a counter row."""
    counters = _pending(session).counters
    counters[key] = counters.get(key, 0) + amount


# --- which shard ---------------------------------------------------------------------------------

_shard_counts: weakref.WeakKeyDictionary[sa.Engine, tuple[int, float]] = (
    weakref.WeakKeyDictionary())


def _start(connection: sa.Connection, unlinkable: bool) -> int:
    """A shard to try first, drawn in Python (the statement wraps around from it)."""
    if unlinkable:
        return random.choice(UNLINKABLE_SHARDS)
    engine = engine_of(connection)  # one count for the engine, in autocommit or not
    known = _shard_counts.get(engine)
    now = time.monotonic()
    if known is None or known[1] < now:
        count = int(connection.scalar(sa.select(sa.func.count()).select_from(AuditChainHead)
                                      .where(AuditChainHead.shard >= 0)) or 0)
        known = _shard_counts[engine] = (count, now + SHARD_COUNT_TTL)
    return random.randrange(max(known[0], 1))


def _lock_head(connection: sa.Connection, unlinkable: bool, start: int) -> tuple[int, int, bytes]:
    """Lock the head row of a shard that no other transaction holds, waiting only if all are held.

    Shards from ``start`` upwards, then those below it: the first free one.
    """
    column = AuditChainHead.shard
    query = (sa.select(column, AuditChainHead.seq, AuditChainHead.head_hash)
             .where(column < 0 if unlinkable else column >= 0)
             .order_by(column < start, column).limit(1))
    head = connection.execute(query.with_for_update(skip_locked=True)).first()
    if head is None:
        head = connection.execute(query.with_for_update()).first()
    if head is None:
        raise RuntimeError("the audit log has no shards: run the database migrations")
    return head.shard, head.seq, head.head_hash


# --- the statements ------------------------------------------------------------------------------

def _counters_sql(counters: dict[tuple[dt.date, str, str, str], int]) -> tuple[str, list[Any]]:
    return counters_text(len(counters)), counters_params(counters)


def _event_params(event: AuditEvent) -> list[Any]:
    values = event.__dict__  # record_event set every field (no attribute descriptor per read)
    return [*(values[name] for name in _HASHED[:-1]), json.dumps(values["details"])]


def _one_statement(connection: sa.Connection, events: list[AuditEvent], unlinkable: bool,
                   counters: dict[tuple[dt.date, str, str, str], int],
                   wait: bool = False) -> list[Any]:
    """PostgreSQL: lock a free head, chain, insert, move the head, count: one round trip
    (:func:`identity.audit.group_commit.chain_statement`). The events' rows in their order;
    [] when every shard was locked by another transaction (nothing was written); with
    ``wait``, it waits for its first shard instead."""
    rests = [canonical_rest({name: event.__dict__[name] for name in _HASHED})
             for event in events]
    values = [[*_event_params(event), *([event.id] if unlinkable else [])] for event in events]
    return write_chained(connection, _start(connection, unlinkable), rests, values,
                         unlinkable, counters, wait)


def write_batch(connection: sa.Connection, events: list[AuditEvent], unlinkable: bool,
                counters: dict[tuple[dt.date, str, str, str], int]) -> list[Any]:
    """In autocommit: ``events`` and ``counters`` by ONE statement, its own commit, waiting
    for a shard when all are held; the events' rows in their order (what
    :class:`identity.audit.group_commit.GroupCommit` sends for a batch of requests)."""
    rows = (_one_statement(connection, events, unlinkable, counters)
            or _one_statement(connection, events, unlinkable, counters, wait=True))
    if not rows:
        raise RuntimeError("the audit log has no shards: run the database migrations")
    return rows


def _written(event: AuditEvent, row: Any) -> None:
    """The chain fields the statement gave the event, set as loading sets them (no history)."""
    event.__dict__.update(id=row.id, shard=row.shard, seq=row.seq,
                          prev_hash=bytes(row.prev_hash), hash=bytes(row.hash))


def _chain(events: list[AuditEvent], held: _HeldHead) -> None:
    """Give each event its place after ``held`` and its hash; move ``held`` to the last."""
    from identity.audit.service import event_hash
    for event in events:
        event.shard, event.seq, event.prev_hash = held.shard, held.seq + 1, held.head_hash
        event.hash = event_hash(held.head_hash, shard=event.shard, seq=event.seq,
                                **{name: getattr(event, name) for name in _HASHED})
        held.seq, held.head_hash = event.seq, event.hash


def _insert_chained_postgres(connection: sa.Connection, events: list[AuditEvent],
                             unlinkable: bool, held: _HeldHead,
                             counters: dict[tuple[dt.date, str, str, str], int]) -> None:
    row = ("(%s::integer, %s::bigint, %s::timestamptz, %s::text, %s::text, %s::text, %s::text, "
           "%s::text, %s::text, %s::text, %s::json, %s::bytea, %s::bytea"
           + (", %s::bigint)" if unlinkable else ")"))
    params: list[Any] = []
    for event in events:
        params += [event.shard, event.seq, *_event_params(event), event.prev_hash, event.hash]
        if unlinkable:
            params.append(event.id)
    sql = (f"WITH ins AS (INSERT INTO audit_events ({', '.join(_COLUMNS)}"
           f"{', id' if unlinkable else ''}) VALUES {', '.join([row] * len(events))} "
           "RETURNING seq, id), "
           "upd AS (UPDATE audit_chain_heads SET seq = %s, head_hash = %s WHERE shard = %s)")
    params += [held.seq, held.head_hash, held.shard]
    if counters:
        sql += f", uc AS ({counters_text(len(counters))})"
        params += counters_params(counters)
    returned = Statement.of_sql(sql + " SELECT seq, id FROM ins", ("seq", "id")).rows_on(
        connection, tuple(params))
    ids: dict[int, int] = {row.seq: row.id for row in returned}
    for event in events:
        event.id = ids[event.seq]


def _insert_chained_core(connection: sa.Connection, events: list[AuditEvent], held: _HeldHead,
                         counters: dict[tuple[dt.date, str, str, str], int]) -> None:
    table: Any = AuditEvent.__table__
    for event in events:  # one by one: SQLite writes alone anyway
        row = {name: getattr(event, name) for name in _COLUMNS}
        if event.id is not None:  # an unlinkable event's random id
            row["id"] = event.id
        event.id = connection.execute(sa.insert(table).returning(table.c.id), row).scalar_one()
    connection.execute(sa.update(AuditChainHead).where(AuditChainHead.shard == held.shard)
                       .values(seq=held.seq, head_hash=held.head_hash))
    if counters:
        _counters_core(connection, counters)


def _counters_core(connection: sa.Connection,
                   counters: dict[tuple[dt.date, str, str, str], int]) -> None:
    statement = sqlite.insert(UsageCounter).values([
        {"day": day, "metric": metric, "province_code": province, "commune_code": commune,
         "count": amount} for (day, metric, province, commune), amount in counters.items()])
    connection.execute(statement.on_conflict_do_update(
        index_elements=["day", "metric", "province_code", "commune_code", "slot"],
        set_={"count": UsageCounter.count + statement.excluded.count}))


# --- writing what is pending ---------------------------------------------------------------------

def _write_chain(session: Session, connection: sa.Connection, events: list[AuditEvent],
                 unlinkable: bool, counters: dict[tuple[dt.date, str, str, str], int]) -> None:
    postgres = connection.dialect.name == "postgresql"
    key = _HEAD + ("/unlinkable" if unlinkable else "")
    transaction = session.get_transaction()
    held: _HeldHead | None = session.info.get(key)
    if held is None or held.transaction is not transaction:
        held = None
        if postgres and len(events) == 1:
            rows = _one_statement(connection, events, unlinkable, counters)
            if rows:
                _written(events[0], rows[0])
                session.info[key] = _HeldHead(transaction, rows[0].shard, rows[0].seq,
                                              events[0].hash)
                return
        shard, seq, head_hash = _lock_head(connection, unlinkable,
                                           _start(connection, unlinkable))
        held = _HeldHead(transaction, shard, seq, head_hash)
        session.info[key] = held
    _chain(events, held)
    if postgres:
        _insert_chained_postgres(connection, events, unlinkable, held, counters)
    else:
        _insert_chained_core(connection, events, held, counters)


def write_pending(session: Session) -> None:
    """Write the transaction's pending events and counters (a no-op when there are none)."""
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None or not (pending.events or pending.counters):
        return
    if (alone := autocommit_connection(session)) is not None:
        recorded, counters = pending.events, pending.counters
        pending.events, pending.counters = [], {}
        return _write_alone(session, alone, recorded, counters)
    # Events added inside a savepoint that was rolled back have left the session: not written.
    chains = {False: [e for e, u in pending.events if not u and e in session],
              True: [e for e, u in pending.events if u and e in session]}
    counters, pending.counters = pending.counters, {}
    pending.events.clear()
    connection = session.connection()
    for unlinkable, events in chains.items():
        if events:
            _write_chain(session, connection, events, unlinkable, counters)
            counters = {}  # written with the first chain's statement
            for event in events:
                session.expunge(event)  # written: the unit of work must not insert it again
    if counters:
        if connection.dialect.name == "postgresql":
            sql, params = _counters_sql(counters)
            Statement.of_sql(sql).rows_on(connection, tuple(params))
        else:
            _counters_core(connection, counters)


def _write_alone(session: Session, connection: sa.Connection,
                 events: list[tuple[AuditEvent, bool]],
                 counters: dict[tuple[dt.date, str, str, str], int]) -> None:
    """In autocommit, ONE statement commits one event and its counters (waiting for a shard
    when all are held), or counters alone. More events, or a second write, would commit
    piece by piece: ``RuntimeError`` (fails closed, nothing of it written)."""
    if len(events) > 1 or session.info.get(WROTE) is connection:
        raise RuntimeError("a request in autocommit writes one statement: "
                           "leave_autocommit() before recording more")
    session.info[WROTE] = connection
    if events:
        ((event, unlinkable),) = events
        _written(event, group_for(engine_of(connection), write_batch).write(
            session, connection, event, unlinkable, counters))
    elif counters:
        sql, params = _counters_sql(counters)
        Statement.of_sql(sql).rows_on(connection, tuple(params))


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    write_pending(session)
    if autocommit_connection(session) is not None and (session.new or session.dirty
                                                       or session.deleted):  # piece by piece
        raise RuntimeError("a request in autocommit writes one statement: "
                           "leave_autocommit() before changing rows")


def _before_execute(state: Any) -> None:  # later reads see the counters (as autoflush)
    pending: _Pending | None = state.session.info.get(_PENDING)
    if pending is not None and pending.counters and state.session.autoflush:
        write_pending(state.session)


def _after_flush(session: Session, _context: Any) -> None:
    # What other before_flush listeners bumped (identity.monitoring.accounts' counts).
    write_pending(session)


def _before_commit(session: Session) -> None:
    write_pending(session)


def commit_recorded(session: Session) -> None:
    """Commit the request: the session's commit, or in
    :func:`identity.autocommit.autocommit_statements`' mode (the session has no transaction)
    the one write of what it recorded, by the group commit, committed when this returns."""
    if autocommit_connection(session) is not None and not session.in_transaction():
        write_pending(session)
    else:
        session.commit()


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the session's own transaction ended: commit or rollback
        session.info.pop(_PENDING, None)
        session.info.pop(WROTE, None)


sa.event.listen(Session, "before_flush", _before_flush)
sa.event.listen(Session, "do_orm_execute", _before_execute)
sa.event.listen(Session, "after_flush", _after_flush)
sa.event.listen(Session, "before_commit", _before_commit)
sa.event.listen(Session, "after_transaction_end", _after_transaction_end)
