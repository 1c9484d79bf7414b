"""Two declarations of one citizen at the same moment, on real concurrent transactions."""
from __future__ import annotations

import threading

import sqlalchemy as sa
import time_machine
from sqlalchemy.orm import Session

from app.extensions import db, get_protector
from identity.accounts.models import Account
from identity.errors import DomainError
from tests.factories import add_account, add_citizen
from tests.utilities.residence.helpers import TUESDAY, ACTOR, stay_body
from utilities.residence import stays
from utilities.residence.models import TemporaryStay


def test_overlapping_stays_declared_at_once_give_one_stay(own_database_app):
    app = own_database_app
    with time_machine.travel(TUESDAY, tick=True), app.app_context():
        protector = get_protector()
        with Session(db.engine, expire_on_commit=False) as session:
            account = add_account(session, protector)
            host = add_citizen(session, protector)  # no account: checked in person
            session.commit()
            account_id, body = account.id, stay_body(host)
        barrier = threading.Barrier(2, timeout=30)
        outcomes: list[str] = []

        def declare() -> None:
            with app.app_context(), Session(db.engine) as own:
                barrier.wait()  # before any read: SQLite's writers take the lock at BEGIN
                try:
                    mine = own.get(Account, account_id)
                    stays.declare_stay(db_session=own, actor=ACTOR, account=mine, **body)
                    outcomes.append("declared")
                except DomainError as error:
                    outcomes.append(error.code)
                except Exception as error:  # shown in the assertion below
                    outcomes.append(repr(error))

        threads = [threading.Thread(target=declare) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["declared", "residence.period_overlap"]
        with Session(db.engine) as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(TemporaryStay)) == 1
