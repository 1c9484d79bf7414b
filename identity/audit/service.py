"""Recording and verifying the audit log.

Each event is written by :func:`record_event` in the same transaction as the
act it records, so the act and its audit row commit or vanish together.

The log is split into shards, each a hash chain (every row holds the hash of
the previous row of its shard). A transaction locks the head row of one
shard, chosen with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent
transactions take different shards and none waits for another's commit:
the chain does not serialise the service. All events of one transaction go
to the same shard. ``make bench`` (bench/audit_concurrency.py) measures it.

How the rows are written (one statement with the usage counters, at the flush or
commit of the caller's transaction, the commits of concurrent requests sharing
PostgreSQL's WAL flush) is :mod:`identity.audit.writer`'s docstring.

:func:`verify_chain` walks every shard from its genesis and raises
:class:`AuditChainBroken` naming the first row that does not verify: an
edited row, a deleted row, a reordered row or a truncated tail.

Unlinkable events (``record_event(..., unlinkable=True)``: the acts on an
anonymous report) must not sit next to anything that names a person: they
go to chains of their own (:data:`UNLINKABLE_SHARDS`, below zero, so no
hash links them to a neighbour that names someone), carry no source address and no request
id, their time is cut to the hour (:data:`UNLINKABLE_GRAIN`), and their id is
drawn at random below zero instead of from the sequence (ordering rows by id
does not put them beside the reporter's login). The chain still verifies.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.audit import partitions, writer
from identity.audit.errors import AuditChainBroken
from identity.audit.models import AuditChainHead, AuditDetachedRun, AuditEvent
from identity.audit.writer import UNLINKABLE_SHARDS, canonical_rest  # noqa: F401 (re-exported)
from identity.entities import built

#: Shards created by the first migration; ``flask audit add-shards`` adds more.
DEFAULT_SHARDS = 32

#: The event of a detach, holding the digest of every run detached so far.
DETACHED = "audit.months_detached"

#: The precision of an unlinkable event's time.
UNLINKABLE_GRAIN = dt.timedelta(hours=1)


def genesis_hash(shard: int) -> bytes:
    """The hash a shard's chain starts from (also written by the first migration)."""
    return hashlib.sha256(f"vnid-audit-genesis/{shard}".encode()).digest()


def event_hash(prev_hash: bytes, *, shard: int, seq: int, occurred_at: dt.datetime,
               actor_type: str, actor_id: str | None, action: str, subject_type: str | None,
               subject_id: str | None, source: str | None, request_id: str | None,
               details: dict[str, Any]) -> bytes:
    """SHA-256 over the previous hash and a canonical JSON of the event's fields.

    The JSON array ``[shard, seq, occurred_at, actor_type, ...]`` with sorted keys and no
    spaces; PostgreSQL computes the same bytes in :mod:`identity.audit.writer`'s statement
    (``'[' || shard || ',' || seq || ',' || rest``), so both must stay as they are.
    """
    rest = canonical_rest(dict(
        occurred_at=occurred_at, actor_type=actor_type, actor_id=actor_id, action=action,
        subject_type=subject_type, subject_id=subject_id, source=source,
        request_id=request_id, details=details))
    return hashlib.sha256(prev_hash + f"[{shard},{seq},{rest}".encode()).digest()


@dataclass(frozen=True)
class Actor:
    """Who acts: a kind and an id that is not personal data."""

    type: str
    id: str | None = None
    source: str | None = None
    request_id: str | None = None


SYSTEM = Actor(type="system", id="vnid", source="internal")


def coarse_time(moment: dt.datetime) -> dt.datetime:
    """``moment`` cut down to :data:`UNLINKABLE_GRAIN` (the hour): what unlinkable rows keep."""
    return moment.replace(minute=0, second=0, microsecond=0)


def record_event(*, db_session: Session, actor: Actor, action: str,
                 subject_type: str | None = None, subject_id: str | int | None = None,
                 details: dict[str, Any] | None = None, unlinkable: bool = False) -> AuditEvent:
    """Append an event to the audit log inside the caller's transaction (not committed here).

    ``unlinkable``: an event that must not be joined to its neighbours (see
    the module's docstring): its own chain, no source or request id, the hour.

    The row is written when the session next flushes (a later query of the same
    transaction, ``flush()``) or commits, by :mod:`identity.audit.writer`: its shard,
    sequence number, hashes and id are set on the returned event then.
    """
    event = built(AuditEvent, dict(
        occurred_at=coarse_time(clock.now()) if unlinkable else clock.now(),
        actor_type=actor.type, actor_id=actor.id, action=action, subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        source=None if unlinkable else actor.source,
        request_id=None if unlinkable else actor.request_id, details=details or {},
        # An id out of the sequence (random, below zero, where the sequence never goes).
        **({"id": -1 - secrets.randbits(62)} if unlinkable else {})))
    writer.add_event(db_session, event, unlinkable)
    return event


