"""The passcode's lock cannot be raced: each try is checked and counted in one statement.

A keyed hash (microseconds) is compared before the statement, which clears the
count only for a right passcode within the limit and counts every other try: the
places it returns show every try counted once, and where a right one got in. An
argon2id hash (from before the keyed scheme, tens of milliseconds) is compared only
after its try is counted: past the limit, unread.

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
from identity.accounts.secrets import PasscodeKeys, hash_secret
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

    def __init__(self, app: Any, monkeypatch: pytest.MonkeyPatch,
                 argon2: bool = False) -> None:
        self.app = app
        #: Every passcode compared, in the order compared, with the result.
        self.compared: list[tuple[str, bool]] = []
        #: The count each try's statement left: its place in the row, 0 when it cleared it.
        self.places: list[int] = []
        guard = threading.Lock()
        real = PasscodeKeys.verify
        statement = passcode_module._TRY

        def counting_verify(keys: PasscodeKeys, stored_hash: str, secret: str, *,
                            citizen_id: int) -> bool:
            right = real(keys, stored_hash, secret, citizen_id=citizen_id)
            with guard:
                self.compared.append((secret, right))
            return right

        class Recording:
            def first(self_, *args: Any) -> Any:
                row = statement.first(*args)
                with guard:
                    self.places.append(row.failed_passcodes)
                return row

        monkeypatch.setattr(PasscodeKeys, "verify", counting_verify)
        monkeypatch.setattr(passcode_module, "_TRY", Recording())
        with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
            account = add_active_account(session, get_protector())
            if argon2:  # hashed as before the keyed scheme
                account.passcode_hash = hash_secret(PASSCODE)
                session.commit()
            self.account_id = account.id

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


def test_a_race_of_wrong_passcodes_is_counted_whole_one_place_each(
        own_database_app, monkeypatch):
    race = Race(own_database_app, monkeypatch)
    outcomes = race.run(WRONG)
    # Every try counted, each at a place of its own (no count lost to another), the account
    # locked; every comparison was wrong, and none past the limit changed an answer.
    assert race.state() == ("locked", WIDTH)
    assert sorted(race.places) == list(range(1, WIDTH + 1))
    assert not any(right for _secret, right in race.compared)
    assert sorted(outcomes) == ["locked"] * (WIDTH - MAX + 1) + ["wrong"] * (MAX - 1)
    assert race.events("passcode.wrong") == MAX
    assert race.events("passcode.refused") == WIDTH - MAX
    assert race.events("account.locked") == 1


def test_an_argon2id_hash_in_a_race_is_compared_only_five_times(own_database_app,
                                                                monkeypatch):
    race = Race(own_database_app, monkeypatch, argon2=True)
    outcomes = race.run(WRONG)
    # Counted first, compared after: the tries past the limit were refused unread.
    assert race.state() == ("locked", WIDTH)
    assert sorted(race.places) == list(range(1, WIDTH + 1))
    assert len(race.compared) == MAX
    assert sorted(outcomes) == ["locked"] * (WIDTH - MAX + 1) + ["wrong"] * (MAX - 1)


def test_the_right_passcode_in_a_race_wins_only_before_the_limit(own_database_app,
                                                                 monkeypatch):
    race = Race(own_database_app, monkeypatch)
    outcomes = race.run([*WRONG[:-1], PASSCODE])
    places = sorted(race.places)
    assert len(places) == WIDTH
    if outcomes.count("confirmed") == 1:
        # It cleared the count (place 0) when fewer than five tries had been counted; the
        # tries before it and after it were each counted once, from 1.
        assert places[0] == 0 and places[1] != 0
        counted = places[1:]
        before = len(counted) - len(set(counted))  # the places 1..before appear twice
        assert before < MAX
        assert counted == sorted([*range(1, before + 1), *range(1, WIDTH - before)])
    else:
        # It came at or past the limit: counted like any wrong try, refused.
        assert "confirmed" not in outcomes
        assert places == list(range(1, WIDTH + 1))
    status, _failures = race.state()
    assert status == "locked"  # at least five wrong tries were left after any success


def test_a_try_read_before_the_lock_is_refused(own_database_app, monkeypatch):
    race = Race(own_database_app, monkeypatch)
    with own_database_app.app_context(), Session(db.engine, expire_on_commit=False) as late:
        account = late.get(Account, race.account_id)  # a request that read it still active
        late.commit()
        race.run(WRONG[:MAX])
        assert race.state() == ("locked", MAX)
        with pytest.raises(AccountLocked):
            passcode_module.confirm_passcode(db_session=late, actor=ACTOR, account=account,
                                             passcode=PASSCODE)
    # The right passcode, compared, was counted past the limit and refused.
    assert race.state() == ("locked", MAX + 1) and sorted(race.places) == [1, 2, 3, 4, 5, 6]
    assert race.compared[-1] == (PASSCODE, True)
    assert race.events("passcode.refused") == 1


def test_an_argon2id_try_read_before_the_lock_is_refused_without_comparing(
        own_database_app, monkeypatch):
    race = Race(own_database_app, monkeypatch, argon2=True)
    with own_database_app.app_context(), Session(db.engine, expire_on_commit=False) as late:
        account = late.get(Account, race.account_id)
        late.commit()
        race.run(WRONG[:MAX])
        with pytest.raises(AccountLocked):
            passcode_module.confirm_passcode(db_session=late, actor=ACTOR, account=account,
                                             passcode=PASSCODE)
    assert race.state() == ("locked", MAX + 1) and len(race.compared) == MAX
    assert race.events("passcode.refused") == 1
