"""Two simultaneous fetches of one approved consent: one credential, one ``already_fetched``."""
from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db, get_protector, get_redis
from identity.audit.service import Actor
from identity.credentials import keys
from identity.credentials.keys import KeyRing
from identity.credentials.models import Credential
from identity.relying_parties import consents, parties
from identity.relying_parties.errors import ConsentAlreadyFetched
from identity.relying_parties.models import DataShare
from tests.factories import add_active_account
from tests.flows import PASSCODE

ACTOR = Actor(type="test", id="race")


def test_an_approved_consent_is_delivered_once_under_concurrency(own_database_app):
    app = own_database_app
    with app.app_context():
        protector, redis_client = get_protector(), get_redis()
        ring = KeyRing("VN")
        with Session(db.engine, expire_on_commit=False) as session:
            keys.rotate_keys(db_session=session, protector=protector, actor=ACTOR)
            account = add_active_account(session, protector)
            citizen = account.citizen
            party, _secret, _key = parties.create_party(
                db_session=session, protector=protector, actor=ACTOR, name="Bank",
                kind="bank", scopes=["identity.consent"])
            request = consents.create_consent_request(
                db_session=session, actor=ACTOR, party=party, personal_id=citizen.personal_id,
                attributes=["full_name"], purpose="eKYC", callback=False, lifetime=600)
            consents.decide(db_session=session, actor=ACTOR, account=account,
                            consent_id=request.id, approve=True, passcode=PASSCODE)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def fetch() -> None:
            with app.app_context(), Session(db.engine, expire_on_commit=False) as own:
                own_party = own.get(type(party), party.id)
                own.commit()  # SQLite: no write lock held while waiting at the barrier
                barrier.wait()
                try:
                    state = consents.fetch(db_session=own, redis_client=redis_client,
                                           protector=protector, key_ring=ring, actor=ACTOR,
                                           party=own_party, consent_id=request.id)
                    outcomes.append("credential" if state.credential else state.status)
                except ConsentAlreadyFetched:
                    outcomes.append("already_fetched")

        threads = [threading.Thread(target=fetch) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["already_fetched", "credential"]
        with Session(db.engine) as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(DataShare)) == 1
            assert session.scalar(sa.select(sa.func.count()).select_from(Credential)
                                  .where(Credential.type == "consent")) == 1