def add_shards(*, db_session: Session, count: int) -> int:
    """Make sure at least ``count`` shards exist; returns how many were added."""
    existing = set(db_session.scalars(sa.select(AuditChainHead.shard)))
    added = [AuditChainHead(shard=s, seq=0, head_hash=genesis_hash(s))
             for s in range(count) if s not in existing]
    db_session.add_all(added)
    db_session.commit()
    return len(added)


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_chain` checked: the events in the log, and those that left it with
    a detached month (:mod:`identity.audit.partitions`) whose runs the chain steps over."""

    shards: int
    events: int
    detached: int = 0


def row_hash(row: Any) -> bytes:
    """The hash a stored event (a model or a row with the same attributes) must have."""
    return event_hash(
        row.prev_hash, shard=row.shard, seq=row.seq, occurred_at=row.occurred_at,
        actor_type=row.actor_type, actor_id=row.actor_id, action=row.action,
        subject_type=row.subject_type, subject_id=row.subject_id, source=row.source,
        request_id=row.request_id, details=row.details)


def _events_of(db_session: Session, shard: int, batch: int) -> Iterator[AuditEvent]:
    last_seq = 0
    while True:
        rows = db_session.scalars(
            sa.select(AuditEvent).where(AuditEvent.shard == shard, AuditEvent.seq > last_seq)
            .order_by(AuditEvent.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last_seq = rows[-1].seq
        db_session.expunge_all()


class _Walk:
    """One shard's chain as :func:`verify_chain` walks it: the seq and previous hash the next
    row must have, stepping over the detached runs that continue it."""

    def __init__(self, shard: int, runs: dict[int, AuditDetachedRun]) -> None:
        self.shard, self.runs = shard, runs
        self.seq, self.prev, self.detached = 1, genesis_hash(shard), 0

    def over_detached(self) -> None:
        while (run := self.runs.get(self.seq)) is not None:
            if run.first_prev_hash != self.prev:
                raise AuditChainBroken(shard=self.shard, seq=self.seq, event_id=None,
                                       reason=f"the run detached with {run.partition_name} "
                                              f"does not link to the row before it")
            self.detached += run.last_seq - run.first_seq + 1
            self.seq, self.prev = run.last_seq + 1, run.last_hash

    def take(self, event: AuditEvent) -> None:
        self.over_detached()
        if event.seq != self.seq:
            raise AuditChainBroken(shard=self.shard, seq=self.seq, event_id=event.id,
                                   reason=f"row with seq {self.seq} is missing")
        if event.prev_hash != self.prev:
            raise AuditChainBroken(shard=self.shard, seq=event.seq, event_id=event.id,
                                   reason="previous-hash link does not match")
        if row_hash(event) != event.hash:
            raise AuditChainBroken(shard=self.shard, seq=event.seq, event_id=event.id,
                                   reason="row content does not match its hash")
        self.seq, self.prev = self.seq + 1, event.hash


def _check_runs_recorded(db_session: Session, every_run: Sequence[AuditDetachedRun]) -> None:
    """The detached runs are those the last detach recorded in its chained event (their
    digest), or :class:`AuditChainBroken`: a run added, changed or removed by anyone else."""
    last = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == DETACHED)
                              .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
                              .limit(1)).first()
    digest = partitions.runs_digest(
        (run.partition_name, run.shard, run.first_seq, run.last_seq, run.first_prev_hash,
         run.last_hash) for run in every_run)
    if last is None or last.details.get("runs_sha256") != digest:
        raise AuditChainBroken(shard=every_run[0].shard, seq=every_run[0].first_seq,
                               event_id=None if last is None else last.id,
                               reason="the detached runs are not those the last detach "
                                      "recorded (audit_detached_runs altered)")


def verify_chain(*, db_session: Session, progress: Callable[[int], None] | None = None,
                 batch: int = 5_000) -> ChainReport:
    """Check every shard's chain; raise :class:`AuditChainBroken` at the first broken row."""
    heads = db_session.execute(
        sa.select(AuditChainHead.shard, AuditChainHead.seq, AuditChainHead.head_hash)
        .order_by(AuditChainHead.shard)).all()
    runs: dict[int, dict[int, AuditDetachedRun]] = {}
    every_run = db_session.scalars(sa.select(AuditDetachedRun)).all()
    for run in every_run:
        runs.setdefault(run.shard, {})[run.first_seq] = run
    if every_run:
        _check_runs_recorded(db_session, every_run)
    total = detached = 0
    for shard, head_seq, head_hash in heads:
        walk = _Walk(shard, runs.get(shard, {}))
        for event in _events_of(db_session, shard, batch):
            walk.take(event)
            total += 1
            if progress is not None:
                progress(1)
        walk.over_detached()
        detached += walk.detached
        if head_seq != walk.seq - 1 or head_hash != walk.prev:
            raise AuditChainBroken(shard=shard, seq=walk.seq, event_id=None,
                                   reason=f"chain head says seq {head_seq} but the rows end at "
                                          f"{walk.seq - 1} (rows deleted or head altered)")
    return ChainReport(shards=len(heads), events=total, detached=detached)


def count_events(*, db_session: Session) -> int:
    """How many events the log holds (for progress bars)."""
    return int(db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0)


def ensure_partitions(*, db_session: Session, actor: Actor = SYSTEM) -> list[str]:
    """Make the audit log's monthly partitions ahead (:func:`partitions.ensure_months`),
    recorded as an event when one was made; the names made (none on SQLite)."""
    made = partitions.ensure_months(db_session.connection(), now=clock.now())
    if made:
        record_event(db_session=db_session, actor=actor, action="audit.partitions_made",
                     details={"partitions": made})
    db_session.commit()
    return made


def detach_months(*, db_session: Session, before: dt.datetime, actor: Actor,
                  lock_timeout_ms: int = partitions.LOCK_TIMEOUT_MS) -> list[tuple[str, int]]:
    """Take the months before ``before`` out of the log (:func:`partitions.detach_before`),
    in one transaction with the event that says so; ``(partition, rows)`` of each."""
    taken = partitions.detach_before(db_session.connection(), month=before, now=clock.now(),
                                     check=row_hash, lock_timeout_ms=lock_timeout_ms)
    if taken:  # the digest of every run detached so far: verify_chain checks the runs by it
        record_event(db_session=db_session, actor=actor, action=DETACHED, details={
            "partitions": [name for name, _rows in taken],
            "rows": sum(rows for _name, rows in taken),
            "runs_sha256": partitions.runs_digest(partitions.all_runs(db_session.connection()))})
    db_session.commit()
    return taken
