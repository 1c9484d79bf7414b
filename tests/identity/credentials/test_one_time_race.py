"""Two simultaneous online checks of one one-time credential: one valid, one already_used."""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db, get_protector, get_redis
from identity.audit.service import Actor
from identity.credentials import online, service
from identity.credentials.keys import KeyRing
from identity.credentials.models import Credential
from tests.factories import add_active_account, add_issuer_key
from tests.flows import PASSCODE, at_once

ACTOR = Actor(type="test", id="race")


def test_a_one_time_credential_is_used_once_under_concurrency(own_database_app):
    # Real transactions on a database of its own (the suite's shares one connection per test).
    app = own_database_app
    with app.app_context():
        protector, redis_client = get_protector(), get_redis()
        ring = KeyRing("VN")
        with Session(db.engine, expire_on_commit=False) as session:
            add_issuer_key(session, protector)
            account = add_active_account(session, protector)
            issued = service.issue_credential(
                db_session=session, redis_client=redis_client, protector=protector,
                key_ring=ring, actor=ACTOR, account=account, credential_type="age_over_18",
                passcode=PASSCODE)

        def check(go: Callable[[], object]) -> str | None:
            with app.app_context(), Session(db.engine) as own:
                go()
                return online.verify_online(db_session=own, key_ring=ring, actor=ACTOR,
                                            verifier="test", qr=issued.qr).reason

        reasons = at_once(check, check)
        assert sorted(reasons, key=str) == [None, "already_used"]
        with Session(db.engine) as session:
            assert session.scalar(sa.select(Credential.used_at)) is not None
