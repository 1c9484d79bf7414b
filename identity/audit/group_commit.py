"""Group commit: the one-event writes of concurrent requests share one statement and one commit.

A request in autocommit (:func:`identity.autocommit.autocommit_statements`: an online verification,
an identity match) writes its access-log event and its counters with ONE statement, which
is its commit. Alone, each such request pays a statement and a commit of its own: the
backend's protocol round, its executor start, its commit record and a WAL flush it waits
for. Under load, a process serves several requests at once (granian's blocking threads),
and their writes arrive while another one's is in flight. :class:`GroupCommit` makes them
share (the leader and followers of a classic group commit, no timer):

- The first request to write while none is writing is the *leader*: it sends its own
  event at once (an idle service adds no wait and no statement to any request).
- Requests that write while a statement is in flight queue their event and wait. When the
  statement returns, the oldest of them becomes the next leader and sends ALL queued events
  (up to :data:`MAX_BATCH`) as one statement on its own connection: one head locked, the
  events chained after it in SQL in their order, inserted, the head moved, the counters
  summed and upserted (:func:`chain_statement`).
- Each request is answered only after the statement that carries its event has returned,
  committed: the promise of the access log (the citizen never sees an answer that the log
  does not show) and of durability (nothing acknowledged is lost) is the same as when it
  wrote alone. If that statement fails because the connection broke (the database gone,
  the backend killed), every request of the batch gets the same error (a ``DBAPIError``:
  ``503``) and nothing is sent again (an answer lost may hide a commit). If the database
  refused the statement itself (a value or a constraint), nothing of it was written, and
  the batch is written again request by request: one request's bad row fails only its own.
- A request waits for at most the statement in flight and then its own batch's: each is
  bounded by what bounds any statement (the connection's and the database's time-outs).
  The leader signals its followers in a ``finally``, whatever it raised.

One :class:`GroupCommit` per engine and process (:func:`group_for`); requests of other
processes share PostgreSQL's own group commit of the WAL flush, as before. The events of a
batch go into one chain, back to back: ``flask audit verify`` checks them as any others.
"""
from __future__ import annotations

import functools
import threading
import time
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.audit.models import AuditEvent
from identity.autocommit import UNWRITTEN, engine_of, handed_write
from identity.database import Statement, connection_lost
from identity.monitoring.models import COUNTER_SLOTS

#: The most events one statement carries (its text is built once per count).
MAX_BATCH = 32
#: How long a leader waits at most for the writes of the other requests in flight of its
#: process (:data:`identity.autocommit.UNWRITTEN`) before it sends its batch; set from
#: ``GROUP_COMMIT_WAIT_MS`` by the app. 0: it never waits.
WAIT_SECONDS = 0.002
#: What the statement returns of each event it wrote.
RETURNED = ("id", "shard", "seq", "prev_hash", "hash")
_EVENT_VALUES = ("%s::timestamptz, %s::text, %s::text, %s::text, %s::text, %s::text, "
                 "%s::text, %s::text, %s::json")
Counters = dict[tuple[Any, str, str, str], int]


@functools.lru_cache(maxsize=64)
def counters_text(count: int, condition: str = "") -> str:
    """The upsert of ``count`` counter rows, each into this connection's slot (UsageCounter):
    concurrent bumps of one count take different rows. ``%%`` is the SQL's ``%``."""
    values = ", ".join(["(%s::date, %s::text, %s::text, %s::text, %s::bigint)"] * count)
    return (f"INSERT INTO usage_counters (day, metric, province_code, commune_code, slot, "
            f"count) SELECT v.day, v.metric, v.province_code, v.commune_code, "
            f"pg_backend_pid() %% {COUNTER_SLOTS}, v.count "
            f"FROM (VALUES {values}) AS v(day, metric, province_code, commune_code, "
            f"count) {condition} "
            f"ON CONFLICT (day, metric, province_code, commune_code, slot) "
            f"DO UPDATE SET count = usage_counters.count + EXCLUDED.count")


