"""Redis flushed in the middle of paying: idempotency and the one payment per order still hold.

Idempotency keys, attempts and the ledger live in PostgreSQL, not Redis, so
a flush (or a Redis failover that lost its data) changes none of it.
"""
from __future__ import annotations

import sqlalchemy as sa

from tests.api.test_payments import citizen, fine, officer, provider  # noqa: F401
from utilities.payments import ledger
from utilities.payments.models import PaymentAttempt


def test_idempotency_and_the_single_attempt_survive_a_flush(  # noqa: F811 (fixtures)
        db_session, redis, citizen, fine, provider):  # noqa: F811
    first = citizen.pay(fine["id"], key="flush-key")
    assert first.status_code == 201, first.get_json()
    redis.flushdb()
    replayed = citizen.pay(fine["id"], key="flush-key")
    assert replayed.status_code == 201
    assert replayed.get_json() == first.get_json()
    other_key = citizen.pay(fine["id"], key="another-key-after-the-flush")
    assert other_key.status_code == 409, other_key.get_json()
    assert provider.creates == 1
    assert db_session.scalar(sa.select(sa.func.count()).select_from(PaymentAttempt)) == 1
    assert ledger.verify_ledger(db_session).balanced
