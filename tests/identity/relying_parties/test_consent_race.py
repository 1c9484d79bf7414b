"""Two simultaneous fetches of one approved consent: one credential, one ``already_fetched``."""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db, get_protector, get_redis
from identity.audit.service import Actor
from identity.credentials.keys import KeyRing
from identity.credentials.models import Credential
from identity.relying_parties import consents
from identity.relying_parties.errors import ConsentAlreadyFetched
from identity.relying_parties.models import DataShare
from tests.factories import RelyingPartyFactory, add_active_account, add_issuer_key
from tests.flows import PASSCODE, at_once

ACTOR = Actor(type="test", id="race")


def test_an_approved_consent_is_delivered_once_under_concurrency(own_database_app):
    app = own_database_app
    with app.app_context():
        protector, redis_client = get_protector(), get_redis()
        ring = KeyRing("VN")
        with Session(db.engine, expire_on_commit=False) as session:
            add_issuer_key(session, protector)
            account = add_active_account(session, protector)
            citizen = account.citizen
            party = RelyingPartyFactory(db_session=session, protector=protector, name="Bank",
                                        scopes=["identity.consent"])
            request = consents.create_consent_request(
                db_session=session, actor=ACTOR, party=party, personal_id=citizen.personal_id,
                attributes=["full_name"], purpose="eKYC", callback=False, lifetime=600)
            consents.decide(db_session=session, actor=ACTOR, account=account,
                            consent_id=request.id, approve=True, passcode=PASSCODE)

        def fetch(go: Callable[[], object]) -> str:
            with app.app_context(), Session(db.engine, expire_on_commit=False) as own:
                own_party = own.get(type(party), party.id)
                own.commit()  # SQLite: no write lock held while waiting at the barrier
                go()
                try:
                    state = consents.fetch(db_session=own, redis_client=redis_client,
                                           protector=protector, key_ring=ring, actor=ACTOR,
                                           party=own_party, consent_id=request.id)
                    return "credential" if state.credential else state.status
                except ConsentAlreadyFetched:
                    return "already_fetched"

        outcomes = at_once(fetch, fetch)
        assert sorted(outcomes) == ["already_fetched", "credential"]
        with Session(db.engine) as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(DataShare)) == 1
            assert session.scalar(sa.select(sa.func.count()).select_from(Credential)
                                  .where(Credential.type == "consent")) == 1