def counters_params(counters: Counters) -> list[Any]:
    """:func:`counters_text`'s parameters, in the keys' order (concurrent upserts of several
    rows take their locks in one order: no deadlock between them)."""
    return [part for key in sorted(counters) for part in (*key, counters[key])]


@functools.lru_cache(maxsize=256)
def chain_statement(unlinkable: bool, wait: bool, events: int, counters: int) -> Statement:
    """Lock a free head (of the unlinkable chains or the others), chain ``events`` events
    after it, insert them, move the head, upsert the counters: ONE statement, built once per
    shape. Each event's hash is computed in SQL from the one before (``sha256(prev ||
    '[' shard ',' seq ',' canonical rest)``, byte for byte what
    :func:`identity.audit.service.event_hash` computes); its rows come back as
    :data:`RETURNED`. No row when every head was locked elsewhere (nothing written), unless
    ``wait``: it then waits for its first head (``READ COMMITTED`` reads the newest one).
    ``counters``: how many counter rows (:func:`counters_text`) it upserts.

    Parameters, in order: the shard to start from, each event's canonical rest, each event's
    nine values (and, if unlinkable, its id), then :func:`counters_params`."""
    steps = [f"e0 AS (SELECT shard, seq, head_hash AS hash FROM audit_chain_heads "
             f"WHERE shard {'<' if unlinkable else '>='} 0 ORDER BY shard < %s, shard "
             f"LIMIT 1 FOR UPDATE{'' if wait else ' SKIP LOCKED'})"]
    steps += [f"e{n} AS (SELECT shard, seq + 1 AS seq, hash AS prev_hash, sha256(hash || "
              "convert_to('[' || shard::text || ',' || (seq + 1)::text || ',' || %s::text, "
              f"'UTF8')) AS hash FROM e{n - 1})" for n in range(1, events + 1)]
    rows = " UNION ALL ".join(
        f"SELECT shard, seq, {_EVENT_VALUES}, prev_hash, hash{', %s::bigint' if unlinkable else ''}"
        f" FROM e{n}" for n in range(1, events + 1))
    steps.append("ins AS (INSERT INTO audit_events (shard, seq, occurred_at, actor_type, "
                 "actor_id, action, subject_type, subject_id, source, request_id, details, "
                 f"prev_hash, hash{', id' if unlinkable else ''}) {rows} "
                 f"RETURNING {', '.join(RETURNED)})")
    steps.append(f"upd AS (UPDATE audit_chain_heads AS h SET seq = e{events}.seq, "
                 f"head_hash = e{events}.hash FROM e{events} WHERE h.shard = e{events}.shard)")
    if counters:
        steps.append(f"uc AS ({counters_text(counters, 'WHERE EXISTS (SELECT 1 FROM e0)')})")
    return Statement(f"WITH {', '.join(steps)} SELECT {', '.join(RETURNED)} FROM ins", RETURNED)


def write_chained(connection: sa.Connection, start: int, rests: list[str],
                  values: list[list[Any]], unlinkable: bool, counters: Counters,
                  wait: bool = False) -> list[Any]:
    """Run :func:`chain_statement` for these events (``rests``: their canonical rests;
    ``values``: their parameters); their rows in the events' order, or [] if every head was
    locked elsewhere and not ``wait``."""
    params: list[Any] = [start, *rests]
    for one in values:
        params += one
    if counters:
        params += counters_params(counters)
    statement = chain_statement(unlinkable, wait, len(rests), len(counters))
    return sorted(statement.rows_on(connection, tuple(params)), key=lambda row: row.seq)


class _Job:
    """One request's event waiting for its statement."""

    __slots__ = ("event", "unlinkable", "counters", "row", "error", "leads", "woken")

    def __init__(self, event: AuditEvent, unlinkable: bool, counters: Counters) -> None:
        self.event, self.unlinkable, self.counters = event, unlinkable, counters
        self.row: Any = None
        self.error: BaseException | None = None
        self.leads = False
        self.woken: threading.Event | None = None  # made only for a request that waits


