"""Concurrent writers of the audit log take different shards and do not wait for each other."""
from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from identity.audit.service import Actor, record_event

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
    reason="row locks: SQLite serialises every writer by design; runs in CI on PostgreSQL")


def test_open_transactions_hold_different_shards_without_waiting(app):
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    # 12 writers on 32 shards: picked at random without SKIP LOCKED, two would collide ~90%
    # of the time; with it, never.
    sessions = [Session(bind=engine) for _ in range(12)]
    try:
        shards = []
        for session in sessions:
            # Were this writer to wait on another's shard lock, it would fail after 2 s.
            session.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            event = record_event(db_session=session, actor=Actor(type="system"),
                                 action="test.concurrent")
            session.flush()
            shards.append(event.shard)
        assert len(set(shards)) == len(sessions)  # as many shards as open transactions
    finally:
        for session in sessions:
            session.rollback()
            session.close()
        engine.dispose()
