"""The passcode's lock cannot be raced: tries are counted before the passcode is compared.

Each try runs in its own thread on a session of its own, on a database whose
commits are real (``own_database_app``), all released at once by a barrier.
On PostgreSQL (CI) the race is 50 wide, as in the issue; on SQLite, which
serialises writers anyway, it is 12 wide, so the file still says what it
holds when run without a server.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db, get_protector
from identity.accounts import passcode as passcode_module
from identity.accounts.errors import AccountLocked, WrongPasscode
from identity.accounts.models import Account
from identity.accounts.secrets import PasscodeKeys
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from tests.factories import add_active_account
from tests.flows import PASSCODE, at_once

ACTOR = Actor(type="test", id="race")
ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
WIDTH = 50 if ON_POSTGRES else 12
MAX = passcode_module.MAX_WRONG_PASSCODES
WRONG = [f"{n:06d}" for n in range(100000, 100000 + WIDTH)]


class Race:
    """An account on the app's own database, and a race of passcode tries against it."""

    def __init__(self, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.app = app
        #: Every passcode compared, in the order compared, with the result.
        self.compared: list[tuple[str, bool]] = []
        guard = threading.Lock()
        real = PasscodeKeys.verify

        def counting_verify(keys: PasscodeKeys, stored_hash: str, secret: str, *,
                            citizen_id: int) -> bool:
            right = real(keys, stored_hash, secret, citizen_id=citizen_id)
            with guard:
                self.compared.append((secret, right))
            return right

        monkeypatch.setattr(PasscodeKeys, "verify", counting_verify)
        with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
            self.account_id = add_active_account(session, get_protector()).id

    def run(self, passcodes: list[str]) -> list[str]:
        """One thread per passcode, released together; each one's outcome."""
        def attempt(passcode: str) -> Callable[[Callable[[], object]], str]:
            def call(go: Callable[[], object]) -> str:
                with self.app.app_context(), Session(db.engine, expire_on_commit=False) as own:
                    account = own.get(Account, self.account_id)
                    own.commit()  # give the connection back while waiting at the barrier
                    go()
                    try:
                        passcode_module.confirm_passcode(db_session=own, actor=ACTOR,
                                                         account=account, passcode=passcode)
                        own.commit()  # the act confirmed by the passcode
                        return "confirmed"
                    except WrongPasscode:
                        return "wrong"
                    except AccountLocked:
                        return "locked"
            return call

        outcomes = at_once(*(attempt(passcode) for passcode in passcodes), timeout=120)
        assert len([o for o in outcomes if isinstance(o, str)]) == len(passcodes), \
            f"a try neither passed nor was refused: {outcomes}"
        return outcomes

    def state(self) -> tuple[str, int]:
        """The account's status and failure counter, read from the database."""
        with self.app.app_context(), Session(db.engine) as session:
            row = session.execute(sa.select(Account.status, Account.failed_passcodes)
                                  .where(Account.id == self.account_id)).one()
            return row.status, row.failed_passcodes

    def events(self, action: str) -> int:
        """How many audit events of ``action`` the race left."""
        with self.app.app_context(), Session(db.engine) as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                      .where(AuditEvent.action == action)))


def test_a_race_of_wrong_passcodes_is_counted_whole_and_compares_only_five(own_database_app,
                                                                           monkeypatch):
    race = Race(own_database_app, monkeypatch)
    outcomes = race.run(WRONG)
    # Every try counted, the account locked, and only the first five ever compared.
    assert race.state() == ("locked", WIDTH)
    assert len(race.compared) == MAX
    assert sorted(outcomes) == ["locked"] * (WIDTH - MAX + 1) + ["wrong"] * (MAX - 1)
    assert race.events("passcode.wrong") == MAX
    assert race.events("passcode.refused") == WIDTH - MAX
    assert race.events("account.locked") == 1


def test_the_right_passcode_in_a_race_wins_only_before_the_limit(own_database_app,
                                                                 monkeypatch):
    race = Race(own_database_app, monkeypatch)
    outcomes = race.run([*WRONG[:-1], PASSCODE])
    right_at = [i for i, (secret, _right) in enumerate(race.compared) if secret == PASSCODE]
    if right_at:
        # Compared at all only among the first five tries, and then it was a success.
        assert right_at[0] < MAX and race.compared[right_at[0]][1] is True
        assert outcomes.count("confirmed") == 1
    else:
        assert "confirmed" not in outcomes and len(race.compared) == MAX
    # However the threads were ordered: never more than five wrong tries compared in a row,
    # so the right one among them never bought more than the five tries the rule allows.
    run = longest = 0
    for _secret, right in race.compared:
        run = 0 if right else run + 1
        longest = max(longest, run)
    assert longest <= MAX
    status, _failures = race.state()
    assert status == "locked"  # at least five wrong tries were left after any success


def test_a_try_read_before_the_lock_is_refused_without_comparing(own_database_app,
                                                                 monkeypatch):
    race = Race(own_database_app, monkeypatch)
    with own_database_app.app_context(), Session(db.engine, expire_on_commit=False) as late:
        account = late.get(Account, race.account_id)  # a request that read it still active
        late.commit()
        race.run(WRONG[:MAX])
        assert race.state() == ("locked", MAX) and len(race.compared) == MAX
        with pytest.raises(AccountLocked):
            passcode_module.confirm_passcode(db_session=late, actor=ACTOR, account=account,
                                             passcode=PASSCODE)
    # Counted, refused, and the right passcode was never compared.
    assert race.state() == ("locked", MAX + 1) and len(race.compared) == MAX
    assert race.events("passcode.refused") == 1