class GroupCommit:
    """Leader and followers: see the module's text. ``write`` is what a request calls."""

    def __init__(self, write_batch: Any) -> None:
        """``write_batch(connection, events, unlinkable, counters)``: the rows of events
        written by one statement, in their order (:func:`identity.audit.writer.write_batch`)."""
        self._write_batch = write_batch
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        self._busy = False
        self.statements = 0  # batches written by this process (the tests read it)

    def write(self, db_session: Session, connection: sa.Connection, event: AuditEvent,
              unlinkable: bool, counters: Counters) -> Any:
        """Write ``event`` and ``counters`` of ``db_session`` (in autocommit), committed,
        with whatever else is queued: the event's row (:data:`RETURNED`). Raises what the
        statement raised."""
        job = _Job(event, unlinkable, counters)
        with self._lock:
            self._queue.append(job)
            if self._busy:
                woken = job.woken = threading.Event()
            else:
                self._busy = job.leads = True
        handed_write(db_session)  # queued: a waiting leader may go when all have
        if not job.leads:
            woken.wait()
        if job.leads:
            self._lead(connection)
        if job.error is not None:
            raise job.error
        return job.row

    def _lead(self, connection: sa.Connection) -> None:
        if WAIT_SECONDS > 0:
            self._gather(engine_of(connection), time.monotonic() + WAIT_SECONDS)
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        try:
            for unlinkable in (False, True):  # one chain each: one statement each
                jobs = [job for job in batch if job.unlinkable is unlinkable]
                if jobs:
                    self._write(connection, jobs, unlinkable)
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._busy = False
                else:
                    successor.leads = True
            for job in batch:
                job.leads = False
                if job.woken is not None:
                    job.woken.set()
            if successor is not None:
                assert successor.woken is not None  # it queued behind a busy writer
                successor.woken.set()

    def _gather(self, engine: sa.Engine, deadline: float) -> None:
        """Wait until every request of this process in autocommit on ``engine`` has handed
        its write or ended, the batch is full, or ``deadline``: under load, the requests in
        flight beside the leader are about to write, and one statement for all of them costs
        the database and this process less than one each; idle, nobody is waited for."""
        with UNWRITTEN.changed:
            while UNWRITTEN.of(engine) > 0 and len(self._queue) < MAX_BATCH:
                left = deadline - time.monotonic()
                if left <= 0 or not UNWRITTEN.changed.wait(left):
                    return

    def _write(self, connection: sa.Connection, jobs: list[_Job], unlinkable: bool) -> None:
        counters: Counters = {}
        for job in jobs:
            for key, amount in job.counters.items():
                counters[key] = counters.get(key, 0) + amount
        try:
            rows = self._write_batch(connection, [job.event for job in jobs], unlinkable,
                                     counters)
            self.statements += 1
        except BaseException as error:  # nothing of the batch was written
            if len(jobs) > 1 and _refused_statement(error):
                for job in jobs:  # one request's bad row must not fail the others'
                    self._write(connection, [job], unlinkable)
                return
            for job in jobs:  # the database is gone, or the answer lost: all hear it
                job.error = error
            return
        for job, row in zip(jobs, rows, strict=True):
            job.row = row


def _refused_statement(error: BaseException) -> bool:
    """Whether the database refused the statement itself (a value it would not take, a
    constraint), so that nothing of it was written and the connection still serves: the
    batch is then written request by request. Not when the connection broke: a statement
    whose answer was lost may have committed, and must not be sent again."""
    return isinstance(error, sa.exc.DBAPIError) and not connection_lost(error)


_groups: weakref.WeakKeyDictionary[sa.Engine, GroupCommit] = weakref.WeakKeyDictionary()
_groups_lock = threading.Lock()


def group_for(engine: sa.Engine, write_batch: Any) -> GroupCommit:
    """This process's :class:`GroupCommit` of ``engine``."""
    group = _groups.get(engine)
    if group is None:
        with _groups_lock:
            group = _groups.get(engine)
            if group is None:
                group = _groups[engine] = GroupCommit(write_batch)
    return group
