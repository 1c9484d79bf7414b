"""Two declarations of one citizen at the same moment, on real concurrent transactions."""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
import time_machine
from sqlalchemy.orm import Session

from app.extensions import db, get_protector
from identity.accounts.models import Account
from identity.errors import DomainError
from tests.factories import add_account, add_citizen
from tests.flows import at_once
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

        def declare(go: Callable[[], object]) -> str:
            with app.app_context(), Session(db.engine) as own:
                go()  # before any read: SQLite's writers take the lock at BEGIN
                try:
                    mine = own.get(Account, account_id)
                    stays.declare_stay(db_session=own, actor=ACTOR, account=mine, **body)
                    return "declared"
                except DomainError as error:
                    return error.code
                except Exception as error:  # shown in the assertion below
                    return repr(error)

        outcomes = at_once(declare, declare, timeout=30)
        assert sorted(outcomes) == ["declared", "residence.period_overlap"]
        with Session(db.engine) as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(TemporaryStay)) == 1
