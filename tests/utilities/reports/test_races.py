"""Two officers acting on one case at the same moment, on real concurrent transactions."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.extensions import db, get_protector
from identity.accounts.models import Officer
from identity.errors import DomainError
from tests.factories import add_account
from tests.flows import at_once
from tests.utilities.reports.helpers import make_officer
from tests.utilities.reports.test_service import ACTOR, DEADLINES, file
from utilities.reports import cases


def test_two_officers_moving_one_case_at_once_one_wins_one_gets_409(own_database_app):
    app = own_database_app
    with app.app_context():
        protector = get_protector()
        with Session(db.engine, expire_on_commit=False) as session:
            account = add_account(session, protector)
            first, second = make_officer(session, protector), make_officer(session, protector)
            session.commit()
            case_number = file(session, protector, account).case_number
            officer_ids = [first.id, second.id]

        def act(officer_id: int, action: str) -> Callable[[Callable[[], object]], str]:
            def call(go: Callable[[], object]) -> str:
                with app.app_context(), Session(db.engine) as own:
                    officer = own.get(Officer, officer_id)
                    report = cases.read_report(db_session=own, protector=protector, actor=ACTOR,
                                               officer=officer, case_number=case_number).report
                    version = report.version  # both read the case before either acts
                    own.commit()
                    go()
                    try:
                        cases.change_status(db_session=own, protector=protector, actor=ACTOR,
                                            officer=officer, deadlines=DEADLINES,
                                            case_number=case_number, action=action,
                                            reason="Not ours." if action == "reject" else None,
                                            version=version)
                        return "done"
                    except DomainError as error:
                        return error.code
            return call

        outcomes = at_once(*(act(officer_id, action) for officer_id, action
                             in zip(officer_ids, ("verify", "reject"))), timeout=30)
        assert sorted(outcomes) == ["done", "workflow.case_changed"], outcomes
