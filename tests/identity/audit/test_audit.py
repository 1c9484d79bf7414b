"""The audit log: hash chains per shard, append-only rows, verification naming the broken row."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from identity.audit import service
from identity.audit.errors import AuditChainBroken
from identity.audit.models import AuditChainHead, AuditEvent
from identity.audit.service import Actor, genesis_hash, record_event, verify_chain

OFFICER = Actor(type="officer", id="officer-17", source="203.0.113.9", request_id="req-1")


def write_events(session_factory, n: int, *, per_transaction: int = 1) -> list[int]:
    ids = []
    for start in range(0, n, per_transaction):
        with session_factory() as session, session.begin():
            for i in range(start, min(n, start + per_transaction)):
                event = record_event(db_session=session, actor=OFFICER, action="citizen.viewed",
                                     subject_type="citizen", subject_id=1000 + i,
                                     details={"reason": "test", "n": i})
                session.flush()
                ids.append(event.id)
    return ids


def test_events_chain_and_verify(session_factory):
    write_events(session_factory, 20)
    with session_factory() as session:
        report = verify_chain(db_session=session)
        assert report.events >= 20 and report.shards >= 4
        event = session.scalars(sa.select(AuditEvent).where(AuditEvent.subject_id == "1000")).one()
        assert (event.actor_type, event.actor_id, event.source, event.request_id) == (
            "officer", "officer-17", "203.0.113.9", "req-1")
        assert event.details == {"reason": "test", "n": 0}
        assert event.occurred_at.tzinfo is not None


def test_events_of_one_transaction_share_a_shard_in_sequence(session_factory):
    ids = write_events(session_factory, 5, per_transaction=5)
    with session_factory() as session:
        events = session.scalars(sa.select(AuditEvent).where(AuditEvent.id.in_(ids))
                                 .order_by(AuditEvent.id)).all()
        assert len({e.shard for e in events}) == 1
        seqs = [e.seq for e in events]
        assert seqs == list(range(seqs[0], seqs[0] + 5))
        assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:]))
        head = session.get(AuditChainHead, events[0].shard)
        assert (head.seq, head.head_hash) == (events[-1].seq, events[-1].hash)


def test_a_rolled_back_event_leaves_no_gap(session_factory):
    with session_factory() as session:
        session.begin()
        record_event(db_session=session, actor=OFFICER, action="will.vanish")
        session.rollback()
    write_events(session_factory, 3)
    with session_factory() as session:
        assert verify_chain(db_session=session).events >= 3
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "will.vanish")) == 0


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET action = 'forged'",
    "DELETE FROM audit_events",
])
def test_rows_are_append_only(session_factory, statement):
    write_events(session_factory, 1)
    with session_factory() as session, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with session.begin():
            session.execute(sa.text(statement))


def _without_append_only_guard(session) -> None:
    """Drop the triggers inside the test's transaction, as an attacker with DB access might."""
    if session.connection().dialect.name == "postgresql":
        session.execute(sa.text(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:
        session.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        session.execute(sa.text("DROP TRIGGER audit_events_no_delete"))


def test_an_edited_row_is_named(session_factory):
    ids = write_events(session_factory, 6, per_transaction=6)
    with session_factory() as session:
        _without_append_only_guard(session)
        session.execute(sa.update(AuditEvent).where(AuditEvent.id == ids[3])
                        .values(details={"reason": "edited"}))
        with pytest.raises(AuditChainBroken) as broken:
            verify_chain(db_session=session)
        assert broken.value.event_id == ids[3]
        assert broken.value.reason == "row content does not match its hash"
        assert f"row id {ids[3]}" in broken.value.message


def test_a_deleted_row_is_named(session_factory):
    ids = write_events(session_factory, 6, per_transaction=6)
    with session_factory() as session:
        _without_append_only_guard(session)
        session.execute(sa.delete(AuditEvent).where(AuditEvent.id == ids[2]))
        with pytest.raises(AuditChainBroken) as broken:
            verify_chain(db_session=session)
        assert broken.value.event_id == ids[3]
        assert "missing" in broken.value.reason


def test_a_truncated_tail_is_found_at_the_head(session_factory):
    ids = write_events(session_factory, 4, per_transaction=4)
    with session_factory() as session:
        _without_append_only_guard(session)
        session.execute(sa.delete(AuditEvent).where(AuditEvent.id == ids[-1]))
        with pytest.raises(AuditChainBroken) as broken:
            verify_chain(db_session=session)
        assert broken.value.event_id is None
        assert "chain head" in broken.value.message


def test_add_shards_grows_the_log(session_factory):
    with session_factory() as session:
        before = session.scalar(sa.select(sa.func.count()).select_from(AuditChainHead)
                                .where(AuditChainHead.shard >= 0))  # not the unlinkable chains
        added = service.add_shards(db_session=session, count=before + 3)
        assert added == 3
        head = session.get(AuditChainHead, before + 2)
        assert (head.seq, head.head_hash) == (0, genesis_hash(before + 2))
        assert service.add_shards(db_session=session, count=before) == 0
