"""Recording and verifying the audit log.

Each event is written by :func:`record_event` in the same transaction as the
act it records, so the act and its audit row commit or vanish together.

The log is split into shards, each a hash chain (every row holds the hash of
the previous row of its shard). A transaction locks the head row of one
shard, chosen with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent
transactions take different shards and none waits for another's commit:
the chain does not serialise the service. All events of one transaction go
to the same shard. ``make bench`` (bench/audit_concurrency.py) measures it.

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
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.errors import AuditChainBroken
from identity.audit.models import AuditChainHead, AuditEvent

#: Shards created by the first migration; ``flask audit add-shards`` adds more.
DEFAULT_SHARDS = 32

_INFO_KEY = "vnid_audit_head"
#: The chains of unlinkable events (created by migration 0013); ordinary events never take
#: them. Several, so that concurrent anonymous acts do not wait for one row lock.
UNLINKABLE_SHARDS = range(-8, 0)
#: The precision of an unlinkable event's time.
UNLINKABLE_GRAIN = dt.timedelta(hours=1)


def genesis_hash(shard: int) -> bytes:
    """The hash a shard's chain starts from (also written by the first migration)."""
    return hashlib.sha256(f"vnid-audit-genesis/{shard}".encode()).digest()


def event_hash(prev_hash: bytes, *, shard: int, seq: int, occurred_at: dt.datetime,
               actor_type: str, actor_id: str | None, action: str, subject_type: str | None,
               subject_id: str | None, source: str | None, request_id: str | None,
               details: dict[str, Any]) -> bytes:
    """SHA-256 over the previous hash and a canonical JSON of the event's fields."""
    canonical = json.dumps(
        [shard, seq, occurred_at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
         actor_type, actor_id, action, subject_type, subject_id, source, request_id, details],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash + canonical.encode()).digest()


@dataclass
class _HeldHead:
    transaction: Any
    shard: int
    seq: int
    head_hash: bytes


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


def _lock_head(db_session: Session, unlinkable: bool = False) -> tuple[int, int, bytes]:
    """Lock the head row of a shard that no other transaction holds, waiting only if all are held.

    Plain columns, not ORM objects: the head changes under the identity map.
    Unlinkable events take their own chain's head, ordinary events any other.
    """
    query = (sa.select(AuditChainHead.shard, AuditChainHead.seq, AuditChainHead.head_hash)
             .where(AuditChainHead.shard < 0 if unlinkable else AuditChainHead.shard >= 0)
             .order_by(sa.func.random()).limit(1))
    head = db_session.execute(query.with_for_update(skip_locked=True)).first()
    if head is None:
        head = db_session.execute(query.with_for_update()).first()
    if head is None:
        raise RuntimeError("the audit log has no shards: run the database migrations")
    return head.shard, head.seq, head.head_hash


def record_event(*, db_session: Session, actor: Actor, action: str,
                 subject_type: str | None = None, subject_id: str | int | None = None,
                 details: dict[str, Any] | None = None, unlinkable: bool = False) -> AuditEvent:
    """Append an event to the audit log inside the caller's transaction (not committed here).

    ``unlinkable``: an event that must not be joined to its neighbours (see
    the module's docstring): its own chain, no source or request id, the hour.
    """
    key = _INFO_KEY + ("/unlinkable" if unlinkable else "")
    held: _HeldHead | None = db_session.info.get(key)
    transaction = db_session.get_transaction()
    if held is None or transaction is None or held.transaction is not transaction:
        shard, seq, head_hash = _lock_head(db_session, unlinkable)
        held = _HeldHead(db_session.get_transaction(), shard, seq, head_hash)
        db_session.info[key] = held
    occurred_at = coarse_time(clock.now()) if unlinkable else clock.now()
    fields: dict[str, Any] = dict(
        shard=held.shard, seq=held.seq + 1, occurred_at=occurred_at, actor_type=actor.type,
        actor_id=actor.id, action=action, subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        source=None if unlinkable else actor.source,
        request_id=None if unlinkable else actor.request_id, details=details or {})
    digest = event_hash(held.head_hash, **fields)
    # An id out of the sequence (random, below zero, where the sequence never goes).
    event = AuditEvent(**fields, prev_hash=held.head_hash, hash=digest,
                       **({"id": -1 - secrets.randbits(62)} if unlinkable else {}))
    db_session.add(event)
    db_session.execute(sa.update(AuditChainHead).where(AuditChainHead.shard == held.shard)
                       .values(seq=fields["seq"], head_hash=digest)
                       .execution_options(synchronize_session=False))
    held.seq, held.head_hash = fields["seq"], digest
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
    """What :func:`verify_chain` checked."""

    shards: int
    events: int


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


def verify_chain(*, db_session: Session, progress: Callable[[int], None] | None = None,
                 batch: int = 5_000) -> ChainReport:
    """Check every shard's chain; raise :class:`AuditChainBroken` at the first broken row."""
    heads = db_session.execute(
        sa.select(AuditChainHead.shard, AuditChainHead.seq, AuditChainHead.head_hash)
        .order_by(AuditChainHead.shard)).all()
    total = 0
    for shard, head_seq, head_hash in heads:
        expected_prev, expected_seq = genesis_hash(shard), 1
        for event in _events_of(db_session, shard, batch):
            if event.seq != expected_seq:
                raise AuditChainBroken(shard=shard, seq=expected_seq, event_id=event.id,
                                       reason=f"row with seq {expected_seq} is missing")
            if event.prev_hash != expected_prev:
                raise AuditChainBroken(shard=shard, seq=event.seq, event_id=event.id,
                                       reason="previous-hash link does not match")
            recomputed = event_hash(
                event.prev_hash, shard=event.shard, seq=event.seq, occurred_at=event.occurred_at,
                actor_type=event.actor_type, actor_id=event.actor_id, action=event.action,
                subject_type=event.subject_type, subject_id=event.subject_id,
                source=event.source, request_id=event.request_id, details=event.details)
            if recomputed != event.hash:
                raise AuditChainBroken(shard=shard, seq=event.seq, event_id=event.id,
                                       reason="row content does not match its hash")
            expected_prev, expected_seq = event.hash, expected_seq + 1
            total += 1
            if progress is not None:
                progress(1)
        if head_seq != expected_seq - 1 or head_hash != expected_prev:
            raise AuditChainBroken(shard=shard, seq=expected_seq, event_id=None,
                                   reason=f"chain head says seq {head_seq} but the rows end at "
                                          f"{expected_seq - 1} (rows deleted or head altered)")
    return ChainReport(shards=len(heads), events=total)


def count_events(*, db_session: Session) -> int:
    """How many events the log holds (for progress bars)."""
    return int(db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0)
